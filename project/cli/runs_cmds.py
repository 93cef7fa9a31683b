"""Runs that hold the warehouse: who holds it, and freeing a run whose process is gone.

Every writer holds the warehouse lease (a slot of the warehouse pool) only while it
writes, and a run that waits for it frees holders whose process is gone by itself
(`project.resources.warehouse_lease`). These commands are for the operator: to see the
holders (`pncp doctor` reports the same), and to free a run that the automatic check
cannot judge — a slot claimed with no liveness record, on a machine this one cannot see.
"""

from __future__ import annotations

import os
import sys
import time
from collections.abc import Iterator
from contextlib import ExitStack, contextmanager
from typing import TYPE_CHECKING, Annotated

import typer

from project.cli.app import CliError, app
from project.cli.common import settings
from project.lib.instance import ensure_dagster_home
from project.settings import Settings

if TYPE_CHECKING:
    from project.resources.warehouse_lease import Holder

PANEL = "Runs"


@contextmanager
def warehouse_lease(config: Settings, command: str, wait_s: float) -> Iterator[None]:
    """Hold the whole warehouse pool for a command that copies, replaces or rolls back the
    warehouse.

    Backup, rollback and reset take it like writers, so they never run between two commits
    of an extraction or under a dbt build (which does not wait for DuckDB's file lock). On
    a file the pool has one slot; on a lake it admits WAREHOUSE_WRITERS writers at once,
    and the command claims every slot, one after the other, so no writer commits while a
    snapshot is recorded, rolled back to or cleared. Waits up to `wait_s` (`--lock-wait`)
    in all, naming the holders when it gives up (and then frees what it claimed).
    """
    import dagster as dg

    from project.resources.warehouse_lease import (
        GIVEN_BACK,
        TAKEN,
        WarehouseBusyError,
        WarehouseLease,
    )

    def log(message: str) -> None:
        print(message, file=sys.stderr)

    def log_waits(message: str) -> None:  # the first slot's lease reports taking and giving
        if not message.startswith((TAKEN, GIVEN_BACK)):
            log(message)

    ensure_dagster_home(config)
    slots = config.warehouse_slots
    deadline = time.monotonic() + wait_s
    with (
        dg.DagsterInstance.from_config(str(config.dagster_home_path)) as instance,
        ExitStack() as held,
    ):
        for n in range(slots):
            lease = WarehouseLease(
                instance,
                config.warehouse_pool,
                f"cli:{command}:{os.getpid()}",
                command if n == 0 else f"{command}#{n + 1}",
                label=f"pncp {command}",
                log=log if n == 0 else log_waits,
                slots=slots,
            )
            try:
                held.enter_context(lease.hold(wait_s=max(0.0, deadline - time.monotonic())))
            except WarehouseBusyError as exc:
                raise CliError(f"{exc}; retry later or raise --lock-wait") from exc
        yield


def pool_holders(config: Settings) -> list[Holder]:
    """Every holder of the warehouse pool, judged (none without an instance)."""
    if not (config.dagster_home_path / "dagster.yaml").exists():
        return []
    import dagster as dg

    from project.resources.warehouse_lease import STALE_AFTER_S, holders

    with dg.DagsterInstance.from_config(str(config.dagster_home_path)) as instance:
        return holders(instance, config.warehouse_pool, STALE_AFTER_S)


def pool_limit(config: Settings) -> int | None:
    """The slots the instance gives the warehouse pool; None when it sets no limit (yet)."""
    if not (config.dagster_home_path / "dagster.yaml").exists():
        return None
    import dagster as dg

    with dg.DagsterInstance.from_config(str(config.dagster_home_path)) as instance:
        storage = instance.event_log_storage
        if not storage.supports_global_concurrency_limits:
            return None
        limits = {limit.name: limit.limit for limit in storage.get_pool_limits()}
    return limits.get(config.warehouse_pool)


def dead_holders(config: Settings) -> list[Holder]:
    """Holders of the warehouse pool whose process is gone."""
    return [h for h in pool_holders(config) if h.dead_reason]


@app.command("free-run", rich_help_panel=PANEL)
def free_run(
    run_id: Annotated[str, typer.Argument(help="The run holding the warehouse.")],
) -> None:
    """Mark a run that no longer runs FAILED and free its warehouse slot.

    Use it only for a run whose process is gone: `pncp doctor` names such runs.

    Example: pncp free-run 3f1c2a9e-...
    """
    import dagster as dg

    from project.resources.warehouse_lease import free_run as release

    config = settings()
    ensure_dagster_home(config)
    with dg.DagsterInstance.from_config(str(config.dagster_home_path)) as instance:
        if instance.get_run_by_id(run_id) is None and not any(
            slot.run_id == run_id
            for slot in instance.event_log_storage.get_concurrency_info(
                config.warehouse_pool
            ).claimed_slots
        ):
            raise CliError(f"no run {run_id} in the instance {config.dagster_home_path}")
        held = release(instance, run_id, config.warehouse_pool, "freed with pncp free-run")
    print(
        f"run {run_id}: marked FAILURE; "
        + ("its warehouse slot is free" if held else "it held no warehouse slot")
    )
