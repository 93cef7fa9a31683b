"""The PNCP client against a real, scripted local HTTP server: retries, breaker, limits, secrets.

Every behaviour goes over real sockets (no MockTransport): a `ThreadingHTTPServer` on an
ephemeral port answers each path from a queue of scripted replies and records what reached
it, so tests can assert both what the client returned and what the server saw.
"""

from __future__ import annotations

import contextlib
import json
import logging
import math
import random
import threading
import time
from collections import defaultdict, deque
from collections.abc import Iterator
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, timedelta
from email.utils import format_datetime
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any
from urllib.parse import parse_qsl, urlsplit

import anyio
import pytest
from hypothesis import given
from hypothesis import strategies as st

from project.lib.pncp.client import (
    CircuitOpenError,
    ClientSettings,
    PncpClient,
    PncpRequestError,
    PncpRetriesExhausted,
    redact_url,
)
from project.lib.pncp.endpoints import ENDPOINTS
from project.lib.pncp.resilience import (
    BreakerState,
    backoff_ceiling_s,
    full_jitter_s,
    parse_retry_after,
    retry_wait_s,
)

pytestmark = pytest.mark.anyio

CONTRATOS = ENDPOINTS["contratos"]
PATH = "/api/consulta" + CONTRATOS.path
PARAMS = CONTRATOS.window_params(date(2024, 7, 1), date(2024, 7, 1))
TOKEN = "tok-9f8e7d6c5b4a-s3cr3t"  # a fake credential the tests hunt for


# --- scripted server ----------------------------------------------------------------------


@dataclass
class Reply:
    status: int = 200
    body: bytes = b""
    headers: dict[str, str] = field(default_factory=dict)
    delay_s: float = 0.0
    drop: bool = False  # close the connection without answering


@dataclass
class Seen:
    path: str
    query: dict[str, str]
    headers: dict[str, str]
    at: float


class ScriptedServer:
    """Answers each path from its queue of replies, then from its fallback (default 404)."""

    def __init__(self) -> None:
        self.queues: dict[str, deque[Reply]] = defaultdict(deque)
        self.fallbacks: dict[str, Reply] = {}
        self.seen: list[Seen] = []
        self.in_flight = 0
        self.max_in_flight = 0
        self._lock = threading.Lock()
        self._httpd = ThreadingHTTPServer(("127.0.0.1", 0), _handler_for(self))
        self._thread = threading.Thread(
            target=self._httpd.serve_forever, kwargs={"poll_interval": 0.02}, daemon=True
        )

    @property
    def base_url(self) -> str:
        host, port = self._httpd.server_address[:2]
        return f"http://{host}:{port}/api/consulta"

    def script(self, path: str, *replies: Reply) -> None:
        self.queues[path].extend(replies)

    def always(self, path: str, reply: Reply) -> None:
        self.fallbacks[path] = reply

    def arrive(self, path: str, query: str, headers: dict[str, str]) -> Reply:
        with self._lock:
            self.seen.append(Seen(path, dict(parse_qsl(query)), headers, time.monotonic()))
            self.in_flight += 1
            self.max_in_flight = max(self.max_in_flight, self.in_flight)
            queue = self.queues[path]
            return queue.popleft() if queue else self.fallbacks.get(path, Reply(404))

    def leave(self) -> None:
        # Called before the reply is written, so a client that sends its next request as
        # soon as it has an answer can never be counted twice.
        with self._lock:
            self.in_flight -= 1

    def start(self) -> None:
        self._thread.start()

    def stop(self) -> None:
        self._httpd.shutdown()
        self._httpd.server_close()


def _handler_for(server: ScriptedServer) -> type[BaseHTTPRequestHandler]:
    class Handler(BaseHTTPRequestHandler):
        protocol_version = "HTTP/1.1"  # keep-alive, like the real API

        def do_GET(self) -> None:
            url = urlsplit(self.path)
            reply = server.arrive(url.path, url.query, dict(self.headers))
            try:
                time.sleep(reply.delay_s)
            finally:
                server.leave()
            if reply.drop:
                self.close_connection = True
                return
            self.send_response(reply.status)
            for name, value in reply.headers.items():
                self.send_header(name, value)
            if reply.status != 204:
                self.send_header("Content-Length", str(len(reply.body)))
            self.end_headers()
            if reply.status != 204:
                self.wfile.write(reply.body)

        def handle(self) -> None:
            # The client may give up on a delayed reply (timeout tests) and hang up.
            with contextlib.suppress(BrokenPipeError, ConnectionResetError):
                super().handle()

        def log_message(self, format: str, *args: Any) -> None:
            pass

    return Handler


@pytest.fixture
def anyio_backend() -> str:
    return "asyncio"


@pytest.fixture
def server() -> Iterator[ScriptedServer]:
    scripted = ScriptedServer()
    scripted.start()
    yield scripted
    scripted.stop()


class FakeClock:
    def __init__(self) -> None:
        self.now = 1_000.0

    def __call__(self) -> float:
        return self.now

    def advance(self, seconds: float) -> None:
        self.now += seconds


def settings_for(server: ScriptedServer, **overrides: Any) -> ClientSettings:
    fast = {
        "base_url": server.base_url,
        "timeout_s": 2.0,
        "max_concurrency": 4,
        "rate_limit_per_s": 0,
        "max_retries": 3,
        "backoff_base_s": 0.01,
        "backoff_max_s": 0.05,
        "breaker_failure_threshold": 5,
        "breaker_reset_s": 300.0,
    }
    return ClientSettings(**{**fast, **overrides})


def page_body(count: int, total: int | None = None, page: int = 1, page_size: int = 500) -> bytes:
    total = count if total is None else total
    pages = math.ceil(total / page_size)
    return json.dumps(
        {
            "data": [
                {"numeroControlePNCP": f"00000000000191-2-{i:06d}/2024"} for i in range(count)
            ],
            "totalRegistros": total,
            "totalPaginas": pages,
            "numeroPagina": page,
            "paginasRestantes": max(0, pages - page),
            "empty": count == 0,
        }
    ).encode()


def error_body(status: int, message: str) -> bytes:
    return json.dumps(
        {
            "message": message,
            "path": PATH,
            "timestamp": "2024-07-01T10:00:00",
            "status": status,
            "error": "Bad Request" if status == 400 else "Unprocessable Entity",
        }
    ).encode()


OK = Reply(200, page_body(2))


# --- success paths ------------------------------------------------------------------------


async def test_success_returns_raw_body_envelope_and_request_params(
    server: ScriptedServer,
) -> None:
    body = page_body(3, total=1_003, page=3)
    server.script(PATH, Reply(200, body, {"ETag": '"v1"', "Content-Type": "application/json"}))

    async with PncpClient(settings_for(server)) as client:
        result = await client.fetch_page(CONTRATOS, PARAMS, page=3)

    assert result.http_status == 200
    assert result.body == body
    assert result.envelope == {
        "totalRegistros": 1_003,
        "totalPaginas": 3,
        "numeroPagina": 3,
        "paginasRestantes": 0,
    }
    assert (result.record_count, result.total_records, result.total_pages) == (3, 1_003, 3)
    assert result.records[0]["numeroControlePNCP"].endswith("000000/2024")
    assert result.etag == '"v1"'
    assert (result.attempts, result.throttled) == (1, 0)
    assert result.elapsed_s > 0
    sent = {**PARAMS, "pagina": "3", "tamanhoPagina": "500"}
    assert result.params == sent
    assert server.seen[0].query == sent
    assert server.seen[0].headers["User-Agent"] == ClientSettings().user_agent
    assert client.stats.as_dict() == {
        "requests": 1,
        "retries": 0,
        "throttled": 0,
        "failures": 0,
        "bytes_received": len(body),
    }


async def test_204_is_a_successful_empty_page(server: ScriptedServer) -> None:
    server.script(PATH, Reply(204))

    async with PncpClient(settings_for(server)) as client:
        result = await client.fetch_page(CONTRATOS, PARAMS, page=1)

    assert result.http_status == 204
    assert (result.body, result.envelope, result.record_count) == (b"", {}, 0)
    assert (result.total_records, result.total_pages) == (0, 0)
    assert result.attempts == 1


# --- retries ------------------------------------------------------------------------------


async def test_500_is_retried_until_success(server: ScriptedServer) -> None:
    server.script(PATH, Reply(500, b"oops"), Reply(500, b"oops"), OK)

    async with PncpClient(settings_for(server)) as client:
        result = await client.fetch_page(CONTRATOS, PARAMS, page=1)

    assert result.attempts == 3
    assert len(server.seen) == 3
    assert (client.stats.requests, client.stats.retries, client.stats.failures) == (3, 2, 0)


async def test_429_waits_at_least_retry_after(server: ScriptedServer) -> None:
    server.script(PATH, Reply(429, b"", {"Retry-After": "1"}), OK)

    async with PncpClient(settings_for(server)) as client:
        result = await client.fetch_page(CONTRATOS, PARAMS, page=1)

    first, second = server.seen
    assert second.at - first.at >= 1.0
    assert (result.attempts, result.throttled) == (2, 1)
    assert client.stats.throttled == 1


async def test_429_without_retry_after_backs_off_with_full_jitter(
    server: ScriptedServer, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.DEBUG, logger="project.pncp.client")
    server.script(PATH, Reply(429), Reply(429), OK)
    settings = settings_for(server, backoff_base_s=0.02, backoff_max_s=1.0)

    async with PncpClient(settings) as client:
        result = await client.fetch_page(CONTRATOS, PARAMS, page=1)

    waits = [r.wait_s for r in caplog.records if hasattr(r, "wait_s")]
    assert len(waits) == 2
    assert 0 <= waits[0] <= 0.02
    assert 0 <= waits[1] <= 0.04
    assert (result.attempts, result.throttled) == (3, 2)


async def test_timeout_is_retried(server: ScriptedServer) -> None:
    server.script(PATH, Reply(200, page_body(2), delay_s=0.6), OK)

    async with PncpClient(settings_for(server, timeout_s=0.2)) as client:
        result = await client.fetch_page(CONTRATOS, PARAMS, page=1)

    assert result.attempts == 2
    assert result.record_count == 2


async def test_dropped_connection_is_retried(server: ScriptedServer) -> None:
    server.script(PATH, Reply(drop=True), OK)

    async with PncpClient(settings_for(server)) as client:
        result = await client.fetch_page(CONTRATOS, PARAMS, page=1)

    assert result.attempts == 2
    assert len(server.seen) == 2


@pytest.mark.parametrize(
    "bad_body",
    [
        pytest.param(page_body(2)[:-15], id="truncated-json"),
        pytest.param(b"<html>gateway hiccup</html>", id="not-json"),
        pytest.param(
            b'{"data": {"oops": 1}, "totalRegistros": 1, "totalPaginas": 1}', id="no-list"
        ),
        pytest.param(page_body(1, total=3), id="short-page"),
        pytest.param(b'{"data": []}', id="no-envelope"),
    ],
)
async def test_invalid_200_body_is_retried(server: ScriptedServer, bad_body: bytes) -> None:
    server.script(PATH, Reply(200, bad_body), OK)

    async with PncpClient(settings_for(server)) as client:
        result = await client.fetch_page(CONTRATOS, PARAMS, page=1)

    assert result.attempts == 2
    assert result.body == OK.body


# --- permanent and final failures ---------------------------------------------------------


@pytest.mark.parametrize(
    ("status", "message"),
    [
        (400, "Tamanho de página inválido"),
        (422, "Período de consulta não pode ser superior a 365 dias"),
    ],
)
async def test_client_error_raises_at_once_with_server_message(
    server: ScriptedServer, status: int, message: str
) -> None:
    body = error_body(status, message)
    server.script(PATH, Reply(status, body))

    async with PncpClient(settings_for(server)) as client:
        with pytest.raises(PncpRequestError) as caught:
            await client.fetch_page(CONTRATOS, PARAMS, page=1)

    error = caught.value
    assert (error.status, error.message, error.body) == (status, message, body)
    assert CONTRATOS.path in str(error)
    assert message in str(error)
    assert "20240701" in str(error)
    assert len(server.seen) == 1
    assert client.stats.failures == 1


async def test_exhausted_retries_raise_with_last_reason_and_body(server: ScriptedServer) -> None:
    body = b'{"message": "Service Unavailable"}'
    server.always(PATH, Reply(503, body))

    async with PncpClient(settings_for(server, max_retries=2)) as client:
        with pytest.raises(PncpRetriesExhausted) as caught:
            await client.fetch_page(CONTRATOS, PARAMS, page=1)

    error = caught.value
    assert (error.attempts, error.status, error.body) == (3, 503, body)
    assert error.last_reason == "HTTP 503"
    assert len(server.seen) == 3
    assert (client.stats.retries, client.stats.failures) == (2, 1)


# --- circuit breaker ----------------------------------------------------------------------


async def _open_circuit(client: PncpClient, server: ScriptedServer) -> None:
    server.script(PATH, *[Reply(500)] * 5)
    for _ in range(5):
        with pytest.raises(PncpRetriesExhausted):
            await client.fetch_page(CONTRATOS, PARAMS, page=1)


async def test_circuit_opens_after_five_consecutive_failures_and_fails_fast(
    server: ScriptedServer,
) -> None:
    server.always(PATH, OK)

    async with PncpClient(settings_for(server, max_retries=0)) as client:
        await _open_circuit(client, server)
        with pytest.raises(CircuitOpenError):
            await client.fetch_page(CONTRATOS, PARAMS, page=1)

    assert client.breaker_state is BreakerState.OPEN
    assert len(server.seen) == 5


async def test_circuit_half_opens_after_reset_and_closes_on_success(
    server: ScriptedServer,
) -> None:
    clock = FakeClock()
    server.always(PATH, OK)
    settings = settings_for(server, max_retries=0, breaker_reset_s=300.0)

    async with PncpClient(settings, clock=clock) as client:
        await _open_circuit(client, server)
        clock.advance(299)
        with pytest.raises(CircuitOpenError):
            await client.fetch_page(CONTRATOS, PARAMS, page=1)
        clock.advance(1)
        assert client.breaker_state is BreakerState.HALF_OPEN
        result = await client.fetch_page(CONTRATOS, PARAMS, page=1)

    assert result.http_status == 200
    assert client.breaker_state is BreakerState.CLOSED
    assert len(server.seen) == 6


async def test_failed_half_open_trial_reopens_circuit(server: ScriptedServer) -> None:
    clock = FakeClock()

    async with PncpClient(settings_for(server, max_retries=0), clock=clock) as client:
        await _open_circuit(client, server)
        clock.advance(300)
        server.script(PATH, Reply(502))
        with pytest.raises(PncpRetriesExhausted):
            await client.fetch_page(CONTRATOS, PARAMS, page=1)

    assert client.breaker_state is BreakerState.OPEN


async def test_throttling_does_not_trip_circuit(server: ScriptedServer) -> None:
    server.script(PATH, *[Reply(429)] * 6)

    async with PncpClient(settings_for(server, max_retries=5)) as client:
        with pytest.raises(PncpRetriesExhausted):
            await client.fetch_page(CONTRATOS, PARAMS, page=1)

    assert client.breaker_state is BreakerState.CLOSED


# --- concurrency and rate -----------------------------------------------------------------


async def test_in_flight_requests_never_exceed_max_concurrency(server: ScriptedServer) -> None:
    server.always(PATH, Reply(200, page_body(2), delay_s=0.15))

    async with (
        PncpClient(settings_for(server, max_concurrency=3)) as client,
        anyio.create_task_group() as tasks,
    ):
        for page in range(1, 11):
            tasks.start_soon(client.fetch_page, CONTRATOS, PARAMS, page, 10)

    assert len(server.seen) == 10
    assert server.max_in_flight == 3


async def test_rate_limit_spaces_requests(server: ScriptedServer) -> None:
    server.always(PATH, OK)
    requests, rate = 6, 10.0

    async with (
        PncpClient(settings_for(server, rate_limit_per_s=rate, max_concurrency=6)) as client,
        anyio.create_task_group() as tasks,
    ):
        started = time.monotonic()
        for _ in range(requests):
            tasks.start_soon(client.fetch_page, CONTRATOS, PARAMS, 1)
    elapsed = time.monotonic() - started

    assert elapsed >= (requests - 1) / rate
    arrivals = sorted(s.at for s in server.seen)
    assert arrivals[-1] - arrivals[0] >= (requests - 1) / rate * 0.95


# --- secrets ------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("url", "expected"),
    [
        (
            "https://user:pa55@pncp.gov.br/api/consulta/v1/contratos?dataInicial=20240701",
            "https://pncp.gov.br/api/consulta/v1/contratos?dataInicial=20240701",
        ),
        (
            "http://h:8080/p?pagina=1&token=abc&API_KEY=k&access_token=t&Signature=s",
            "http://h:8080/p?pagina=1&token=REDACTED&API_KEY=REDACTED"
            "&access_token=REDACTED&Signature=REDACTED",
        ),
        (
            "http://h/p?password=x&secret=y&key=z&apikey=w&pagina=2",
            "http://h/p?password=REDACTED&secret=REDACTED&key=REDACTED&apikey=REDACTED&pagina=2",
        ),
    ],
)
def test_redact_url_removes_credentials(url: str, expected: str) -> None:
    assert redact_url(url) == expected


async def test_token_is_sent_but_never_logged_or_exposed(
    server: ScriptedServer, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.DEBUG, logger="project.pncp.client")
    server.script(PATH, Reply(503), Reply(400, error_body(400, "pagina inválida")))
    settings = settings_for(server, api_token=TOKEN)

    async with PncpClient(settings) as client:
        with pytest.raises(PncpRequestError) as caught:
            await client.fetch_page(CONTRATOS, {**PARAMS, "apikey": TOKEN}, page=1)

    assert server.seen[0].headers["Authorization"] == f"Bearer {TOKEN}"
    error = caught.value
    exposed = [
        caplog.text,
        *(repr(vars(record)) for record in caplog.records),
        str(error),
        repr(error),
        error.url,
        repr(error.params),
        repr(settings),
        settings.model_dump_json(),
        repr(client),
    ]
    assert caplog.records
    assert all(TOKEN not in text for text in exposed)


# --- backoff properties -------------------------------------------------------------------

attempts = st.integers(min_value=0, max_value=2_000)
seconds = st.floats(min_value=0, max_value=1e6, allow_nan=False, allow_infinity=False)


@given(attempt=attempts, base=seconds, cap=seconds, seed=st.integers())
def test_full_jitter_lies_within_exponential_ceiling(
    attempt: int, base: float, cap: float, seed: int
) -> None:
    wait = full_jitter_s(attempt, base, cap, random.Random(seed))
    assert 0 <= wait <= backoff_ceiling_s(attempt, base, cap) <= cap
    if attempt < 1_000:
        assert backoff_ceiling_s(attempt, base, cap) == min(cap, base * 2**attempt)


@given(
    attempt=attempts,
    base=seconds,
    cap=seconds,
    retry_after=seconds,
    retry_after_cap=seconds,
    seed=st.integers(),
)
def test_retry_after_wait_is_never_shorter_than_capped_header(
    attempt: int, base: float, cap: float, retry_after: float, retry_after_cap: float, seed: int
) -> None:
    wait = retry_wait_s(attempt, base, cap, retry_after, retry_after_cap, random.Random(seed))
    assert wait >= min(retry_after, retry_after_cap)
    assert wait <= max(backoff_ceiling_s(attempt, base, cap), min(retry_after, retry_after_cap))


@pytest.mark.parametrize(
    ("header", "expected"),
    [("5", 5.0), ("0", 0.0), ("-3", 0.0), ("soon", None), ("", None), (None, None)],
)
def test_parse_retry_after_seconds(header: str | None, expected: float | None) -> None:
    assert parse_retry_after(header) == expected


def test_parse_retry_after_http_date() -> None:
    now = datetime(2024, 7, 1, 12, 0, tzinfo=UTC)
    header = format_datetime(now + timedelta(seconds=90), usegmt=True)
    assert parse_retry_after(header, now=now) == 90.0
    assert parse_retry_after(format_datetime(now - timedelta(hours=1), usegmt=True), now) == 0.0
