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
import uuid
from collections.abc import Iterable, Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, timedelta

import duckdb
import pyarrow as pa

from project.lib import warehouse
from project.lib.pncp import payload_store

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
    conn.execute(DDL)
    root = payload_store.root_for(conn)
    payload_store.ensure_root(root)
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
    rows = conn.execute(
        """SELECT modalidade, page, total_records, total_pages, record_count
           FROM raw.api_requests WHERE endpoint = ? AND ingestion_date = ?""",
        [endpoint, day],
    ).fetchall()
    checkpoint = Checkpoint()
    for modalidade, page, total_records, total_pages, record_count in rows:
        checkpoint.pages.add((modalidade, page))
        checkpoint.records += record_count
        if page == 1:
            checkpoint.totals[modalidade] = (total_records, total_pages)
    return checkpoint


class ArchiveWriter:
    """Appends pages in batches; each batch is one transaction (whole pages or none).

    `collected_at` is made strictly increasing per writer so that the designed
    `UNIQUE(endpoint, collected_at)` holds even when pages arrive in the same microsecond.

    The `*_async` methods run the same writes on one dedicated thread with its own DuckDB
    cursor: DuckDB releases the GIL while it inserts and compresses, so archiving overlaps
    with fetching and parsing instead of stalling the event loop, and a single thread keeps
    the writes in order.
    """

    def __init__(self, conn: duckdb.DuckDBPyConnection, run_id: str | None) -> None:
        self.store = payload_store.PayloadStore(payload_store.root_for(conn))
        self.conn = conn.cursor()
        self.run_id = run_id
        self._last_ts = utcnow()
        self._thread = ThreadPoolExecutor(max_workers=1, thread_name_prefix="archive-writer")

    def close(self) -> None:
        self._thread.shutdown(wait=True)
        self.conn.close()

    def __enter__(self) -> ArchiveWriter:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    async def write_async(self, pages: Sequence[ArchivedPage]) -> Written:
        return await asyncio.get_running_loop().run_in_executor(self._thread, self.write, pages)

    async def record_failure_async(self, failure: FailedPage) -> None:
        await asyncio.get_running_loop().run_in_executor(self._thread, self.record_failure, failure)

    def _next_timestamp(self) -> datetime:
        now = utcnow()
        self._last_ts = max(now, self._last_ts + timedelta(microseconds=1))
        return self._last_ts

    def write(self, pages: Sequence[ArchivedPage]) -> Written:
        """Archive `pages`; return the size of the bodies new to the archive, raw and stored."""
        if not pages:
            return Written(0, 0)
        payloads: dict[str, bytes] = {}
        requests: dict[str, list] = {c: [] for c in _REQUEST_COLUMNS}
        for page in pages:
            digest = page.sha256
            if digest:
                payloads.setdefault(digest, page.body)
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
        known = {
            row[0]
            for row in self.conn.execute(
                "SELECT payload_sha256 FROM raw.payloads WHERE list_contains(?, payload_sha256)",
                [list(payloads)],
            ).fetchall()
        }
        fresh = {digest: body for digest, body in payloads.items() if digest not in known}
        # Bodies first: a row must never point at a body that is not there.
        stored = {digest: self.store.put(digest, body) for digest, body in fresh.items()}
        now = utcnow()
        payload_table = pa.table(
            {
                "payload_sha256": list(fresh),
                "payload_size": [len(body) for body in fresh.values()],
                "stored_size": [
                    size
                    if size is not None
                    else payload_store.path_for(self.store.root, d).stat().st_size
                    for d, size in stored.items()
                ],
                "first_seen_at": [now] * len(fresh),
            },
            schema=_PAYLOAD_SCHEMA,
        )
        request_table = pa.table(requests)
        conn = self.conn
        conn.register("payload_table", payload_table)
        conn.register("request_table", request_table)
        conn.execute("BEGIN TRANSACTION")
        try:
            conn.execute("INSERT OR IGNORE INTO raw.payloads SELECT * FROM payload_table")
            conn.execute(
                f"""INSERT INTO raw.api_requests ({", ".join(_REQUEST_COLUMNS)})
                    SELECT request_id::UUID, {", ".join(_REQUEST_COLUMNS[1:])}
                    FROM request_table"""
            )
            self._resolve_failures(pages)
            conn.execute("COMMIT")
        except BaseException:
            conn.execute("ROLLBACK")
            raise
        finally:
            conn.unregister("payload_table")
            conn.unregister("request_table")
        return Written(sum(len(b) for b in fresh.values()), sum(stored.values()))

    def _resolve_failures(self, pages: Iterable[ArchivedPage]) -> None:
        """Mark open failures of pages now archived as resolved (a later run retried them)."""
        keys = [(p.endpoint, p.day, p.modalidade, p.page) for p in pages]
        open_count = self.conn.execute(
            "SELECT count(*) FROM meta.failed_requests WHERE NOT resolved AND endpoint = ?",
            [keys[0][0]],
        ).fetchone()[0]
        if not open_count:
            return
        self.conn.executemany(
            """UPDATE meta.failed_requests SET resolved = true, resolved_at = ?
               WHERE NOT resolved AND endpoint = ? AND ingestion_date = ?
                 AND modalidade = ? AND page = ?""",
            [(utcnow(), *key) for key in keys],
        )

    def record_failure(self, failure: FailedPage) -> None:
        """Upsert an unresolved failure: one open row per page, counting retries."""
        now = utcnow()
        key = [failure.endpoint, failure.day, failure.modalidade, failure.page]
        existing = self.conn.execute(
            """SELECT failure_id FROM meta.failed_requests WHERE NOT resolved
               AND endpoint = ? AND ingestion_date = ? AND modalidade = ? AND page = ?""",
            key,
        ).fetchone()
        if existing:
            self.conn.execute(
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
        self.conn.execute(
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
