"""Async HTTP client for the PNCP consultation API that survives a flaky, throttling server.

PNCP answers 429 under load, drops connections and now and then sends truncated bodies, so
every page fetch runs through one pipeline: bounded concurrency (semaphore sized like the
connection pool) -> circuit breaker -> client-side rate limit -> request -> validation.
Transient failures are retried by `tenacity` with full-jitter backoff that never undercuts a
server's Retry-After; permanent 4xx answers raise at once. Plain Python, no Dagster: a thin
resource elsewhere builds `PncpClient` from `ClientSettings`.

Secrets never leave the client: the bearer token is a `SecretStr`, and every URL or param set
that reaches a log record or an exception goes through `redact_url` / `redact_params`.
"""

from __future__ import annotations

import asyncio
import functools
import json
import logging
import random
import ssl
import time
from dataclasses import asdict, dataclass, field
from types import TracebackType
from typing import TYPE_CHECKING, Any, Self
from urllib.parse import parse_qsl, urlencode, urlsplit, urlunsplit

import certifi
import httpx
import orjson
from pydantic import BaseModel, ConfigDict, Field, SecretStr
from tenacity import AsyncRetrying, RetryCallState, retry_if_exception_type, stop_after_attempt

from project.lib.pncp.endpoints import Endpoint
from project.lib.pncp.resilience import (
    BreakerState,
    CircuitBreaker,
    Clock,
    Permit,
    RateLimiter,
    parse_retry_after,
    retry_wait_s,
)

if TYPE_CHECKING:
    from project.settings import Settings

logger = logging.getLogger("project.pncp.client")
# httpcore scans every connection of a pool for each request it schedules, so a pool of
# 48 connections spends more CPU on bookkeeping than on the response; several small pools
# keep that scan short (measured: bench/extraction.py).
CONNECTIONS_PER_POOL = 8
# httpx logs every request URL at INFO, query string included; this client logs its own
# redacted lines instead, so httpx's are kept to warnings and above.
logging.getLogger("httpx").setLevel(logging.WARNING)

ENVELOPE_FIELDS = ("totalRegistros", "totalPaginas", "numeroPagina", "paginasRestantes")
RETRYABLE_STATUSES = frozenset({429, 500, 502, 503, 504})
RETRY_AFTER_STATUSES = frozenset({429, 503})
# Transport failures worth another try; invalid URLs or unsupported schemes are not.
RETRYABLE_TRANSPORT_ERRORS: tuple[type[httpx.HTTPError], ...] = (
    httpx.TimeoutException,
    httpx.NetworkError,
    httpx.RemoteProtocolError,
    httpx.DecodingError,
)
REDACTED = "REDACTED"
_SENSITIVE_PARAMS = frozenset(
    {
        "token",
        "key",
        "apikey",
        "password",
        "passwd",
        "secret",
        "accesstoken",
        "refreshtoken",
        "clientsecret",
        "signature",
        "sig",
        "auth",
        "authorization",
    }
)


class ClientSettings(BaseModel):
    """Everything a deployment may tune; frozen so one instance can be shared and hashed."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    base_url: str = "https://pncp.gov.br/api/consulta"
    timeout_s: float = Field(30.0, gt=0, description="Connect and read timeout per request.")
    max_concurrency: int = Field(4, ge=1, description="Requests in flight; sizes the pool.")
    rate_limit_per_s: float = Field(4.0, ge=0, description="Request starts per second; 0 = off.")
    max_retries: int = Field(5, ge=0, description="Retries after the first attempt.")
    backoff_base_s: float = Field(1.0, ge=0)
    backoff_max_s: float = Field(60.0, ge=0)
    retry_after_max_s: float = Field(300.0, ge=0, description="Cap on a honoured Retry-After.")
    breaker_failure_threshold: int = Field(5, ge=1)
    breaker_reset_s: float = Field(300.0, ge=0)
    user_agent: str = "procurement-platform/0.1 (PNCP extraction)"
    api_token: SecretStr | None = Field(None, description="Sent as `Authorization: Bearer`.")

    @classmethod
    def from_settings(cls, settings: Settings, **overrides: Any) -> Self:
        """The client settings of this deployment: the one mapping from `PNCP_*` variables.

        The resource of the extraction assets and the `pncp` commands both build their
        client here, so a variable means the same in a Dagster run and on the command line;
        `overrides` (a run's resource config, a command's option) replace single values.
        What no variable sets keeps the defaults above.
        """
        values: dict[str, Any] = {
            "base_url": settings.pncp_base_url,
            "timeout_s": settings.pncp_timeout_s,
            "max_concurrency": settings.pncp_max_concurrency,
            "rate_limit_per_s": settings.pncp_rate_limit_per_s,
            "max_retries": settings.pncp_max_retries,
            "api_token": settings.pncp_api_token,
        }
        return cls(**{**values, **overrides})

    @property
    def host(self) -> str:
        """The API's host (and port, when not the scheme's default), never its credentials:
        what logs and failure messages name, so an operator sees which API a run called."""
        return api_host(self.base_url)


def api_host(url: str) -> str:
    """`https://user:pw@pncp.gov.br/api/consulta` -> `pncp.gov.br` (a port is kept)."""
    try:
        netloc = urlsplit(url).netloc
    except ValueError:
        return "<unparseable url>"
    return netloc.rpartition("@")[2] or "<no host>"


# --- errors -------------------------------------------------------------------------------


class PncpError(Exception):
    """Base of every error this client raises."""


class PncpRequestError(PncpError):
    """PNCP rejected the request for good (400, 401, 403, 404, 422, ...); retrying won't help."""

    def __init__(
        self,
        path: str,
        params: dict[str, str],
        status: int,
        message: str,
        body: bytes,
        url: str,
        attempts: int = 1,
    ) -> None:
        self.path = path
        self.params = redact_params(params)
        self.status = status
        self.message = message
        self.body = body
        self.url = redact_url(url)
        self.attempts = attempts
        super().__init__(f"PNCP answered {status} for {path} params={self.params}: {message}")

    def __reduce__(self) -> tuple[Any, ...]:  # picklable across process boundaries
        args = (self.path, self.params, self.status, self.message, self.body, self.url)
        return type(self), (*args, self.attempts)


class PncpRetriesExhausted(PncpError):
    """Every attempt failed with a transient error; `last_reason` says how the last one did.

    `status` and `body` come from the last attempt that got an HTTP answer at all (None after
    a timeout or dropped connection), named like PncpRequestError's so bookkeeping treats both
    alike.
    """

    def __init__(
        self,
        path: str,
        params: dict[str, str],
        attempts: int,
        last_reason: str,
        status: int | None = None,
        body: bytes | None = None,
    ) -> None:
        self.path = path
        self.params = redact_params(params)
        self.attempts = attempts
        self.last_reason = last_reason
        self.status = status
        self.body = body
        super().__init__(
            f"PNCP {path} params={self.params} failed after {attempts} attempts: {last_reason}"
        )

    def __reduce__(self) -> tuple[Any, ...]:
        args = (self.path, self.params, self.attempts, self.last_reason, self.status, self.body)
        return type(self), args


class CircuitOpenError(PncpError):
    """The breaker is open after repeated server failures; no request was sent.

    `last_reason` is how the failure that opened it went (`ConnectError`, `HTTP 503`):
    the cause an operator needs, where "circuit open" alone names only the symptom.
    """

    def __init__(self, path: str, retry_in_s: float, last_reason: str | None = None) -> None:
        self.path = path
        self.retry_in_s = retry_in_s
        self.last_reason = last_reason
        self.attempts = 0  # requests this page had sent before the circuit stopped it
        cause = f" (opened by {last_reason})" if last_reason else ""
        super().__init__(
            f"PNCP circuit open{cause}, not calling {path}; next trial in {retry_in_s:.0f} s"
        )

    def __reduce__(self) -> tuple[Any, ...]:
        return type(self), (self.path, self.retry_in_s, self.last_reason)


class _TransientFailure(Exception):
    """One attempt failed in a way worth retrying; internal to the tenacity loop."""

    def __init__(
        self,
        reason: str,
        *,
        status: int | None = None,
        body: bytes | None = None,
        retry_after_s: float | None = None,
        server_fault: bool = True,
    ) -> None:
        super().__init__(reason)
        self.reason = reason
        self.status = status
        self.body = body
        self.retry_after_s = retry_after_s
        self.server_fault = server_fault  # counts towards the circuit breaker


class InvalidPage(ValueError):
    """A 200 body that is not a complete PNCP page (bad JSON, no data list, short page)."""


# --- redaction ----------------------------------------------------------------------------


def _is_sensitive(name: str) -> bool:
    key = name.lower().replace("_", "").replace("-", "")
    return key in _SENSITIVE_PARAMS or key.endswith(("token", "secret", "password"))


def redact_params(params: dict[str, str]) -> dict[str, str]:
    """A copy of `params` with credential-like values replaced by REDACTED."""
    return {k: REDACTED if _is_sensitive(k) else v for k, v in params.items()}


def redact_url(url: str | httpx.URL) -> str:
    """`url` without userinfo and with credential-like query values replaced by REDACTED."""
    try:
        parts = urlsplit(str(url))
        host = parts.netloc.rpartition("@")[2]
    except ValueError:
        return "<unparseable url>"
    query = parse_qsl(parts.query, keep_blank_values=True)
    safe_query = urlencode([(k, REDACTED if _is_sensitive(k) else v) for k, v in query])
    return urlunsplit((parts.scheme, host, parts.path, safe_query, parts.fragment))


# --- results ------------------------------------------------------------------------------


@dataclass(frozen=True)
class PageResult:
    """One fetched page: the raw body for the archive plus what bookkeeping records about it.

    `body` is the payload exactly as received (after transport decompression), never
    re-serialised, so the archive can hash it. `envelope` holds PNCP's own paging fields and is
    empty for a 204. `records` is the parsed `data` list, kept because validation parsed it
    anyway and callers would otherwise parse the body a second time.
    """

    endpoint: str
    url: str  # redacted
    params: dict[str, str]  # as sent, including pagina/tamanhoPagina; redacted
    page: int
    page_size: int
    http_status: int
    body: bytes
    envelope: dict[str, int]
    record_count: int
    etag: str | None
    attempts: int
    throttled: int
    elapsed_s: float
    records: list[Any] = field(default_factory=list, repr=False, compare=False)

    @property
    def is_empty(self) -> bool:
        return self.record_count == 0

    @property
    def total_records(self) -> int:
        """totalRegistros; 0 for a 204."""
        return self.envelope.get("totalRegistros", 0)

    @property
    def total_pages(self) -> int:
        """totalPaginas; 0 for a 204."""
        return self.envelope.get("totalPaginas", 0)

    @property
    def pages_remaining(self) -> int | None:
        return self.envelope.get("paginasRestantes")


@dataclass
class ClientStats:
    """Counters for run metadata: `requests` counts HTTP requests sent, `retries` those sent
    again for a page already tried, `failures` pages given up on."""

    requests: int = 0
    retries: int = 0
    throttled: int = 0
    failures: int = 0
    bytes_received: int = 0

    def as_dict(self) -> dict[str, int]:
        return asdict(self)


@dataclass
class _PageTrace:
    """What one fetch_page call has seen so far, across its attempts."""

    endpoint: str
    page: int
    page_size: int
    attempts: int = 0
    throttled: int = 0
    last_status: int | None = None  # of the last attempt that got an HTTP answer
    last_body: bytes | None = None
    # Where counts go: the client's own stats, plus the caller's (one endpoint-day's).
    stats: tuple[ClientStats, ...] = ()

    def count(self, name: str, amount: int = 1) -> None:
        for stats in self.stats:
            setattr(stats, name, getattr(stats, name) + amount)


def parse_page(body: bytes, page: int, page_size: int) -> tuple[dict[str, int], list[Any]]:
    """Validate a 200 body; returns (envelope, records) or raises InvalidPage.

    The envelope must carry totalRegistros and totalPaginas: callers plan the remaining pages
    from them, so a page without them is as useless as a truncated one. A page may never
    hold more than `page_size` records, nor fewer than the envelope's
    totalRegistros implies for page `page`: a short page means a truncated transfer, and a
    retry is cheaper than a silent gap. More records than implied (the total moved between
    PNCP's count and data queries) is accepted; duplicates are removed downstream.
    """
    try:
        payload = orjson.loads(body)  # ~10x the stdlib's speed on PNCP pages
    except ValueError as exc:  # orjson.JSONDecodeError is a ValueError
        raise InvalidPage(f"body is not valid JSON ({exc})") from exc
    if not isinstance(payload, dict) or not isinstance(payload.get("data"), list):
        raise InvalidPage("body has no `data` list")
    envelope = {
        k: payload[k]
        for k in ENVELOPE_FIELDS
        if isinstance(payload.get(k), int) and not isinstance(payload[k], bool)
    }
    missing = [k for k in ("totalRegistros", "totalPaginas") if k not in envelope]
    if missing:
        raise InvalidPage(f"envelope lacks {', '.join(missing)}")
    records = payload["data"]
    count, total = len(records), envelope["totalRegistros"]
    if count > page_size:
        raise InvalidPage(f"{count} records on a page of at most {page_size}")
    expected = min(page_size, max(0, total - (page - 1) * page_size))
    if count < expected:
        raise InvalidPage(f"{count} records where totalRegistros={total} implies {expected}")
    return envelope, records


def _server_message(body: bytes) -> str:
    """PNCP's `message` (or `error`) from an error body, else the start of the body."""
    try:
        payload = json.loads(body)
    except ValueError:
        payload = None
    if isinstance(payload, dict):
        for key in ("message", "error"):
            if payload.get(key):
                return str(payload[key])
    return body[:200].decode("utf-8", "replace").strip() or "(empty body)"


# --- client -------------------------------------------------------------------------------


@functools.cache
def _tls_context() -> ssl.SSLContext:
    """One TLS context per process: loading the CA bundle costs ~50 ms per client."""
    return ssl.create_default_context(cafile=certifi.where())


def _split_userinfo(url: str) -> tuple[str, httpx.BasicAuth | None]:
    """Move `user:password@` out of the URL into Basic auth, so no URL carries it."""
    parsed = httpx.URL(url)
    if not parsed.username and not parsed.password:
        return url, None
    return str(parsed.copy_with(username=None, password=None)), httpx.BasicAuth(
        parsed.username, parsed.password
    )


class PncpClient:
    """Fetches PNCP pages over one pooled keep-alive connection set; use as `async with`.

    `clock` drives the circuit breaker (inject a fake to test half-open); `rng` the jitter;
    `transport` lets tests or the simulator swap the network (pool limits then don't apply).
    """

    def __init__(
        self,
        settings: ClientSettings | None = None,
        *,
        clock: Clock = time.monotonic,
        rng: random.Random | None = None,
        transport: httpx.AsyncBaseTransport | None = None,
    ) -> None:
        self.settings = s = settings or ClientSettings()
        headers = {"User-Agent": s.user_agent, "Accept": "application/json"}
        if s.api_token is not None:
            headers["Authorization"] = f"Bearer {s.api_token.get_secret_value()}"
        base_url, auth = _split_userinfo(s.base_url)
        shards = -(-s.max_concurrency // CONNECTIONS_PER_POOL)
        per_pool = -(-s.max_concurrency // shards)
        self._pools = [
            httpx.AsyncClient(
                base_url=base_url,
                auth=auth,
                headers=headers,
                timeout=httpx.Timeout(s.timeout_s),
                limits=httpx.Limits(max_connections=per_pool, max_keepalive_connections=per_pool),
                transport=transport,
                verify=_tls_context(),
            )
            for _ in range(shards)
        ]
        # One token per allowed request in flight, each naming the pool it may use: this
        # bounds concurrency overall and per pool at once.
        self._slots: asyncio.Queue[httpx.AsyncClient] = asyncio.Queue()
        for index in range(s.max_concurrency):
            self._slots.put_nowait(self._pools[index % shards])
        self._rate = RateLimiter(s.rate_limit_per_s)
        self.breaker = CircuitBreaker(s.breaker_failure_threshold, s.breaker_reset_s, clock)
        self._rng = rng
        self.stats = ClientStats()
        self.opened_by: str | None = None  # the failure that last opened the circuit

    def __repr__(self) -> str:
        return f"PncpClient(base_url={redact_url(self.settings.base_url)!r})"

    async def __aenter__(self) -> Self:
        return self

    async def __aexit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        await self.aclose()

    async def aclose(self) -> None:
        for pool in self._pools:
            await pool.aclose()

    @property
    def breaker_state(self) -> BreakerState:
        return self.breaker.state

    async def fetch_page(
        self,
        endpoint: Endpoint,
        params: dict[str, str],
        page: int,
        page_size: int | None = None,
        *,
        keep_records: bool = True,
        stats: ClientStats | None = None,
    ) -> PageResult:
        """Fetch page `page` (1-based) of `endpoint`; `page_size` defaults to the endpoint's max.

        With `keep_records=False` the parsed records are dropped once the page is validated
        (only `record_count` is kept): a parsed page weighs several times its body, and a
        caller archiving the raw body rarely needs them. `stats`, when given, counts this
        call's requests, retries, throttling and failure as `self.stats` does (a caller's
        share of a client that others use too).

        Raises PncpRequestError (permanent 4xx), PncpRetriesExhausted or CircuitOpenError.
        """
        size = endpoint.max_page_size if page_size is None else page_size
        if page < 1 or not 1 <= size <= endpoint.max_page_size:
            raise ValueError(f"bad page {page} / page size {size} for {endpoint.path}")
        query = {**params, "pagina": str(page), "tamanhoPagina": str(size)}
        sinks = (self.stats,) if stats is None else (self.stats, stats)
        trace = _PageTrace(endpoint.name, page, size, stats=sinks)
        started = time.perf_counter()
        retrying = AsyncRetrying(
            stop=stop_after_attempt(self.settings.max_retries + 1),
            wait=self._wait,
            retry=retry_if_exception_type(_TransientFailure),
            before_sleep=lambda state: self._before_sleep(state, trace),
            reraise=True,
        )
        try:
            response, envelope, records = await retrying(self._attempt, endpoint, query, trace)
        except _TransientFailure as failure:
            trace.count("failures")
            logger.warning(
                "PNCP page failed after %d attempts: %s",
                trace.attempts,
                failure.reason,
                extra=self._log_fields(trace, status=failure.status, attempt=trace.attempts),
            )
            raise PncpRetriesExhausted(
                endpoint.path,
                query,
                trace.attempts,
                failure.reason,
                trace.last_status,
                trace.last_body,
            ) from failure.__cause__
        except CircuitOpenError as exc:  # maybe after attempts of its own that failed
            exc.attempts = trace.attempts
            trace.count("failures")
            raise
        except Exception:  # PncpRequestError or a misconfiguration
            trace.count("failures")
            raise
        return PageResult(
            endpoint=endpoint.name,
            url=redact_url(response.url),
            params=redact_params(query),
            page=page,
            page_size=size,
            http_status=response.status_code,
            body=response.content,
            envelope=envelope,
            record_count=len(records),
            records=records if keep_records else [],
            etag=response.headers.get("etag"),
            attempts=trace.attempts,
            throttled=trace.throttled,
            elapsed_s=time.perf_counter() - started,
        )

    async def _attempt(
        self, endpoint: Endpoint, query: dict[str, str], trace: _PageTrace
    ) -> tuple[httpx.Response, dict[str, int], list[Any]]:
        """One request under the concurrency slot, breaker permit and rate limit."""
        if self.breaker.state is BreakerState.OPEN:  # fail fast, without queueing for a slot
            raise CircuitOpenError(endpoint.path, self.breaker.retry_in_s, self.opened_by)
        http = await self._slots.get()
        try:
            permit = self.breaker.try_acquire()
            if permit is None:
                raise CircuitOpenError(endpoint.path, self.breaker.retry_in_s, self.opened_by)
            try:
                outcome = await self._exchange(http, endpoint, query, trace)
            except _TransientFailure as failure:
                if failure.status is not None:
                    trace.last_status, trace.last_body = failure.status, failure.body
                if failure.server_fault:
                    self._record_failure(permit, trace, failure)
                else:
                    self.breaker.release(permit)
                raise
            except PncpRequestError:
                self.breaker.record_success(permit)  # the server is up, the request is wrong
                raise
            except BaseException:
                self.breaker.release(permit)
                raise
            self.breaker.record_success(permit)
            return outcome
        finally:
            self._slots.put_nowait(http)

    async def _exchange(
        self, http: httpx.AsyncClient, endpoint: Endpoint, query: dict[str, str], trace: _PageTrace
    ) -> tuple[httpx.Response, dict[str, int], list[Any]]:
        await self._rate.wait()
        trace.attempts += 1
        trace.count("requests")
        if trace.attempts > 1:  # a request sent again: what "retries" counts
            trace.count("retries")
        try:
            response = await http.get(endpoint.path, params=query)
        except RETRYABLE_TRANSPORT_ERRORS as exc:
            raise _TransientFailure(type(exc).__name__) from exc
        status = response.status_code
        trace.count("bytes_received", len(response.content))
        logger.debug(
            "PNCP %s page %d answered %d",
            endpoint.path,
            trace.page,
            status,
            extra=self._log_fields(trace, status=status, attempt=trace.attempts),
        )
        if status == 204:
            return response, {}, []
        if status == 200:
            try:
                envelope, records = parse_page(response.content, trace.page, trace.page_size)
            except InvalidPage as exc:
                raise _TransientFailure(
                    f"HTTP 200 with invalid page: {exc}", status=status, body=response.content
                ) from exc
            return response, envelope, records
        if status in RETRYABLE_STATUSES:
            if status == 429:
                trace.throttled += 1
                trace.count("throttled")
            retry_after = (
                parse_retry_after(response.headers.get("retry-after"))
                if status in RETRY_AFTER_STATUSES
                else None
            )
            raise _TransientFailure(
                f"HTTP {status}",
                status=status,
                body=response.content,
                retry_after_s=retry_after,
                server_fault=status != 429,
            )
        raise PncpRequestError(
            endpoint.path,
            query,
            status,
            _server_message(response.content),
            response.content,
            str(response.url),
            trace.attempts,
        )

    def _record_failure(
        self, permit: Permit, trace: _PageTrace, failure: _TransientFailure
    ) -> None:
        if self.breaker.record_failure(permit):
            self.opened_by = failure.reason
            logger.warning(
                "PNCP circuit opened after %d consecutive failures (last: %s); pausing %.0f s",
                self.breaker.consecutive_failures,
                failure,
                self.settings.breaker_reset_s,
                extra=self._log_fields(trace, status=failure.status, attempt=trace.attempts),
            )

    def _wait(self, state: RetryCallState) -> float:
        """tenacity wait: full jitter on the retry number, floored by a capped Retry-After.

        A callable rather than tenacity's `wait_random_exponential` (which is full jitter too)
        because the floor depends on the failed response's header, which only the outcome
        carried in `state` knows.
        """
        failure = state.outcome.exception() if state.outcome else None
        retry_after = failure.retry_after_s if isinstance(failure, _TransientFailure) else None
        s = self.settings
        return retry_wait_s(
            state.attempt_number - 1,
            s.backoff_base_s,
            s.backoff_max_s,
            retry_after,
            s.retry_after_max_s,
            self._rng,
        )

    def _before_sleep(self, state: RetryCallState, trace: _PageTrace) -> None:
        failure = state.outcome.exception() if state.outcome else None
        wait_s = state.upcoming_sleep
        logger.warning(
            "PNCP attempt %d failed (%s); retrying in %.2f s",
            state.attempt_number,
            failure,
            wait_s,
            extra=self._log_fields(
                trace,
                status=getattr(failure, "status", None),
                attempt=state.attempt_number,
                wait_s=round(wait_s, 3),
            ),
        )

    @staticmethod
    def _log_fields(trace: _PageTrace, **fields: object) -> dict[str, object]:
        return {"endpoint": trace.endpoint, "page": trace.page, **fields}
