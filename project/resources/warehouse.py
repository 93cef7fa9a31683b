"""The DuckDB warehouse as a Dagster resource, shared by every Python asset."""

from __future__ import annotations

import threading
import time
from collections.abc import Iterator
from contextlib import ExitStack, contextmanager
from pathlib import Path

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
    pool: str = Field("duckdb_warehouse", description="Dagster pool of the warehouse's writers.")
    slots: int = Field(
        1, description="Writers the pool admits: 1 on a DuckDB file, several on a DuckLake."
    )
    backend: str = Field("file", description="file (database is a .duckdb) or ducklake.")
    catalog_schema: str = Field(
        "ducklake",
        description="DuckLake: the catalog's PostgreSQL schema (its URL is a secret "
        "read from WAREHOUSE_CATALOG_URL when connecting, never kept here).",
    )

    @property
    def target(self) -> warehouse.Target:
        """Where the warehouse is (`database` is the lake's data path on ducklake)."""
        backend = "ducklake" if self.backend == "ducklake" else "file"
        return warehouse.Target(backend, Path(self.database), self.catalog_schema)

    @contextmanager
    def get_connection(self) -> Iterator[duckdb.DuckDBPyConnection]:
        """A read-write connection with the platform's schemas in place (no lease taken)."""
        with warehouse.connection(
            self.target, wait_s=self.lock_wait_s, config=self.connection_config
        ) as conn:
            warehouse.ensure_schemas(conn)
            yield conn

    @contextmanager
    def get_reader(self) -> Iterator[duckdb.DuckDBPyConnection]:
        """A read-only connection (no writes possible)."""
        with warehouse.connection(
            self.target, read_only=True, wait_s=self.lock_wait_s, config=self.connection_config
        ) as conn:
            yield conn

    def lease_for(
        self, context: dg.AssetExecutionContext, pool: str | None = None, slots: int | None = None
    ) -> WarehouseLease:
        """The lease of the running step, logging its waits to the run's log: of the
        warehouse pool, or of another `pool` of `slots` (a capability's own writers)."""
        step = context.get_step_execution_context().step.key
        return WarehouseLease(
            context.instance,
            pool or self.pool,
            context.run.run_id,
            step,
            label=f"{context.job_name} {step}",
            log=context.log.info,
            slots=slots or self.slots,
        )

    @contextmanager
    def lease(self, context: dg.AssetExecutionContext) -> Iterator[None]:
        """Hold the warehouse for the body (a dbt build, an export); an interrupt stops it."""
        with (
            stop_on_interrupt("while holding or waiting for the warehouse"),
            self.lease_for(context).hold(),
        ):
            yield

    def sessions(self, context: dg.AssetExecutionContext) -> GivingWaySessions:
        """Write sessions that keep the lease and connection only while nobody waits."""
        return GivingWaySessions(self, self.lease_for(context))


class GivingWaySessions:
    """Write sessions for many short commits: the warehouse is kept between them only
    while no other writer waits for it.

    Opening the warehouse for every round of commits costs more as the archive grows (the
    file, its indexes and a checkpoint at each close: a month's extraction took 12-18%
    longer that way). So after a session the lease and connection are kept, unless
    another holder waits for the pool; then both are given back at once and taken again
    (behind it) for the next session. Nobody waits more than one round of commits.
    Call `release()` when done.
    """

    def __init__(self, resource: WarehouseResource, lease: WarehouseLease) -> None:
        self.resource = resource
        self.lease = lease
        self._kept: ExitStack | None = None
        self._conn: duckdb.DuckDBPyConnection | None = None
        self._since = 0.0
        self.held_s = 0.0  # the lease held, in all
        self.gave_way = 0  # times it was given back to a waiting writer

    @contextmanager
    def __call__(self, abort: threading.Event | None = None) -> Iterator[duckdb.DuckDBPyConnection]:
        if self._kept is None:
            kept = ExitStack()
            try:
                kept.enter_context(self.lease.hold(abort))
                self._conn = kept.enter_context(self.resource.get_connection())
            except BaseException:
                kept.close()
                raise
            self._kept, self._since = kept, time.monotonic()
        try:
            yield self._conn
        except BaseException:
            self.release()
            raise
        if self.lease.others_waiting():
            self.gave_way += 1
            self.release()

    def release(self) -> None:
        """Close the connection and give the lease back (if kept)."""
        kept, self._kept, self._conn = self._kept, None, None
        if kept is not None:
            try:
                kept.close()
            finally:
                self.held_s += time.monotonic() - self._since
