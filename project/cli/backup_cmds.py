"""Backups of the warehouse and its side stores: take, list, roll back to, reset.

Each takes the whole warehouse pool (the warehouse lease) and then, on a DuckDB file,
the file's writer lock, like any writer (waiting up to `--lock-wait` for each), so it
never copies or replaces a file a run is writing, nor runs between two commits of an
extraction. Rollback and reset take a backup of the current state first. The side
stores are those registered in `project.lib.stores` by the capabilities imported here
(PNCP's payload store).

On a DuckLake (WAREHOUSE_BACKEND=ducklake) every commit is a snapshot that the lake
keeps, so nothing is copied (`project.lib.lake`): a backup records the current
snapshot's id, a rollback restores every table and view to a snapshot in one
transaction, and a reset drops them all in one. The side stores stay as they are: their
files are content-addressed and never rewritten, so every snapshot's rows find theirs.
"""

from __future__ import annotations

import contextlib
from datetime import UTC, datetime
from pathlib import Path
from typing import Annotated

import duckdb
import typer

from project.cli.app import CliError, Options, app
from project.cli.common import WarehouseMissing, reading, render_table, settings
from project.cli.progress import Progress
from project.cli.runs_cmds import warehouse_lease
from project.lib import backup as backups
from project.lib import lake, stores, warehouse
from project.lib.pncp import payload_store  # noqa: F401  (registers its side store)
from project.settings import Settings

PANEL = "Backups"
SIDE_STORES_KEPT = (
    "side stores kept as they are (content-addressed, append-only: every snapshot's rows "
    "find their files)"
)


def backups_dir(config: Settings) -> Path:
    return config.data_path / "backups"


def _size(n: int) -> str:
    for unit in ("B", "KB", "MB", "GB"):
        if n < 1024 or unit == "GB":
            return f"{n:.0f} {unit}" if unit == "B" else f"{n:.1f} {unit}"
        n /= 1024
    return f"{n} B"


def _describe(b: backups.Backup) -> str:
    if b.is_snapshot:
        return (
            f"snapshot {b.snapshot_id} of {b.source} ({b.tables} tables, "
            f"{_size(b.warehouse_bytes)} of Parquet); recorded in {b.path}"
        )
    return (
        f"{b.path}  (warehouse {_size(b.warehouse_bytes)}, {b.tables} tables; "
        f"{b.store_files} side-store files, {_size(b.store_bytes)})"
    )


def _lake_writer(target: warehouse.Target) -> duckdb.DuckDBPyConnection:
    """A read-write connection to the lake; CliError when there is no lake yet."""
    with reading(target):
        # Read-only first: a read-write attach would create an empty lake.
        warehouse.connect(target, read_only=True).close()
    return warehouse.connect(target, wait_s=Options.lock_wait_s)


@app.command("backup", rich_help_panel=PANEL)
def backup(
    list_only: Annotated[
        bool, typer.Option("--list", help="List backups (a lake's snapshots) instead.")
    ] = False,
    limit: Annotated[
        int, typer.Option(min=1, help="With --list on a lake: the newest snapshots shown.")
    ] = 20,
) -> None:
    """Take a consistent copy of the warehouse and its side stores (PNCP's payloads).

    Takes the whole warehouse pool and the warehouse lock like a writer (waiting up to
    --lock-wait while a run writes) and holds the lock only while the database file is
    copied; the side stores are copied after. Writes `data/backups/<UTC time>/` with
    warehouse.duckdb, stores/<name>/ and backup.json; `backup --list` shows them.

    On a DuckLake (WAREHOUSE_BACKEND=ducklake) nothing is copied: the lake keeps every
    snapshot, and the backup records the current one's id in
    `data/backups/<UTC time>/backup.json` (roll back to it with --to NAME or --snapshot
    ID). The side stores are kept as they are: content-addressed and append-only.
    `backup --list` shows the lake's newest snapshots, naming those recorded as backups.

    Example: pncp --lock-wait 600 backup
    """
    config = settings()
    root = backups_dir(config)
    target = warehouse.target_from(config)
    if list_only and target.is_lake:
        _list_lake(target, root, limit)
        return
    if list_only:
        _list_files(root)
        return
    if target.is_lake:
        with warehouse_lease(config, "backup", Options.lock_wait_s):
            conn = _lake_writer(target)
            try:
                taken = backups.record_snapshot(conn, target, root)
            finally:
                conn.close()
        typer.echo(f"backup {taken.name}: {_describe(taken)}")
        typer.echo(f"roll back to it with: pncp rollback --snapshot {taken.snapshot_id}")
        typer.echo(SIDE_STORES_KEPT)
        return
    with (
        warehouse_lease(config, "backup", Options.lock_wait_s),
        _copy_progress(config.warehouse, root),
    ):
        taken = backups.create_backup(config.warehouse, root, wait_s=Options.lock_wait_s)
    typer.echo(f"backup {taken.name}: {_describe(taken)}")


def _tree_bytes(path: Path) -> int:
    if path.is_file():
        return path.stat().st_size
    total = 0
    for entry in path.rglob("*"):
        with contextlib.suppress(OSError):  # a file renamed or removed meanwhile
            if entry.is_file():
                total += entry.stat().st_size
    return total


def _copy_progress(warehouse_path: Path, root: Path) -> Progress:
    """Megabytes copied so far (what has appeared under the backups folder since the
    start) against the size of the warehouse and its side stores."""
    sources = [warehouse_path, *stores.store_paths(warehouse_path).values()]
    total = sum(_tree_bytes(p) for p in sources if p.exists())
    before = _tree_bytes(root) if root.exists() else 0

    def copied() -> tuple[int, int, int, int]:
        now = _tree_bytes(root) if root.exists() else 0
        return min(max(0, now - before), total) // 2**20, 0, 0, 0

    return Progress(
        "backup",
        total // 2**20,
        "MB copied",
        every_s=Options.progress_every_s,
        poll=copied,
        show=(),
    )


def _list_files(root: Path) -> None:
    found = [b for b in backups.list_backups(root) if not b.is_snapshot]
    if not found:
        typer.echo(f"no backups under {root}")
        return
    rows = [
        [b.name, b.created_at, b.reason, _size(b.warehouse_bytes), b.store_files] for b in found
    ]
    headers = ["name", "created_at", "reason", "warehouse", "store files"]
    typer.echo(render_table(headers, rows))


def _list_lake(target: warehouse.Target, root: Path, limit: int) -> None:
    """The lake's newest snapshots, each with the backups that recorded it."""
    recorded: dict[int, list[str]] = {}
    for b in backups.list_backups(root):
        if b.is_snapshot and b.source == backups.lake_source(target):
            recorded.setdefault(int(b.snapshot_id), []).append(b.name)
    with (
        reading(target),
        warehouse.connection(target, read_only=True, wait_s=Options.lock_wait_s) as conn,
    ):
        shown = lake.snapshots(conn, last=limit)
        total = lake.count_snapshots(conn)
    rows = [
        [
            s.id,
            s.time.astimezone(UTC).isoformat(timespec="seconds"),
            ", ".join(recorded.get(s.id, [])),
            s.summary(),
        ]
        for s in reversed(shown)
    ]
    typer.echo(f"snapshots of {target.describe()}, newest first:")
    typer.echo(render_table(["snapshot", "committed (UTC)", "backup", "changes"], rows))
    if total > len(shown):
        typer.echo(f"({total - len(shown)} older snapshots not shown; --limit for more)")
    typer.echo("roll back with: pncp rollback --snapshot ID (or --at TIME, --to BACKUP)")


def parse_time(text: str) -> datetime:
    """An ISO 8601 time; without an offset it is UTC (as `backup --list` shows times)."""
    try:
        when = datetime.fromisoformat(text.strip())
    except ValueError:
        raise CliError(
            f"time {text!r} is not ISO 8601, e.g. 2026-11-29T10:00:00 (UTC) or "
            "2026-11-29T07:00:00-03:00"
        ) from None
    return when if when.tzinfo is not None else when.replace(tzinfo=UTC)


@app.command("rollback", rich_help_panel=PANEL)
def rollback(
    to: Annotated[
        str | None,
        typer.Option("--to", help="Backup name (see backup --list), `latest`, or a path."),
    ] = None,
    snapshot: Annotated[
        int | None,
        typer.Option("--snapshot", min=0, help="DuckLake only: the snapshot id to restore."),
    ] = None,
    at: Annotated[
        str | None,
        typer.Option(
            "--at",
            help="DuckLake only: restore the lake as it was at this ISO time (UTC if no offset).",
        ),
    ] = None,
    backup_first: Annotated[
        bool, typer.Option("--backup/--no-backup", help="Back up the current state first.")
    ] = True,
) -> None:
    """Restore the warehouse and its side stores from a backup.

    The backup's database is checked against its sha256 first; then, holding the
    warehouse lock, the current state is backed up (unless --no-backup) and the backup is
    swapped in.

    On a DuckLake, restores every table and view to a snapshot (--snapshot ID, --at TIME,
    or the one a backup recorded, --to NAME) in one transaction, itself a new snapshot:
    rows changed since are put back, tables and views created since dropped, those
    dropped or altered since recreated. The current snapshot is recorded first (unless
    --no-backup), so `rollback --to latest` undoes it. Side stores are kept as they are.

    Example: pncp rollback --to 20240801T020000Z
    """
    if sum(x is not None for x in (to, snapshot, at)) != 1:
        raise CliError("give exactly one of --to BACKUP, --snapshot ID or --at TIME")
    config = settings()
    target = warehouse.target_from(config)
    if target.is_lake:
        when = parse_time(at) if at is not None else None
        _rollback_lake(config, target, to, snapshot, when, backup_first)
        return
    if to is None:
        raise CliError(
            "--snapshot and --at need a DuckLake warehouse (WAREHOUSE_BACKEND=ducklake); "
            "on a DuckDB file, roll back to a backup with --to"
        )
    root = backups_dir(config)
    chosen = backups.find_backup(root, to, snapshots=False)
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


def _rollback_lake(
    config: Settings,
    target: warehouse.Target,
    to: str | None,
    snapshot_id: int | None,
    when: datetime | None,
    backup_first: bool,
) -> None:
    root = backups_dir(config)
    chosen = backups.find_backup(root, to, snapshots=True) if to is not None else None
    if chosen is not None:
        snapshot_id = backups.check_snapshot_backup(chosen, target)  # before the lease
    with warehouse_lease(config, "rollback", Options.lock_wait_s):
        conn = _lake_writer(target)
        try:
            restored = (
                lake.snapshot_at(conn, when)
                if when is not None
                else lake.snapshot(conn, snapshot_id)
            )
            snapshot_id = restored.id
            if backup_first:
                safety = backups.record_snapshot(conn, target, root, "pre-rollback")
                typer.echo(
                    f"current state recorded as backup {safety.name} "
                    f"(snapshot {safety.snapshot_id})"
                )
            if chosen is not None:
                report = backups.restore_snapshot_locked(conn, chosen, target)
            else:
                report = lake.rollback(conn, target, restored.id)
        finally:
            conn.close()
    committed = restored.time.astimezone(UTC).isoformat(timespec="seconds")
    if not report.changed:
        typer.echo(f"nothing to do: the lake holds what snapshot {snapshot_id} ({committed}) held")
        return
    typer.echo(
        f"rolled {target.describe()} back to snapshot {snapshot_id} ({committed}) "
        f"as snapshot {report.after}: {report.summary()}"
    )
    typer.echo(SIDE_STORES_KEPT)


@app.command("reset", rich_help_panel=PANEL)
def reset(
    force: Annotated[
        bool, typer.Option("--force", help="Required: this deletes the warehouse.")
    ] = False,
) -> None:
    """Delete the warehouse and its side stores, after backing them up.

    Refuses without --force. Exports, the Dagster instance and backups are kept;
    `pncp init` creates an empty warehouse again, `pncp rollback --to latest` undoes it.

    On a DuckLake, drops every table, view and schema of the lake in one transaction,
    after recording the current snapshot as a backup (printed: `pncp rollback --snapshot
    ID` or `--to latest` brings everything back). The side stores are kept: the
    snapshots before the reset still name their files.

    Example: pncp reset --force
    """
    if not force:
        raise CliError(
            "reset deletes the warehouse and its side stores; pass --force "
            "(a backup is taken first)"
        )
    config = settings()
    target = warehouse.target_from(config)
    if target.is_lake:
        _reset_lake(config, target)
        return
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


def _reset_lake(config: Settings, target: warehouse.Target) -> None:
    with warehouse_lease(config, "reset", Options.lock_wait_s):
        try:
            conn = _lake_writer(target)
        except WarehouseMissing:
            typer.echo(f"nothing to reset: warehouse {target.describe()} does not exist")
            return
        try:
            safety = backups.record_snapshot(conn, target, backups_dir(config), "pre-reset")
            typer.echo(f"backed up as {safety.name}: {_describe(safety)}")
            typer.echo(f"undo with: pncp rollback --snapshot {safety.snapshot_id}")
            report = lake.clear(conn, message=f"pncp reset (backup {safety.name})")
        finally:
            conn.close()
    typer.echo(
        f"emptied {target.describe()} as snapshot {report.after}: {report.summary()}; "
        "side stores kept"
    )
