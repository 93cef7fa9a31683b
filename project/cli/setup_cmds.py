"""Setting a checkout up and looking after it: init, doctor, ui."""

from __future__ import annotations

import os
import shutil
import sys
from pathlib import Path
from typing import Annotated

import typer

from project.cli.app import CommandFailed, Options, app
from project.cli.common import settings
from project.lib import lake, warehouse
from project.lib.instance import ensure_dagster_home, prepare_storage
from project.lib.pncp import payload_store
from project.settings import PROJECT_ROOT

PANEL = "Setup"


@app.command("init", rich_help_panel=PANEL)
def init(
    env_file: Annotated[
        Path, typer.Option(help="Where to create the .env (from .env.example) if missing.")
    ] = PROJECT_ROOT / ".env",
) -> None:
    """Create what the pipeline needs: .env, the Dagster instance, the warehouse schemas.

    The new .env lists every setting with its default, commented out: it pins nothing, so
    the environment decides until a line is uncommented (a `.env` value wins over the
    environment, for Dagster's commands and for these alike). Idempotent: what exists is
    left as it is (an existing .env is never overwritten).

    Example: pncp init
    """
    from project.lib.pncp.archive import ensure_archive

    if env_file.exists():
        typer.echo(f".env       {env_file} exists, left as it is")
    else:
        env_file.parent.mkdir(parents=True, exist_ok=True)
        shutil.copyfile(PROJECT_ROOT / ".env.example", env_file)
        typer.echo(f".env       {env_file} created from .env.example")
    config = settings()
    target = warehouse.target_from(config)
    existed = target.path.exists()
    with warehouse.connection(
        target,
        wait_s=Options.lock_wait_s,
        config={"memory_limit": config.warehouse_memory_limit},
    ) as conn:
        if target.is_lake:  # attaching created the lake if its catalog had none
            existed = lake.current_snapshot(conn).id > 0
        ensure_archive(conn)
        schemas = [
            row[0]
            for row in conn.execute(
                """SELECT schema_name FROM duckdb_schemas()
                   WHERE database_name = current_database() AND NOT internal ORDER BY 1"""
            ).fetchall()
        ]
    state = "ready" if existed else "created"
    typer.echo(f"warehouse  {target.describe()} {state} (schemas: {', '.join(schemas)})")
    typer.echo(f"payloads   {payload_store.root_beside(target.anchor)}")
    home = ensure_dagster_home(config)
    slots = prepare_storage(config, home)  # now, so first runs started together never race
    storage = "postgres" if config.dagster_pg_url else "sqlite"
    typer.echo(
        f"instance   DAGSTER_HOME={home} (dagster.yaml rendered, {storage} storage ready, "
        f"warehouse pool {config.warehouse_pool}: {slots} writer{'s' if slots > 1 else ''})"
    )
    typer.echo("next: pncp doctor, then pncp run --latest (or pncp ui)")


@app.command("doctor", rich_help_panel=PANEL)
def doctor(
    min_free_gb: Annotated[
        float, typer.Option(min=0, help="Free disk space below this fails the disk check.")
    ] = 2.0,
    strict: Annotated[bool, typer.Option(help="Exit non-zero on warnings too.")] = False,
) -> None:
    """Check the installation; print each finding with its fix; exit 1 if any check fails.

    Checks: Python and package versions (against uv.lock), settings, disk space, the
    warehouse (exists, not locked, readable, writable), the payload store, open failed
    requests, the Dagster instance storage, the warehouse pool (free, and as many slots
    as the backend takes), and that the PNCP API answers. On a DuckLake the warehouse
    check attaches the catalog (named by host and database, never with its password)
    and checks that the lake's data path exists and is writable.

    Example: pncp doctor --strict
    """
    from project.cli.doctor import FAIL, OK, WARN, run_checks

    findings = []
    for finding in run_checks(min_free_gb):
        findings.append(finding)
        typer.echo(finding.line())
    counts = {level: sum(1 for f in findings if f.level == level) for level in (OK, WARN, FAIL)}
    typer.echo(f"doctor: {counts[OK]} ok, {counts[WARN]} warnings, {counts[FAIL]} failures")
    if counts[FAIL] or (strict and counts[WARN]):
        raise CommandFailed(
            f"{counts[FAIL]} check(s) failed" + (f", {counts[WARN]} warned" if strict else "")
        )


@app.command("ui", rich_help_panel=PANEL)
def ui(
    host: Annotated[str, typer.Option(help="Interface to listen on.")] = "127.0.0.1",
    port: Annotated[int, typer.Option(min=1, max=65535, help="Port of the UI.")] = 3000,
) -> None:
    """Start `dagster dev` for the project: the UI with the daemon (schedules, run queue).

    Runs launched by the other commands are listed there. Stop it with Ctrl-C.

    Example: pncp ui --port 3000
    """
    config = settings()
    home = ensure_dagster_home(config)
    dagster = str(Path(sys.executable).parent / "dagster")
    workspace = str(PROJECT_ROOT / "workspace.yaml")
    argv = [dagster, "dev", "-w", workspace, "-h", host, "-p", str(port)]
    typer.echo(f"Dagster UI on http://{host}:{port} (DAGSTER_HOME={home})", err=True)
    sys.stdout.flush()
    sys.stderr.flush()
    # Same working directory, so dagster dev loads the same `.env` as this command did (its
    # values are already in the environment handed over): UI runs and `pncp` commands
    # started here resolve every setting alike (project.settings).
    # Replace this process: Ctrl-C and SIGTERM go straight to dagster dev, which stops
    # its webserver and daemon cleanly.
    os.execve(dagster, argv, {**os.environ, "DAGSTER_HOME": str(home)})  # noqa: S606
