"""`pncp catalog ...`: the dataset catalog in `conf/` as an operator sees it.

`list` and `describe` show entries resolved for an environment (credentials by name
only, never their values), `resolve` says which entry or factory pattern serves each
dataset name, `export` copies any dataset to CSV (gzip), Parquet (hive-partitioned with
`--partition-by`), JSON, Excel, HTML or Markdown. Nothing here writes a catalog dataset.
"""

from __future__ import annotations

import json
from enum import StrEnum
from pathlib import Path
from typing import Annotated, Any

import typer

from project.cli.app import CliError, app
from project.cli.common import render_table

catalog_app = typer.Typer(
    help="The dataset catalog (conf/base under conf/$CATALOG_ENV): list, describe, resolve, "
    "export.",
    no_args_is_help=True,
)
app.add_typer(catalog_app, name="catalog", rich_help_panel="Datasets")

EnvOption = Annotated[
    str | None,
    typer.Option("--env", help="Catalog environment (default: $CATALOG_ENV, else local)."),
]
ConfOption = Annotated[
    Path | None,
    typer.Option("--conf", help="The conf folder (default: $CATALOG_CONF_DIR, else conf)."),
]
DEFAULT_CONF = Path("conf")


def _catalog(conf: Path | None, env: str | None):
    from project.lib.datasets import Catalog
    from project.resources.catalog_io import load_catalog
    from project.settings import PROJECT_ROOT

    if conf is None:
        return load_catalog(DEFAULT_CONF, env)
    return Catalog.load(conf.resolve(), env, root=PROJECT_ROOT)


@catalog_app.command("list")
def list_datasets(env: EnvOption = None, conf: ConfOption = None) -> None:
    """Every declared dataset (type and location), then the factory patterns."""
    catalog = _catalog(conf, env)
    rows = [(n, catalog.get(n).type, catalog.get(n).location()) for n in catalog.names()]
    print(f"catalog environment: {catalog.env}")
    print(render_table(["dataset", "type", "location"], rows, max_width=70))
    if catalog.patterns:
        print("\nfactory patterns (most specific first):")
        from project.lib.datasets.factories import ranked

        for pattern in ranked(catalog.patterns):
            print(f"  {pattern}  ({catalog.patterns[pattern].get('type')})")


@catalog_app.command("describe")
def describe(
    name: Annotated[str, typer.Argument(help="A dataset name, e.g. sales.orders_clean.")],
    env: EnvOption = None,
    conf: ConfOption = None,
) -> None:
    """The resolved entry of NAME as JSON: credentials by name, never their values."""
    described = _catalog(conf, env).describe(name)
    print(json.dumps(described, indent=2, default=str, ensure_ascii=False))


@catalog_app.command("resolve")
def resolve(
    names: Annotated[
        list[str] | None,
        typer.Argument(help="Dataset names (default: every asset the code location has)."),
    ] = None,
    env: EnvOption = None,
    conf: ConfOption = None,
) -> None:
    """Which entry or factory pattern serves each dataset name."""
    catalog = _catalog(conf, env)
    wanted = names or _asset_names()
    rows = [(n, catalog.resolve(n) or "(nothing: not in the catalog)") for n in wanted]
    print(render_table(["dataset", "served by"], rows, max_width=70))


def _asset_names() -> list[str]:
    """The dataset names of every asset loaded through the catalog IO manager."""
    from project.definitions import defs

    graph = defs().resolve_asset_graph()
    names = []
    for key in graph.get_all_asset_keys():
        node = graph.get(key)
        manager = getattr(node, "io_manager_key", None) or node.metadata.get("dataset")
        if manager == "catalog" or "dataset" in node.metadata:
            names.append(".".join(key.path))
    return sorted(names)


class ExportFormat(StrEnum):
    csv = "csv"
    csv_gz = "csv.gz"
    parquet = "parquet"
    json = "json"
    jsonl = "jsonl"
    excel = "xlsx"
    html = "html"
    markdown = "md"


def export_entry(fmt: ExportFormat, output: Path, partition_by: str | None, rows: int) -> dict:
    """The catalog entry of an export in `fmt`: exports are datasets like any other."""
    if fmt is ExportFormat.parquet and partition_by:
        return {
            "type": "parquet.PartitionedDataset",
            "path": str(output),
            "partition_by": partition_by,
        }
    types: dict[ExportFormat, dict[str, Any]] = {
        ExportFormat.csv: {"type": "pandas.CSVDataset"},
        ExportFormat.csv_gz: {"type": "pandas.CSVDataset", "save_args": {"compression": "gzip"}},
        ExportFormat.parquet: {"type": "pandas.ParquetDataset"},
        ExportFormat.json: {"type": "pandas.JSONDataset"},
        ExportFormat.jsonl: {"type": "pandas.JSONDataset", "save_args": {"lines": True}},
        ExportFormat.excel: {"type": "pandas.ExcelDataset"},
        ExportFormat.html: {"type": "report.HTMLDataset", "row_limit": rows},
        ExportFormat.markdown: {"type": "report.MarkdownDataset", "row_limit": rows},
    }
    return {**types[fmt], "filepath": str(output)}


@catalog_app.command("export")
def export(
    name: Annotated[str, typer.Argument(help="The dataset to export.")],
    output: Annotated[Path, typer.Option("--output", "-o", help="File (or folder) to write.")],
    fmt: Annotated[
        ExportFormat, typer.Option("--format", "-f", help="Output format.")
    ] = ExportFormat.csv_gz,
    partition_by: Annotated[
        str | None, typer.Option(help="Parquet only: a column to hive-partition by.")
    ] = None,
    partitions: Annotated[
        list[str] | None, typer.Option("--partition", help="Export only these partitions.")
    ] = None,
    row_limit: Annotated[int, typer.Option(help="HTML/Markdown: rows shown.")] = 50,
    force: Annotated[
        bool, typer.Option("--force", help="Replace an existing output (a folder with it).")
    ] = False,
    env: EnvOption = None,
    conf: ConfOption = None,
) -> None:
    """Copy dataset NAME to a file: CSV (gzip), Parquet, JSON, Excel, HTML or Markdown."""
    from project.lib.datasets.base import REGISTRY

    if partition_by and fmt is not ExportFormat.parquet:
        raise CliError("--partition-by applies to --format parquet only")
    if output.exists() and not force and (output.is_file() or any(output.iterdir())):
        raise CliError(f"{output} exists; choose another --output, or --force to replace it")
    source = _catalog(conf, env).get(name)
    entry = export_entry(fmt, output.resolve(), partition_by, row_limit)
    target = REGISTRY[entry["type"]].model_validate(entry).bind(f"{name} export", None)
    streams = entry["type"] == "parquet.PartitionedDataset"
    data = source.scan(partitions) if streams else source.load_arrow(partitions)
    written = target.save(data)
    print(f"{name} → {written.get('path', output)}: {written.get('rows', 0)} rows ({fmt.value})")


new_app = typer.Typer(
    help="Scaffolding: start a dataset from its type, or a pipeline that runs at once.",
    no_args_is_help=True,
)
app.add_typer(new_app, name="new", rich_help_panel="Datasets")


@new_app.command("dataset")
def new_dataset(
    name: Annotated[str, typer.Argument(help="The dataset's name, e.g. sales.returns.")],
    kind: Annotated[
        str, typer.Option("--type", "-t", help="A catalog type, e.g. pandas.CSVDataset.")
    ],
    conf: ConfOption = None,
) -> None:
    """Add NAME to conf/base with the fields of its type (the optional ones commented).

    Example: pncp new dataset sales.returns --type pandas.CSVDataset
    """
    from project.lib.datasets import scaffold
    from project.resources.catalog_io import conf_folder
    from project.settings import PROJECT_ROOT

    folder = conf.resolve() if conf else conf_folder(DEFAULT_CONF)
    target = scaffold.add(folder, name, kind, PROJECT_ROOT)
    print(f"{name} ({kind}) added to {target}")
    print(f"  see it resolved: pncp catalog describe {name}")


@new_app.command("pipeline")
def new_pipeline(
    name: Annotated[str, typer.Argument(help="The pipeline's name, e.g. stock_moves.")],
    conf: ConfOption = None,
) -> None:
    """A YAML pipeline NAME that runs at once: its file, function, datasets, sample, test.

    Writes conf/base/pipelines/NAME.yml, project/lib/NAME/, conf/base/catalog/NAME.yml,
    data/samples/NAME/, a `NAME:` block in conf/base/parameters.yml and
    tests/pipelines/test_NAME.py; removed again unless the catalog and pipelines load.

    Example: pncp new pipeline stock_moves
    """
    from project.lib.datasets import scaffold_pipeline
    from project.resources.catalog_io import conf_folder
    from project.settings import PROJECT_ROOT

    folder = conf.resolve() if conf else conf_folder(DEFAULT_CONF)
    try:
        written = scaffold_pipeline.create(name, PROJECT_ROOT, folder)
    except scaffold_pipeline.ScaffoldError as exc:
        raise CliError(str(exc)) from None
    print(f"pipeline {name!r} written:")
    for path in written:
        shown = path.relative_to(PROJECT_ROOT) if path.is_relative_to(PROJECT_ROOT) else path
        print(f"  {shown}")
    print("next steps:")
    for step, why in (
        (f".venv/bin/python -m pytest tests/pipelines/test_{name}.py", "passes as written"),
        (f".venv/bin/dg list defs --assets 'group:{name}'", "its assets and checks"),
        ("make dev  (dagster dev)", f"materialize the group {name!r} in the UI"),
        (f"pyproject.toml: add {name} to the pipeline-functions-are-independent layers", ""),
        ("UPDATE_SNAPSHOTS=1 .venv/bin/python -m pytest tests/defs/test_definitions.py",
         "then review the asset graph's diff"),
    ):  # fmt: skip
        print(f"  {step}" + (f"   # {why}" if why else ""))
