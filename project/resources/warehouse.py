"""The DuckDB warehouse as a Dagster resource, shared by every Python asset."""

from __future__ import annotations

import threading
from collections.abc import Iterator
from contextlib import contextmanager

import dagster as dg
import duckdb
from dagster._core.errors import DagsterExecutionInterruptedError
from dagster_duckdb import DuckDBResource
from pydantic import Field

from project.lib import warehouse
from project.resources.warehouse_lease import WarehouseLease


@contextmanager
def stop_on_interrupt(doing: str) -> Iterator[None]:
    """Ctrl-C or SIGTERM ends the step for good: a failure that is not retried.

    Dagster retries an interrupted step under its retry policy (a preempted pod comes
    back); an operator's Ctrl-C, `timeout`'s SIGTERM or a terminate from the UI means
    stop, so a `pncp` command or a run waiting for the warehouse ends at once.
    """
    try:
        yield
    except (KeyboardInterrupt, DagsterExecutionInterruptedError) as exc:
        raise dg.Failure(
            description=f"stopped by an interrupt (Ctrl-C or SIGTERM) {doing}",
            allow_retries=False,
        ) from exc


class WarehouseResource(DuckDBResource):
    """`DuckDBResource` with the warehouse lease, lock-aware connects and read-only readers.

    Writers hold the lease (a slot of the warehouse pool, see
    `project.resources.warehouse_lease`) for as long as they write, and no longer:
    `session(context)` for one short write, `lease(context)` around a longer one (dbt).
    `lock_wait_s` only covers processes outside Dagster (an operator's shell) briefly
    holding the file.
    """

    lock_wait_s: float = Field(60.0, description="How long to wait for another process's lock.")
    pool: str = Field("duckdb_warehouse", description="Dagster pool that admits one writer.")

    @contextmanager
    def get_connection(self) -> Iterator[duckdb.DuckDBPyConnection]:
        """A read-write connection with the platform's schemas in place (no lease taken)."""
        with warehouse.connection(
            self.database, wait_s=self.lock_wait_s, config=self.connection_config
        ) as conn:
            warehouse.ensure_schemas(conn)
            yield conn

    @contextmanager
    def get_reader(self) -> Iterator[duckdb.DuckDBPyConnection]:
        """A read-only connection (no writes possible)."""
        with warehouse.connection(
            self.database, read_only=True, wait_s=self.lock_wait_s, config=self.connection_config
        ) as conn:
            yield conn

    def lease_for(self, context: dg.AssetExecutionContext) -> WarehouseLease:
        """The lease of the running step, logging its waits to the run's log."""
        return WarehouseLease(
            context.instance,
            self.pool,
            context.run.run_id,
            context.get_step_execution_context().step.key,
            label=f"{context.job_name} {context.get_step_execution_context().step.key}",
            log=context.log.info,
        )

    @contextmanager
    def lease(self, context: dg.AssetExecutionContext) -> Iterator[None]:
        """Hold the warehouse for the body (a dbt build, an export); an interrupt stops it."""
        with (
            stop_on_interrupt("while holding or waiting for the warehouse"),
            self.lease_for(context).hold(),
        ):
            yield

    def sessions(self, context: dg.AssetExecutionContext) -> warehouse.Sessions:
        """Short write sessions: each takes the lease, connects, and gives both back."""
        lease = self.lease_for(context)

        @contextmanager
        def session(abort: threading.Event | None = None) -> Iterator[duckdb.DuckDBPyConnection]:
            with lease.hold(abort), self.get_connection() as conn:
                yield conn

        return session
