"""Database tables: DuckDB files, DuckLake, PostgreSQL and MySQL/MariaDB, all through DuckDB.

DuckDB attaches PostgreSQL and MySQL with its scanners (2 million PostgreSQL rows in 1.36 s
on this machine), so every database dataset reads and writes the same way: reads stream
record batches sized to the rows' width; writes stream the incoming batches into the table
inside one transaction, so a load that fails midway leaves the table as it was. A stream is
written a chunk (~64 MB) at a time: DuckDB drains a registered stream ahead of the writer,
so registering a whole one would hold up to a gigabyte. `bench/datasets.py` measures a
PostgreSQL table copied to partitioned Parquet against pandas' `read_sql` + `to_parquet`.

Credentials are a DuckDB secret, never part of an ATTACH string (DuckDB shows those in
`duckdb_databases()` and quotes them in errors), and every error is redacted before it is
raised. MySQL commits DDL implicitly, so a whole-table replace there is written to a new
table and swapped in with one atomic `RENAME TABLE`. MySQL has no time zone in DATETIME:
aware timestamps are stored in UTC with the column comment `utc`, and load back as UTC.
"""

from __future__ import annotations

import uuid
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from pathlib import Path
from typing import Any, ClassVar, Literal
from urllib.parse import unquote, urlsplit

import duckdb
import pyarrow as pa
from pydantic import Field, PrivateAttr

from project.lib.datasets.base import Dataset, DatasetError, register
from project.lib.datasets.files import _chunks, _closing, _first_or_empty, _ident, batch_rows
from project.lib.datasets.frames import Data, to_reader
from project.lib.extensions import connection_config
from project.lib.warehouse import quote_literal, transaction

ALIAS = "db"
# A read batch of about 16 MB: DuckDB materializes each one before handing it over, so
# 64 MB batches cost ~150 MB more peak memory on a copy, for no speed (bench/datasets.py).
BATCH_BYTES = 16 << 20


def _secret_values(kind: str, url: str) -> dict[str, str]:
    parts = urlsplit(url)
    values = {
        "HOST": parts.hostname or "127.0.0.1",
        "PORT": str(parts.port or (5432 if kind == "postgres" else 3306)),
        "USER": unquote(parts.username or ""),
        "PASSWORD": unquote(parts.password or ""),
        "DATABASE": parts.path.lstrip("/"),
    }
    return {key: value for key, value in values.items() if value}


def kind_of(url: str) -> str:
    scheme = urlsplit(url).scheme.split("+")[0]
    if scheme in ("postgresql", "postgres"):
        return "postgres"
    if scheme in ("mysql", "mariadb"):
        return "mysql"
    raise ValueError(f"unsupported database URL scheme {scheme!r} (postgresql:// or mysql://)")


def connection_url(dataset: Dataset, kind: str = "dataset") -> str:
    """The `con` (or `url`) of the dataset's credentials, resolved now."""
    values = dataset.credential_values()
    url = values.get("con") or values.get("url")
    if not url:
        raise DatasetError(f"{kind} {dataset.name!r}: its credentials need a `con` URL")
    return str(url)


def url_secrets(url: str) -> list[str]:
    """Strings that must never be shown: the URL and its password (as written, decoded)."""
    password = urlsplit(url).password or ""
    return [url, password, unquote(password)]


def attach_url(
    conn: duckdb.DuckDBPyConnection, url: str, alias: str, *, read_only: bool = False
) -> None:
    """Attach a PostgreSQL or MySQL database as `alias`, its credentials as a DuckDB secret
    (never in the ATTACH string, which `duckdb_databases()` shows)."""
    kind = kind_of(url)
    options = ", ".join(
        f"{key} '{quote_literal(value)}'" for key, value in _secret_values(kind, url).items()
    )
    conn.execute(f"CREATE OR REPLACE TEMPORARY SECRET {alias}_secret (TYPE {kind}, {options})")
    mode = ", READ_ONLY" if read_only else ""
    conn.execute(f"ATTACH '' AS {alias} (TYPE {kind}, SECRET {alias}_secret{mode})")


def scrub(text: str, secrets: Sequence[str]) -> str:
    for secret in secrets:
        if secret:
            text = text.replace(secret, "***")
    return text


class TableDataset(Dataset):
    """A table in a database DuckDB attaches; subclasses say which and how."""

    partitioned = True
    engine: ClassVar[str] = "duckdb"

    table_name: str
    db_schema: str | None = Field(default=None, alias="schema")
    credentials: str | None = None
    # Ours: the column holding the asset's partition key; a save of a partition replaces
    # the rows with that key. A partitioned asset needs it; an unpartitioned save replaces
    # the table (keeping the column as the data has it).
    partition_by: str | None = None
    # Ours: `replace` (default) the table on each unpartitioned save, or `append` to it.
    mode: Literal["replace", "append"] = "replace"
    load_args: dict[str, Any] = Field(default_factory=dict)
    save_args: dict[str, Any] = Field(default_factory=dict)

    default_schema: ClassVar[str] = "main"
    # The incoming stream after its first chunk, while a save runs (see `fill`).
    _rest: Iterator[pa.Table] = PrivateAttr(default_factory=lambda: iter(()))

    # Connection.
    def url(self) -> str:
        return connection_url(self)

    def secrets(self) -> list[str]:
        """Strings that must never be shown: the URL and its password."""
        try:
            return url_secrets(self.url())
        except DatasetError:
            return []

    @contextmanager
    def attached(self) -> Iterator[duckdb.DuckDBPyConnection]:
        """A DuckDB connection with the database attached as `db`; a failure to attach is
        raised as DatasetError naming the dataset (redacted), the body's errors as they are."""
        conn = duckdb.connect(config=connection_config() | {"memory_limit": "1GB"})
        try:
            try:
                conn.execute("SET TimeZone = 'UTC'")
                self.attach(conn)
            except duckdb.Error as exc:
                raise DatasetError(
                    f"dataset {self.name!r}: cannot connect to {self.location()}: "
                    f"{scrub(str(exc), self.secrets())}"
                ) from None
            yield conn
        finally:
            conn.close()

    def attach(self, conn: duckdb.DuckDBPyConnection) -> None:
        attach_url(conn, self.url(), ALIAS)

    @property
    def schema_name(self) -> str:
        return self.db_schema or self.load_args.get("schema") or self.default_schema

    def qualified(self, table: str | None = None) -> str:
        return f"{ALIAS}.{_ident(self.schema_name)}.{_ident(table or self.table_name)}"

    def location(self) -> str:
        return f"{self.engine} table {self.schema_name}.{self.table_name}"

    def fail(self, action: str, exc: BaseException) -> DatasetError:
        return DatasetError(
            f"dataset {self.name!r}: cannot {action} {self.location()}: "
            f"{scrub(str(exc), self.secrets())}"
        )

    def _check_partitioned(self, partitions: Sequence[str] | None) -> None:
        if partitions and not self.partition_by:
            raise DatasetError(
                f"dataset {self.name!r}: partition {', '.join(partitions)} asked of a table "
                "with no `partition_by` column; set `partition_by` in its catalog entry"
            )

    # Reading.
    def _table_exists(self, conn: duckdb.DuckDBPyConnection, table: str | None = None) -> bool:
        found = conn.execute(
            "SELECT count(*) FROM information_schema.tables WHERE table_catalog = ? "
            "AND table_schema = ? AND table_name = ?",
            [ALIAS, self.schema_name, table or self.table_name],
        ).fetchone()
        return bool(found and found[0])

    def exists(self, partition: str | None = None) -> bool:
        with self._scan_errors(), self.attached() as conn:
            if not self._table_exists(conn):
                return False
            if partition is None or not self.partition_by:
                return True
            found = conn.execute(
                f"SELECT count(*) FROM {self.qualified()} WHERE "
                f"CAST({_ident(self.partition_by)} AS VARCHAR) = ?",
                [partition],
            ).fetchone()
            return bool(found and found[0])

    def select_list(self, conn: duckdb.DuckDBPyConnection) -> str:
        return "*"

    def scan(self, partitions: Sequence[str] | None = None) -> pa.RecordBatchReader:
        self._check_partitioned(partitions)
        conn = duckdb.connect(config=connection_config() | {"memory_limit": "1GB"})
        try:
            with self._scan_errors():
                return _closing(self._reader(conn, partitions), conn, self)
        except BaseException:
            conn.close()
            raise

    def _reader(
        self, conn: duckdb.DuckDBPyConnection, partitions: Sequence[str] | None
    ) -> pa.RecordBatchReader:
        conn.execute("SET TimeZone = 'UTC'")
        self.attach(conn)
        if not self._table_exists(conn):
            raise DatasetError(f"dataset {self.name!r}: {self.location()} does not exist")
        where, params = "", []
        if partitions:
            marks = ", ".join("?" for _ in partitions)
            where = f" WHERE CAST({_ident(self.partition_by or '')} AS VARCHAR) IN ({marks})"
            params = list(partitions)
        query = f"SELECT {self.select_list(conn)} FROM {self.qualified()}{where}"
        sample = conn.execute(f"{query} LIMIT 1000", params).to_arrow_table()
        width = sample.nbytes // max(sample.num_rows, 1)
        rows = batch_rows(sample.column_names, BATCH_BYTES, width)
        return conn.execute(query, params).to_arrow_reader(rows)

    @contextmanager
    def _scan_errors(self) -> Iterator[None]:
        try:
            yield
        except DatasetError:
            raise
        except duckdb.Error as exc:
            raise self.fail("read", exc) from None

    # Writing.
    def save(self, data: Data, partition: str | None = None) -> dict[str, Any]:
        reader = to_reader(data, dataset=self.name)
        self._check_partitioned([partition] if partition is not None else None)
        chunks = _first_or_empty(_chunks(reader), reader.schema)
        try:
            with self.attached() as conn:
                conn.register("incoming", next(chunks))
                self._rest = chunks
                select = self.incoming_select(conn, partition)
                rows = self.write(conn, select, partition)
        except DatasetError:
            raise
        except Exception as exc:  # the database's error, or the incoming stream's
            raise DatasetError(
                f"dataset {self.name!r}: cannot write {self.location()} (nothing was "
                f"changed): {scrub(str(exc), self.secrets())}"
            ) from None
        schema = reader.schema  # the stream's, known before any batch is read
        if partition is not None and self.partition_by:  # the key replaces that column
            fields = [f for f in schema if f.name != self.partition_by]
            schema = pa.schema([*fields, pa.field(self.partition_by, pa.string())])
        return {
            "rows": rows,
            "table": f"{self.schema_name}.{self.table_name}",
            "schema": schema,
        }

    def incoming_select(self, conn: duckdb.DuckDBPyConnection, partition: str | None) -> str:
        """The incoming columns; with a partition key, its column is the key (a column of
        that name in the data is replaced), without one the data's own column is kept."""
        keyed = partition is not None and self.partition_by
        described = conn.execute("DESCRIBE incoming").fetchall()
        columns = [c for c, *_ in described if not keyed or c != self.partition_by]
        listed = [_ident(c) for c in columns]
        if partition is not None and self.partition_by:
            listed.append(f"'{quote_literal(partition)}' AS {_ident(self.partition_by)}")
        return f"SELECT {', '.join(listed)} FROM incoming"

    def write(self, conn: duckdb.DuckDBPyConnection, select: str, partition: str | None) -> int:
        """Replace the table, or the partition's rows, in one transaction."""
        if partition is None and self.mode == "append":
            return _append(self, conn, select)
        with transaction(conn):
            conn.execute(f"CREATE SCHEMA IF NOT EXISTS {ALIAS}.{_ident(self.schema_name)}")
            if partition is None:
                conn.execute(f"DROP TABLE IF EXISTS {self.qualified()}")
                conn.execute(f"CREATE TABLE {self.qualified()} AS {select}")
            else:
                conn.execute(f"CREATE TABLE IF NOT EXISTS {self.qualified()} AS {select} LIMIT 0")
                conn.execute(
                    f"DELETE FROM {self.qualified()} WHERE "
                    f"CAST({_ident(self.partition_by or '')} AS VARCHAR) = ?",
                    [partition],
                )
                conn.execute(f"INSERT INTO {self.qualified()} BY NAME {select}")
            self.fill(conn, self.qualified(), select)
            return self.count(conn, partition)

    def fill(self, conn: duckdb.DuckDBPyConnection, table: str, select: str) -> None:
        """Insert the rest of the incoming stream, a chunk at a time, after the first chunk
        went in with the statement that created or cleared `table` (same transaction)."""
        for chunk in self._rest:
            conn.unregister("incoming")
            conn.register("incoming", chunk)
            conn.execute(f"INSERT INTO {table} BY NAME {select}")

    def count(self, conn: duckdb.DuckDBPyConnection, partition: str | None) -> int:
        if partition is None:
            found = conn.execute(f"SELECT count(*) FROM {self.qualified()}").fetchone()
        else:
            found = conn.execute(
                f"SELECT count(*) FROM {self.qualified()} WHERE "
                f"CAST({_ident(self.partition_by or '')} AS VARCHAR) = ?",
                [partition],
            ).fetchone()
        return int(found[0]) if found else 0


@register("duckdb.TableDataset")
class DuckDBTableDataset(TableDataset):
    """A table in a DuckDB file (`database`), or in a DuckLake (`credentials` with a
    `catalog` URL and a `data_path`)."""

    engine: ClassVar[str] = "duckdb"
    database: Path | None = None

    def secrets(self) -> list[str]:
        if not self.credentials:
            return []
        values = self.credential_values()
        catalog = str(values.get("catalog", ""))
        password = urlsplit(catalog).password if "://" in catalog else None
        return [catalog, password or "", unquote(password or "")]

    def attach(self, conn: duckdb.DuckDBPyConnection) -> None:
        if self.credentials:
            values = self.credential_values()
            catalog, data_path = values.get("catalog"), values.get("data_path")
            if not catalog or not data_path:
                raise DatasetError(
                    f"dataset {self.name!r}: a DuckLake table's credentials need `catalog` "
                    "(postgresql:// URL) and `data_path`"
                )
            options = ", ".join(
                f"{key} '{quote_literal(value)}'"
                for key, value in _secret_values("postgres", str(catalog)).items()
            )
            conn.execute(f"CREATE TEMPORARY SECRET lake_catalog (TYPE postgres, {options})")
            Path(str(data_path)).mkdir(parents=True, exist_ok=True)
            conn.execute(
                f"ATTACH 'ducklake:postgres:' AS {ALIAS} (DATA_PATH "
                f"'{quote_literal(str(data_path))}/', META_SECRET lake_catalog)"
            )
            return
        if self.database is None:
            raise DatasetError(f"dataset {self.name!r}: needs `database` (a .duckdb file)")
        self.database.parent.mkdir(parents=True, exist_ok=True)
        conn.execute(f"ATTACH '{quote_literal(str(self.database))}' AS {ALIAS}")

    def location(self) -> str:
        where = "ducklake" if self.credentials else str(self.database)
        return f"duckdb table {self.schema_name}.{self.table_name} in {where}"


@register("postgres.TableDataset")
class PostgresTableDataset(TableDataset):
    engine: ClassVar[str] = "postgres"
    default_schema: ClassVar[str] = "public"


@register("pandas.SQLTableDataset")
class SQLTableDataset(Dataset):
    """Kedro's SQL table (`table_name`, `credentials: {con: URL}`): a PostgreSQL or MySQL
    table by the URL's scheme. `save_args.if_exists: append` appends instead of replacing."""

    partitioned = True

    table_name: str
    credentials: str
    load_args: dict[str, Any] = Field(default_factory=dict)
    save_args: dict[str, Any] = Field(default_factory=dict)

    def concrete(self) -> TableDataset:
        """The PostgreSQL or MySQL table this entry names."""
        values = self.credential_values()
        kind = kind_of(str(values.get("con") or values.get("url") or ""))
        cls = MySQLTableDataset if kind == "mysql" else PostgresTableDataset
        if_exists = self.save_args.get("if_exists", "replace")
        if if_exists not in ("append", "replace", "fail"):
            raise DatasetError(
                f"dataset {self.name!r}: save_args.if_exists must be fail, replace or append"
            )
        mode = "append" if if_exists == "append" else "replace"
        schema = self.load_args.get("schema") or self.save_args.get("schema")
        table = cls.model_validate(
            {
                "type": cls.type_names[0],
                "table_name": self.table_name,
                "schema": schema,
                "credentials": self.credentials,
                "mode": mode,
            }
        )
        return table.bind(self.name, self._credentials)  # type: ignore[return-value]

    def location(self) -> str:
        return f"sql table {self.table_name}"

    def scan(self, partitions: Sequence[str] | None = None) -> pa.RecordBatchReader:
        return self.concrete().scan(partitions)

    def save(self, data: Data, partition: str | None = None) -> dict[str, Any]:
        table = self.concrete()
        if self.save_args.get("if_exists") == "fail" and table.exists():
            raise DatasetError(
                f"dataset {self.name!r}: {table.location()} exists and save_args.if_exists is "
                "fail (pandas' default); set replace or append"
            )
        return table.save(data, partition)

    def exists(self, partition: str | None = None) -> bool:
        return self.concrete().exists(partition)


def _append(dataset: TableDataset, conn: duckdb.DuckDBPyConnection, select: str) -> int:
    with transaction(conn):
        if dataset._table_exists(conn):
            conn.execute(f"INSERT INTO {dataset.qualified()} BY NAME {select}")
        else:
            conn.execute(f"CREATE TABLE {dataset.qualified()} AS {select}")
        dataset.fill(conn, dataset.qualified(), select)
        return dataset.count(conn, None)


def _tick(name: str) -> str:
    return "`" + name.replace("`", "``") + "`"


def _mysql_string(text: str) -> str:
    """A MySQL string literal (MySQL also treats backslashes as escapes)."""
    return "'" + text.replace("\\", "\\\\").replace("'", "''") + "'"


_INTEGERS = {8: "TINYINT", 16: "SMALLINT", 32: "INT", 64: "BIGINT"}


def _mysql_integer(kind: pa.DataType) -> str:
    return _INTEGERS[kind.bit_width] + ("" if pa.types.is_signed_integer(kind) else " UNSIGNED")


_MYSQL_TYPES = [
    (pa.types.is_boolean, lambda t: "BOOLEAN"),
    (pa.types.is_integer, _mysql_integer),
    (pa.types.is_float32, lambda t: "FLOAT"),
    (pa.types.is_floating, lambda t: "DOUBLE"),
    (pa.types.is_decimal, lambda t: f"DECIMAL({t.precision},{t.scale})"),
    (pa.types.is_date, lambda t: "DATE"),
    (pa.types.is_timestamp, lambda t: "DATETIME(6)" + (" COMMENT 'utc'" if t.tz else "")),
    (pa.types.is_binary, lambda t: "LONGBLOB"),
]


def _mysql_type(kind: pa.DataType) -> str:
    for test, name in _MYSQL_TYPES:
        if test(kind):
            return name(kind)
    return "LONGTEXT"


@register("mysql.TableDataset")
class MySQLTableDataset(TableDataset):
    """A MySQL/MariaDB table; `schema` is the MySQL database (default: the URL's)."""

    engine: ClassVar[str] = "mysql"

    @property
    def schema_name(self) -> str:
        return self.db_schema or urlsplit(self.url()).path.lstrip("/")

    def location(self) -> str:
        """Without resolving credentials (a listing must not need them)."""
        where = f"{self.db_schema}." if self.db_schema else ""
        return f"mysql table {where}{self.table_name}"

    def _table(self, table: str | None = None) -> str:
        """`schema`.`table` for MySQL's own statements."""
        return f"{_tick(self.schema_name)}.{_tick(table or self.table_name)}"

    def _mysql(self, conn: duckdb.DuckDBPyConnection, sql: str) -> None:
        conn.execute(f"CALL mysql_execute('{ALIAS}', '{quote_literal(sql)}')")

    def _utc_columns(self, conn: duckdb.DuckDBPyConnection) -> set[str]:
        query = (
            "SELECT column_name, column_comment FROM information_schema.columns "
            f"WHERE table_schema = {_mysql_string(self.schema_name)} "
            f"AND table_name = {_mysql_string(self.table_name)}"
        )
        rows = conn.execute(
            f"SELECT * FROM mysql_query('{ALIAS}', '{quote_literal(query)}')"
        ).fetchall()
        return {str(name) for name, comment in rows if comment == "utc"}

    def select_list(self, conn: duckdb.DuckDBPyConnection) -> str:
        utc = self._utc_columns(conn)
        columns = [r[0] for r in conn.execute(f"DESCRIBE {self.qualified()}").fetchall()]
        return ", ".join(
            f"timezone('UTC', {_ident(c)}) AS {_ident(c)}" if c in utc else _ident(c)
            for c in columns
        )

    def incoming_select(self, conn: duckdb.DuckDBPyConnection, partition: str | None) -> str:
        described = conn.execute("DESCRIBE incoming").fetchall()
        listed = [
            f"timezone('UTC', {_ident(c)}) AS {_ident(c)}"
            if kind == "TIMESTAMP WITH TIME ZONE"
            else _ident(c)
            for c, kind, *_ in described
            if partition is None or c != self.partition_by
        ]
        if partition is not None and self.partition_by:
            listed.append(f"'{quote_literal(partition)}' AS {_ident(self.partition_by)}")
        return f"SELECT {', '.join(listed)} FROM incoming"

    def _ddl(self, conn: duckdb.DuckDBPyConnection, table: str, partition: str | None) -> str:
        schema = conn.execute("SELECT * FROM incoming LIMIT 0").to_arrow_table().schema
        keyed = partition is not None and self.partition_by
        columns = [
            f"{_tick(f.name)} {_mysql_type(f.type)}"
            for f in schema
            if not keyed or f.name != self.partition_by
        ]
        if keyed:
            columns.append(f"{_tick(self.partition_by or '')} VARCHAR(255)")
        return f"CREATE TABLE IF NOT EXISTS {self._table(table)} ({', '.join(columns)})"

    def write(self, conn: duckdb.DuckDBPyConnection, select: str, partition: str | None) -> int:
        if partition is None and self.mode == "append":
            self._mysql(conn, self._ddl(conn, self.table_name, None))
            conn.execute("CALL mysql_clear_cache()")
            return _append(self, conn, select)
        if partition is not None:
            self._mysql(conn, self._ddl(conn, self.table_name, partition))
            conn.execute("CALL mysql_clear_cache()")
            with transaction(conn):
                conn.execute(
                    f"DELETE FROM {self.qualified()} WHERE {_ident(self.partition_by or '')} = ?",
                    [partition],
                )
                conn.execute(f"INSERT INTO {self.qualified()} BY NAME {select}")
                self.fill(conn, self.qualified(), select)
            return self.count(conn, partition)
        # DDL commits implicitly in MySQL: fill a new table, then swap it in atomically.
        fresh = f"{self.table_name}__new_{uuid.uuid4().hex[:8]}"
        old = f"{self.table_name}__old_{uuid.uuid4().hex[:8]}"
        self._mysql(conn, self._ddl(conn, fresh, None))
        try:
            conn.execute(f"INSERT INTO {self.qualified(fresh)} BY NAME {select}")
            self.fill(conn, self.qualified(fresh), select)
            if self._table_exists(conn):
                new, aside = self._table(fresh), self._table(old)
                self._mysql(
                    conn, f"RENAME TABLE {self._table()} TO {aside}, {new} TO {self._table()}"
                )
                self._mysql(conn, f"DROP TABLE {aside}")
            else:
                self._mysql(conn, f"RENAME TABLE {self._table(fresh)} TO {self._table()}")
        except BaseException:
            self._mysql(conn, f"DROP TABLE IF EXISTS {self._table(fresh)}")
            raise
        conn.execute("CALL mysql_clear_cache()")
        return self.count(conn, None)
