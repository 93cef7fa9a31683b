"""Operators' ad-hoc SQL on the warehouse, guaranteed not to change anything.

Three independent locks, because each alone has gaps:

1. the statement must parse as a single read (SELECT, or EXPLAIN of one): DROP, INSERT,
   ATTACH, COPY, INSTALL, SET, PRAGMA, CALL (CHECKPOINT parses as one) ... are refused
   before anything runs, and so is a read calling a function that reaches a database
   over the network (`postgres_*`, `mysql_*`, `sqlite_*`: file settings do not stop
   them, and a lake's catalog loads the PostgreSQL one) or maintains a DuckLake
   (`ducklake_expire_snapshots`, ...: only the lake's read functions are allowed);
2. the warehouse is opened `read_only` (a DuckDB file, or a DuckLake attached
   READ_ONLY), so a write that slipped through still fails;
3. file-system access is switched off (`enable_external_access = false`) and the
   configuration locked, so neither `COPY ... TO` nor `read_csv('/etc/...')`, `ATTACH` or
   an extension download can reach outside the warehouse. The side stores that
   capabilities register (`project.lib.stores`) stay readable (`allowed_directories`):
   PNCP's `raw.payload_json`, for one, is a view over its payload store's zstd files;
   so does a lake's data path, where its tables' Parquet files are.
"""

from __future__ import annotations

import json
import re
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import duckdb

from project.lib import stores, warehouse

READ_TYPES = frozenset({duckdb.StatementType.SELECT})
_EXPLAIN = re.compile(r"^\s*EXPLAIN\s+(ANALYZE\s+)?", re.IGNORECASE)
_PRAGMA = re.compile(r"^\s*PRAGMA\b", re.IGNORECASE)
# Functions a read may not call: they reach other databases, or change a DuckLake.
_REMOTE = ("postgres_", "mysql_", "sqlite_")
_LAKE_READS = frozenset(
    {
        "ducklake_snapshots",
        "ducklake_current_snapshot",
        "ducklake_last_committed_snapshot",
        "ducklake_table_info",
        "ducklake_list_files",
        "ducklake_table_changes",
        "ducklake_table_insertions",
        "ducklake_table_deletions",
        "ducklake_options",
        "ducklake_settings",
    }
)


class UnsafeQueryError(ValueError):
    """The SQL is not one read-only statement; nothing was executed."""


def read_only_statement(sql: str) -> str:
    """The single read-only statement in `sql`, or UnsafeQueryError naming what is not.

    Raises duckdb.ParserException for SQL that does not parse.
    """
    statements = duckdb.extract_statements(sql)
    if not statements:
        raise UnsafeQueryError("no SQL statement given")
    if len(statements) > 1:
        raise UnsafeQueryError(f"{len(statements)} statements given; run one at a time")
    statement = statements[0]
    if _PRAGMA.match(sql):
        # DuckDB 1.5 parses table-function PRAGMAs (table_info, database_size) as SELECTs;
        # they are refused like every PRAGMA, whatever the parser makes of them.
        raise UnsafeQueryError("PRAGMA statements are not allowed (read-only)")
    if statement.type in READ_TYPES:
        _refuse_functions(statement.query)
        return statement.query
    if statement.type == duckdb.StatementType.EXPLAIN:
        inner = duckdb.extract_statements(_EXPLAIN.sub("", statement.query, count=1))
        if len(inner) == 1 and inner[0].type in READ_TYPES:
            _refuse_functions(inner[0].query)
            return statement.query
        kind = inner[0].type.name if inner else "?"
        raise UnsafeQueryError(f"EXPLAIN of a {kind} statement is not read-only")
    raise UnsafeQueryError(f"{statement.type.name} statements are not allowed (read-only)")


def _function_names(node: object) -> Iterator[str]:
    if isinstance(node, dict):
        if node.get("class") == "FUNCTION" and isinstance(node.get("function_name"), str):
            yield node["function_name"].lower()
        for value in node.values():
            yield from _function_names(value)
    elif isinstance(node, list):
        for value in node:
            yield from _function_names(value)


def _refuse_functions(select: str) -> None:
    """UnsafeQueryError if the read calls a function that reaches out or changes a lake."""
    with duckdb.connect() as parser:
        tree = json.loads(parser.execute("SELECT json_serialize_sql(?)", [select]).fetchone()[0])
    if tree.get("error"):
        raise UnsafeQueryError(f"the query cannot be checked: {tree.get('error_message')}")
    for name in _function_names(tree):
        if name.startswith(_REMOTE) or (name.startswith("ducklake_") and name not in _LAKE_READS):
            raise UnsafeQueryError(
                f"{name}() is not allowed (read-only, nothing but the warehouse)"
            )


def readable_directories(target: warehouse.Target) -> list[Path]:
    """What the sandbox may read besides the warehouse: its side stores, and a lake's data."""
    directories = list(stores.store_paths(target.anchor).values())
    return [target.path.resolve(), *directories] if target.is_lake else directories


@contextmanager
def sandboxed_reader(
    where: warehouse.Target | Path | str,
    *,
    wait_s: float,
    memory_limit: str = "1GB",
) -> Iterator[duckdb.DuckDBPyConnection]:
    """A read-only connection that can read the warehouse and its side stores, nothing else."""
    target = warehouse.as_target(where)
    config = {
        "memory_limit": memory_limit,
        "autoinstall_known_extensions": "false",
        "autoload_known_extensions": "false",
    }
    # Private: the settings locked below are its DuckDB's, which no other connection shares.
    with warehouse.connection(
        target, read_only=True, wait_s=wait_s, config=config, private=True
    ) as conn:
        readable = [f"{directory}/" for directory in readable_directories(target)]
        # allowed_directories can only be set once the database runs; external access is
        # switched off after it, and then nothing may change the configuration again.
        conn.execute("SET allowed_directories = ?", [readable])
        conn.execute("SET enable_external_access = false")
        conn.execute("SET lock_configuration = true")
        yield conn
