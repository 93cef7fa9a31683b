"""Copying what changed in a source table into the warehouse, exactly, in one transaction.

Per table and run:

1. **Check the source** against what it declares and what was loaded before: the table,
   its key and cursor columns exist; the key is unique and the cursor has no NULLs in what
   is read; no column changed type since the last load (added columns are added to the
   target, in the same transaction).
2. **Read the changes** into a temporary table: rows whose cursor is at or after the last
   position minus `lag` (`WHERE` sent to the source database, which uses its index); the
   whole table for `snapshot`. DuckDB's scanners stream them; nothing is held in Python.
3. **Apply them and the new cursor position in one transaction** on the warehouse:
   compared to the target by key and row, each changed row is inserted, replaced (merge),
   or closes the current version and opens a new one (SCD2); rows read again inside the
   lag window and unchanged cost nothing. Deletes are found by comparing the source's key
   set (keys only) with the target's, every run or every `detect_deletes_every_hours`.

The cursor position is kept in `meta.cdc_state` and written in that same transaction: a
run killed at any point leaves the target and its position as the last commit left them,
and the next run reads again from there — no row lost, none applied twice. A run that
fails leaves the target as it was.

This is hand-written SQL rather than dlt because dlt, measured on this machine, copied
2 million PostgreSQL rows in 39.0 s at 1,090 MB peak against 3.8 s and 258 MB for
DuckDB's `postgres_scanner` (load average ~4), and keeps its state beside the data
instead of in the same transaction.
"""

from __future__ import annotations

import json
import time
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Any

import duckdb

from project.lib.datasets.errors import DatasetError
from project.lib.datasets.files import _ident as ident
from project.lib.datasets.sources import SOURCE_ALIAS, DatabaseSource, SourceTable
from project.lib.warehouse import quote_literal, transaction

STATE_TABLE = "meta.cdc_state"
VALID_FROM, VALID_TO, IS_CURRENT, LOADED_AT = (
    "_valid_from",
    "_valid_to",
    "_is_current",
    "_loaded_at",
)
BOOKKEEPING = (VALID_FROM, VALID_TO, IS_CURRENT, LOADED_AT)
_NUMERIC = (
    "TINYINT",
    "SMALLINT",
    "INTEGER",
    "BIGINT",
    "HUGEINT",
    "UBIGINT",
    "UINTEGER",
    "USMALLINT",
    "UTINYINT",
    "DECIMAL",
    "DOUBLE",
    "FLOAT",
    "REAL",
)


@dataclass
class TableSync:
    """What one run did to one table (the materialization's metadata)."""

    source: str
    table: str
    mode: str
    target: str
    inserted: int = 0
    updated: int = 0
    deleted: int = 0
    read: int = 0
    cursor: str | None = None
    deletes_checked: bool = False
    columns_added: list[str] = field(default_factory=list)
    source_rows: int | None = None
    target_rows: int = 0
    duration_s: float = 0.0
    columns: list[tuple[str, str]] = field(default_factory=list)


def ensure_state(conn: duckdb.DuckDBPyConnection) -> None:
    conn.execute("CREATE SCHEMA IF NOT EXISTS meta")
    conn.execute(
        f"""CREATE TABLE IF NOT EXISTS {STATE_TABLE} (
              source VARCHAR, source_table VARCHAR, mode VARCHAR, cursor_value VARCHAR,
              columns VARCHAR, deletes_checked_at TIMESTAMPTZ, loaded_at TIMESTAMPTZ)"""
    )


def _state(conn: duckdb.DuckDBPyConnection, source: str, table: str) -> dict[str, Any] | None:
    row = conn.execute(
        f"""SELECT cursor_value, columns, deletes_checked_at FROM {STATE_TABLE}
            WHERE source = ? AND source_table = ?""",
        [source, table],
    ).fetchone()
    if row is None:
        return None
    return {"cursor": row[0], "columns": json.loads(row[1]), "deletes_checked_at": row[2]}


def _columns(conn: duckdb.DuckDBPyConnection, catalog: str, schema: str, table: str):
    return conn.execute(
        """SELECT column_name, data_type FROM duckdb_columns()
           WHERE database_name = ? AND schema_name = ? AND table_name = ?
           ORDER BY column_index""",
        [catalog, schema, table],
    ).fetchall()


def _target_exists(conn: duckdb.DuckDBPyConnection, schema: str, table: str) -> bool:
    return bool(
        conn.execute(
            """SELECT count(*) FROM duckdb_tables()
               WHERE database_name = current_database() AND schema_name = ? AND table_name = ?""",
            [schema, table],
        ).fetchone()[0]
    )


class _Table:
    """One table's names and checks, for the SQL below."""

    def __init__(self, source: DatabaseSource, name: str, spec: SourceTable) -> None:
        self.source, self.name, self.spec = source, name, spec
        self.src = f"{SOURCE_ALIAS}.{ident(source.schema_name)}.{ident(name)}"
        self.schema = source.warehouse_schema
        self.target = f"{ident(self.schema)}.{ident(name)}"
        self.key = ident(spec.primary_key)

    def fail(self, message: str) -> DatasetError:
        return DatasetError(f"source {self.source.name!r}, table {self.name!r}: {message}")


def sync_table(
    conn: duckdb.DuckDBPyConnection,
    source: DatabaseSource,
    name: str,
    *,
    now: datetime | None = None,
) -> TableSync:
    """Bring the warehouse copy of `name` up to date; `conn` is the warehouse, with the
    source attached as `src` (`DatabaseSource.attach`)."""
    started = time.monotonic()
    now = now or datetime.now(UTC)
    table = _Table(source, name, source.tables[name])
    spec = table.spec
    result = TableSync(source.name, name, spec.mode, f"{table.schema}.{name}")
    columns = _columns(conn, SOURCE_ALIAS, source.schema_name, name)
    if not columns:
        raise table.fail(f"no such table in {source.location()} (schema {source.schema_name!r})")
    types = dict(columns)
    result.columns = columns
    for role, column in (("primary key", spec.primary_key), ("cursor", spec.cursor)):
        if column and column not in types:
            raise table.fail(
                f"no column {column!r} (declared as its {role}); columns: {', '.join(types)}"
            )
    state = _state(conn, source.name, name)
    previous = dict(state["columns"]) if state else {}
    changed = [
        f"{c} {previous[c]} -> {t}" for c, t in columns if c in previous and previous[c] != t
    ]
    if changed:
        raise table.fail(
            f"column type changed in the source since the last load ({'; '.join(changed)}); "
            "the target keeps its last good state: migrate it, or drop it and its "
            f"{STATE_TABLE} row to reload"
        )
    exists = _target_exists(conn, table.schema, name)
    # An incremental read needs a position and a table to apply it to.
    since = state["cursor"] if state and exists and spec.cursor else None
    _read(conn, table, types, since)
    result.read = conn.execute("SELECT count(*) FROM batch").fetchone()[0]
    _check_batch(conn, table)
    due = _deletes_due(source, spec, state, now)
    # A first load copies the whole table: no target yet, so no key set to compare with.
    if due and exists and spec.mode != "snapshot":
        conn.execute(
            f"CREATE OR REPLACE TEMP TABLE source_keys AS SELECT {table.key} FROM {table.src}"
        )
    with transaction(conn):
        conn.execute(f"CREATE SCHEMA IF NOT EXISTS {ident(table.schema)}")
        if not exists:
            _create(conn, table, now)
            result.inserted = result.read
        else:
            result.columns_added = _evolve(conn, table, columns)
            apply = {"append": _append, "merge": _merge, "scd2": _scd2, "snapshot": _merge}
            result.inserted, result.updated = apply[spec.mode](conn, table, columns, now)
        if due and exists:
            result.deleted = _delete(conn, table, now)
        result.deletes_checked = due
        cursor = _new_cursor(conn, table, types.get(spec.cursor or "", ""), since)
        _save_state(conn, table, cursor, columns, now if due else _checked_at(state), now)
    result.cursor = cursor
    current = f" WHERE {IS_CURRENT}" if spec.mode == "scd2" else ""
    result.target_rows = conn.execute(f"SELECT count(*) FROM {table.target}{current}").fetchone()[0]
    if spec.mode in ("merge", "snapshot", "scd2"):
        result.source_rows = _source_rows(conn, table, result, keys_read=due and exists)
    result.duration_s = time.monotonic() - started
    return result


def _source_rows(conn, table: _Table, result: TableSync, *, keys_read: bool) -> int:
    """The source's row count as of this run: from what was read when that was the whole
    table (snapshot) or its key set (a delete check), else counted by the source."""
    if table.spec.mode == "snapshot":
        return result.read
    if keys_read:
        return conn.execute("SELECT count(*) FROM source_keys").fetchone()[0]
    return _count_source(conn, table)


def _count_source(conn, table: _Table) -> int:
    return _on_source(conn, table, f"SELECT count(*) FROM {table.src}")[0][0]


def _is_numeric(kind: str) -> bool:
    return kind.upper().startswith(_NUMERIC)


def _read(conn, table: _Table, types: dict[str, str], since: str | None) -> None:
    """Rows at or after `since` minus the lag, as a literal the scanner sends to the source
    (constant-folded by DuckDB, so the source database filters with its index)."""
    spec = table.spec
    where = ""
    if spec.cursor and since is not None:
        kind = types[spec.cursor]
        amount = int(spec.lag) if float(spec.lag).is_integer() else spec.lag
        lag = repr(amount) if _is_numeric(kind) else f"INTERVAL {amount!r} SECOND"
        start = conn.execute(
            f"SELECT CAST(CAST('{quote_literal(since)}' AS {kind}) - {lag} AS VARCHAR)"
        ).fetchone()[0]
        where = f" WHERE {ident(spec.cursor)} >= '{quote_literal(start)}'"
    read = f"CREATE OR REPLACE TEMP TABLE batch AS SELECT * FROM {table.src}{where}"
    if not (where and table.source.kind == "postgres"):
        conn.execute(read)
        return
    # postgres_scanner splits a scan into ctid ranges (parallel, good for a whole table); on
    # each range PostgreSQL scans pages, not the cursor's index: a 1% read of 5M rows took
    # 0.35-0.9 s that way against 0.04 s as one query that uses the index.
    conn.execute("SET pg_use_ctid_scan = false")
    try:
        conn.execute(read)
    finally:
        conn.execute("RESET pg_use_ctid_scan")


def _on_source(conn, table: _Table, sql: str) -> list[tuple]:
    """`sql` (on `table.src`) run by PostgreSQL itself when the source is PostgreSQL.

    postgres_scanner pushes neither `IS NULL`, `LIMIT` nor `count(*)` down: it would ship
    the whole table's column(s) to DuckDB to find no NULL cursor (1.0-2.0 s at 5M rows) or
    count the rows (0.6-1.1 s); PostgreSQL answers from the cursor's index in ~0 s and
    counts in 0.3 s. Other sources read through their scanner as before.
    """
    if table.source.kind != "postgres":
        return conn.execute(sql).fetchall()
    local = sql.replace(table.src, f"{ident(table.source.schema_name)}.{ident(table.name)}")
    return conn.execute(
        f"SELECT * FROM postgres_query('{SOURCE_ALIAS}', '{quote_literal(local)}')"
    ).fetchall()


def _check_batch(conn, table: _Table) -> None:
    spec = table.spec
    if spec.cursor:
        nulls = _on_source(
            conn,
            table,
            f"SELECT {table.key} FROM {table.src} WHERE {ident(spec.cursor)} IS NULL LIMIT 5",
        )
        if nulls:
            keys = ", ".join(str(row[0]) for row in nulls)
            raise table.fail(
                f"cursor column {spec.cursor!r} has NULLs (rows with {spec.primary_key} "
                f"{keys}...): those rows could never be read incrementally"
            )
    null_keys, repeated = conn.execute(
        f"SELECT count(*) FILTER ({table.key} IS NULL), count({table.key}) - "
        f"count(DISTINCT {table.key}) FROM batch"
    ).fetchone()
    if null_keys or repeated:
        raise table.fail(
            f"primary key {spec.primary_key!r} is not a key: {null_keys} NULL and "
            f"{repeated} repeated values in the rows read"
        )


def _deletes_due(
    source: DatabaseSource, spec: SourceTable, state: dict | None, now: datetime
) -> bool:
    if spec.mode == "append":
        return False  # an append-only table: rows are never deleted from the copy
    if spec.mode == "snapshot" or state is None or state["deletes_checked_at"] is None:
        return True
    every = timedelta(hours=source.detect_deletes_every_hours)
    return now - state["deletes_checked_at"] >= every


def _checked_at(state: dict | None) -> datetime | None:
    return state["deletes_checked_at"] if state else None


def _create(conn, table: _Table, now: datetime) -> None:
    stamp = f"'{now.isoformat()}'::TIMESTAMPTZ"
    history = (
        f", {stamp} AS {VALID_FROM}, NULL::TIMESTAMPTZ AS {VALID_TO}, true AS {IS_CURRENT}"
        if table.spec.mode == "scd2"
        else ""
    )
    conn.execute(
        f"CREATE TABLE {table.target} AS SELECT *{history}, {stamp} AS {LOADED_AT} FROM batch"
    )


def _evolve(conn, table: _Table, columns: list[tuple[str, str]]) -> list[str]:
    """Columns the source gained since the last load, added to the target (NULL before)."""
    have = {c for c, _ in _columns(conn, _current(conn), table.schema, table.name)}
    added = [(c, t) for c, t in columns if c not in have]
    for column, kind in added:
        conn.execute(f"ALTER TABLE {table.target} ADD COLUMN {ident(column)} {kind}")
    return [c for c, _ in added]


def _current(conn) -> str:
    return conn.execute("SELECT current_database()").fetchone()[0]


def _row(alias: str, columns: list[tuple[str, str]]) -> str:
    return "struct_pack(" + ", ".join(f"{ident(c)} := {alias}.{ident(c)}" for c, _ in columns) + ")"


def _changes(conn, table: _Table, columns, current: str = "") -> tuple[int, int]:
    """`changes`: rows read that are new or differ from the target's (current) row."""
    differs = f"{_row('b', columns)} IS DISTINCT FROM {_row('t', columns)}"
    conn.execute(
        f"""CREATE OR REPLACE TEMP TABLE changes AS
            SELECT b.*, t.{table.key} IS NOT NULL AS _existed
            FROM batch b LEFT JOIN (SELECT * FROM {table.target}{current}) t
              ON b.{table.key} = t.{table.key}
            WHERE t.{table.key} IS NULL OR {differs}"""
    )
    inserted, updated = conn.execute(
        "SELECT count(*) FILTER (NOT _existed), count(*) FILTER (_existed) FROM changes"
    ).fetchone()
    return inserted, updated


def _insert(conn, table: _Table, now: datetime, source: str, history: bool = False) -> None:
    stamp = f"'{now.isoformat()}'::TIMESTAMPTZ"
    versions = (
        f", {stamp} AS {VALID_FROM}, NULL AS {VALID_TO}, true AS {IS_CURRENT}" if history else ""
    )
    conn.execute(
        f"INSERT INTO {table.target} BY NAME SELECT * EXCLUDE (_existed){versions}, "
        f"{stamp} AS {LOADED_AT} FROM {source}"
    )


def _append(conn, table: _Table, columns, now: datetime) -> tuple[int, int]:
    conn.execute(
        f"""CREATE OR REPLACE TEMP TABLE changes AS SELECT b.*, false AS _existed FROM batch b
            WHERE NOT EXISTS (SELECT 1 FROM {table.target} t WHERE t.{table.key} = b.{table.key})"""
    )
    _insert(conn, table, now, "changes")
    return conn.execute("SELECT count(*) FROM changes").fetchone()[0], 0


def _merge(conn, table: _Table, columns, now: datetime) -> tuple[int, int]:
    inserted, updated = _changes(conn, table, columns)
    if updated:
        conn.execute(
            f"DELETE FROM {table.target} WHERE {table.key} IN "
            f"(SELECT {table.key} FROM changes WHERE _existed)"
        )
    _insert(conn, table, now, "changes")
    return inserted, updated


def _scd2(conn, table: _Table, columns, now: datetime) -> tuple[int, int]:
    inserted, updated = _changes(conn, table, columns, f" WHERE {IS_CURRENT}")
    if updated:
        conn.execute(
            f"""UPDATE {table.target} SET {VALID_TO} = '{now.isoformat()}'::TIMESTAMPTZ,
                   {IS_CURRENT} = false
                WHERE {IS_CURRENT} AND {table.key} IN
                  (SELECT {table.key} FROM changes WHERE _existed)"""
        )
    _insert(conn, table, now, "changes", history=True)
    return inserted, updated


def _delete(conn, table: _Table, now: datetime) -> int:
    """Rows whose key the source no longer has: deleted, or their version closed (SCD2)."""
    keys = "batch" if table.spec.mode == "snapshot" else "source_keys"
    gone = f"NOT EXISTS (SELECT 1 FROM {keys} k WHERE k.{table.key} = t.{table.key})"
    if table.spec.mode == "scd2":
        return conn.execute(
            f"""UPDATE {table.target} t SET {VALID_TO} = '{now.isoformat()}'::TIMESTAMPTZ,
                   {IS_CURRENT} = false
                WHERE {IS_CURRENT} AND {gone}"""
        ).fetchone()[0]
    return conn.execute(f"DELETE FROM {table.target} t WHERE {gone}").fetchone()[0]


def _new_cursor(conn, table: _Table, kind: str, since: str | None) -> str | None:
    """The furthest cursor value read (never behind the last position), as text."""
    if not table.spec.cursor:
        return None
    cursor = ident(table.spec.cursor)
    previous = "NULL" if since is None else f"'{quote_literal(since)}'"
    return conn.execute(
        f"SELECT CAST(greatest(max({cursor}), CAST({previous} AS {kind})) AS VARCHAR) FROM batch"
    ).fetchone()[0]


def _save_state(conn, table: _Table, cursor, columns, checked_at, now: datetime) -> None:
    conn.execute(
        f"DELETE FROM {STATE_TABLE} WHERE source = ? AND source_table = ?",
        [table.source.name, table.name],
    )
    conn.execute(
        f"INSERT INTO {STATE_TABLE} VALUES (?, ?, ?, ?, ?, ?, ?)",
        [
            table.source.name,
            table.name,
            table.spec.mode,
            cursor,
            json.dumps(columns),
            checked_at,
            now,
        ],
    )
