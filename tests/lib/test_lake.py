"""DuckLake snapshots: rollback to a snapshot id or a time puts every table and view back."""

from __future__ import annotations

import time
from collections.abc import Iterator
from datetime import timedelta

import duckdb
import pytest

from project.lib import lake, warehouse

# A DuckLake of the test's own (a catalog schema in the local PostgreSQL).
on_lake = pytest.mark.parametrize("warehouse_backend", ["ducklake"], indirect=True)

ORDERS = "SELECT id, amount FROM shop.orders ORDER BY id"


@pytest.fixture
def conn(warehouse_target: warehouse.Target) -> Iterator[duckdb.DuckDBPyConnection]:
    with warehouse.connection(warehouse_target) as connection:
        yield connection


@pytest.fixture
def base(conn: duckdb.DuckDBPyConnection) -> int:
    """A shop with orders (more rows than DuckLake inlines), customers and a view: the
    snapshot to go back to."""
    conn.execute("CREATE SCHEMA shop")
    conn.execute("CREATE TABLE shop.orders (id INTEGER NOT NULL, amount DECIMAL(10, 2))")
    conn.execute("INSERT INTO shop.orders SELECT range, range * 1.5 FROM range(1, 2001)")
    conn.execute("CREATE TABLE shop.customers AS SELECT 1 AS id, 'Ana' AS name")
    conn.execute("CREATE VIEW shop.big_orders AS SELECT * FROM shop.orders WHERE amount > 100")
    return lake.current_snapshot(conn).id


def _rows(conn: duckdb.DuckDBPyConnection, sql: str = ORDERS) -> list[tuple]:
    return conn.execute(sql).fetchall()


def _tables(conn: duckdb.DuckDBPyConnection) -> set[str]:
    rows = conn.execute(
        "SELECT schema_name || '.' || table_name FROM duckdb_tables() "
        "WHERE database_name = current_database()"
    ).fetchall()
    return {row[0] for row in rows}


def _change_everything(conn: duckdb.DuckDBPyConnection) -> None:
    conn.execute("INSERT INTO shop.orders VALUES (5000, 1), (5001, 2)")
    conn.execute("UPDATE shop.orders SET amount = 0 WHERE id IN (1, 2)")
    conn.execute("UPDATE shop.orders SET amount = -1 WHERE id = 1")
    conn.execute("DELETE FROM shop.orders WHERE id BETWEEN 10 AND 19 OR id = 5001")
    conn.execute("CREATE TABLE shop.refunds AS SELECT 7 AS id")
    conn.execute("CREATE SCHEMA later")
    conn.execute("CREATE TABLE later.notes AS SELECT 'x' AS note")
    conn.execute("DROP TABLE shop.customers")
    conn.execute("CREATE OR REPLACE VIEW shop.big_orders AS SELECT 1 AS changed")


@on_lake
def test_rollback_to_a_snapshot_restores_rows_tables_views_and_schemas(
    conn: duckdb.DuckDBPyConnection, warehouse_target: warehouse.Target, base: int
) -> None:
    orders, big = _rows(conn), _rows(conn, "FROM shop.big_orders ORDER BY id")
    tables = _tables(conn)
    _change_everything(conn)

    report = lake.rollback(conn, warehouse_target, base)

    assert _rows(conn) == orders
    assert _rows(conn, "FROM shop.customers") == [(1, "Ana")]
    assert _rows(conn, "FROM shop.big_orders ORDER BY id") == big
    assert _tables(conn) == tables
    assert "later" not in {r[0] for r in _rows(conn, "SELECT schema_name FROM duckdb_schemas()")}
    assert report.tables_restored == ("shop.orders",)
    assert report.tables_recreated == ("shop.customers",)
    assert set(report.tables_dropped) == {"shop.refunds", "later.notes"}
    assert report.views_recreated == ("shop.big_orders",)
    assert report.schemas_dropped == ("later",)
    assert report.after == lake.current_snapshot(conn).id > report.before


@on_lake
def test_rollback_is_one_snapshot_with_a_message_and_can_itself_be_rolled_back(
    conn: duckdb.DuckDBPyConnection, warehouse_target: warehouse.Target, base: int
) -> None:
    _change_everything(conn)
    changed, changed_tables = _rows(conn), _tables(conn)
    report = lake.rollback(conn, warehouse_target, base)
    (commit,) = lake.snapshots(conn, after=report.before)
    assert commit.id == report.after
    assert commit.message == f"rollback to snapshot {base}"

    lake.rollback(conn, warehouse_target, report.before)
    assert _rows(conn) == changed
    assert _tables(conn) == changed_tables


@on_lake
def test_rollback_to_a_time_restores_the_last_snapshot_committed_by_then(
    conn: duckdb.DuckDBPyConnection, warehouse_target: warehouse.Target, base: int
) -> None:
    orders = _rows(conn)
    committed = lake.snapshot(conn, base).time
    time.sleep(0.05)
    _change_everything(conn)
    when = committed + timedelta(milliseconds=20)

    assert lake.snapshot_at(conn, when).id == base
    lake.rollback(conn, warehouse_target, lake.snapshot_at(conn, when).id)
    assert _rows(conn) == orders
    assert "shop.refunds" not in _tables(conn)


@on_lake
def test_a_table_altered_after_is_recreated_with_its_constraints(
    conn: duckdb.DuckDBPyConnection, warehouse_target: warehouse.Target, base: int
) -> None:
    orders = _rows(conn)
    conn.execute("ALTER TABLE shop.orders ADD COLUMN note VARCHAR")
    conn.execute("INSERT INTO shop.orders VALUES (9999, 1, 'new')")

    report = lake.rollback(conn, warehouse_target, base)

    assert report.tables_recreated == ("shop.orders",)
    assert _rows(conn, "SELECT * FROM shop.orders ORDER BY id") == orders
    with pytest.raises(duckdb.ConstraintException):
        conn.execute("INSERT INTO shop.orders VALUES (NULL, 1)")


@on_lake
def test_untouched_tables_are_left_as_they_are(
    conn: duckdb.DuckDBPyConnection, warehouse_target: warehouse.Target, base: int
) -> None:
    conn.execute("INSERT INTO shop.orders VALUES (5000, 1)")
    report = lake.rollback(conn, warehouse_target, base)
    assert report.tables_restored == ("shop.orders",)
    assert report.tables_recreated == report.tables_dropped == report.views_recreated == ()


@on_lake
def test_views_over_views_are_recreated_after_what_they_read(
    conn: duckdb.DuckDBPyConnection, warehouse_target: warehouse.Target, base: int
) -> None:
    conn.execute("CREATE SCHEMA marts")
    conn.execute("CREATE VIEW marts.a_total AS SELECT sum(amount) AS total FROM shop.big_orders")
    conn.execute("CREATE VIEW marts.z_base AS SELECT id FROM shop.orders")
    conn.execute("CREATE VIEW marts.a_count AS SELECT count(*) AS n FROM marts.z_base")
    kept = lake.current_snapshot(conn).id
    expected = _rows(conn, "SELECT * FROM marts.a_total, marts.a_count")
    conn.execute("DROP VIEW marts.a_total")
    conn.execute("DROP VIEW marts.a_count")
    conn.execute("DROP VIEW marts.z_base")
    conn.execute("DROP VIEW shop.big_orders")

    report = lake.rollback(conn, warehouse_target, kept)

    assert set(report.views_recreated) == {
        "shop.big_orders",
        "marts.a_total",
        "marts.z_base",
        "marts.a_count",
    }
    assert _rows(conn, "SELECT * FROM marts.a_total, marts.a_count") == expected


@on_lake
def test_rollback_to_the_current_snapshot_changes_nothing(
    conn: duckdb.DuckDBPyConnection, warehouse_target: warehouse.Target, base: int
) -> None:
    report = lake.rollback(conn, warehouse_target, base)
    assert not report.changed
    assert lake.current_snapshot(conn).id == base


@on_lake
def test_an_unknown_snapshot_or_time_is_refused(
    conn: duckdb.DuckDBPyConnection, warehouse_target: warehouse.Target, base: int
) -> None:
    with pytest.raises(lake.SnapshotError, match=r"no snapshot 999 \(it keeps 0 to"):
        lake.rollback(conn, warehouse_target, 999)
    before = lake.snapshot(conn, 0).time - timedelta(days=1)
    with pytest.raises(lake.SnapshotError, match="no snapshot at or before"):
        lake.snapshot_at(conn, before)
    assert lake.current_snapshot(conn).id == base


@on_lake
def test_clear_drops_everything_and_a_rollback_brings_it_back(
    conn: duckdb.DuckDBPyConnection, warehouse_target: warehouse.Target, base: int
) -> None:
    orders = _rows(conn)
    report = lake.clear(conn)
    assert _tables(conn) == set()
    assert set(report.tables_dropped) == {"shop.orders", "shop.customers"}
    assert report.schemas_dropped == ("shop",)

    lake.rollback(conn, warehouse_target, report.before)
    assert _rows(conn) == orders
    assert _rows(conn, "SELECT count(*) FROM shop.big_orders") == [(1934,)]


def test_snapshot_functions_need_a_lake(tmp_path) -> None:
    with (
        warehouse.connection(tmp_path / "w.duckdb") as file_conn,
        pytest.raises(ValueError, match="DuckLake"),
    ):
        lake.current_snapshot(file_conn)


@on_lake
def test_a_rollback_that_fails_changes_nothing(
    conn: duckdb.DuckDBPyConnection, warehouse_target: warehouse.Target, base: int
) -> None:
    # A view of the snapshot that cannot be created again: the table it read was dropped.
    conn.execute("CREATE TABLE shop.gone AS SELECT 1 AS x")
    conn.execute("CREATE VIEW shop.dangling AS SELECT * FROM shop.gone")
    conn.execute("DROP TABLE shop.gone")
    broken = lake.current_snapshot(conn).id
    conn.execute("DROP VIEW shop.dangling")
    conn.execute("INSERT INTO shop.orders VALUES (5000, 1)")
    orders, tables = _rows(conn), _tables(conn)

    with pytest.raises(lake.RollbackError, match=f"rollback to snapshot {broken} failed"):
        lake.rollback(conn, warehouse_target, broken)

    assert _rows(conn) == orders
    assert _tables(conn) == tables
    assert lake.snapshots(conn, after=broken)[-1].message is None, "no rollback committed"
