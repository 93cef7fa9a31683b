"""`pncp landing ...`: the shop's landing files — the ledger, ingestion, retries.

`status` reads the ledger (`shop_landing.files`) read-only and adds the files on disk the
ledger does not know yet (waiting for the sensor's next tick, or for a run); `ingest`
runs bronze through Dagster for what is not ingested (the runs show in the UI); `retry`
puts failed files back to pending once their cause is fixed, then ingests them.
"""

from __future__ import annotations

from typing import Annotated

import typer

from project.cli.app import CliError, app
from project.cli.common import render_table, settings

landing_app = typer.Typer(
    name="landing",
    help="The shop's landing files: the ledger of every file, ingestion into bronze, retries.",
    no_args_is_help=True,
)
app.add_typer(landing_app)

SourceOption = Annotated[
    str | None, typer.Option("--source", "-s", help="one source (orders, payments, ...)")
]
STATUSES = ("ingested", "pending", "failed", "skipped", "unregistered")


def _sources(source: str | None) -> list[str]:
    from project.lib.shop.sources import SourcesError, shop_sources

    sources = shop_sources()
    if source is None:
        return list(sources.sources)
    try:
        return [sources.source(source).name]
    except SourcesError as exc:
        raise CliError(str(exc)) from None


def _ledger_rows(names: list[str]) -> list[tuple]:
    from project.cli.common import WarehouseMissing, reader

    try:
        with reader(settings()) as conn:
            found = conn.execute(
                "SELECT count(*) FROM duckdb_tables() WHERE database_name = current_database() "
                "AND schema_name = 'shop_landing' AND table_name = 'files'"
            ).fetchone()[0]
            if not found:
                return []
            marks = ", ".join("?" for _ in names)
            return conn.execute(
                f"""SELECT source, path, version, status, rows, malformed_rows, rescued_rows,
                           run_id, error, sha256
                    FROM shop_landing.files WHERE source IN ({marks})
                    ORDER BY source, path, version""",
                names,
            ).fetchall()
    except WarehouseMissing:
        return []


@landing_app.command("status")
def status(
    source: SourceOption = None,
    files: Annotated[
        bool, typer.Option("--files", help="list every file, not only those needing attention")
    ] = False,
) -> None:
    """Files per source and status, and the files that need attention (pending, failed,
    skipped, not yet registered) with the cause.

    Example: pncp landing status --source orders
    """
    from project.lib.shop.landing import list_files
    from project.lib.shop.sources import shop_sources

    names = _sources(source)
    root = settings().shop_landing
    rows = _ledger_rows(names)
    known = {(r[1], r[9]) for r in rows}
    known_paths = {r[1] for r in rows}
    unregistered = [
        landed
        for name in names
        for landed in list_files(root, shop_sources().source(name))
        if landed.path not in known_paths
    ]
    counts = {name: dict.fromkeys(STATUSES, 0) for name in names}
    for row in rows:
        counts[row[0]][row[3]] += 1
    for landed in unregistered:
        counts[landed.source]["unregistered"] += 1
    totals = [
        (name, *counts[name].values(), sum(r[4] or 0 for r in rows if r[0] == name))
        for name in names
    ]
    typer.echo(f"landing folder {root}; ledger shop_landing.files ({len(known)} file versions)")
    typer.echo(render_table(["source", *STATUSES, "rows"], totals))
    shown = [r for r in rows if files or r[3] != "ingested"]
    if shown:
        typer.echo("")
        typer.echo(
            render_table(
                ["path", "version", "status", "rows", "malformed", "rescued", "error"],
                [(r[1], r[2], r[3], r[4], r[5], r[6], r[8]) for r in shown],
                max_width=100,
            )
        )
    if unregistered:
        typer.echo("")
        typer.echo(
            f"{len(unregistered)} files not registered yet (the landing sensor offers them "
            "on its next tick; `pncp landing ingest` takes them now):"
        )
        for landed in unregistered[:20]:
            typer.echo(f"  {landed.path} ({landed.size} bytes)")


def _ingest(names: list[str]) -> None:
    from project.cli.launch import Launcher
    from project.cli.pipeline_cmds import _execute

    selection = " or ".join(f'key:"shop/bronze/{name}"' for name in names)
    with Launcher(settings()) as launcher:
        _execute(launcher, [launcher.plan(f"landing ingest {','.join(names)}", selection)])


@landing_app.command("ingest")
def ingest(source: SourceOption = None) -> None:
    """Ingest every landing file not yet in bronze now, as one Dagster run (what the
    sensor would do over its next ticks).

    Example: pncp landing ingest --source orders
    """
    _ingest(_sources(source))


@landing_app.command("retry")
def retry(source: SourceOption = None) -> None:
    """Put failed files back to pending (their cause fixed: an extension, a permission)
    and ingest them.

    Example: pncp landing retry --source payments
    """
    from project.cli.common import Options, existing_warehouse
    from project.lib import warehouse
    from project.lib.shop import ledger

    names = _sources(source)
    target = existing_warehouse(settings())
    with warehouse.connection(target, wait_s=Options.lock_wait_s) as conn:
        ledger.ensure_ledger(conn)
        reset = sum(ledger.retry_failed(conn, name) for name in names)
    typer.echo(f"{reset} failed files back to pending", err=True)
    _ingest(names)
