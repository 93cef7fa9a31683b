"""Operators' ad-hoc SQL on the warehouse, guaranteed not to change anything.

Three independent locks, because each alone has gaps:

1. the statement must parse as a single read (SELECT, or EXPLAIN of one): DROP, INSERT,
   ATTACH, COPY, INSTALL, SET, PRAGMA, CALL (CHECKPOINT parses as one) ... are refused
   before anything runs;
2. the database is opened `read_only`, so a write that slipped through still fails;
3. file-system access is switched off (`enable_external_access = false`) and the
   configuration locked, so neither `COPY ... TO` nor `read_csv('/etc/...')`, `ATTACH` or
   an extension download can reach outside the warehouse. The side stores that
   capabilities register (`project.lib.stores`) stay readable (`allowed_directories`):
   PNCP's `raw.payload_json`, for one, is a view over its payload store's zstd files.
"""

from __future__ import annotations

import re
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import duckdb

from project.lib import stores, warehouse

READ_TYPES = frozenset({duckdb.StatementType.SELECT})
_EXPLAIN = re.compile(r"^\s*EXPLAIN\s+(ANALYZE\s+)?", re.IGNORECASE)
_PRAGMA = re.compile(r"^\s*PRAGMA\b", re.IGNORECASE)


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
        return statement.query
    if statement.type == duckdb.StatementType.EXPLAIN:
        inner = duckdb.extract_statements(_EXPLAIN.sub("", statement.query, count=1))
        if len(inner) == 1 and inner[0].type in READ_TYPES:
            return statement.query
        kind = inner[0].type.name if inner else "?"
        raise UnsafeQueryError(f"EXPLAIN of a {kind} statement is not read-only")
    raise UnsafeQueryError(f"{statement.type.name} statements are not allowed (read-only)")


@contextmanager
def sandboxed_reader(
    path: Path,
    *,
    wait_s: float,
    memory_limit: str = "1GB",
) -> Iterator[duckdb.DuckDBPyConnection]:
    """A read-only connection that can read the warehouse and its side stores, nothing else."""
    config = {
        "memory_limit": memory_limit,
        "autoinstall_known_extensions": "false",
        "autoload_known_extensions": "false",
    }
    with warehouse.connection(path, read_only=True, wait_s=wait_s, config=config) as conn:
        readable = [f"{directory}/" for directory in stores.store_paths(path).values()]
        # allowed_directories can only be set once the database runs; external access is
        # switched off after it, and then nothing may change the configuration again.
        conn.execute("SET allowed_directories = ?", [readable])
        conn.execute("SET enable_external_access = false")
        conn.execute("SET lock_configuration = true")
        yield conn
