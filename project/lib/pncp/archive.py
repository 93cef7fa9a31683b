"""The raw archive of PNCP responses and its bookkeeping tables, in the DuckDB warehouse.

Layout (created idempotently by `ensure_archive`):

- `raw.api_requests`: one row per archived page (a 204 "empty" answer included, so a
  resumed run knows the slice is done). `UNIQUE(endpoint, collected_at)` as designed, plus
  one row per (endpoint, day, modalidade, page): the checkpoint a resumed run reads.
- `raw.payloads`: each distinct response body once, keyed by sha256: its size raw and
  zstd-compressed. The bodies themselves live in the content-addressed zstd file store
  beside the warehouse (`payload_store`), readable from SQL through the
  `raw.payload_json` view.
- `meta.execution_log`, `meta.failed_requests`, `meta.schema_versions`: what ran, what
  failed, which record structures were seen.

A batch of pages is one transaction, written after its bodies are safely in the store,
so a killed process leaves whole pages or none (at worst an unreferenced body file,
which the next run reuses).
"""

from __future__ import annotations

import asyncio
import hashlib
import json
import queue
import threading
import time
import uuid
from collections.abc import Callable, Iterable, Sequence
from concurrent.futures import Future, ThreadPoolExecutor
from contextlib import AbstractContextManager, nullcontext
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, timedelta
from itertools import groupby
from pathlib import Path
from typing import Any, TypeVar

import duckdb
import pyarrow as pa

from project.lib import warehouse
from project.lib.pncp import payload_store

T = TypeVar("T")

NO_MODALIDADE = 0  # key value for endpoints that are not split by modalidade

DDL = """
CREATE TABLE IF NOT EXISTS raw.payloads (
    payload_sha256 VARCHAR PRIMARY KEY,
    payload_size BIGINT NOT NULL,
    stored_size BIGINT NOT NULL,
    first_seen_at TIMESTAMP NOT NULL
);
CREATE TABLE IF NOT EXISTS raw.api_requests (
    request_id UUID PRIMARY KEY,
    ingestion_date DATE NOT NULL,
    endpoint VARCHAR NOT NULL,
    modalidade SMALLINT NOT NULL,
    page INTEGER NOT NULL,
    params VARCHAR NOT NULL,
    http_status SMALLINT NOT NULL,
    etag VARCHAR,
    payload_sha256 VARCHAR,
    payload_size BIGINT NOT NULL,
    record_count INTEGER NOT NULL,
    total_records INTEGER NOT NULL,
    total_pages INTEGER NOT NULL,
    attempts SMALLINT NOT NULL,
    run_id VARCHAR,
    collected_at TIMESTAMP NOT NULL,
    UNIQUE (endpoint, collected_at),
    UNIQUE (endpoint, ingestion_date, modalidade, page)
);
CREATE TABLE IF NOT EXISTS meta.execution_log (
    run_id VARCHAR,
    endpoint VARCHAR NOT NULL,
    partition_date DATE NOT NULL,
    status VARCHAR NOT NULL,
    pages_fetched INTEGER NOT NULL,
    pages_resumed INTEGER NOT NULL,
    records INTEGER NOT NULL,
    bytes BIGINT NOT NULL,
    retries INTEGER NOT NULL,
    throttled INTEGER NOT NULL,
    failed_pages INTEGER NOT NULL,
    duration_s DOUBLE NOT NULL,
    started_at TIMESTAMP NOT NULL,
    finished_at TIMESTAMP NOT NULL
);
CREATE TABLE IF NOT EXISTS meta.failed_requests (
    failure_id UUID PRIMARY KEY,
    endpoint VARCHAR NOT NULL,
    ingestion_date DATE NOT NULL,
    modalidade SMALLINT NOT NULL,
    page INTEGER NOT NULL,
    params VARCHAR NOT NULL,
    reason VARCHAR NOT NULL,
    http_status SMALLINT,
    retry_count INTEGER NOT NULL,
    body VARCHAR,
    resolved BOOLEAN NOT NULL,
    first_failed_at TIMESTAMP NOT NULL,
    last_failed_at TIMESTAMP NOT NULL,
    resolved_at TIMESTAMP,
    run_id VARCHAR
);
CREATE TABLE IF NOT EXISTS meta.schema_versions (
    endpoint VARCHAR NOT NULL,
    fingerprint VARCHAR NOT NULL,
    structure VARCHAR NOT NULL,
    first_partition DATE NOT NULL,
    first_seen_at TIMESTAMP NOT NULL,
    run_id VARCHAR,
    PRIMARY KEY (endpoint, fingerprint)
);
"""

_REQUEST_COLUMNS = (
    "request_id",
    "ingestion_date",
    "endpoint",
    "modalidade",
    "page",
    "params",
    "http_status",
    "etag",
    "payload_sha256",
    "payload_size",
    "record_count",
    "total_records",
    "total_pages",
    "attempts",
    "run_id",
    "collected_at",
)


_PAYLOAD_SCHEMA = pa.schema(
    [
        ("payload_sha256", pa.string()),
        ("payload_size", pa.int64()),
        ("stored_size", pa.int64()),
        ("first_seen_at", pa.timestamp("us")),
    ]
)


def ensure_archive(conn: duckdb.DuckDBPyConnection) -> None:
    """Create the archive and bookkeeping tables if missing (idempotent)."""
    warehouse.ensure_schemas(conn)
    warehouse.create_tables(conn, DDL)
    root = payload_store.root_for(conn)
    payload_store.ensure_root(root)
    # Replaced only when it changed: on a lake every DDL is a snapshot, and concurrent
    # writers replacing the same view conflict.
    view = conn.execute(
        """SELECT sql FROM duckdb_views() WHERE database_name = current_database()
           AND schema_name = 'raw' AND view_name = 'payload_json'"""
    ).fetchone()
    if view is None or str(root) not in view[0]:
        conn.execute(payload_store.json_view_sql(root))


def sha256_hex(body: bytes) -> str:
    return hashlib.sha256(body).hexdigest()


def canonical_params(params: dict[str, object]) -> str:
    """Request parameters as stable JSON (sorted keys), for storage and comparison."""
    return json.dumps({k: str(v) for k, v in params.items()}, sort_keys=True)


def utcnow() -> datetime:
    return datetime.now(UTC).replace(tzinfo=None)


@dataclass(frozen=True)
class ArchivedPage:
    """A page fetched successfully (200 with records, or 204 empty), ready to archive."""

    endpoint: str
    day: date
    modalidade: int
    page: int
    params: dict[str, str]
    http_status: int
    body: bytes
    etag: str | None
    record_count: int
    total_records: int
    total_pages: int
    attempts: int

    @property
    def sha256(self) -> str | None:
        return sha256_hex(self.body) if self.body else None


@dataclass(frozen=True)
class FailedPage:
    endpoint: str
    day: date
    modalidade: int
    page: int
    params: dict[str, str]
    reason: str
    http_status: int | None
    attempts: int
    body: str | None
    # The cause in a word, for headlines: `ConnectError`, `ReadTimeout`, `HTTP 503`, ...
    error: str = "error"


@dataclass(frozen=True)
class Written:
    """Bodies a batch added to the store: their size as received and compressed."""

    payload_bytes: int
    stored_bytes: int


@dataclass
class Checkpoint:
    """What the archive already holds for one endpoint and day."""

    pages: set[tuple[int, int]] = field(default_factory=set)  # (modalidade, page)
    totals: dict[int, tuple[int, int]] = field(default_factory=dict)  # modalidade -> (recs, pages)
    records: int = 0


def read_checkpoint(conn: duckdb.DuckDBPyConnection, endpoint: str, day: date) -> Checkpoint:
    return _read_checkpoint(conn, endpoint, day, failures=False)[0]


def _read_checkpoint(
    conn: duckdb.DuckDBPyConnection, endpoint: str, day: date, *, failures: bool
) -> tuple[Checkpoint, set[tuple[int, int]]]:
    """The checkpoint, and with `failures` the day's open failed pages (modalidade, page),
    in one statement: on a lake every statement pays its own catalog round trips."""
    sql = """SELECT false, modalidade, page, total_records, total_pages, record_count
             FROM raw.api_requests WHERE endpoint = ? AND ingestion_date = ?"""
    if failures:
        sql += """ UNION ALL SELECT true, modalidade, page, 0, 0, 0 FROM meta.failed_requests
                   WHERE NOT resolved AND endpoint = ? AND ingestion_date = ?"""
    rows = conn.execute(sql, [endpoint, day] * (2 if failures else 1)).fetchall()
    checkpoint = Checkpoint()
    open_pages: set[tuple[int, int]] = set()
    for failed, modalidade, page, total_records, total_pages, record_count in rows:
        if failed:
            open_pages.add((modalidade, page))
            continue
        checkpoint.pages.add((modalidade, page))
        checkpoint.records += record_count
        if page == 1:
            checkpoint.totals[modalidade] = (total_records, total_pages)
    return checkpoint, open_pages


@dataclass(frozen=True)
class _PreparedBatch:
    """A batch whose bodies are in the store, ready to be committed as rows."""

    pages: Sequence[ArchivedPage]
    payloads: dict[str, tuple[int, int]]  # sha256 -> (raw size, stored size)
    requests: pa.Table


@dataclass
class WarehouseUse:
    """A writer's rounds of work in the warehouse: how many, their time in all, the longest
    (what another writer may wait behind it; sessions that keep the warehouse between
    rounds report their own hold time)."""

    sessions: int = 0
    held_s: float = 0.0
    longest_s: float = 0.0

    def add(self, seconds: float) -> None:
        self.sessions += 1
        self.held_s += seconds
        self.longest_s = max(self.longest_s, seconds)


@dataclass
class _Job:
    apply: Callable[[duckdb.DuckDBPyConnection], Any]
    future: Future = field(default_factory=Future)


class ArchiveWriter:
    """Writes the archive from two threads, holding the warehouse only to commit.

    A batch of pages first goes to the store thread, which compresses its bodies into the
    content-addressed store (no warehouse needed). Every read and write of the warehouse
    (checkpoints, batches, failures, bookkeeping) is then a job for the writer thread,
    which works in rounds: it opens one session from `sessions` (a warehouse lease plus a
    connection, or a connection held for the whole extraction) and applies every job
    queued by then. While the network is slow the warehouse is free for other writers;
    when it is contended, one lease covers many commits; compression, commits and
    fetching (DuckDB and zstd release the GIL) overlap.

    Each batch of pages is one transaction (whole pages or none), committed after its
    bodies are safely in the store. A round of several jobs is one transaction in all:
    on a lake every statement and every commit pays catalog round trips to PostgreSQL
    (issue #14), so one commit per round, not per batch. If any job of it fails, the
    round rolls back and its jobs run again one by one, each in its own transaction, so
    a failure is the failing job's alone; results are handed out only once committed.
    `collected_at` is made strictly increasing per writer so that the designed
    `UNIQUE(endpoint, collected_at)` holds even when pages arrive in the same microsecond.

    Small bookkeeping state is kept here rather than read again for every batch: the
    open failed pages of each endpoint-day whose checkpoint this writer read (a batch
    marks failures resolved only when it holds one of them), and `schema_cache`, the
    recorded schema versions per endpoint (`bookkeeping.check_schema`). Both are dropped
    when a round rolls back.
    """

    def __init__(
        self,
        sessions: warehouse.Sessions,
        store_root: Path,
        run_id: str | None,
        use: WarehouseUse | None = None,
    ) -> None:
        self.store = payload_store.PayloadStore(store_root)
        self.sessions = sessions
        self.use = use if use is not None else WarehouseUse()
        self.run_id = run_id
        self._last_ts = utcnow()
        self._jobs: queue.SimpleQueue[_Job | None] = queue.SimpleQueue()
        self._abort = threading.Event()
        # (endpoint, day) -> its open failed pages (modalidade, page), from the checkpoint
        # read plus the failures recorded since: a superset of what is open is safe.
        self._open_failures: dict[tuple[str, date], set[tuple[int, int]]] = {}
        self.schema_cache: dict[str, list[tuple[str, str]]] = {}
        self._in_round = False  # jobs run inside the round's transaction
        self._store_thread = ThreadPoolExecutor(max_workers=1, thread_name_prefix="archive-store")
        self._thread = threading.Thread(target=self._work, name="archive-writer", daemon=True)
        self._thread.start()

    @classmethod
    def on(cls, conn: duckdb.DuckDBPyConnection, run_id: str | None) -> ArchiveWriter:
        """A writer on a connection the caller holds throughout (scripts, tests)."""
        return cls(warehouse.held(conn), payload_store.root_for(conn), run_id)

    def abort(self) -> None:
        """Stop waiting for the warehouse: jobs that would wait fail (`LeaseAborted`)."""
        self._abort.set()

    def close(self, *, abort: bool = False) -> None:
        """Finish the queued jobs (or, with `abort`, stop waiting for the warehouse)."""
        if abort:
            self.abort()
        self._store_thread.shutdown(wait=True)
        self._jobs.put(None)
        self._thread.join()
        # Sessions that keep the warehouse between rounds give it back now.
        release = getattr(self.sessions, "release", None)
        if release is not None:
            release()

    def __enter__(self) -> ArchiveWriter:
        return self

    def __exit__(self, exc_type: object, *exc: object) -> None:
        self.close(abort=exc_type is not None)

    def _work(self) -> None:
        stopping = False
        while not stopping:
            job = self._jobs.get()
            if job is None:
                return
            jobs = [job]
            while True:  # drain: one session for everything queued
                try:
                    more = self._jobs.get_nowait()
                except queue.Empty:
                    break
                if more is None:
                    stopping = True
                    break
                jobs.append(more)
            self._round(jobs)

    def _round(self, jobs: list[_Job]) -> None:
        held = None
        try:
            with self.sessions(self._abort) as conn:
                held = time.monotonic()
                if len(jobs) > 1 and self._all_at_once(conn, jobs):
                    return
                for job in jobs:
                    try:
                        # Each job is one transaction or idempotent: on a lake, a commit
                        # that conflicts with another writer's runs again.
                        job.future.set_result(warehouse.retry_conflicts(conn, job.apply))
                    except Exception as exc:
                        job.future.set_exception(exc)
        except BaseException as exc:  # no session (lease abandoned, lock, ...): all fail
            for job in jobs:
                if not job.future.done():
                    job.future.set_exception(exc)
        finally:
            if held is not None:
                self.use.add(time.monotonic() - held)  # the round, from its first job

    def _all_at_once(self, conn: duckdb.DuckDBPyConnection, jobs: list[_Job]) -> bool:
        """The round's jobs in one transaction; False (rolled back) if any of them fails."""

        def apply(c: duckdb.DuckDBPyConnection) -> list[Any]:
            with warehouse.transaction(c):
                self._in_round = True
                try:
                    return [job.apply(c) for job in jobs]
                finally:
                    self._in_round = False

        try:
            results = warehouse.retry_conflicts(conn, apply)
        except Exception:
            self._open_failures.clear()
            self.schema_cache.clear()
            return False
        for job, result in zip(jobs, results, strict=True):
            job.future.set_result(result)
        return True

    def _transaction(self, conn: duckdb.DuckDBPyConnection) -> AbstractContextManager[None]:
        """A job's own transaction, or none inside the round's."""
        return nullcontext() if self._in_round else warehouse.transaction(conn)

    async def open_failures_async(self, days: Iterable[tuple[str, date]]) -> None:
        """Keep the open failed pages of these (endpoint, day)s, read in one statement: a
        run's checkpoints need not read them one endpoint-day at a time."""
        await self.run_async(self._load_open_failures, set(days))

    def _load_open_failures(
        self, conn: duckdb.DuckDBPyConnection, days: set[tuple[str, date]]
    ) -> None:
        found: dict[tuple[str, date], set[tuple[int, int]]] = {key: set() for key in days}
        for endpoint, day, modalidade, page in conn.execute(
            """SELECT endpoint, ingestion_date, modalidade, page
               FROM meta.failed_requests WHERE NOT resolved"""
        ).fetchall():
            if (endpoint, day) in found:
                found[(endpoint, day)].add((modalidade, page))
        self._open_failures.update(found)

    async def checkpoint_async(self, endpoint: str, day: date) -> Checkpoint:
        """The archive's checkpoint of `endpoint` on `day`; its open failures are kept."""
        return await self.run_async(self._checkpoint, endpoint, day)

    def _checkpoint(self, conn: duckdb.DuckDBPyConnection, endpoint: str, day: date) -> Checkpoint:
        known = (endpoint, day) in self._open_failures
        checkpoint, open_pages = _read_checkpoint(conn, endpoint, day, failures=not known)
        if not known:
            self._open_failures[(endpoint, day)] = open_pages
        return checkpoint

    def submit(self, apply: Callable[[duckdb.DuckDBPyConnection], T]) -> Future[T]:
        """`apply(conn)` in the writer thread's next warehouse session."""
        job = _Job(apply)
        self._jobs.put(job)
        return job.future

    async def run_async(self, fn: Callable[..., T], *args: object) -> T:
        """`fn(conn, *args)` in a warehouse session of the writer thread."""
        return await asyncio.wrap_future(self.submit(lambda conn: fn(conn, *args)))

    async def write_async(self, pages: Sequence[ArchivedPage]) -> Written:
        if not pages:
            return Written(0, 0)
        loop = asyncio.get_running_loop()
        batch = await loop.run_in_executor(self._store_thread, self._prepare, pages)
        return await asyncio.wrap_future(self.submit(lambda conn: self._commit(conn, batch)))

    async def record_failure_async(self, failure: FailedPage) -> None:
        await self.run_async(self._record_failure, failure)

    async def record_failures_async(self, failures: Sequence[FailedPage]) -> None:
        """Record several failures in one round (the pages a circuit opening abandons)."""
        if failures:
            await self.run_async(self._record_failures, failures)

    def _record_failures(
        self, conn: duckdb.DuckDBPyConnection, failures: Sequence[FailedPage]
    ) -> None:
        with self._transaction(conn):
            for failure in failures:
                self._record_failure(conn, failure)

    def record_failure(self, failure: FailedPage) -> None:
        """Record `failure` now (blocking)."""
        self.submit(lambda conn: self._record_failure(conn, failure)).result()

    def write(self, pages: Sequence[ArchivedPage]) -> Written:
        """Archive `pages` now (blocking); return the size of the bodies new to the archive."""
        if not pages:
            return Written(0, 0)
        batch = self._store_thread.submit(self._prepare, pages).result()
        return self.submit(lambda conn: self._commit(conn, batch)).result()

    def _next_timestamp(self) -> datetime:
        now = utcnow()
        self._last_ts = max(now, self._last_ts + timedelta(microseconds=1))
        return self._last_ts

    def _prepare(self, pages: Sequence[ArchivedPage]) -> _PreparedBatch:
        """Bodies into the store and rows into an Arrow table: no warehouse needed."""
        payloads: dict[str, tuple[int, int]] = {}
        requests: dict[str, list] = {c: [] for c in _REQUEST_COLUMNS}
        for page in pages:
            digest = page.sha256
            if digest and digest not in payloads:
                # Bodies first: a row must never point at a body that is not there.
                payloads[digest] = (len(page.body), self.store.put(digest, page.body))
            row = (
                str(uuid.uuid4()),
                page.day,
                page.endpoint,
                page.modalidade,
                page.page,
                canonical_params(page.params),
                page.http_status,
                page.etag,
                digest,
                len(page.body),
                page.record_count,
                page.total_records,
                page.total_pages,
                page.attempts,
                self.run_id,
                self._next_timestamp(),
            )
            for column, value in zip(_REQUEST_COLUMNS, row, strict=True):
                requests[column].append(value)
        return _PreparedBatch(pages, payloads, pa.table(requests))

    def _ensure_bodies(self, batch: _PreparedBatch, fresh: dict[str, tuple[int, int]]) -> None:
        """Store again any body that left the store since it was prepared (a rollback or a
        reset between the two, which the lease does not cover): no row without its body."""
        for page in batch.pages:
            digest = page.sha256
            if digest in fresh and not payload_store.path_for(self.store.root, digest).exists():
                fresh[digest] = (len(page.body), self.store.put(digest, page.body))

    def _commit(self, conn: duckdb.DuckDBPyConnection, batch: _PreparedBatch) -> Written:
        """One transaction: the batch's new payload rows, its request rows, resolved failures.

        Which bodies are new is read inside the transaction, so the payload rows are
        inserted without an anti-join of their own (one scan of `raw.payloads`, not two).
        """
        conn.register("payload_table", pa.table({"payload_sha256": list(batch.payloads)}))
        conn.register("request_table", batch.requests)
        try:
            with self._transaction(conn):
                known = {
                    row[0]
                    for row in conn.execute(
                        """SELECT payload_sha256 FROM raw.payloads
                           SEMI JOIN payload_table USING (payload_sha256)"""
                    ).fetchall()
                }
                fresh = {d: sizes for d, sizes in batch.payloads.items() if d not in known}
                if fresh:
                    self._ensure_bodies(batch, fresh)
                    now = utcnow()
                    new_payloads = pa.table(
                        {
                            "payload_sha256": list(fresh),
                            "payload_size": [raw for raw, _ in fresh.values()],
                            "stored_size": [stored for _, stored in fresh.values()],
                            "first_seen_at": [now] * len(fresh),
                        },
                        schema=_PAYLOAD_SCHEMA,
                    )
                    conn.register("new_payloads", new_payloads)
                    try:
                        conn.execute("INSERT INTO raw.payloads SELECT * FROM new_payloads")
                    finally:
                        conn.unregister("new_payloads")
                conn.execute(
                    f"""INSERT INTO raw.api_requests ({", ".join(_REQUEST_COLUMNS)})
                        SELECT request_id::UUID, {", ".join(_REQUEST_COLUMNS[1:])}
                        FROM request_table"""
                )
                self._resolve_failures(conn, batch.pages)
        finally:
            conn.unregister("payload_table")
            conn.unregister("request_table")
        return Written(sum(raw for raw, _ in fresh.values()), sum(s for _, s in fresh.values()))

    def _resolve_failures(
        self, conn: duckdb.DuckDBPyConnection, pages: Iterable[ArchivedPage]
    ) -> None:
        """Mark open failures of pages now archived as resolved (a later run retried them).

        For an endpoint-day whose checkpoint this writer read, its open failures are known
        here; for any other, the warehouse is asked."""
        keys = []
        for (endpoint, day), group in groupby(pages, key=lambda p: (p.endpoint, p.day)):
            held = {(p.modalidade, p.page) for p in group}
            known = self._open_failures.get((endpoint, day))
            if known is None:
                known = {
                    (modalidade, page)
                    for modalidade, page in conn.execute(
                        """SELECT modalidade, page FROM meta.failed_requests
                           WHERE NOT resolved AND endpoint = ? AND ingestion_date = ?""",
                        [endpoint, day],
                    ).fetchall()
                }
            keys += [(endpoint, day, m, p) for m, p in sorted(held & known)]
        if not keys:
            return
        conn.executemany(
            """UPDATE meta.failed_requests SET resolved = true, resolved_at = ?
               WHERE NOT resolved AND endpoint = ? AND ingestion_date = ?
                 AND modalidade = ? AND page = ?""",
            [(utcnow(), *key) for key in keys],
        )

    def _record_failure(self, conn: duckdb.DuckDBPyConnection, failure: FailedPage) -> None:
        """Upsert an unresolved failure: one open row per page, counting retries."""
        now = utcnow()
        key = [failure.endpoint, failure.day, failure.modalidade, failure.page]
        known = self._open_failures.get((failure.endpoint, failure.day))
        if known is not None:
            known.add((failure.modalidade, failure.page))
        existing = conn.execute(
            """SELECT failure_id FROM meta.failed_requests WHERE NOT resolved
               AND endpoint = ? AND ingestion_date = ? AND modalidade = ? AND page = ?""",
            key,
        ).fetchone()
        if existing:
            conn.execute(
                """UPDATE meta.failed_requests
                   SET retry_count = retry_count + ?, reason = ?, http_status = ?, body = ?,
                       last_failed_at = ?, run_id = ?
                   WHERE failure_id = ?""",
                [
                    failure.attempts,
                    failure.reason,
                    failure.http_status,
                    failure.body,
                    now,
                    self.run_id,
                    existing[0],
                ],
            )
            return
        conn.execute(
            """INSERT INTO meta.failed_requests VALUES
               (uuid(), ?, ?, ?, ?, ?, ?, ?, ?, ?, false, ?, ?, NULL, ?)""",
            [
                *key,
                canonical_params(failure.params),
                failure.reason,
                failure.http_status,
                failure.attempts,
                failure.body,
                now,
                now,
                self.run_id,
            ],
        )


def open_failures(
    conn: duckdb.DuckDBPyConnection, endpoint: str | None = None, day: date | None = None
) -> list[dict]:
    """Unresolved failed requests, optionally for one endpoint and/or day."""
    sql = "SELECT * FROM meta.failed_requests WHERE NOT resolved"
    args: list = []
    if endpoint:
        sql += " AND endpoint = ?"
        args.append(endpoint)
    if day:
        sql += " AND ingestion_date = ?"
        args.append(day)
    cursor = conn.execute(sql + " ORDER BY ingestion_date, endpoint, modalidade, page", args)
    names = [d[0] for d in cursor.description]
    return [dict(zip(names, row, strict=True)) for row in cursor.fetchall()]
