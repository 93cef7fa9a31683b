"""The raw archive: payload dedup by sha256, checkpoints, atomic batches, failure upserts."""

from __future__ import annotations

import asyncio
import json
import threading
from datetime import date
from pathlib import Path

import duckdb
import pytest

from project.lib import warehouse
from project.lib.pncp import payload_store
from project.lib.pncp.archive import (
    ArchivedPage,
    ArchiveWriter,
    FailedPage,
    ensure_archive,
    open_failures,
    read_checkpoint,
    sha256_hex,
)

DAY = date(2024, 7, 1)


def _page(page: int, body: bytes, *, total: int = 3, endpoint: str = "contratos") -> ArchivedPage:
    return ArchivedPage(
        endpoint=endpoint,
        day=DAY,
        modalidade=0,
        page=page,
        params={"dataInicial": "20240701", "dataFinal": "20240701", "pagina": str(page)},
        http_status=200,
        body=body,
        etag=f'"{page}"',
        record_count=1,
        total_records=total,
        total_pages=total,
        attempts=1,
    )


def _body(n: int) -> bytes:
    return json.dumps({"data": [{"numeroControlePNCP": f"x-{n}"}], "totalRegistros": 3}).encode()


@pytest.fixture
def conn(warehouse_path: Path) -> duckdb.DuckDBPyConnection:
    with warehouse.connection(warehouse_path) as connection:
        ensure_archive(connection)
        yield connection


def _store_files(conn: duckdb.DuckDBPyConnection) -> list[Path]:
    return sorted(payload_store.root_for(conn).glob("[0-9a-f][0-9a-f]/*.json.zst"))


def test_identical_payloads_are_stored_once(conn: duckdb.DuckDBPyConnection) -> None:
    writer = ArchiveWriter.on(conn, "run-1")
    written = writer.write([_page(1, _body(1)), _page(2, _body(1)), _page(3, _body(3))])
    assert conn.execute("SELECT count(*) FROM raw.payloads").fetchone() == (2,)
    assert conn.execute("SELECT count(*) FROM raw.api_requests").fetchone() == (3,)
    assert len(_store_files(conn)) == 2
    assert written.payload_bytes == len(_body(1)) + len(_body(3))
    again = writer.write([_page(4, _body(1))])
    assert again.payload_bytes == 0, "a known body is not stored twice"


def test_payload_is_readable_as_json_from_sql(conn: duckdb.DuckDBPyConnection) -> None:
    ArchiveWriter.on(conn, None).write([_page(1, _body(7))])
    rows = conn.execute(
        """SELECT payload_sha256, payload -> 'data' -> 0 ->> 'numeroControlePNCP'
           FROM raw.payload_json"""
    ).fetchall()
    assert rows == [(sha256_hex(_body(7)), "x-7")]


def test_payloads_are_zstd_compressed_at_rest(conn: duckdb.DuckDBPyConnection) -> None:
    records = [{"i": i, "text": "contrato " * 20} for i in range(500)]
    body = json.dumps({"data": records}).encode()
    ArchiveWriter.on(conn, None).write([_page(1, body)])
    (path,) = _store_files(conn)
    stored = path.read_bytes()
    assert stored[:4] == b"\x28\xb5\x2f\xfd", "zstd frame magic"
    assert len(stored) * 10 < len(body)
    assert payload_store.read(payload_store.root_for(conn), sha256_hex(body)) == body
    sizes = conn.execute("SELECT payload_size, stored_size FROM raw.payloads").fetchone()
    assert sizes == (len(body), len(stored))


def test_checkpoint_lists_archived_pages_and_totals(conn: duckdb.DuckDBPyConnection) -> None:
    ArchiveWriter.on(conn, None).write([_page(1, _body(1)), _page(3, _body(3))])
    checkpoint = read_checkpoint(conn, "contratos", DAY)
    assert checkpoint.pages == {(0, 1), (0, 3)}
    assert checkpoint.totals == {0: (3, 3)}
    assert read_checkpoint(conn, "atas", DAY).pages == set()


def test_a_batch_that_fails_leaves_no_row_behind(conn: duckdb.DuckDBPyConnection) -> None:
    writer = ArchiveWriter.on(conn, None)
    writer.write([_page(1, _body(1))])
    with pytest.raises(duckdb.ConstraintException):
        # page 2 is new, page 1 violates the one-row-per-page key: the batch rolls back whole
        writer.write([_page(2, _body(2)), _page(1, _body(9))])
    assert conn.execute("SELECT count(*) FROM raw.api_requests").fetchone() == (1,)
    assert conn.execute("SELECT count(*) FROM raw.payloads").fetchone() == (1,)
    # Bodies written before the failure are whole files, reused by the next attempt.
    root = payload_store.root_for(conn)
    for digest in (sha256_hex(_body(2)), sha256_hex(_body(9))):
        assert payload_store.read(root, digest) in (_body(2), _body(9))
    assert not list(root.glob("*/.*.tmp")), "no partial file is left"


def test_collected_at_is_unique_per_endpoint(conn: duckdb.DuckDBPyConnection) -> None:
    ArchiveWriter.on(conn, None).write([_page(i, _body(i), total=300) for i in range(1, 301)])
    distinct = conn.execute("SELECT count(DISTINCT collected_at) FROM raw.api_requests").fetchone()
    assert distinct == (300,)


def test_a_failure_is_upserted_then_resolved_by_a_later_success(
    conn: duckdb.DuckDBPyConnection,
) -> None:
    writer = ArchiveWriter.on(conn, "run-1")
    failure = FailedPage("contratos", DAY, 0, 2, {"pagina": "2"}, "HTTP 500", 500, 6, '{"e":1}')
    writer.record_failure(failure)
    writer.record_failure(failure)
    (row,) = open_failures(conn, "contratos", DAY)
    assert row["retry_count"] == 12
    assert row["body"] == '{"e":1}'
    writer.write([_page(2, _body(2))])
    assert open_failures(conn, "contratos", DAY) == []
    resolved = conn.execute("SELECT resolved, resolved_at IS NOT NULL FROM meta.failed_requests")
    assert resolved.fetchall() == [(True, True)]


@pytest.fixture
def either(warehouse_target: warehouse.Target) -> duckdb.DuckDBPyConnection:
    """The archive on the test's backend: a DuckDB file, then a DuckLake."""
    with warehouse.connection(warehouse_target) as connection:
        ensure_archive(connection)
        yield connection


def test_a_round_commits_its_batches_together_and_a_failing_job_fails_alone(
    either: duckdb.DuckDBPyConnection,
) -> None:
    writer = ArchiveWriter.on(either, None)
    release = threading.Event()
    busy = writer.submit(lambda _conn: release.wait(10))  # holds the writer: the rest queue

    def broken(_conn: duckdb.DuckDBPyConnection) -> None:
        raise ValueError("a job that fails")

    first = writer.submit(lambda c: writer._commit(c, writer._prepare([_page(1, _body(1))])))
    failing = writer.submit(broken)
    last = writer.submit(lambda c: writer._commit(c, writer._prepare([_page(3, _body(3))])))
    release.set()
    assert busy.result() is True
    assert first.result().payload_bytes == len(_body(1))
    assert last.result().payload_bytes == len(_body(3))
    with pytest.raises(ValueError, match="a job that fails"):
        failing.result()
    writer.close()
    pages = either.execute("SELECT page FROM raw.api_requests ORDER BY page").fetchall()
    assert pages == [(1,), (3,)]
    assert either.execute("SELECT count(*) FROM raw.payloads").fetchone() == (2,)


def test_failures_known_from_the_checkpoint_are_resolved_when_their_page_is_archived(
    either: duckdb.DuckDBPyConnection,
) -> None:
    before = FailedPage("contratos", DAY, 0, 2, {"pagina": "2"}, "HTTP 500", 500, 6, None)
    ArchiveWriter.on(either, "run-1").record_failure(before)
    with ArchiveWriter.on(either, "run-2") as writer:
        checkpoint = asyncio.run(writer.checkpoint_async("contratos", DAY))
        assert checkpoint.pages == set()
        during = FailedPage("contratos", DAY, 0, 3, {"pagina": "3"}, "HTTP 500", 500, 6, None)
        writer.record_failure(during)
        writer.write([_page(1, _body(1))])
        assert len(open_failures(either, "contratos", DAY)) == 2, "page 1 resolves nothing"
        writer.write([_page(2, _body(2)), _page(3, _body(3))])
    assert open_failures(either, "contratos", DAY) == []
