"""The DuckDB warehouse shared by every pipeline: its two backends, schemas, safe connections.

Two backends behind one `Target`:

- `file`: one DuckDB file (the laptop default). DuckDB allows one writing process at a
  time and a reader cannot open the file while a writer holds it: writers are serialized
  by the warehouse pool (limit 1), and this module adds a bounded wait when the file is
  locked by a process outside Dagster (an operator's shell, the CLI).
- `ducklake`: a DuckLake, its catalog in PostgreSQL and its data in Parquet files under
  a data path. Every connection is an in-memory DuckDB with the lake attached as
  `warehouse` and in use, so the same unqualified SQL (`raw.api_requests`,
  `marts.contratos_mes`) runs on both. Writers commit concurrently (snapshot isolation),
  so the pool admits several. The catalog URL is a secret: it is read from the
  environment when a connection opens and never kept in resource config or messages.

Capabilities keep their side stores (`project.lib.stores`) beside `Target.anchor`.
"""

from __future__ import annotations

import contextlib
import os
import random
import re
import threading
import time
from collections.abc import Callable, Iterator
from contextlib import AbstractContextManager, contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Literal, TypeVar
from urllib.parse import urlsplit

import duckdb

from project.lib import extensions
from project.settings import CATALOG_ENV as CATALOG_ENV_NAME
from project.settings import Settings, libpq_conninfo

# A source of write sessions: each call gives a connection for one short piece of work
# and may wait (abandoned when the event is set) until the warehouse is free. Dagster
# steps hold the warehouse lease for each session, kept between sessions while nobody
# else waits (`project.resources.warehouse.GivingWaySessions`, which has a `release()`
# its user calls when done); scripts and tests hold one connection throughout (`held`)
# or open one per session (`per_session`).
Sessions = Callable[[threading.Event | None], AbstractContextManager[duckdb.DuckDBPyConnection]]

# Schemas owned by Python code (dbt creates its own staging/marts schemas).
SCHEMAS = ("raw", "meta")


# The name the lake is attached under, in Python and in dbt's profile alike.
LAKE_ALIAS = "warehouse"
CATALOG_ENV = CATALOG_ENV_NAME

Backend = Literal["file", "ducklake"]


class WarehouseLockedError(RuntimeError):
    """The warehouse file stayed locked by another process for the whole wait."""


class CatalogUnavailableError(RuntimeError):
    """The DuckLake catalog could not be attached; the message never holds its URL."""


@dataclass(frozen=True)
class Target:
    """Where the warehouse is: a DuckDB file, or a DuckLake (catalog URL + data path).

    `path` is the `.duckdb` file, or the lake's data directory. The catalog URL is not a
    field: it is read from `catalog_env` when a connection opens, so a Target can be put
    in resource config, metadata or a log line without leaking it.
    """

    backend: Backend = "file"
    path: Path = Path("data/warehouse.duckdb")
    catalog_schema: str = "ducklake"
    catalog_env: str = CATALOG_ENV

    @property
    def is_lake(self) -> bool:
        return self.backend == "ducklake"

    @property
    def anchor(self) -> Path:
        """The path side stores are kept beside (`stores.store_paths(anchor)`): the file,
        or a name beside the lake's data directory (never inside it, where DuckLake's
        orphan-file cleanup would take them for its own)."""
        return self.path if not self.is_lake else self.path.parent / "warehouse.ducklake"

    def describe(self) -> str:
        """For messages and metadata: no secret."""
        if not self.is_lake:
            return str(self.path)
        return f"ducklake (catalog {catalog_label(self.catalog_url())}, data {self.path})"

    def attach_path(self) -> str:
        """`ducklake:postgres:<libpq keywords>` without the password, which goes to libpq
        through PGPASSWORD: DuckDB shows an ATTACH path to anyone who can query
        `duckdb_databases()` (the read-only `pncp query` included) and quotes it in errors."""
        conninfo, password = libpq_conninfo(self.catalog_url())
        if password:
            os.environ["PGPASSWORD"] = password
        return f"ducklake:postgres:{conninfo}"

    def attach_sql(self, alias: str, *options: str) -> str:
        """`ATTACH` of this lake as `alias`, with its data path and catalog schema and any
        further `options` (READ_ONLY, SNAPSHOT_VERSION n): one statement for every reader,
        writer and time-traveller, so none attaches another lake by mistake."""
        settings = [
            f"DATA_PATH '{quote_literal(str(self.path) + '/')}'",
            f"METADATA_SCHEMA '{quote_literal(self.catalog_schema)}'",
            *options,
        ]
        return f"ATTACH '{quote_literal(self.attach_path())}' AS {alias} ({', '.join(settings)})"

    def catalog_url(self) -> str:
        url = os.environ.get(self.catalog_env, "").strip()
        if not url:
            raise CatalogUnavailableError(
                f"WAREHOUSE_BACKEND=ducklake needs {self.catalog_env}: the PostgreSQL URL of "
                "the lake's catalog, like postgresql://user:password@host:5432/dbname"
            )
        return url


def as_target(where: Target | Path | str) -> Target:
    """A Target from a Target or a DuckDB file path (scripts and tests pass paths)."""
    return where if isinstance(where, Target) else Target("file", Path(where))


def catalog_label(url: str) -> str:
    """`host:port/dbname` of a catalog URL or libpq string: what to show, never a password."""
    if "://" in url:
        parts = urlsplit(url)
        return f"{parts.hostname or 'localhost'}:{parts.port or 5432}{parts.path or '/'}"
    fields = dict(re.findall(r"(\w+)\s*=\s*('[^']*'|\S+)", url))
    host, port = fields.get("host", "localhost"), fields.get("port", "5432")
    return f"{host}:{port}/{fields.get('dbname', '')}".replace("'", "")


def redact(text: str, url: str) -> str:
    """`text` with the catalog URL and its password replaced (DuckDB quotes both in errors)."""
    text = text.replace(url, catalog_label(url))
    password = urlsplit(url).password if "://" in url else None
    match = re.search(r"password\s*=\s*('[^']*'|\S+)", url)
    for secret in filter(None, (password, match and match.group(1).strip("'"))):
        text = text.replace(secret, "***")
    return text


def _is_lock_error(exc: BaseException) -> bool:
    text = str(exc).lower()
    return "lock" in text or "conflicting" in text


def connect(
    where: Target | Path | str,
    *,
    read_only: bool = False,
    wait_s: float = 60.0,
    config: dict[str, str] | None = None,
    private: bool = False,
) -> duckdb.DuckDBPyConnection:
    """Open the warehouse, waiting with jittered backoff while another process holds its lock.

    `config` takes DuckDB settings such as `memory_limit` (DuckDB's default, 80% of RAM,
    lets a long extraction keep every block it wrote in memory), over the project's
    extension settings (`project.lib.extensions`: its extensions load by name, offline).
    `private`: a DuckDB no other connection of the process shares, for a caller that
    changes its settings (a file's connections always are).
    """
    target = as_target(where)
    if target.is_lake:
        return _connect_lake(target, read_only=read_only, private=private, config=config)
    path = target.path
    if not read_only:
        path.parent.mkdir(parents=True, exist_ok=True)
    elif not path.exists():
        raise FileNotFoundError(
            f"warehouse {path} does not exist yet: materialize an asset or run `make demo` first"
        )
    deadline = time.monotonic() + wait_s
    delay = 0.05
    while True:
        try:
            return duckdb.connect(
                str(path),
                read_only=read_only,
                config={**extensions.connection_config(), **(config or {})},
            )
        except (duckdb.IOException, duckdb.ConnectionException) as exc:
            if not _is_lock_error(exc) or time.monotonic() >= deadline:
                if _is_lock_error(exc):
                    raise WarehouseLockedError(
                        f"warehouse {path} is locked by another process (waited {wait_s:.0f} s)"
                    ) from exc
                raise
            time.sleep(random.uniform(0, delay))
            delay = min(delay * 2, 2.0)


def _connect_lake(
    target: Target, *, read_only: bool, private: bool, config: dict[str, str] | None
) -> duckdb.DuckDBPyConnection:
    """A connection with the lake attached as `warehouse` and in use.

    A cursor on one DuckDB per process, lake and mode (the lake attached READ_ONLY for
    readers): opening a DuckDB verifies the ducklake and postgres extensions' signatures
    (~78 MB) and attaching reads the catalog, 0.3-1 s that a Dagster step would otherwise
    pay on every connection (a dozen in one extraction run; a month's transformation opened
    six readers, 1.6 s). Each transaction reads the catalog's newest snapshot, so a cached
    DuckDB sees what other processes committed since, tables they created or replaced
    included. `private` gives a DuckDB of its own, which its user may lock down (the query
    sandbox: its settings are the whole DuckDB's).
    """
    url = target.catalog_url()
    if private:
        return _open_lake(target, url, read_only=read_only, config=config)
    settings = tuple(sorted((config or {}).items()))
    key = (url, target.catalog_schema, str(target.path), read_only, settings)
    with _lakes_lock:
        root = _lakes.pop(key, None) or _open_lake(target, url, read_only=read_only, config=config)
        _lakes[key] = root  # most recently used last
        while len(_lakes) > _MAX_LAKES:
            _lakes.pop(next(iter(_lakes))).close()
        return cursor_of(root)


# Process-wide DuckDBs with a lake attached, by (catalog, schema, data path, mode, settings).
_lakes: dict[tuple, duckdb.DuckDBPyConnection] = {}
_lakes_lock = threading.Lock()
# A process holds one or two per lake (writers; readers, with one more per `config`), and
# closing one closes its cursors: enough room that no DuckDB in use is closed.
_MAX_LAKES = 8


def close_lakes() -> None:
    """Close the process's lake DuckDBs (and their catalog connections), before the
    catalog is dropped."""
    with _lakes_lock:
        while _lakes:
            _lakes.popitem()[1].close()


def _open_lake(
    target: Target, url: str, *, read_only: bool, config: dict[str, str] | None
) -> duckdb.DuckDBPyConnection:
    if not read_only:
        target.path.mkdir(parents=True, exist_ok=True)
    conn = duckdb.connect(config={**extensions.connection_config(), **(config or {})})
    try:
        conn.execute(target.attach_sql(LAKE_ALIAS, *(["READ_ONLY"] if read_only else [])))
        conn.execute(f"USE {LAKE_ALIAS}")
    except duckdb.Error as exc:
        conn.close()
        raise CatalogUnavailableError(
            f"could not attach the DuckLake warehouse {target.describe()}: {redact(str(exc), url)}"
        ) from None
    return conn


def quote_literal(text: str) -> str:
    """`text` as the inside of a SQL string literal."""
    return text.replace("'", "''")


def is_lake(conn: duckdb.DuckDBPyConnection) -> bool:
    """Whether `conn` writes to a DuckLake (no PRIMARY KEY/UNIQUE constraints there)."""
    row = conn.execute(
        "SELECT type FROM duckdb_databases() WHERE database_name = current_database()"
    ).fetchone()
    return bool(row) and row[0] == "ducklake"


def anchor_of(conn: duckdb.DuckDBPyConnection) -> Path:
    """`Target.anchor` of the warehouse `conn` is using: where its side stores live."""
    name, path, kind = conn.execute(
        "SELECT database_name, path, type FROM duckdb_databases() "
        "WHERE database_name = current_database()"
    ).fetchone()
    if kind == "ducklake":
        data_path = conn.execute(
            "SELECT value FROM ducklake_options(?) WHERE option_name = 'data_path'", [name]
        ).fetchone()[0]
        return Target("ducklake", Path(data_path.rstrip("/"))).anchor
    if not path:
        raise ValueError("side stores need a file-backed warehouse or a lake, not :memory:")
    return Path(path)


_KEY_CONSTRAINT = re.compile(r",\s*(PRIMARY KEY|UNIQUE)\s*\([^)]*\)|\s+PRIMARY KEY\b", re.I)


def create_tables(conn: duckdb.DuckDBPyConnection, ddl: str) -> None:
    """Run `CREATE TABLE IF NOT EXISTS ...` statements on either backend.

    DuckLake has no PRIMARY KEY or UNIQUE constraints (it refuses them): there the keys
    are dropped and the writers' own anti-joins keep rows unique, as they do on a file.
    """
    statements = _KEY_CONSTRAINT.sub("", ddl) if is_lake(conn) else ddl
    retry_conflicts(conn, lambda c: c.execute(statements))


@contextmanager
def connection(
    where: Target | Path | str,
    *,
    read_only: bool = False,
    wait_s: float = 60.0,
    config: dict[str, str] | None = None,
    private: bool = False,
) -> Iterator[duckdb.DuckDBPyConnection]:
    """`connect` as a context manager that always closes (releasing the file lock)."""
    conn = connect(where, read_only=read_only, wait_s=wait_s, config=config, private=private)
    try:
        yield conn
    finally:
        conn.close()


def ensure_schemas(conn: duckdb.DuckDBPyConnection) -> None:
    """Create the schemas owned by Python code; safe to call on every write."""
    for schema in SCHEMAS:
        retry_conflicts(conn, lambda c, s=schema: c.execute(f"CREATE SCHEMA IF NOT EXISTS {s}"))


T = TypeVar("T")


@contextmanager
def transaction(conn: duckdb.DuckDBPyConnection) -> Iterator[None]:
    """BEGIN ... COMMIT, rolled back on error. A failed COMMIT (a lake's conflict) has
    already ended the transaction: its error is the one raised, not ROLLBACK's."""
    conn.execute("BEGIN TRANSACTION")
    try:
        yield
        conn.execute("COMMIT")
    except BaseException:
        with contextlib.suppress(duckdb.Error):
            conn.execute("ROLLBACK")
        raise


def _is_conflict(exc: duckdb.Error) -> bool:
    return isinstance(exc, duckdb.TransactionException) and "conflict" in str(exc).lower()


def retry_conflicts(
    conn: duckdb.DuckDBPyConnection,
    apply: Callable[[duckdb.DuckDBPyConnection], T],
    attempts: int = 6,
) -> T:
    """`apply(conn)`, again after a DuckLake transaction conflict (a file never has one).

    DuckLake rebases concurrent inserts itself; what it cannot rebase fails the commit:
    two writers creating the same schema or table on a new lake, or deleting from the
    same table (an UPDATE) at once. `apply` must be one transaction, or idempotent, so
    running it again after the failed commit (which changed nothing) is safe.
    """
    for attempt in range(attempts):
        try:
            return apply(conn)
        except duckdb.Error as exc:
            if not _is_conflict(exc) or attempt == attempts - 1:
                raise
            with contextlib.suppress(duckdb.Error):  # none open: the statement was its own
                conn.execute("ROLLBACK")
            time.sleep(random.uniform(0.05, 0.2) * 2**attempt)
    raise AssertionError("unreachable")


def cursor_of(conn: duckdb.DuckDBPyConnection) -> duckdb.DuckDBPyConnection:
    """A cursor (for another thread) on the database `conn` uses: `USE` is per connection."""
    # fetchall, not fetchone: a result left unread keeps `conn`'s transaction open, and on
    # a lake that is a catalog transaction idle in PostgreSQL for as long as `conn` lives.
    ((database,),) = conn.execute("SELECT current_database()").fetchall()
    cursor = conn.cursor()
    cursor.execute(f'USE "{database}"')
    return cursor


def held(conn: duckdb.DuckDBPyConnection) -> Sessions:
    """Sessions on a connection the caller holds for the whole work (scripts, tests)."""

    @contextmanager
    def session(_abort: threading.Event | None = None) -> Iterator[duckdb.DuckDBPyConnection]:
        cursor = cursor_of(conn)  # a cursor per thread: the writer thread is not the caller's
        try:
            yield cursor
        finally:
            cursor.close()

    return session


def per_session(
    where: Target | Path | str, *, wait_s: float = 60.0, config: dict[str, str] | None = None
) -> Sessions:
    """Sessions that each open and close the file: the lock is held only while writing."""

    @contextmanager
    def session(_abort: threading.Event | None = None) -> Iterator[duckdb.DuckDBPyConnection]:
        with connection(where, wait_s=wait_s, config=config) as conn:
            ensure_schemas(conn)
            yield conn

    return session


def target_from(settings: Settings) -> Target:
    """The warehouse the settings name (WAREHOUSE_BACKEND and its variables)."""
    if settings.warehouse_backend == "ducklake":
        return Target("ducklake", settings.lake_data_path, settings.warehouse_catalog_schema)
    return Target("file", settings.warehouse)
