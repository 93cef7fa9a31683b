"""The warehouse connection helpers: schemas, read-only readers, lock waits."""

from __future__ import annotations

import os
import subprocess
import sys
import threading
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import duckdb
import pytest

from project.lib import warehouse


def test_ensure_schemas_is_idempotent(warehouse_path: Path) -> None:
    with warehouse.connection(warehouse_path) as conn:
        warehouse.ensure_schemas(conn)
        warehouse.ensure_schemas(conn)
        schemas = {
            r[0] for r in conn.execute("SELECT schema_name FROM duckdb_schemas()").fetchall()
        }
    assert {"raw", "meta"} <= schemas


def test_a_reader_cannot_write(warehouse_path: Path) -> None:
    with warehouse.connection(warehouse_path) as conn:
        conn.execute("CREATE TABLE t AS SELECT 1 AS x")
    with warehouse.connection(warehouse_path, read_only=True) as reader:
        assert reader.execute("SELECT x FROM t").fetchone() == (1,)
        with pytest.raises(duckdb.InvalidInputException):
            reader.execute("INSERT INTO t VALUES (2)")


def test_a_reader_of_a_missing_warehouse_gets_a_clear_error(tmp_path: Path) -> None:
    with pytest.raises(FileNotFoundError, match="does not exist yet"):
        warehouse.connect(tmp_path / "nope.duckdb", read_only=True)


def _hold_lock(path: Path, seconds: float) -> subprocess.Popen:
    code = (
        "import duckdb, sys, time; c = duckdb.connect(sys.argv[1]); "
        "print('locked', flush=True); time.sleep(float(sys.argv[2]))"
    )
    proc = subprocess.Popen(
        [sys.executable, "-c", code, str(path), str(seconds)], stdout=subprocess.PIPE, text=True
    )
    assert proc.stdout.readline().strip() == "locked"
    return proc


def test_a_writer_waits_for_another_process_to_release_the_lock(warehouse_path: Path) -> None:
    warehouse_path.parent.mkdir(parents=True, exist_ok=True)
    holder = _hold_lock(warehouse_path, 1.5)
    started = time.monotonic()
    with warehouse.connection(warehouse_path, wait_s=30) as conn:
        conn.execute("CREATE TABLE after_wait AS SELECT 42 AS answer")
    assert time.monotonic() - started >= 0.5
    holder.wait(timeout=30)


def test_a_writer_gives_up_with_a_clear_error_when_the_lock_stays(warehouse_path: Path) -> None:
    warehouse_path.parent.mkdir(parents=True, exist_ok=True)
    holder = _hold_lock(warehouse_path, 10)
    try:
        with pytest.raises(warehouse.WarehouseLockedError, match="locked by another process"):
            warehouse.connect(warehouse_path, wait_s=0.5)
    finally:
        holder.kill()
        holder.wait()


# --- the DuckLake backend -----------------------------------------------------------------


def test_a_lake_takes_the_same_sql_and_refuses_keys_it_cannot_keep(
    warehouse_backend: str, warehouse_target: warehouse.Target
) -> None:
    ddl = "CREATE TABLE IF NOT EXISTS raw.keyed (k VARCHAR PRIMARY KEY, v INT, UNIQUE (k, v))"
    with warehouse.connection(warehouse_target) as conn:
        warehouse.ensure_schemas(conn)
        warehouse.create_tables(conn, ddl)
        warehouse.create_tables(conn, ddl)  # idempotent
        conn.execute("INSERT INTO raw.keyed VALUES ('a', 1)")
        assert warehouse.is_lake(conn) == (warehouse_backend == "ducklake")
        cursor = warehouse.cursor_of(conn)  # another thread's cursor: same database
        assert cursor.execute("SELECT count(*) FROM raw.keyed").fetchone() == (1,)
        anchor = warehouse.anchor_of(conn)
    assert anchor == warehouse_target.anchor
    with warehouse.connection(warehouse_target, read_only=True) as reader:
        assert reader.execute("SELECT v FROM raw.keyed").fetchall() == [(1,)]
        with pytest.raises(duckdb.Error):
            reader.execute("INSERT INTO raw.keyed VALUES ('b', 2)")


def test_a_catalog_that_cannot_be_attached_is_named_without_its_password(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv(
        "WAREHOUSE_CATALOG_URL", "postgresql://postgres:s3cr3t-pw@127.0.0.1:5432/no_such_db_x"
    )
    target = warehouse.Target("ducklake", tmp_path / "files")
    with pytest.raises(warehouse.CatalogUnavailableError) as caught:
        warehouse.connect(target)
    message = str(caught.value)
    assert "s3cr3t-pw" not in message
    assert "127.0.0.1:5432/no_such_db_x" in message
    assert "s3cr3t-pw" not in target.describe()


def test_dbt_gets_the_catalog_without_its_password() -> None:
    from project.settings import libpq_conninfo

    conninfo, password = libpq_conninfo("postgresql://u%40x:p%2Fw@db:6543/lake?sslmode=require")
    assert conninfo == "host=db port=6543 user=u@x dbname=lake sslmode=require"
    assert password == "p/w"
    assert libpq_conninfo("host=db dbname=lake") == ("host=db dbname=lake", None)


def test_writers_that_conflict_on_a_lake_commit_in_turn(lakes, monkeypatch, tmp_path: Path) -> None:
    """Two writers creating the same schema and table on a new lake, then updating the same
    table in overlapping transactions: DuckLake cannot rebase those, so one commit fails and
    runs again; both end up applied."""
    with lakes.catalog() as schema:
        lakes.use(monkeypatch, schema)
        target = warehouse.Target("ducklake", tmp_path / "files", schema)
        conns = [warehouse.connect(target) for _ in range(2)]
        both = threading.Barrier(2, timeout=30)
        attempts: list[int] = []

        def write(conn: duckdb.DuckDBPyConnection, n: int) -> None:
            both.wait()
            warehouse.ensure_schemas(conn)
            warehouse.create_tables(conn, "CREATE TABLE IF NOT EXISTS meta.t (k INT, v INT)")
            both.wait()
            conn.execute("INSERT INTO meta.t VALUES (?, 0)", [n])
            both.wait()

            def bump(c: duckdb.DuckDBPyConnection) -> None:
                attempts.append(n)
                with warehouse.transaction(c):
                    c.execute("UPDATE meta.t SET v = v + 1 WHERE k = ?", [n])
                    if attempts.count(n) == 1:
                        both.wait()  # both transactions open at once: their commits conflict

            warehouse.retry_conflicts(conn, bump)

        with ThreadPoolExecutor(2) as pool:
            list(pool.map(write, conns, [1, 2]))
        rows = conns[0].execute("SELECT k, v FROM meta.t ORDER BY k").fetchall()
        for conn in conns:
            conn.close()
    assert rows == [(1, 1), (2, 1)]
    assert len(attempts) == 3, "one of the two commits conflicted and ran again"


def test_the_catalog_password_is_not_in_the_attach_path_a_query_can_read(
    lakes, monkeypatch, tmp_path: Path
) -> None:
    with lakes.catalog() as schema:
        lakes.use(monkeypatch, schema)
        url = os.environ["WAREHOUSE_CATALOG_URL"].replace("://postgres@", "://postgres:pw-x1@")
        monkeypatch.setenv("WAREHOUSE_CATALOG_URL", url)
        monkeypatch.setenv("PGPASSWORD", "")  # restored after the test
        target = warehouse.Target("ducklake", tmp_path / "files", schema)
        for read_only in (False, True):
            with warehouse.connection(target, read_only=read_only) as conn:
                if not read_only:
                    warehouse.ensure_schemas(conn)
                paths = conn.execute("SELECT path FROM duckdb_databases()").fetchall()
            assert not any("pw-x1" in str(path) for (path,) in paths)
        assert os.environ["PGPASSWORD"] == "pw-x1", "libpq gets it from the environment"


def test_a_closed_lake_connection_leaves_no_catalog_transaction_open(
    lakes, monkeypatch, tmp_path: Path
) -> None:
    """The process keeps its lake DuckDB between connections; it must not keep a catalog
    transaction open in PostgreSQL (it would block DDL on the catalog, and vacuum)."""
    psycopg2 = pytest.importorskip("psycopg2")
    with lakes.catalog() as schema:
        lakes.use(monkeypatch, schema)
        target = warehouse.Target("ducklake", tmp_path / "files", schema)
        for _ in range(2):
            with warehouse.connection(target) as conn:
                warehouse.ensure_schemas(conn)
                warehouse.create_tables(conn, "CREATE TABLE IF NOT EXISTS raw.t (x INT)")
                conn.execute("INSERT INTO raw.t VALUES (1)")
                assert conn.execute("SELECT count(*) FROM raw.t").fetchone()[0] >= 1
        admin = psycopg2.connect(os.environ["WAREHOUSE_CATALOG_URL"], connect_timeout=5)
        try:
            with admin.cursor() as cur:
                cur.execute(
                    "SELECT count(*) FROM pg_stat_activity "
                    "WHERE state LIKE 'idle in transaction%%' AND query LIKE %s",
                    [f"%{schema}%"],
                )
                open_transactions = cur.fetchone()[0]
        finally:
            admin.close()
    assert open_transactions == 0


def test_readers_of_a_lake_share_its_duckdb_and_see_what_others_commit_later(
    lakes, monkeypatch, tmp_path: Path
) -> None:
    """Readers reuse the process's READ_ONLY DuckDB of the lake (attaching costs 0.3-1 s),
    yet each reads the newest snapshot: a table another writer replaced, one it created.
    The query sandbox gets a DuckDB of its own: the settings it locks are the DuckDB's, and
    a shared one would stop every later reader of the process from writing an export."""
    from project.lib.query import sandboxed_reader

    with lakes.catalog() as schema:
        lakes.use(monkeypatch, schema)
        target = warehouse.Target("ducklake", tmp_path / "files", schema)
        with warehouse.connection(target) as conn:
            warehouse.ensure_schemas(conn)
            conn.execute("CREATE SCHEMA IF NOT EXISTS marts")
            conn.execute("CREATE TABLE marts.m AS SELECT 1 AS x")
        with warehouse.connection(target, read_only=True) as reader:
            assert reader.execute("SELECT x FROM marts.m").fetchall() == [(1,)]
            reader.execute("SET GLOBAL threads = 1")  # a mark on this reader's DuckDB
        other = warehouse.connect(target, private=True)  # as another process would write
        try:
            other.execute("CREATE OR REPLACE TABLE marts.m AS SELECT 2 AS x, 'b' AS y")
            other.execute("CREATE TABLE marts.n AS SELECT 3 AS z")
        finally:
            other.close()
        with warehouse.connection(target, read_only=True) as reader:
            assert reader.execute("SELECT current_setting('threads')").fetchone() == (1,)
            assert reader.execute("SELECT x, y FROM marts.m").fetchall() == [(2, "b")]
            assert reader.execute("SELECT z FROM marts.n").fetchall() == [(3,)]
        with sandboxed_reader(target, wait_s=5) as sandbox:
            assert sandbox.execute("SELECT z FROM marts.n").fetchall() == [(3,)]
            assert sandbox.execute("SELECT current_setting('threads')").fetchone() != (1,)
        exported = tmp_path / "n.parquet"
        with warehouse.connection(target, read_only=True) as reader:
            reader.execute(f"COPY marts.n TO '{exported}' (FORMAT parquet)")
        assert duckdb.sql(f"SELECT z FROM '{exported}'").fetchall() == [(3,)]
