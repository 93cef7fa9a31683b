"""`pncp lineage export`: the code location's asset graph as one lineage JSON document.

Loads the definitions (as `dagster` does) and the instance under `DAGSTER_HOME` when
there is one, whose latest materializations add what only a run knows (dbt models' column
types and column lineage, row counts, an export's files). Output is deterministic (sorted,
no timestamp); the summary goes to stdout. Exit codes: 0 written, 2 bad usage or an output
path that cannot be written.
"""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer

from project.cli.app import CliError, app

lineage_app = typer.Typer(
    name="lineage",
    help="Lineage of the code location: export the asset graph as JSON.",
    no_args_is_help=True,
)
app.add_typer(lineage_app)


@lineage_app.command("export")
def export(
    output: Annotated[
        Path | None,
        typer.Option("--output", "-o", help="where to write (default data/lineage/lineage.json)"),
    ] = None,
    instance: Annotated[
        bool,
        typer.Option(
            "--instance/--no-instance",
            help="add the latest materializations' columns and row counts from DAGSTER_HOME",
        ),
    ] = True,
) -> None:
    """Write datasets (place, schema), transformations (inputs, outputs, node, code, group,
    kinds) and column lineage of every asset as JSON.

    Example: pncp lineage export --output /tmp/lineage.json
    """
    from project.settings import get_settings

    settings = get_settings()
    path = output or settings.data_path / "lineage" / "lineage.json"
    try:  # before loading the definitions (seconds): a wrong path fails at once
        path.parent.mkdir(parents=True, exist_ok=True)
    except OSError as exc:
        raise CliError(f"cannot write {path}: {exc.strerror or exc}") from None

    import dagster as dg

    from project.definitions import defs
    from project.defs.ops.lineage import CODE_LOCATION, describe_assets, secrets
    from project.lib.lineage import export as lineage_export

    home = settings.dagster_home_path
    definitions = defs()
    if instance and (home / "dagster.yaml").exists():
        with dg.DagsterInstance.from_config(str(home)) as inst:
            assets = describe_assets(definitions, inst)
    else:
        assets = describe_assets(definitions)
    doc = lineage_export.document(CODE_LOCATION, assets)
    try:
        written = lineage_export.write(doc, path, secrets())
    except OSError as exc:
        raise CliError(f"cannot write {path}: {exc.strerror or exc}") from None
    summary = doc["summary"]
    print(
        f"{summary['assets']} assets, {summary['datasets']} datasets, "
        f"{summary['transformations']} transformations "
        f"({summary['with_column_lineage']} with column lineage) -> {written}"
    )
