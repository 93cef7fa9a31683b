"""The DuckDB warehouse shared by every pipeline: one file, schemas, and safe connections.

DuckDB allows one writing process at a time, and a reader cannot open the file while a
writer holds it. Writers are serialized by a Dagster concurrency pool (see
`dagster.yaml`); this module adds what the pool cannot: a bounded wait when the file is
locked by a process outside Dagster (an operator's shell, the CLI), read-only
connections for readers, and idempotent creation of the schemas every capability uses.
"""

from __future__ import annotations

import random
import threading
import time
from collections.abc import Callable, Iterator
from contextlib import AbstractContextManager, contextmanager
from pathlib import Path

import duckdb

from project.lib import extensions

# A source of write sessions: each call gives a connection for one short piece of work
# and may wait (abandoned when the event is set) until the warehouse is free. Dagster
# steps hold the warehouse lease for each session, kept between sessions while nobody
# else waits (`project.resources.warehouse.GivingWaySessions`, which has a `release()`
# its user calls when done); scripts and tests hold one connection throughout (`held`)
# or open one per session (`per_session`).
Sessions = Callable[[threading.Event | None], AbstractContextManager[duckdb.DuckDBPyConnection]]

# Schemas owned by Python code (dbt creates its own staging/marts schemas).
SCHEMAS = ("raw", "meta")


class WarehouseLockedError(RuntimeError):
    """The warehouse file stayed locked by another process for the whole wait."""


def _is_lock_error(exc: BaseException) -> bool:
    text = str(exc).lower()
    return "lock" in text or "conflicting" in text


def connect(
    path: Path | str,
    *,
    read_only: bool = False,
    wait_s: float = 60.0,
    config: dict[str, str] | None = None,
) -> duckdb.DuckDBPyConnection:
    """Open the warehouse, waiting with jittered backoff while another process holds its lock.

    `config` takes DuckDB settings such as `memory_limit` (DuckDB's default, 80% of RAM,
    lets a long extraction keep every block it wrote in memory), over the project's
    extension settings (`project.lib.extensions`: its extensions load by name, offline).
    """
    path = Path(path)
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


@contextmanager
def connection(
    path: Path | str,
    *,
    read_only: bool = False,
    wait_s: float = 60.0,
    config: dict[str, str] | None = None,
) -> Iterator[duckdb.DuckDBPyConnection]:
    """`connect` as a context manager that always closes (releasing the file lock)."""
    conn = connect(path, read_only=read_only, wait_s=wait_s, config=config)
    try:
        yield conn
    finally:
        conn.close()


def ensure_schemas(conn: duckdb.DuckDBPyConnection) -> None:
    """Create the schemas owned by Python code; safe to call on every write."""
    for schema in SCHEMAS:
        conn.execute(f"CREATE SCHEMA IF NOT EXISTS {schema}")


def held(conn: duckdb.DuckDBPyConnection) -> Sessions:
    """Sessions on a connection the caller holds for the whole work (scripts, tests)."""

    @contextmanager
    def session(_abort: threading.Event | None = None) -> Iterator[duckdb.DuckDBPyConnection]:
        cursor = conn.cursor()  # a cursor per thread: the writer thread is not the caller's
        try:
            yield cursor
        finally:
            cursor.close()

    return session


def per_session(
    path: Path | str, *, wait_s: float = 60.0, config: dict[str, str] | None = None
) -> Sessions:
    """Sessions that each open and close the file: the lock is held only while writing."""

    @contextmanager
    def session(_abort: threading.Event | None = None) -> Iterator[duckdb.DuckDBPyConnection]:
        with connection(path, wait_s=wait_s, config=config) as conn:
            ensure_schemas(conn)
            yield conn

    return session
