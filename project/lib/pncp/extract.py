"""Extract one endpoint-day from the PNCP API into the raw archive, resumably.

Page 1 of each slice (one slice per modalidade for the contratacoes endpoints) tells the
total; the remaining pages are then fetched concurrently (the client bounds how many
are in flight). Pages already in the archive are skipped, so a re-run after a crash or
a kill resumes where the archive stops. Fetched pages are written in batches, each one
transaction: a killed process leaves whole pages or none. Every page that finally
fails (an HTTP error, a connection error or timeout after the client's retries, or a
circuit breaker that opened) is recorded in `meta.failed_requests` with its reason and
retried by the next run; a circuit that opens stops the extraction early, recording the
pages it leaves unrequested as failed too, so a resume knows them.
"""

from __future__ import annotations

import asyncio
import time
from dataclasses import dataclass, field, replace
from datetime import date

from project.lib.pncp import progress, schema
from project.lib.pncp.archive import (
    NO_MODALIDADE,
    ArchivedPage,
    ArchiveWriter,
    Checkpoint,
    FailedPage,
    Written,
)
from project.lib.pncp.client import (
    CircuitOpenError,
    ClientStats,
    PageResult,
    PncpClient,
    PncpRequestError,
    PncpRetriesExhausted,
)
from project.lib.pncp.endpoints import MODALIDADES, Endpoint

FLUSH_PAGES = 64  # pages per archive transaction, at most
FLUSH_BYTES = 8 * 2**20  # ... or this much payload: bounds memory with 750 KB pages
# Pages fetched but not yet archived, at most: while another writer holds the warehouse,
# fetching pauses here instead of piling a whole day of bodies up in memory.
MAX_UNARCHIVED_PAGES = 2 * FLUSH_PAGES


class ExtractionIncomplete(RuntimeError):
    """Some pages could not be archived; they are in `meta.failed_requests`."""


@dataclass
class DayReport:
    """What one endpoint-day extraction did, for run metadata and `meta.execution_log`."""

    endpoint: str
    day: date
    pages_fetched: int = 0
    pages_resumed: int = 0
    records_fetched: int = 0
    records_total: int = 0  # sum of totalRegistros over slices
    bytes_received: int = 0
    bytes_new: int = 0
    requests: int = 0  # HTTP requests sent, retries included
    retries: int = 0  # requests sent again for a page already tried
    throttled: int = 0  # 429 answers
    failures: list[FailedPage] = field(default_factory=list)
    structure: schema.Structure = field(default_factory=dict)
    bytes_stored: int = 0  # bytes_new once zstd-compressed in the payload store
    circuit_open: bool = False
    duration_s: float = 0.0

    def add(self, written: Written) -> None:
        self.bytes_new += written.payload_bytes
        self.bytes_stored += written.stored_bytes

    @property
    def complete(self) -> bool:
        return not self.failures and not self.circuit_open

    @property
    def last_error(self) -> str | None:
        """The cause of the last failed page in a word (`ConnectError`, `HTTP 503`)."""
        return self.failures[-1].error if self.failures else None


def slices_of(endpoint: Endpoint) -> list[int]:
    return list(MODALIDADES) if endpoint.per_modalidade else [NO_MODALIDADE]


def request_params(endpoint: Endpoint, day: date, modalidade: int) -> dict[str, str]:
    params = endpoint.window_params(day, day)
    if modalidade != NO_MODALIDADE:
        params["codigoModalidadeContratacao"] = str(modalidade)
    return params


def samples_structure(page: int) -> bool:
    """Whether to parse this page for the schema fingerprint.

    Drift happens from a date on, for every record, so page 1 of each slice and every
    tenth page catch it without walking every record of every page.
    """
    return page == 1 or page % 10 == 0


async def extract_endpoint_day(
    client: PncpClient,
    endpoint: Endpoint,
    day: date,
    writer: ArchiveWriter,
    checkpoint: Checkpoint,
    *,
    flush_pages: int = FLUSH_PAGES,
    flush_bytes: int = FLUSH_BYTES,
    max_unarchived: int = MAX_UNARCHIVED_PAGES,
) -> DayReport:
    """Archive every page of `endpoint` for `day` that the archive does not hold yet."""
    report = DayReport(endpoint=endpoint.name, day=day, pages_resumed=len(checkpoint.pages))
    counts = ClientStats()  # this endpoint-day's share of the shared client's requests
    started = time.monotonic()
    buffer: list[ArchivedPage] = []
    buffered = 0  # payload bytes in `buffer`
    tasks: set[asyncio.Task] = set()
    # Finished fetches arrive on a queue: waiting on thousands of tasks at once with
    # asyncio.wait would rescan them all for every completion.
    finished: asyncio.Queue[tuple[int, int, PageResult | Exception]] = asyncio.Queue()

    # More than a flush's worth, so a full batch can always form and free its permits.
    unarchived = asyncio.Semaphore(max(max_unarchived, flush_pages + 1))

    async def fetch(modalidade: int, page: int) -> None:
        params = request_params(endpoint, day, modalidade)
        await unarchived.acquire()
        try:
            outcome: PageResult | Exception = await client.fetch_page(
                endpoint, params, page, keep_records=samples_structure(page), stats=counts
            )
        except Exception as exc:  # handed to the loop below, which decides
            outcome = exc
        finished.put_nowait((modalidade, page, outcome))

    pending: set[tuple[int, int]] = set()  # (modalidade, page) scheduled, not finished

    def schedule(modalidade: int, page: int) -> int:
        if (modalidade, page) in checkpoint.pages:
            return 0
        pending.add((modalidade, page))
        task = asyncio.ensure_future(fetch(modalidade, page))
        tasks.add(task)
        task.add_done_callback(tasks.discard)
        return 1

    def schedule_rest(modalidade: int, total_pages: int) -> int:
        return sum(schedule(modalidade, page) for page in range(2, total_pages + 1))

    outstanding = 0
    for modalidade in slices_of(endpoint):
        if modalidade in checkpoint.totals:
            records, pages = checkpoint.totals[modalidade]
            report.records_total += records
            outstanding += schedule_rest(modalidade, pages)
        else:
            outstanding += schedule(modalidade, 1)

    try:
        while outstanding:
            modalidade, page, outcome = await finished.get()
            outstanding -= 1
            pending.discard((modalidade, page))
            params = {**request_params(endpoint, day, modalidade), "pagina": str(page)}
            if isinstance(outcome, CircuitOpenError):
                # Stop: the rest would fail fast as well. This page and every one still
                # pending are failed requests a resume must know about.
                report.circuit_open = True
                abandoned = [
                    _failure(endpoint, day, modalidade, page, params, outcome),
                    *(
                        replace(
                            _failure(
                                endpoint, day, m, p, _page_params(endpoint, day, m, p), outcome
                            ),
                            attempts=0,  # never requested in this run
                        )
                        for m, p in sorted(pending)
                    ),
                ]
                report.failures.extend(abandoned)
                progress.failed(*((endpoint.name, day, f.modalidade, f.page) for f in abandoned))
                await writer.record_failures_async(abandoned)
                break
            if isinstance(outcome, (PncpRetriesExhausted, PncpRequestError)):
                failure = _failure(endpoint, day, modalidade, page, params, outcome)
                report.failures.append(failure)
                progress.failed((endpoint.name, day, modalidade, page))
                await writer.record_failure_async(failure)
                unarchived.release()
                continue
            if isinstance(outcome, Exception):
                raise outcome
            report.pages_fetched += 1
            progress.page(outcome.record_count, (endpoint.name, day, modalidade, page))
            report.bytes_received += len(outcome.body)
            report.records_fetched += outcome.record_count
            if page == 1:
                report.records_total += outcome.total_records
                outstanding += schedule_rest(modalidade, outcome.total_pages)
            if outcome.records and samples_structure(page):
                schema.merge(report.structure, schema.structure_of(outcome.records))
            buffer.append(_archived(endpoint, day, modalidade, page, params, outcome))
            buffered += len(outcome.body)
            if len(buffer) >= flush_pages or buffered >= flush_bytes:
                batch, buffer, buffered = buffer, [], 0
                report.add(await writer.write_async(batch))
                for _ in batch:
                    unarchived.release()
    finally:
        for task in tasks:
            task.cancel()
        if tasks:
            await asyncio.gather(*tasks, return_exceptions=True)
        report.add(await writer.write_async(buffer))
        report.duration_s = time.monotonic() - started
        report.requests, report.retries = counts.requests, counts.retries
        report.throttled = counts.throttled
    return report


def _page_params(endpoint: Endpoint, day: date, modalidade: int, page: int) -> dict[str, str]:
    return {**request_params(endpoint, day, modalidade), "pagina": str(page)}


def _archived(
    endpoint: Endpoint,
    day: date,
    modalidade: int,
    page: int,
    params: dict[str, str],
    result: PageResult,
) -> ArchivedPage:
    return ArchivedPage(
        endpoint=endpoint.name,
        day=day,
        modalidade=modalidade,
        page=page,
        params=params,
        http_status=result.http_status,
        body=result.body,
        etag=result.etag,
        record_count=result.record_count,
        total_records=result.total_records,
        total_pages=result.total_pages,
        attempts=result.attempts,
    )


def _failure(
    endpoint: Endpoint,
    day: date,
    modalidade: int,
    page: int,
    params: dict[str, str],
    error: Exception,
) -> FailedPage:
    return FailedPage(
        endpoint=endpoint.name,
        day=day,
        modalidade=modalidade,
        page=page,
        params=params,
        reason=str(error),
        http_status=getattr(error, "status", None) or getattr(error, "last_status", None),
        attempts=getattr(error, "attempts", 1),
        body=_text(getattr(error, "body", None)),
        error=error_word(error),
    )


def error_word(error: Exception) -> str:
    """The cause of a failed page in a word or two, for a headline: the transport error's
    class (`ConnectError`, `ReadTimeout`), `HTTP 503`, or for a circuit that opened, the
    failure that opened it (the symptom, "circuit open", says nothing of the cause)."""
    if isinstance(error, PncpRetriesExhausted):
        return error.last_reason.split(":", 1)[0]
    if isinstance(error, PncpRequestError):
        return f"HTTP {error.status}"
    if isinstance(error, CircuitOpenError):
        return (error.last_reason or "circuit open").split(":", 1)[0]
    return type(error).__name__


def _text(body: bytes | str | None, limit: int = 64_000) -> str | None:
    if body is None:
        return None
    text = body.decode("utf-8", errors="replace") if isinstance(body, bytes) else body
    return text[:limit]
