"""Incremental copies of PostgreSQL and MariaDB tables, exact under inserts, updates (of
non-key columns), deletes and rows committed late with an older cursor value, in each mode;
idempotent when run again; SCD2 history as computed by hand; bad input named."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from pathlib import Path

import duckdb
import pytest

from tests.lib.cdc.conftest import TYPES, SourceDB, differences, run_sync

T0 = datetime(2024, 7, 1, 12, 0, tzinfo=UTC)
pytestmark = [pytest.mark.postgres, pytest.mark.mysql]


def _ts(db: SourceDB, moment: datetime) -> str:
    """A timestamp literal both databases read as that instant (MariaDB's DATETIME has no
    zone: the tests keep it in UTC)."""
    text = moment.strftime("%Y-%m-%d %H:%M:%S")
    return f"'{text}+00'" if db.kind == "postgres" else f"'{text}'"


def _customers(db: SourceDB, table: str, rows: int = 100) -> None:
    kinds = TYPES[db.kind]
    db.execute(
        f"CREATE TABLE {db.t(table)} (id {kinds['int']} PRIMARY KEY, name {kinds['text']}, "
        f"city {kinds['text']}, balance {kinds['num']}, updated_at {kinds['ts']} NOT NULL)"
    )
    values = ", ".join(
        f"({i}, 'name {i}', 'city {i % 7}', {i * 1.5}, {_ts(db, T0 + timedelta(seconds=i))})"
        for i in range(1, rows + 1)
    )
    db.execute(f"INSERT INTO {db.t(table)} VALUES {values}")


def _change(db: SourceDB, table: str, moment: datetime) -> None:
    """Inserts, updates of non-key columns, deletes, at `moment`."""
    t = db.t(table)
    db.execute(f"UPDATE {t} SET city = 'moved', updated_at = {_ts(db, moment)} WHERE id <= 5")
    db.execute(
        f"UPDATE {t} SET balance = balance + 1, updated_at = {_ts(db, moment)} WHERE id = 50"
    )
    db.execute(f"DELETE FROM {t} WHERE id BETWEEN 90 AND 94")
    db.execute(
        f"INSERT INTO {t} VALUES (201, 'new', 'city 1', 0, {_ts(db, moment)}), "
        f"(202, 'new too', 'city 2', 2.5, {_ts(db, moment)})"
    )


def _late(db: SourceDB, table: str, moment: datetime) -> None:
    """Rows committed after the last run with a cursor value older than its position (30 s
    before it, inside a 60 s lag), and an update stamped the same way."""
    t = db.t(table)
    older = _ts(db, moment - timedelta(seconds=30))
    db.execute(f"INSERT INTO {t} VALUES (301, 'late', 'city 3', 7, {older})")
    db.execute(f"UPDATE {t} SET name = 'late update', updated_at = {older} WHERE id = 20")


@pytest.mark.parametrize("mode", ["merge", "scd2", "snapshot"])
def test_a_copy_equals_its_source_after_inserts_updates_deletes_and_late_commits(
    source_db: SourceDB, warehouse_file: Path, mode: str
) -> None:
    table = f"customers_{mode}"
    _customers(source_db, table)
    spec = {"mode": mode, "primary_key": "id", "lag": 60}
    if mode != "snapshot":
        spec["cursor"] = "updated_at"
    source = source_db.source({table: spec}, target_schema=f"copy_{mode}")

    first = run_sync(warehouse_file, source, table)
    assert (first.inserted, first.updated, first.deleted, first.target_rows) == (100, 0, 0, 100)
    assert differences(warehouse_file, source, table) == 0

    t1 = T0 + timedelta(hours=1)
    _change(source_db, table, t1)
    second = run_sync(warehouse_file, source, table)
    assert (second.inserted, second.updated, second.deleted) == (2, 6, 5)
    assert second.target_rows == second.source_rows == 97
    assert differences(warehouse_file, source, table) == 0
    if mode != "snapshot":  # rows from the last position minus the lag (60 s) on, only
        # ids 40..100 (less the 5 deleted), the 5 moved rows and the 2 new ones: not 97
        assert second.read == 56 + 5 + 2
        assert second.cursor.startswith("2024-07-01 13:00:00")

    _late(source_db, table, t1)
    third = run_sync(warehouse_file, source, table)
    assert (third.inserted, third.updated, third.deleted) == (1, 1, 0)
    assert differences(warehouse_file, source, table) == 0

    before = _target_rows(warehouse_file, source.warehouse_schema, table)
    again = run_sync(warehouse_file, source, table)
    assert (again.inserted, again.updated, again.deleted) == (0, 0, 0)
    assert _target_rows(warehouse_file, source.warehouse_schema, table) == before


def test_append_copies_new_rows_including_late_ones_once(
    source_db: SourceDB, warehouse_file: Path
) -> None:
    """An append-only table (events) by a number cursor: id 58, committed after 59 and 60
    were copied, is inside the lag window and caught; nothing is copied twice."""
    kinds = TYPES[source_db.kind]
    table = "events"
    source_db.execute(
        f"CREATE TABLE {source_db.t(table)} (event_id {kinds['int']} PRIMARY KEY, "
        f"kind {kinds['text']}, at_ts {kinds['ts']})"
    )

    def insert(ids) -> None:
        values = ", ".join(f"({i}, 'kind {i % 3}', {_ts(source_db, T0)})" for i in ids)
        source_db.execute(f"INSERT INTO {source_db.t(table)} VALUES {values}")

    insert(range(1, 51))
    source = source_db.source(
        {table: {"mode": "append", "primary_key": "event_id", "cursor": "event_id", "lag": 10}},
        target_schema="copy_append",
    )
    assert run_sync(warehouse_file, source, table).inserted == 50
    insert([i for i in range(51, 61) if i != 58])
    second = run_sync(warehouse_file, source, table)
    assert (second.inserted, second.cursor) == (9, "60")
    insert([58])
    third = run_sync(warehouse_file, source, table)
    assert (third.inserted, third.read) == (1, 11)  # ids 50..60 read again, only 58 is new
    again = run_sync(warehouse_file, source, table)
    assert (again.inserted, again.updated, again.deleted) == (0, 0, 0)
    assert differences(warehouse_file, source, table) == 0
    assert len(_target_rows(warehouse_file, "copy_append", table)) == 60


def _target_rows(path: Path, schema: str, table: str) -> list[tuple]:
    with duckdb.connect(str(path), read_only=True) as conn:
        return conn.execute(f'SELECT * FROM "{schema}"."{table}" ORDER BY ALL').fetchall()
