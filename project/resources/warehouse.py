"""The DuckDB warehouse as a Dagster resource, shared by every Python asset."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager

import duckdb
from dagster_duckdb import DuckDBResource
from pydantic import Field

from project.lib import warehouse


class WarehouseResource(DuckDBResource):
    """`DuckDBResource` with lock-aware connects, read-only readers and schema bootstrap.

    Writers must run in the warehouse concurrency pool; `lock_wait_s` only covers
    processes outside Dagster (an operator's shell) briefly holding the file.
    """

    lock_wait_s: float = Field(60.0, description="How long to wait for another process's lock.")

    @contextmanager
    def get_connection(self) -> Iterator[duckdb.DuckDBPyConnection]:
        """A read-write connection with the platform's schemas in place."""
        with warehouse.connection(
            self.database, wait_s=self.lock_wait_s, config=self.connection_config
        ) as conn:
            warehouse.ensure_schemas(conn)
            yield conn

    @contextmanager
    def get_reader(self) -> Iterator[duckdb.DuckDBPyConnection]:
        """A read-only connection (no pool slot needed, no writes possible)."""
        with warehouse.connection(
            self.database, read_only=True, wait_s=self.lock_wait_s, config=self.connection_config
        ) as conn:
            yield conn
