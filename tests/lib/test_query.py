"""The query sandbox reads the warehouse and the registered side stores, nothing else."""

from __future__ import annotations

from pathlib import Path

import duckdb
import pytest

from project.lib import query, stores
from project.lib.warehouse import Target, connection


@pytest.fixture(autouse=True)
def landing_store(monkeypatch: pytest.MonkeyPatch) -> None:
    """A registry holding one store, `landing/` beside the warehouse."""
    monkeypatch.setattr(stores, "_registry", {})
    stores.register_store(
        stores.SideStore("demo_landing", lambda warehouse: warehouse.resolve().parent / "landing")
    )


@pytest.fixture
def warehouse(tmp_path: Path) -> Path:
    path = tmp_path / "data" / "warehouse.duckdb"
    path.parent.mkdir()
    duckdb.connect(str(path)).close()
    for directory in (path.parent / "landing", tmp_path / "elsewhere"):
        directory.mkdir()
        (directory / "orders.csv").write_text("id,amount\n1,10\n")
    return path


def _read_csv(warehouse: Path, csv: Path) -> list[tuple]:
    with query.sandboxed_reader(warehouse, wait_s=5) as conn:
        return conn.execute(f"SELECT * FROM read_csv('{csv}')").fetchall()


def test_a_registered_store_is_readable(warehouse: Path) -> None:
    assert _read_csv(warehouse, warehouse.parent / "landing" / "orders.csv") == [(1, 10)]


def test_a_directory_no_capability_registered_is_not(warehouse: Path, tmp_path: Path) -> None:
    with pytest.raises(duckdb.PermissionException):
        _read_csv(warehouse, tmp_path / "elsewhere" / "orders.csv")


on_lake = pytest.mark.parametrize("warehouse_backend", ["ducklake"], indirect=True)


@on_lake
def test_on_a_lake_the_sandbox_reads_the_lake_its_parquet_files_and_its_stores(
    warehouse_target: Target, tmp_path: Path
) -> None:
    with connection(warehouse_target) as conn:
        # More rows than DuckLake keeps inline in its catalog: they go to Parquet files.
        conn.execute("CREATE TABLE numbers AS SELECT range AS n FROM range(5000)")
    landing = stores.store_paths(warehouse_target.anchor)["demo_landing"]
    elsewhere = tmp_path / "elsewhere"
    for directory in (landing, elsewhere):
        directory.mkdir(parents=True)
        (directory / "orders.csv").write_text("id,amount\n1,10\n")

    with query.sandboxed_reader(warehouse_target, wait_s=5) as conn:
        assert conn.execute("SELECT count(*) FROM numbers").fetchone() == (5000,)
        assert conn.execute(f"FROM read_csv('{landing}/orders.csv')").fetchall() == [(1, 10)]
        with pytest.raises(duckdb.PermissionException):
            conn.execute(f"FROM read_csv('{elsewhere}/orders.csv')")
    assert list(warehouse_target.path.rglob("*.parquet")), "numbers was read from Parquet"


@on_lake
def test_on_a_lake_a_write_that_slips_through_still_fails(warehouse_target: Target) -> None:
    with connection(warehouse_target) as conn:
        conn.execute("CREATE TABLE numbers AS SELECT 1 AS n")
    with query.sandboxed_reader(warehouse_target, wait_s=5) as conn:
        for write in ("INSERT INTO numbers VALUES (2)", "DROP TABLE numbers"):
            with pytest.raises(duckdb.Error, match="read-only"):
                conn.execute(write)
        with pytest.raises(duckdb.Error, match="configuration has been locked"):
            conn.execute("SET enable_external_access = true")
    with connection(warehouse_target, read_only=True) as conn:
        assert conn.execute("FROM numbers").fetchall() == [(1,)]


@pytest.mark.parametrize(
    ("sql", "allowed"),
    [
        ("SELECT * FROM ducklake_snapshots('warehouse')", True),
        ("FROM ducklake_table_changes('warehouse', 'raw', 't', 1, 2)", True),
        ("SELECT * FROM postgres_scan('postgresql://h/db', 'public', 't')", False),
        ("WITH t AS (FROM postgres_query('db', 'SELECT 1')) SELECT * FROM t", False),
        ("SELECT 1 WHERE 1 IN (SELECT * FROM mysql_query('db', 'SELECT 1'))", False),
        ("EXPLAIN SELECT * FROM sqlite_scan('x.db', 't')", False),
        ("SELECT * FROM ducklake_expire_snapshots('warehouse', older_than => now())", False),
        ("SELECT * FROM ducklake_cleanup_old_files('warehouse', cleanup_all => true)", False),
    ],
)
def test_reads_may_not_call_functions_that_reach_out_or_change_a_lake(
    sql: str, allowed: bool
) -> None:
    if allowed:
        assert query.read_only_statement(sql)
    else:
        with pytest.raises(query.UnsafeQueryError, match=r"\(\) is not allowed"):
            query.read_only_statement(sql)
