"""Source databases for the CDC tests: a schema of the local PostgreSQL, or the session's
MariaDB database, with tables created by each test; and a warehouse to copy them into."""

from __future__ import annotations

import uuid
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path

import duckdb
import pymysql
import pytest

from project.lib.cdc.sync import TableSync, ensure_state, sync_table
from project.lib.datasets.sources import DatabaseSource
from project.lib.extensions import connection_config
from tests.conftest import PG_ADMIN_URL, pg_admin

# Column types per database for the tests' tables: a timestamp cursor and a number cursor.
TYPES = {
    "postgres": {"ts": "timestamptz", "text": "text", "int": "bigint", "num": "numeric(12,2)"},
    "mysql": {"ts": "datetime(6)", "text": "varchar(200)", "int": "bigint", "num": "decimal(12,2)"},
}


@dataclass
class SourceDB:
    """A database the tests write to, and the catalog entry that reads it."""

    kind: str
    url: str
    schema: str
    execute: Callable[[str], None]

    def t(self, name: str) -> str:
        return f"{self.schema}.{name}"

    def source(self, tables: dict, name: str = "src.db", **fields) -> DatabaseSource:
        entry = {
            "type": "sql.DatabaseSource",
            "credentials": "db",
            "schema": self.schema,
            "tables": tables,
            **fields,
        }
        source = DatabaseSource.model_validate(entry)
        return source.bind(name, lambda: {"con": self.url})


@pytest.fixture
def postgres_source() -> Iterator[SourceDB]:
    admin = pg_admin()
    schema = f"cdc_{uuid.uuid4().hex[:8]}"

    def execute(sql: str) -> None:
        with admin.cursor() as cur:
            cur.execute(sql)

    execute(f"CREATE SCHEMA {schema}")
    try:
        yield SourceDB("postgres", PG_ADMIN_URL, schema, execute)
    finally:
        execute(f"DROP SCHEMA {schema} CASCADE")
        admin.close()


@pytest.fixture
def mysql_source(mysql_database: dict) -> Iterator[SourceDB]:
    conn = pymysql.connect(**mysql_database, autocommit=True)

    def execute(sql: str) -> None:
        with conn.cursor() as cur:
            for statement in (s for s in sql.split(";") if s.strip()):
                cur.execute(statement)

    database = mysql_database["database"]
    url = f"mysql://root@{mysql_database['host']}:3306/{database}"
    try:
        yield SourceDB("mysql", url, database, execute)
    finally:
        conn.close()


@pytest.fixture(params=["postgres", "mysql"])
def source_db(request: pytest.FixtureRequest) -> SourceDB:
    marker = "postgres_source" if request.param == "postgres" else "mysql_source"
    return request.getfixturevalue(marker)


@pytest.fixture
def warehouse_file(tmp_path: Path) -> Path:
    return tmp_path / "warehouse.duckdb"


def run_sync(path: Path, source: DatabaseSource, table: str, **kwargs) -> TableSync:
    """One table's sync as the asset runs it: a warehouse connection, the source attached."""
    conn = duckdb.connect(str(path), config=connection_config())
    try:
        conn.execute("SET TimeZone = 'UTC'")
        ensure_state(conn)
        source.attach(conn)
        return sync_table(conn, source, table, **kwargs)
    finally:
        conn.close()


def differences(path: Path, source: DatabaseSource, table: str) -> int:
    """Rows in the source and not in the copy, plus the reverse (current versions for SCD2),
    compared on every source column: 0 when the copy is exact."""
    conn = duckdb.connect(str(path), config=connection_config(), read_only=True)
    try:
        conn.execute("SET TimeZone = 'UTC'")
        source.attach(conn)
        columns = ", ".join(
            f'"{c}"'
            for (c,) in conn.execute(
                "SELECT column_name FROM duckdb_columns() WHERE database_name = 'src' "
                "AND schema_name = ? AND table_name = ? ORDER BY column_index",
                [source.schema_name, table],
            ).fetchall()
        )
        target = f'"{source.warehouse_schema}"."{table}"'
        mode = source.tables[table].mode
        current = " WHERE _is_current" if mode == "scd2" else ""
        src = f'src."{source.schema_name}"."{table}"'
        copy = f"SELECT {columns} FROM {target}{current}"
        original = f"SELECT {columns} FROM {src}"
        return conn.execute(
            f"""SELECT count(*) FROM (({original} EXCEPT ALL {copy})
                                      UNION ALL ({copy} EXCEPT ALL {original}))"""
        ).fetchone()[0]
    finally:
        conn.close()
