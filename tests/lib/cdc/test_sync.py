"""Incremental copies of PostgreSQL and MariaDB tables, exact under inserts, updates (of
non-key columns), deletes and rows committed late with an older cursor value, in each mode;
idempotent when run again; SCD2 history as computed by hand; bad input named."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from pathlib import Path

import duckdb
import pytest

from project.lib.datasets.errors import DatasetError
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


def test_scd2_history_matches_the_hand_computed_table(
    postgres_source: SourceDB, warehouse_file: Path
) -> None:
    """Three runs at R1, R2, R3 over five customers: versions open and close at the run
    that saw the change; a deleted customer's version closes; unchanged rows read again
    inside the lag window add no version."""
    db = postgres_source
    _customers(db, "people", rows=3)
    source = db.source(
        {"people": {"mode": "scd2", "primary_key": "id", "cursor": "updated_at", "lag": 60}},
        target_schema="history",
    )
    r1, r2, r3 = (datetime(2024, 8, d, 6, tzinfo=UTC) for d in (1, 2, 3))
    run_sync(warehouse_file, source, "people", now=r1)
    people = db.t("people")
    db.execute(
        f"UPDATE {people} SET city = 'Recife', updated_at = '2024-08-01 10:00+00' WHERE id = 2"
    )
    db.execute(
        f"INSERT INTO {db.t('people')} VALUES (4, 'name 4', 'Natal', 6, '2024-08-01 10:00+00')"
    )
    run_sync(warehouse_file, source, "people", now=r2)
    db.execute(
        f"UPDATE {people} SET city = 'Olinda', updated_at = '2024-08-02 10:00+00' WHERE id = 2"
    )
    db.execute(f"DELETE FROM {db.t('people')} WHERE id = 3")
    run_sync(warehouse_file, source, "people", now=r3)

    with duckdb.connect(str(warehouse_file), read_only=True) as conn:
        conn.execute("SET TimeZone = 'UTC'")
        history = conn.execute(
            "SELECT id, city, _valid_from, _valid_to, _is_current FROM history.people "
            "ORDER BY id, _valid_from"
        ).fetchall()
    assert history == [
        (1, "city 1", r1, None, True),
        (2, "city 2", r1, r2, False),
        (2, "Recife", r2, r3, False),
        (2, "Olinda", r3, None, True),
        (3, "city 3", r1, r3, False),
        (4, "Natal", r2, None, True),
    ]


def test_deletes_are_checked_on_their_cadence(source_db: SourceDB, warehouse_file: Path) -> None:
    """Between checks the deleted row stays, and the source's row count (counted by the
    source while the changes are applied) says how many rows await the check."""
    db = source_db
    _customers(db, "cadence", rows=10)
    source = db.source(
        {"cadence": {"mode": "merge", "primary_key": "id", "cursor": "updated_at"}},
        target_schema="cadence",
        detect_deletes_every_hours=6,
    )
    start = datetime(2024, 8, 1, tzinfo=UTC)
    assert run_sync(warehouse_file, source, "cadence", now=start).deletes_checked
    db.execute(f"DELETE FROM {db.t('cadence')} WHERE id = 1")
    soon = run_sync(warehouse_file, source, "cadence", now=start + timedelta(hours=1))
    assert (soon.deletes_checked, soon.deleted, soon.target_rows) == (False, 0, 10)
    assert soon.source_rows == 9
    later = run_sync(warehouse_file, source, "cadence", now=start + timedelta(hours=6))
    assert (later.deletes_checked, later.deleted, later.target_rows) == (True, 1, 9)
    assert later.source_rows == 9


# Keys whose deletes the copy must find, each layout by the comparison it takes: integers
# dense enough for bitmaps, spanning four 65,536-key ranges with their edges and negative
# keys; integers too sparse for bitmaps; text.
EDGES = [-65537, -65536, -1, 0, 1, 65535, 65536, 65537]
KEY_LAYOUTS = {
    "dense": (EDGES + list(range(2, 5000)), [-65537, -1, 0, 65535, 65536, 17]),
    "sparse": ([k * 10**9 + 1 for k in range(-3, 40)], [-3 * 10**9 + 1, 1, 10**9 + 1]),
    "text": ([f"k-{k:04d}" for k in range(300)], ["k-0000", "k-0150", "k-0299"]),
}


@pytest.mark.parametrize("mode", ["merge", "scd2"])
@pytest.mark.parametrize("layout", KEY_LAYOUTS)
def test_deletes_are_found_exactly_for_every_key_layout(
    source_db: SourceDB, warehouse_file: Path, layout: str, mode: str
) -> None:
    from project.lib.cdc.sync import _bitmaps_fit

    db, kinds = source_db, TYPES[source_db.kind]
    keys, deleted = KEY_LAYOUTS[layout]
    integers = layout != "text"
    if integers:  # each integer layout takes the comparison it is named for
        assert _bitmaps_fit(min(keys), max(keys), len(keys)) == (layout == "dense")
    table = f"keys_{layout}_{mode}"
    kind = kinds["int"] if integers else kinds["text"]
    db.execute(
        f"CREATE TABLE {db.t(table)} (k {kind} PRIMARY KEY, v {kinds['text']}, "
        f"updated_at {kinds['ts']} NOT NULL)"
    )
    literal = str if integers else "'{}'".format
    stamp = _ts(db, T0)
    values = ", ".join(f"({literal(k)}, 'v', {stamp})" for k in keys)
    db.execute(f"INSERT INTO {db.t(table)} VALUES {values}")
    source = db.source(
        {table: {"mode": mode, "primary_key": "k", "cursor": "updated_at"}},
        target_schema=f"layout_{mode}",
    )
    assert run_sync(warehouse_file, source, table).inserted == len(keys)
    gone = ", ".join(literal(k) for k in deleted)
    db.execute(f"DELETE FROM {db.t(table)} WHERE k IN ({gone})")
    later = _ts(db, T0 + timedelta(hours=1))
    new = literal(max(keys) + 7) if integers else literal("k-new")
    db.execute(f"INSERT INTO {db.t(table)} VALUES ({new}, 'new', {later})")
    kept = literal(keys[len(keys) // 2 + 1])
    db.execute(f"UPDATE {db.t(table)} SET v = 'changed', updated_at = {later} WHERE k = {kept}")
    second = run_sync(warehouse_file, source, table)
    assert (second.inserted, second.updated, second.deleted) == (1, 1, len(deleted))
    assert second.target_rows == second.source_rows == len(keys) - len(deleted) + 1
    assert differences(warehouse_file, source, table) == 0


def test_a_row_read_again_is_compared_whole_even_when_its_cursor_did_not_move(
    source_db: SourceDB, warehouse_file: Path
) -> None:
    """Inside the lag window a row is read again: changed without its cursor moving (a
    write that forgot `updated_at`), it is an update; unchanged, it costs nothing."""
    db = source_db
    _customers(db, "still", rows=10)
    source = db.source(
        {"still": {"mode": "merge", "primary_key": "id", "cursor": "updated_at", "lag": 60}},
        target_schema="still",
    )
    run_sync(warehouse_file, source, "still")
    db.execute(f"UPDATE {db.t('still')} SET name = 'renamed' WHERE id = 10")
    again = run_sync(warehouse_file, source, "still")
    assert again.read == 10  # every row is inside the 60 s window
    assert (again.inserted, again.updated, again.deleted) == (0, 1, 0)
    assert differences(warehouse_file, source, "still") == 0


def test_a_column_added_in_the_source_evolves_the_target(
    source_db: SourceDB, warehouse_file: Path
) -> None:
    db = source_db
    _customers(db, "evolving", rows=5)
    source = db.source(
        {"evolving": {"mode": "merge", "primary_key": "id", "cursor": "updated_at"}},
        target_schema="evolving",
    )
    run_sync(warehouse_file, source, "evolving")
    db.execute(f"ALTER TABLE {db.t('evolving')} ADD COLUMN tier {TYPES[db.kind]['text']}")
    db.execute(
        f"UPDATE {db.t('evolving')} SET tier = 'gold', "
        f"updated_at = {_ts(db, T0 + timedelta(hours=1))} WHERE id = 2"
    )
    result = run_sync(warehouse_file, source, "evolving")
    assert result.columns_added == ["tier"]
    assert result.updated == 1
    assert differences(warehouse_file, source, "evolving") == 0
    with duckdb.connect(str(warehouse_file), read_only=True) as conn:
        tiers = conn.execute("SELECT id, tier FROM evolving.evolving ORDER BY id").fetchall()
    assert tiers == [(1, None), (2, "gold"), (3, None), (4, None), (5, None)]


def _bad(db: SourceDB, table: str, spec: dict, warehouse_file: Path, **fields) -> str:
    source = db.source({table: spec}, target_schema="bad", **fields)
    with pytest.raises(DatasetError) as raised:
        run_sync(warehouse_file, source, table)
    return str(raised.value)


MERGE = {"mode": "merge", "primary_key": "id", "cursor": "updated_at"}


def test_a_missing_key_or_cursor_column_is_named(
    postgres_source: SourceDB, warehouse_file: Path
) -> None:
    _customers(postgres_source, "plain", rows=3)
    message = _bad(
        postgres_source, "plain", {**MERGE, "primary_key": "customer_id"}, warehouse_file
    )
    assert message.startswith(
        "source 'src.db', table 'plain': no column 'customer_id' "
        "(declared as its primary key); columns: id, name, city"
    )
    message = _bad(postgres_source, "plain", {**MERGE, "cursor": "changed_at"}, warehouse_file)
    assert "table 'plain': no column 'changed_at' (declared as its cursor)" in message
    message = _bad(postgres_source, "nosuch", MERGE, warehouse_file)
    assert "table 'nosuch': no such table in postgres://127.0.0.1:5432/test" in message


def test_null_cursors_and_repeated_keys_are_refused(
    postgres_source: SourceDB, warehouse_file: Path
) -> None:
    db = postgres_source
    db.execute(f"CREATE TABLE {db.t('nulls')} (id int PRIMARY KEY, updated_at timestamptz)")
    db.execute(f"INSERT INTO {db.t('nulls')} VALUES (1, now()), (2, NULL), (3, NULL)")
    message = _bad(db, "nulls", MERGE, warehouse_file)
    assert "table 'nulls': cursor column 'updated_at' has NULLs (rows with id 2, 3...)" in message
    db.execute(f"CREATE TABLE {db.t('nokey')} (id int, updated_at timestamptz NOT NULL)")
    db.execute(f"INSERT INTO {db.t('nokey')} VALUES (1, now()), (1, now()), (2, now())")
    message = _bad(db, "nokey", MERGE, warehouse_file)
    assert "primary key 'id' is not a key: 0 NULL and 1 repeated values" in message
    with duckdb.connect(str(warehouse_file), read_only=True) as conn:
        # a first load streams into its new target and checks the key there: rolled back
        assert (
            conn.execute(
                "SELECT count(*) FROM duckdb_tables() WHERE schema_name = 'bad'"
            ).fetchone()[0]
            == 0
        )
        assert conn.execute("SELECT count(*) FROM meta.cdc_state").fetchone()[0] == 0


def test_a_failed_run_stops_the_source_count_it_started(
    postgres_source: SourceDB, warehouse_file: Path
) -> None:
    """A key repeated in the rows read fails the run between delete checks, while the
    source is counting its rows in a second connection: that count is stopped too."""
    import threading

    db = postgres_source
    db.execute(f"CREATE TABLE {db.t('dupes')} (id int, updated_at timestamptz NOT NULL)")
    db.execute(f"INSERT INTO {db.t('dupes')} VALUES (1, '2024-08-01'), (2, '2024-08-01')")
    source = db.source({"dupes": MERGE}, target_schema="dupes", detect_deletes_every_hours=6)
    start = datetime(2024, 8, 1, tzinfo=UTC)
    run_sync(warehouse_file, source, "dupes", now=start)
    db.execute(f"INSERT INTO {db.t('dupes')} VALUES (2, '2024-08-02')")
    with pytest.raises(DatasetError, match="primary key 'id' is not a key: 0 NULL and 1"):
        run_sync(warehouse_file, source, "dupes", now=start + timedelta(hours=1))
    assert not [t for t in threading.enumerate() if t.name.startswith("cdc-source")]


def test_a_type_change_fails_and_keeps_the_last_good_copy(
    source_db: SourceDB, warehouse_file: Path
) -> None:
    db = source_db
    _customers(db, "typed", rows=4)
    source = db.source({"typed": MERGE}, target_schema="typed")
    run_sync(warehouse_file, source, "typed")
    before = _target_rows(warehouse_file, "typed", "typed")
    if db.kind == "postgres":
        db.execute(f"ALTER TABLE {db.t('typed')} ALTER COLUMN balance TYPE text")
    else:
        db.execute(f"ALTER TABLE {db.t('typed')} MODIFY COLUMN balance varchar(20)")
    later = _ts(db, T0 + timedelta(hours=2))
    db.execute(f"UPDATE {db.t('typed')} SET balance = 'n/a', updated_at = {later} WHERE id = 1")
    with pytest.raises(DatasetError) as raised:
        run_sync(warehouse_file, source, "typed")
    assert (
        "table 'typed': column type changed in the source since the last load "
        "(balance DECIMAL(12,2) -> VARCHAR); the target keeps its last good state"
    ) in str(raised.value)
    assert _target_rows(warehouse_file, "typed", "typed") == before


def test_an_unreachable_database_is_named_without_its_password(warehouse_file: Path) -> None:
    from project.lib.datasets.sources import DatabaseSource

    source = DatabaseSource.model_validate(
        {"type": "sql.DatabaseSource", "credentials": "db", "tables": {"t": MERGE}}
    ).bind("crm.source", lambda: {"con": "postgresql://app:S3cret-pw@127.0.0.1:9/crm"})
    with pytest.raises(DatasetError) as raised:
        run_sync(warehouse_file, source, "t")
    message = str(raised.value)
    assert message.startswith("source 'crm.source': cannot connect to postgres://127.0.0.1:9/crm: ")
    assert "S3cret-pw" not in message
