"""Backups of the warehouse and its side stores: take, list, roll back to, reset.

Each takes the warehouse lease and then the warehouse's writer lock, like any writer
(waiting up to `--lock-wait` for each), so it never copies or replaces a file a run is
writing, nor runs between two commits of an extraction. Rollback and reset take a
backup of the current state first. The side stores are those registered in
`project.lib.stores` by the capabilities imported here (PNCP's payload store).
"""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer

from project.cli.app import CliError, Options, app
from project.cli.common import render_table, settings
from project.cli.runs_cmds import warehouse_lease
from project.lib import backup as backups
from project.lib import warehouse
from project.lib.pncp import payload_store  # noqa: F401  (registers its side store)
from project.settings import Settings

PANEL = "Backups"


def backups_dir(config: Settings) -> Path:
    return config.data_path / "backups"


def _size(n: int) -> str:
    for unit in ("B", "KB", "MB", "GB"):
        if n < 1024 or unit == "GB":
            return f"{n:.0f} {unit}" if unit == "B" else f"{n:.1f} {unit}"
        n /= 1024
    return f"{n} B"


def _describe(b: backups.Backup) -> str:
    return (
        f"{b.path}  (warehouse {_size(b.warehouse_bytes)}, {b.tables} tables; "
        f"{b.store_files} side-store files, {_size(b.store_bytes)})"
    )


@app.command("backup", rich_help_panel=PANEL)
def backup(
    list_only: Annotated[bool, typer.Option("--list", help="List backups instead.")] = False,
) -> None:
    """Take a consistent copy of the warehouse and its side stores (PNCP's payloads).

    Takes the warehouse lock like a writer (waiting up to --lock-wait while a run
    writes) and holds it only while the database file is copied; the side stores are
    copied after. Writes `data/backups/<UTC time>/` with warehouse.duckdb,
    stores/<name>/ and backup.json; `backup --list` shows them.

    Example: pncp --lock-wait 600 backup
    """
    config = settings()
    root = backups_dir(config)
    if list_only:
        found = backups.list_backups(root)
        if not found:
            typer.echo(f"no backups under {root}")
            return
        rows = [
            [b.name, b.created_at, b.reason, _size(b.warehouse_bytes), b.store_files] for b in found
        ]
        headers = ["name", "created_at", "reason", "warehouse", "store files"]
        typer.echo(render_table(headers, rows))
        return
    with warehouse_lease(config, "backup", Options.lock_wait_s):
        taken = backups.create_backup(config.warehouse, root, wait_s=Options.lock_wait_s)
    typer.echo(f"backup {taken.name}: {_describe(taken)}")


@app.command("rollback", rich_help_panel=PANEL)
def rollback(
    to: Annotated[
        str, typer.Option("--to", help="Backup name (see backup --list), `latest`, or a path.")
    ],
    backup_first: Annotated[
        bool, typer.Option("--backup/--no-backup", help="Back up the current state first.")
    ] = True,
) -> None:
    """Restore the warehouse and its side stores from a backup.

    The backup's database is checked against its sha256 first; then, holding the
    warehouse lock, the current state is backed up (unless --no-backup) and the backup is
    swapped in.

    Example: pncp rollback --to 20240801T020000Z
    """
    config = settings()
    root = backups_dir(config)
    chosen = backups.find_backup(root, to)
    backups.check_backup(chosen)  # before taking the lock or a safety backup
    existed = config.warehouse.exists()
    with (
        warehouse_lease(config, "rollback", Options.lock_wait_s),
        backups.exclusive(config.warehouse, wait_s=Options.lock_wait_s) as conn,
    ):
        if backup_first and existed:
            safety = backups.backup_locked(conn, config.warehouse, root, "pre-rollback")
            typer.echo(f"current state backed up as {safety.name}")
        backups.restore_locked(conn, chosen, config.warehouse)
    for name in backups.unclaimed_stores(chosen):
        typer.echo(f"warning: store {name} of the backup is not restored: no capability claims it")
    if chosen.source != str(config.warehouse):
        # Taken from a warehouse elsewhere: raw.payload_json must read the store beside
        # this one, as every writer's `ensure_archive` makes it.
        from project.lib.pncp.archive import ensure_archive

        with warehouse.connection(config.warehouse, wait_s=Options.lock_wait_s) as conn:
            ensure_archive(conn)
    typer.echo(f"restored {chosen.name} ({chosen.created_at}) into {config.warehouse}")


@app.command("reset", rich_help_panel=PANEL)
def reset(
    force: Annotated[
        bool, typer.Option("--force", help="Required: this deletes the warehouse.")
    ] = False,
) -> None:
    """Delete the warehouse and its side stores, after backing them up.

    Refuses without --force. Exports, the Dagster instance and backups are kept;
    `pncp init` creates an empty warehouse again, `pncp rollback --to latest` undoes it.

    Example: pncp reset --force
    """
    if not force:
        raise CliError(
            "reset deletes the warehouse and its side stores; pass --force "
            "(a backup is taken first)"
        )
    config = settings()
    if not config.warehouse.exists():
        typer.echo(f"nothing to reset: warehouse {config.warehouse} does not exist")
        return
    with (
        warehouse_lease(config, "reset", Options.lock_wait_s),
        backups.exclusive(config.warehouse, wait_s=Options.lock_wait_s) as conn,
    ):
        safety = backups.backup_locked(conn, config.warehouse, backups_dir(config), "pre-reset")
        typer.echo(f"backed up as {safety.name}: {_describe(safety)}")
        backups.delete_locked(conn, config.warehouse)
    typer.echo(f"deleted {config.warehouse} and its side stores")
