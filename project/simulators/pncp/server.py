"""The PNCP simulator's HTTP server: PNCP's paths, parameters and envelope, plus faults.

Built on the stdlib's `ThreadingHTTPServer` rather than a web framework: it adds no
dependency, serves over real sockets (so clients exercise their actual transport,
timeouts, keep-alive and connection errors, which an in-process mock transport would
hide), and gives each connection its own daemon thread, so injected latency on one
request never holds up another. Responses are HTTP/1.1 with Content-Length, keeping
connections alive between pages.

Beside `/api/consulta/v1/...` it serves an admin API: `GET|PUT /__sim/config` (the
`FaultConfig` as JSON) and `GET|DELETE /__sim/stats` (request counters).
"""

from __future__ import annotations

import contextlib
import hashlib
import json
import socket
import sys
import threading
import time
from collections import Counter
from datetime import datetime
from http import HTTPStatus
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from types import TracebackType
from typing import Any, Self
from urllib.parse import parse_qs, urlsplit

from pydantic import ValidationError

from project.lib.pncp.endpoints import endpoint_by_path
from project.simulators.pncp.config import SimulatorConfig
from project.simulators.pncp.faults import STATUS_FAULTS, FaultConfig, FaultDice, FaultKind
from project.simulators.pncp.feeds import FEEDS, portal_for
from project.simulators.pncp.pages import PageStore
from project.simulators.pncp.params import (
    BASE_PATH,
    MODALIDADE_PARAM,
    QueryError,
    parse_date,
    parse_query,
)

ADMIN_PATH = "/__sim"
_GATEWAY_PAGE = "<html><head><title>{0}</title></head><body><h1>{0}</h1></body></html>"
_REJECTED_PAGE = b"<html><head><title>Request Rejected</title></head><body>Rejected</body></html>"


class PncpSimulator:
    """A running simulated PNCP. `with PncpSimulator(config) as sim: sim.base_url`."""

    def __init__(self, config: SimulatorConfig | None = None) -> None:
        self._config = config or SimulatorConfig()
        portal = portal_for(self._config.seed, self._config.scale)
        self.pages = PageStore(portal, self._config.cache_mb * 2**20)
        self._faults = self._config.faults
        self.dice = FaultDice(self._fault_seed(self._faults))
        self.counters = RequestCounters()
        self._server: _Server | None = None
        self._thread: threading.Thread | None = None

    @property
    def config(self) -> SimulatorConfig:
        """The run's settings with the faults in force now (for `records_for`)."""
        return self._config.model_copy(update={"faults": self._faults})

    @property
    def faults(self) -> FaultConfig:
        return self._faults

    @property
    def url(self) -> str:
        """Root URL of the server (the admin API lives at `{url}/__sim`)."""
        if self._server is None:
            raise RuntimeError("the simulator is not running")
        host, port = self._server.server_address[:2]
        return f"http://{host}:{port}"

    @property
    def base_url(self) -> str:
        """PNCP's base URL on this server: `{url}/api/consulta`."""
        return self.url + BASE_PATH

    def configure(self, faults: FaultConfig | None = None, **changes: Any) -> FaultConfig:
        """Replace the fault settings, or change some of them; takes effect at once."""
        updated = (faults or self._faults).with_changes(**changes)
        self.dice = FaultDice(self._fault_seed(updated))
        self._faults = updated
        return updated

    def stats(self) -> dict[str, Any]:
        """Requests so far: total, by status, by fault kind and by endpoint."""
        return self.counters.snapshot()

    def reset_stats(self) -> None:
        self.counters.reset()

    def start(self) -> Self:
        handler = type("Handler", (_Handler,), {"simulator": self})
        self._server = _Server((self._config.host, self._config.port), handler)
        self._thread = threading.Thread(
            target=self._server.serve_forever,
            kwargs={"poll_interval": 0.05},
            name="pncp-simulator",
            daemon=True,
        )
        self._thread.start()
        return self

    def stop(self) -> None:
        """Stop listening and hang up on open keep-alive connections."""
        if self._server is not None:
            self._server.shutdown()
            self._server.server_close()
            self._server.hang_up()
            self._server = None

    def __enter__(self) -> Self:
        return self.start()

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.stop()

    def _fault_seed(self, faults: FaultConfig) -> int:
        return self._config.seed if faults.seed is None else faults.seed


class _Server(ThreadingHTTPServer):
    daemon_threads = True
    request_queue_size = 256  # parallel clients open many connections at once

    def __init__(self, address: tuple[str, int], handler: type[BaseHTTPRequestHandler]) -> None:
        super().__init__(address, handler)
        self._open: set[socket.socket] = set()
        self._open_lock = threading.Lock()

    def process_request(self, request: Any, client_address: Any) -> None:
        with self._open_lock:
            self._open.add(request)
        super().process_request(request, client_address)

    def shutdown_request(self, request: Any) -> None:
        with self._open_lock:
            self._open.discard(request)
        super().shutdown_request(request)

    def hang_up(self) -> None:
        """End the connections still open, so their threads finish with the server."""
        with self._open_lock:
            connections, self._open = list(self._open), set()
        for connection in connections:
            with contextlib.suppress(OSError):
                connection.shutdown(socket.SHUT_RDWR)

    def handle_error(self, request: Any, client_address: Any) -> None:
        """Clients hanging up (timeouts, slow faults) are normal here; report the rest."""
        if not isinstance(sys.exc_info()[1], ConnectionError | TimeoutError):
            super().handle_error(request, client_address)


class RequestCounters:
    """Thread-safe request counters behind `GET /__sim/stats`."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self.reset()

    def reset(self) -> None:
        with self._lock:
            self._requests = 0
            self._status: Counter[str] = Counter()
            self._faults: Counter[str] = Counter()
            self._endpoints: Counter[str] = Counter()

    def count(self, status: int | None, fault: str | None, endpoint: str | None) -> None:
        with self._lock:
            self._requests += 1
            if status is not None:
                self._status[str(status)] += 1
            if fault is not None:
                self._faults[fault] += 1
            if endpoint is not None:
                self._endpoints[endpoint] += 1

    def snapshot(self) -> dict[str, Any]:
        with self._lock:
            return {
                "requests": self._requests,
                "by_status": dict(self._status),
                "by_fault": dict(self._faults),
                "by_endpoint": dict(self._endpoints),
            }


class _Handler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"
    server_version = "PNCP-Simulator"
    sys_version = ""
    disable_nagle_algorithm = True  # headers and body go out in separate writes
    simulator: PncpSimulator

    def do_GET(self) -> None:
        path = urlsplit(self.path).path
        try:
            if path.startswith(ADMIN_PATH):
                self._admin(path)
            else:
                self._data()
        except Exception:  # a simulator bug: answer 500, and `handle_error` prints it
            self._error(500, "Erro inesperado no simulador", path)
            raise

    def do_PUT(self) -> None:
        self._admin(urlsplit(self.path).path)

    def do_DELETE(self) -> None:
        self._admin(urlsplit(self.path).path)

    def log_message(self, format: str, *args: Any) -> None:
        """Quiet: a benchmark month is ~9,000 requests."""

    # --- PNCP ------------------------------------------------------------------------

    def _data(self) -> None:
        sim = self.simulator
        faults = sim.faults  # one consistent config for the whole request
        url = urlsplit(self.path)
        endpoint = (
            endpoint_by_path(url.path.removeprefix(BASE_PATH))
            if url.path.startswith(BASE_PATH + "/")
            else None
        )
        if endpoint is None or endpoint.name not in FEEDS:
            self._error(404, "Not Found", url.path)
            sim.counters.count(404, None, None)
            return
        params = parse_qs(url.query, keep_blank_values=True)
        delay = sim.dice.latency_s(faults)
        if delay:
            time.sleep(delay)
        if self._fails_permanently(faults, endpoint.path, endpoint.start_param, params):
            self._error(500, "Falha permanente simulada", url.path)
            sim.counters.count(500, "permanent", endpoint.name)
            return
        fault = sim.dice.draw(faults)
        if fault in STATUS_FAULTS:
            status = self._status_fault(fault, faults, url.path)
            sim.counters.count(status, fault, endpoint.name)
            return
        if fault is FaultKind.DROP:
            self._drop()
            sim.counters.count(None, fault, endpoint.name)
            return
        if fault is FaultKind.SLOW:
            time.sleep(faults.slow_s)
        try:
            query = parse_query(endpoint, params)
        except QueryError as refused:
            self._error(refused.status, refused.message, url.path)
            sim.counters.count(refused.status, fault, endpoint.name)
            return
        body = sim.pages.page(query, faults.schema_drift)
        if body is None:
            self._send(204)
        elif fault is FaultKind.TRUNCATED:
            self._send(200, body[: len(body) // 2], "application/json")
        elif fault is FaultKind.INVALID_JSON:
            self._send(200, _REJECTED_PAGE, "application/json")
        else:
            # A strong validator of the body, as a CDN in front of PNCP would send.
            etag = hashlib.blake2b(body, digest_size=8).hexdigest()
            self._send(200, body, "application/json", {"ETag": f'"{etag}"'})
        sim.counters.count(204 if body is None else 200, fault, endpoint.name)

    def _fails_permanently(
        self, faults: FaultConfig, path: str, start_param: str, params: dict[str, list[str]]
    ) -> bool:
        if not faults.permanent_failures:
            return False
        try:
            day = parse_date(params.get(start_param, [""])[0], start_param)
            page = int(params.get("pagina", ["1"])[0])
            modalidade = params.get(MODALIDADE_PARAM)
            return faults.fails_permanently(
                path, day, page, int(modalidade[0]) if modalidade else None
            )
        except (QueryError, ValueError):
            return False

    def _status_fault(self, fault: FaultKind, faults: FaultConfig, path: str) -> int:
        status = STATUS_FAULTS[fault]
        if status == 429:
            headers = {"Retry-After": str(faults.retry_after_s)}
            if fault is FaultKind.RATE_LIMITED_NO_RETRY_AFTER:
                headers = {}
            self._error(429, "Limite de requisições excedido", path, headers)
        elif status == 500:
            self._error(500, "Erro interno do servidor", path)
        else:  # 502 / 503 come from the gateway in front of PNCP, as HTML
            title = f"{status} {HTTPStatus(status).phrase}"
            self._send(status, _GATEWAY_PAGE.format(title).encode(), "text/html")
        return status

    def _drop(self) -> None:
        """Close the connection without a byte of response, like a crashed proxy."""
        self.close_connection = True

    # --- admin -----------------------------------------------------------------------

    def _admin(self, path: str) -> None:
        sim = self.simulator
        route = (self.command, path.removeprefix(ADMIN_PATH).rstrip("/"))
        if route == ("GET", "/config"):
            self._json(200, sim.faults.model_dump(mode="json"))
        elif route == ("PUT", "/config"):
            length = int(self.headers.get("Content-Length") or 0)
            try:
                faults = FaultConfig.model_validate_json(self.rfile.read(length) or b"{}")
            except ValidationError as invalid:
                self._error(400, invalid.json(include_url=False), path)
                return
            self._json(200, sim.configure(faults).model_dump(mode="json"))
        elif route == ("GET", "/stats"):
            self._json(200, sim.stats())
        elif route == ("DELETE", "/stats"):
            sim.reset_stats()
            self._send(204)
        else:
            self._error(404, "Not Found", path)

    # --- responses -------------------------------------------------------------------

    def _error(
        self, status: int, message: str, path: str, headers: dict[str, str] | None = None
    ) -> None:
        """PNCP's error body (`RespostaErroValidacaoDTO`; the spec types status as text)."""
        body = {
            "message": message,
            "path": path,
            "timestamp": datetime.now().isoformat(timespec="milliseconds"),
            "status": str(status),
            "error": HTTPStatus(status).phrase,
        }
        self._json(status, body, headers)

    def _json(self, status: int, body: Any, headers: dict[str, str] | None = None) -> None:
        payload = json.dumps(body, ensure_ascii=False, separators=(",", ":")).encode()
        self._send(status, payload, "application/json", headers)

    def _send(
        self,
        status: int,
        body: bytes = b"",
        content_type: str | None = None,
        headers: dict[str, str] | None = None,
    ) -> None:
        try:
            self.send_response(status)
            for name, value in (headers or {}).items():
                self.send_header(name, value)
            if status != 204:
                self.send_header("Content-Type", f"{content_type}; charset=utf-8")
                self.send_header("Content-Length", str(len(body)))
            self.end_headers()
            if body:
                self.wfile.write(body)
        except (BrokenPipeError, ConnectionResetError):  # the client gave up (timeouts)
            self.close_connection = True
