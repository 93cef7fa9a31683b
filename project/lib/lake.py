"""DuckLake snapshots: what the lake held at a point in time, and putting it back.

Every commit to a DuckLake is a snapshot, kept with its Parquet files until
`ducklake_expire_snapshots` removes it. So a lake needs no copies for its backups: a
backup is the id of a snapshot, and a rollback restores every schema, table and view to
their state in an earlier snapshot, in one transaction that is itself a new snapshot (a
rollback can be rolled back like any other change).

A rollback to snapshot N reads N through a read-only attachment of the lake at that
version, and within one transaction:

- drops the views, tables and schemas created after N;
- for a table that kept its identity and definition since N (not created again after
  N), deletes the rows `ducklake_table_changes` lists between N and now and inserts their
  version at N again: DuckLake keeps row ids through updates and compaction, so the work
  is proportional to what changed, not to the table (a month of raw pages is not
  rewritten to undo one day);
- creates every other table of N again from its definition at N (constraints and
  defaults included, which `CREATE TABLE AS` would lose) and fills it from N;
- creates the views that differ from N again from their definition at N, a view after
  the views it reads (DuckDB binds a view when it is created).

Only public DuckDB and DuckLake functions are used (`ducklake_snapshots`,
`ducklake_table_changes`, `duckdb_tables()`...), never the catalog's own tables.
Side stores are not touched: they are content-addressed and append-only, so every file a
restored row names is still there.
"""

from __future__ import annotations

import json
import re
from collections.abc import Iterable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field, replace
from datetime import datetime

import duckdb

from project.lib import warehouse

# The read-only attachment of the snapshot a rollback restores.
PAST = "lake_rollback_source"
AUTHOR = "pncp"
# Schemas every lake has; a rollback never drops them.
BUILTIN_SCHEMAS = frozenset({"main"})


class SnapshotError(ValueError):
    """No such snapshot (never taken, or expired), or none at the time asked for."""


class RollbackError(RuntimeError):
    """The rollback could not be applied; its transaction was rolled back, nothing changed."""


@dataclass(frozen=True)
class Snapshot:
    """One commit of the lake (a row of `ducklake_snapshots`)."""

    id: int
    time: datetime
    changes: dict[str, tuple[str, ...]] = field(default_factory=dict)
    author: str | None = None
    message: str | None = None

    def summary(self) -> str:
        """The changes in one line: `tables_created raw.a; inlined_insert 2`."""
        parts = [f"{kind} {', '.join(values)}" for kind, values in sorted(self.changes.items())]
        if self.message:
            parts.insert(0, self.message)
        return "; ".join(parts)


@dataclass(frozen=True)
class RollbackReport:
    """What a rollback (or `clear`) did; every name is `schema.name`."""

    target: int  # the snapshot restored (0 for `clear`)
    before: int  # the current snapshot before
    after: int  # the snapshot the rollback committed; `before` when nothing differed
    tables_restored: tuple[str, ...] = ()  # changed rows put back in place
    tables_recreated: tuple[str, ...] = ()  # created again from their definition at `target`
    tables_dropped: tuple[str, ...] = ()
    views_recreated: tuple[str, ...] = ()
    views_dropped: tuple[str, ...] = ()
    schemas_created: tuple[str, ...] = ()
    schemas_dropped: tuple[str, ...] = ()

    @property
    def changed(self) -> bool:
        return self.after != self.before

    def summary(self) -> str:
        counts = [
            (self.tables_restored, "table(s) with rows put back"),
            (self.tables_recreated, "table(s) recreated"),
            (self.tables_dropped, "table(s) dropped"),
            (self.views_recreated, "view(s) recreated"),
            (self.views_dropped, "view(s) dropped"),
            (self.schemas_created, "schema(s) created"),
            (self.schemas_dropped, "schema(s) dropped"),
        ]
        done = [f"{len(names)} {what}" for names, what in counts if names]
        return ", ".join(done) or "nothing differed"


def _catalog(conn: duckdb.DuckDBPyConnection) -> str:
    """The lake `conn` is using (its current database), or ValueError."""
    if not warehouse.is_lake(conn):
        raise ValueError("this needs a connection to a DuckLake warehouse (WAREHOUSE_BACKEND)")
    return conn.execute("SELECT current_database()").fetchone()[0]


def _snapshot(row: tuple) -> Snapshot:
    snapshot_id, time, changes, author, message = row
    return Snapshot(
        int(snapshot_id),
        time,
        {kind: tuple(values) for kind, values in (changes or {}).items()},
        author,
        message,
    )


_SNAPSHOTS = (
    "SELECT snapshot_id, snapshot_time, changes, author, commit_message FROM ducklake_snapshots(?)"
)


def snapshots(
    conn: duckdb.DuckDBPyConnection, *, after: int | None = None, last: int | None = None
) -> list[Snapshot]:
    """The lake's snapshots, oldest first: those after snapshot `after`, the `last` newest."""
    sql = _SNAPSHOTS + " WHERE snapshot_id > ? ORDER BY snapshot_id DESC"
    params: list[object] = [_catalog(conn), -1 if after is None else after]
    if last is not None:
        sql += " LIMIT ?"
        params.append(last)
    return [_snapshot(row) for row in reversed(conn.execute(sql, params).fetchall())]


def count_snapshots(conn: duckdb.DuckDBPyConnection) -> int:
    sql = "SELECT count(*) FROM ducklake_snapshots(?)"
    return int(conn.execute(sql, [_catalog(conn)]).fetchone()[0])


def snapshot(conn: duckdb.DuckDBPyConnection, snapshot_id: int) -> Snapshot:
    """Snapshot `snapshot_id`, or SnapshotError naming the ones that exist."""
    catalog = _catalog(conn)
    row = conn.execute(_SNAPSHOTS + " WHERE snapshot_id = ?", [catalog, snapshot_id]).fetchone()
    if row is None:
        first, last = conn.execute(
            "SELECT min(snapshot_id), max(snapshot_id) FROM ducklake_snapshots(?)", [catalog]
        ).fetchone()
        raise SnapshotError(
            f"the lake has no snapshot {snapshot_id} (it keeps {first} to {last}; "
            "older ones may have been expired)"
        )
    return _snapshot(row)


def current_snapshot(conn: duckdb.DuckDBPyConnection) -> Snapshot:
    """The snapshot the lake is at now (the newest committed)."""
    catalog = _catalog(conn)
    current = conn.execute("SELECT id FROM ducklake_current_snapshot(?)", [catalog]).fetchone()[0]
    return snapshot(conn, current)


def snapshot_at(conn: duckdb.DuckDBPyConnection, when: datetime) -> Snapshot:
    """The lake as it was at `when` (timezone-aware): the last snapshot committed by then."""
    if when.tzinfo is None:
        raise ValueError("snapshot_at needs a timezone-aware datetime")
    catalog = _catalog(conn)
    row = conn.execute(
        _SNAPSHOTS + " WHERE snapshot_time <= ? ORDER BY snapshot_id DESC LIMIT 1",
        [catalog, when],
    ).fetchone()
    if row is None:
        first = conn.execute(_SNAPSHOTS + " ORDER BY snapshot_id LIMIT 1", [catalog]).fetchone()
        kept = f"; the oldest kept is {first[0]}, of {first[1].isoformat()}" if first else ""
        raise SnapshotError(f"the lake has no snapshot at or before {when.isoformat()}{kept}")
    return _snapshot(row)


def _q(name: str) -> str:
    return '"' + name.replace('"', '""') + '"'


def _name(schema: str, name: str) -> str:
    return f"{schema}.{name}"


@dataclass(frozen=True)
class _Catalog:
    """Schemas, tables and views of one attached database, with their DDL."""

    schemas: frozenset[str]
    tables: dict[tuple[str, str], str]
    views: dict[tuple[str, str], str]


def _read_catalog(conn: duckdb.DuckDBPyConnection, database: str) -> _Catalog:
    schemas = conn.execute(
        "SELECT schema_name FROM duckdb_schemas() WHERE database_name = ? AND NOT internal",
        [database],
    ).fetchall()
    tables = conn.execute(
        "SELECT schema_name, table_name, sql FROM duckdb_tables() WHERE database_name = ?",
        [database],
    ).fetchall()
    views = conn.execute(
        "SELECT schema_name, view_name, sql FROM duckdb_views() "
        "WHERE database_name = ? AND NOT internal",
        [database],
    ).fetchall()
    return _Catalog(
        frozenset(row[0] for row in schemas),
        {(s, n): sql for s, n, sql in tables},
        {(s, n): sql for s, n, sql in views},
    )


# DuckDB writes a view's definition as `CREATE VIEW [schema.]name [(aliases)] AS query;`.
_PART = r'(?:"(?:[^"]|"")*"|[^\s(."]+)'
_VIEW_SQL = re.compile(
    rf"^\s*CREATE\s+VIEW\s+(?:{_PART}\.)*{_PART}(?:\s*\([^)]*\))?\s+AS\s+(?P<query>.*?);?\s*$",
    re.IGNORECASE | re.DOTALL,
)


def _references(conn: duckdb.DuckDBPyConnection, sql: str) -> set[tuple[str, str]]:
    """The (schema, name) of every relation a view's definition reads ('' when unqualified);
    empty when the definition cannot be parsed (its view is then created in name order)."""
    match = _VIEW_SQL.match(sql)
    if not match:
        return set()
    try:
        tree = conn.execute("SELECT json_serialize_sql(?)", [match["query"]]).fetchone()[0]
    except duckdb.Error:
        return set()
    found: set[tuple[str, str]] = set()

    def walk(node: object) -> None:
        if isinstance(node, dict):
            if node.get("type") == "BASE_TABLE" and "table_name" in node:
                found.add((node.get("schema_name") or "", node["table_name"]))
            for value in node.values():
                walk(value)
        elif isinstance(node, list):
            for value in node:
                walk(value)

    walk(json.loads(tree))
    return found


def _in_dependency_order(
    conn: duckdb.DuckDBPyConnection, views: dict[tuple[str, str], str]
) -> list[tuple[str, str]]:
    """`views` ordered so that a view comes after the views it reads (by name otherwise).

    An unqualified reference counts for a view of that name in any schema: an extra edge
    only reorders, and a cycle (which real dependencies cannot form) falls back to names.
    """
    pending = sorted(views)
    needs = {
        key: {
            other
            for schema, name in _references(conn, views[key])
            for other in pending
            if other != key and other[1] == name and schema in ("", other[0])
        }
        for key in pending
    }
    ordered: list[tuple[str, str]] = []
    while pending:
        ready = [key for key in pending if not needs[key] - set(ordered)] or pending[:1]
        ordered.extend(ready)
        pending = [key for key in pending if key not in ready]
    return ordered


def _created_after(later: Iterable[Snapshot]) -> set[str]:
    """`schema.name` of every table created (or renamed to) in `later`, quotes removed."""
    return {
        name.replace('"', "") for snap in later for name in snap.changes.get("tables_created", ())
    }


@contextmanager
def _attached_at(
    conn: duckdb.DuckDBPyConnection, target: warehouse.Target, snapshot_id: int
) -> Iterator[str]:
    """The lake at `snapshot_id`, attached read-only as PAST for the block."""
    url = target.catalog_url()
    try:
        conn.execute(target.attach_sql(PAST, f"SNAPSHOT_VERSION {int(snapshot_id)}", "READ_ONLY"))
    except duckdb.Error as exc:
        raise RollbackError(
            f"could not read snapshot {snapshot_id} of {target.describe()}: "
            f"{warehouse.redact(str(exc), url)}"
        ) from None
    try:
        yield PAST
    finally:
        conn.execute(f"DETACH {PAST}")


@contextmanager
def _transaction(conn: duckdb.DuckDBPyConnection, catalog: str, message: str) -> Iterator[None]:
    """One transaction on the lake, committed with `message`, rolled back on any error."""
    try:
        with warehouse.transaction(conn):
            yield
            conn.execute("CALL ducklake_set_commit_message(?, ?, ?)", [catalog, AUTHOR, message])
    except duckdb.Error as exc:
        raise RollbackError(f"{message} failed, nothing was changed: {exc}") from exc
    finally:
        conn.execute(f"USE {_q(catalog)}")


def _create_in_schema(conn: duckdb.DuckDBPyConnection, catalog: str, schema: str, ddl: str) -> None:
    """Run DuckDB's own `CREATE ...` of an object (its name is unqualified in views')."""
    conn.execute(f"USE {_q(catalog)}.{_q(schema)}")
    conn.execute(ddl)
    conn.execute(f"USE {_q(catalog)}")


def _changed_rows(catalog: str, schema: str, table: str, first: int, last: int) -> str:
    """SQL for the row ids of `table` changed in snapshots first..last (inclusive)."""
    q = warehouse.quote_literal
    return (
        f"SELECT rowid FROM ducklake_table_changes('{q(catalog)}', '{q(schema)}', "
        f"'{q(table)}', {int(first)}, {int(last)})"
    )


def rollback(
    conn: duckdb.DuckDBPyConnection,
    target: warehouse.Target,
    snapshot_id: int,
    *,
    message: str | None = None,
) -> RollbackReport:
    """Restore every schema, table and view of the lake to snapshot `snapshot_id`.

    One transaction (a new snapshot, committed with `message`); on any error it is rolled
    back and RollbackError raised, the lake unchanged. The caller keeps other writers out
    (the CLI holds the whole warehouse pool): a writer committing meanwhile makes the
    commit fail on a conflict, or keeps rows it added to a table the rollback left alone.
    """
    catalog = _catalog(conn)
    restored_to = snapshot(conn, snapshot_id)
    before = current_snapshot(conn).id
    if snapshot_id > before:
        raise SnapshotError(f"snapshot {snapshot_id} is newer than the current one ({before})")
    if snapshot_id == before:
        return RollbackReport(snapshot_id, before, before)
    message = message or f"rollback to snapshot {snapshot_id}"
    with _attached_at(conn, target, snapshot_id) as past:
        then = _read_catalog(conn, past)
        with _transaction(conn, catalog, message):
            current = current_snapshot(conn).id  # what this transaction sees
            now = _read_catalog(conn, catalog)
            recreated_after = _created_after(snapshots(conn, after=snapshot_id))
            report = _restore(conn, catalog, past, then, now, recreated_after, snapshot_id, current)
    return replace(report, target=restored_to.id, after=current_snapshot(conn).id)


def _restore(
    conn: duckdb.DuckDBPyConnection,
    catalog: str,
    past: str,
    then: _Catalog,
    now: _Catalog,
    recreated_after: set[str],
    snapshot_id: int,
    current: int,
) -> RollbackReport:
    """The statements of a rollback, inside its transaction."""
    restore: list[tuple[str, str]] = []
    recreate: list[tuple[str, str]] = []
    for key, ddl in sorted(then.tables.items()):
        same = (
            now.tables.get(key) == ddl
            and _name(*key) not in recreated_after
            # `schema.name` is ambiguous in the change log for names with dots or quotes
            and not {".", '"'} & set(key[0] + key[1])
        )
        (restore if same else recreate).append(key)
    drop_tables = sorted(k for k in now.tables if k not in then.tables or k in recreate)
    drop_views = sorted(k for k, sql in now.views.items() if then.views.get(k) != sql)
    create_views = sorted(k for k, sql in then.views.items() if now.views.get(k) != sql)
    drop_schemas = sorted(now.schemas - then.schemas - BUILTIN_SCHEMAS)
    create_schemas = sorted(then.schemas - now.schemas)

    def qualified(key: tuple[str, str], database: str = catalog) -> str:
        return f"{_q(database)}.{_q(key[0])}.{_q(key[1])}"

    for key in drop_views:
        conn.execute(f"DROP VIEW {qualified(key)}")
    for key in drop_tables:
        if key in now.tables:
            conn.execute(f"DROP TABLE {qualified(key)}")
    for schema in drop_schemas:
        conn.execute(f"DROP SCHEMA {_q(catalog)}.{_q(schema)}")
    for schema in create_schemas:
        conn.execute(f"CREATE SCHEMA {_q(catalog)}.{_q(schema)}")
    for key in recreate:
        _create_in_schema(conn, catalog, key[0], then.tables[key])
        conn.execute(f"INSERT INTO {qualified(key)} SELECT * FROM {qualified(key, past)}")
    restored = []
    for key in restore:
        changed = _changed_rows(catalog, key[0], key[1], snapshot_id + 1, current)
        if not conn.execute(f"SELECT count(*) FROM ({changed})").fetchone()[0]:
            continue
        # Delete first: the rows inserted next get new row ids, outside `changed`.
        conn.execute(f"DELETE FROM {qualified(key)} WHERE rowid IN ({changed})")
        conn.execute(
            f"INSERT INTO {qualified(key)} SELECT * FROM {qualified(key, past)} "
            f"WHERE rowid IN ({changed})"
        )
        restored.append(key)
    for key in _in_dependency_order(conn, {k: then.views[k] for k in create_views}):
        _create_in_schema(conn, catalog, key[0], then.views[key])
    return RollbackReport(
        target=snapshot_id,
        before=current,
        after=current,
        tables_restored=tuple(_name(*k) for k in restored),
        tables_recreated=tuple(_name(*k) for k in recreate),
        tables_dropped=tuple(_name(*k) for k in drop_tables if k not in recreate),
        views_recreated=tuple(_name(*k) for k in create_views),
        views_dropped=tuple(_name(*k) for k in drop_views if k not in create_views),
        schemas_created=tuple(create_schemas),
        schemas_dropped=tuple(drop_schemas),
    )


def clear(conn: duckdb.DuckDBPyConnection, *, message: str = "reset") -> RollbackReport:
    """Drop every view, table and schema of the lake, in one transaction (a new snapshot).

    The snapshots before it keep everything: `rollback` to the one before undoes it.
    """
    catalog = _catalog(conn)
    before = current_snapshot(conn).id
    with _transaction(conn, catalog, message):
        now = _read_catalog(conn, catalog)
        for schema, name in sorted(now.views):
            conn.execute(f"DROP VIEW {_q(catalog)}.{_q(schema)}.{_q(name)}")
        for schema, name in sorted(now.tables):
            conn.execute(f"DROP TABLE {_q(catalog)}.{_q(schema)}.{_q(name)}")
        dropped = sorted(now.schemas - BUILTIN_SCHEMAS)
        for schema in dropped:
            conn.execute(f"DROP SCHEMA {_q(catalog)}.{_q(schema)}")
    return RollbackReport(
        target=0,
        before=before,
        after=current_snapshot(conn).id,
        tables_dropped=tuple(_name(*k) for k in sorted(now.tables)),
        views_dropped=tuple(_name(*k) for k in sorted(now.views)),
        schemas_dropped=tuple(dropped),
    )


def size(conn: duckdb.DuckDBPyConnection) -> tuple[int, int]:
    """(tables, bytes of their current Parquet files) of the lake."""
    tables, size_bytes = conn.execute(
        "SELECT count(*), coalesce(sum(file_size_bytes + delete_file_size_bytes), 0) "
        "FROM ducklake_table_info(?)",
        [_catalog(conn)],
    ).fetchone()
    return int(tables), int(size_bytes)
