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
from collections.abc import Iterator
from contextlib import contextmanager
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
    """Hold the warehouse lease for a command that replaces or copies the warehouse.

    Backup, rollback and reset take it like any writer, so they never run between two
    commits of an extraction or under a dbt build (which does not wait for DuckDB's file
    lock). Waits up to `wait_s` (`--lock-wait`), naming the holder when it gives up.
    """
    import dagster as dg

    from project.resources.warehouse_lease import WarehouseBusyError, WarehouseLease

    ensure_dagster_home(config)
    with dg.DagsterInstance.from_config(str(config.dagster_home_path)) as instance:
        lease = WarehouseLease(
            instance,
            config.warehouse_pool,
            f"cli:{command}:{os.getpid()}",
            command,
            label=f"pncp {command}",
            log=lambda message: print(message, file=sys.stderr),
        )
        try:
            with lease.hold(wait_s=wait_s):
                yield
        except WarehouseBusyError as exc:
            raise CliError(f"{exc}; retry later or raise --lock-wait") from exc


def pool_holders(config: Settings) -> list[Holder]:
    """Every holder of the warehouse pool, judged (none without an instance)."""
    if not (config.dagster_home_path / "dagster.yaml").exists():
        return []
    import dagster as dg

    from project.resources.warehouse_lease import STALE_AFTER_S, holders

    with dg.DagsterInstance.from_config(str(config.dagster_home_path)) as instance:
        return holders(instance, config.warehouse_pool, STALE_AFTER_S)


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
