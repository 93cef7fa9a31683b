"""`DatasetCatalog`: the component type that turns the catalog in `conf/` into definitions.

Instantiated by a capability's `defs.yaml` (`dg check defs` validates its attributes):

```yaml
type: project.components.dataset_catalog.DatasetCatalog
attributes:
  namespace: sales                        # owns the datasets named `sales.*`
  asset_modules: [project.defs.sales.assets]
```

It loads the catalog when the definitions load, so a malformed catalog (YAML syntax,
unknown type, missing field, undeclared credentials, a factory pattern that serves no
dataset) fails before any run, naming file, line and entry. It produces:

- the assets of `asset_modules` (the nodes that read and write the datasets);
- a source asset for every dataset of its namespace that no node produces, loaded through
  the catalog, with an `available` check (the file or table is there);
- the `catalog` IO manager (`project.resources.catalog_io`), for the environment chosen by
  `CATALOG_ENV` at run time.
"""

from __future__ import annotations

import importlib
from collections.abc import Sequence
from datetime import UTC, datetime
from functools import cache, partial
from pathlib import Path
from typing import Any

import dagster as dg

from project.components.database_sources import database_source_assets
from project.components.pipeline_nodes import node_assets
from project.defs.ops.lineage import emit_check_lineage
from project.lib.datasets import Catalog, Dataset, quality
from project.lib.datasets.pipelines import (
    Pipeline,
    load_parameters,
    load_pipelines,
    pipeline_names,
)
from project.lib.lineage.model import Assertion
from project.resources.catalog_io import (
    CatalogIOManager,
    conf_folder,
    dataset_name,
    load_catalog,
)

# The UI's kind badges, by the first part of a dataset type's name or by its format.
_KINDS = {
    "CSVDataset": "csv",
    "JSONDataset": "json",
    "ParquetDataset": "parquet",
    "PartitionedDataset": "parquet",
    "ExcelDataset": "excel",
    "HTMLDataset": "html",
    "MarkdownDataset": "markdown",
    "postgres": "postgres",
    "mysql": "mysql",
    "duckdb": "duckdb",
}


def kinds_of(dataset: Dataset) -> set[str]:
    family, _, kind = dataset.type.partition(".")
    found = {_KINDS[part] for part in (family, kind) if part in _KINDS}
    if kind == "SQLTableDataset":
        found.add("sql")
    return found or {"file"}


def source_spec(dataset: Dataset, group: str, io_manager_key: str) -> dg.AssetSpec:
    return dg.AssetSpec(
        key=dg.AssetKey(dataset.name.split(".")),
        group_name=group,
        description=(dataset.metadata or {}).get("description")
        or f"{dataset.type} at {dataset.location()}, declared in the catalog",
        kinds=kinds_of(dataset),
        metadata={"dataset": dataset.name, "dataset_type": dataset.type},
    ).with_io_manager_key(io_manager_key)


def availability_check(
    spec: dg.AssetSpec, conf_dir: str, env: str | None
) -> dg.AssetChecksDefinition:
    name = dataset_name(spec.key)

    @dg.asset_check(
        asset=spec.key,
        name="available",
        description="The source dataset's file, folder or table exists.",
    )
    def available() -> dg.AssetCheckResult:
        dataset = load_catalog(conf_dir, env).get(name)
        present = dataset.exists()
        return dg.AssetCheckResult(
            passed=present,
            metadata={"location": dataset.location()},
            description=None if present else f"{name}: nothing at {dataset.location()}",
        )

    return available


def quality_checks(
    key: dg.AssetKey, rules: list[quality.Rule], conf_dir: str, env: str | None, audit_dir: str
) -> dg.AssetChecksDefinition:
    """A dataset's rules as asset checks, one step that loads the dataset once.

    `error` rules are blocking (what is downstream of the asset in the run does not
    materialize when one fails); `warn` rules only report. Failing rows are written to
    `<audit_dir>/<dataset>/<check>.csv` (removed when the rule passes again), named in the
    check's metadata with their count and a sample. The step's outcome is also sent as an
    OpenLineage run whose input carries `dataQualityAssertions` (`emit_check_lineage`).
    """
    name = dataset_name(key)
    by_name = {rule.name: rule for rule in rules}
    specs = [
        dg.AssetCheckSpec(
            rule.name,
            asset=key,
            blocking=rule.severity == "error",
            description=rule.description or f"{rule.rule} rule ({rule.severity}), catalog",
        )
        for rule in rules
    ]

    @dg.multi_asset_check(specs=specs, name=f"{'__'.join(key.path)}__quality", can_subset=True)
    def checks(context):  # untyped: Dagster reads string annotations as wrong
        started = datetime.now(UTC)
        dataset = load_catalog(conf_dir, env).get(name)
        try:
            frame = dataset.load()
        except Exception as exc:
            emit_check_lineage(context, key, dataset, [], started, error=exc)
            raise
        folder = conf_folder(conf_dir).parent / audit_dir / name
        rules = [by_name[check_key.name] for check_key in context.selected_asset_check_keys]
        results = [_result(rule, frame, folder) for rule in rules]
        assertions = [_assertion(r, c) for r, c in zip(rules, results, strict=True)]
        emit_check_lineage(context, key, dataset, assertions, started)
        yield from results

    return checks


def _assertion(rule: quality.Rule, result: dg.AssetCheckResult) -> Assertion:
    """A rule's outcome as OpenLineage's dataQualityAssertions has it."""
    column = getattr(rule, "column", None)
    columns = getattr(rule, "columns", None) or []
    if column is None and len(columns) == 1:  # `unique` over one column
        column = columns[0]
    return Assertion(
        name=rule.name,
        success=bool(result.passed),
        severity=rule.severity,
        column=column,
        description=rule.description or f"{rule.rule} rule",
    )


def _result(rule: quality.Rule, frame: Any, folder: Path) -> dg.AssetCheckResult:
    result = rule.evaluate(frame)
    audit = folder / f"{rule.name}.csv"
    metadata: dict[str, Any] = {
        "rule": rule.model_dump_json(exclude_none=True, by_alias=True),
        "rows": len(frame),
        "failed_rows": result.failed_rows,
        "detail": result.detail,
    }
    if result.raised:
        metadata["error"] = result.raised
    if result.failed_rows:
        folder.mkdir(parents=True, exist_ok=True)
        result.failing.to_csv(audit, index=False)
        metadata["failing_rows_file"] = dg.MetadataValue.path(str(audit))
        metadata["sample"] = dg.MetadataValue.json(result.sample())
    else:
        audit.unlink(missing_ok=True)
    blocking = rule.severity == "error"
    severity = dg.AssetCheckSeverity.ERROR if blocking else dg.AssetCheckSeverity.WARN
    return dg.AssetCheckResult(
        check_name=rule.name, passed=result.passed, severity=severity, metadata=metadata
    )


@cache
def io_manager(conf_dir: str, env: str | None) -> CatalogIOManager:
    """One IO manager object per catalog: components that share a catalog (`sales`, the YAML
    pipelines) declare the same resource, which Dagster merges only if it is the same."""
    return CatalogIOManager(conf_dir=conf_dir, env=env)


class DatasetCatalog(dg.Component, dg.Resolvable, dg.Model):
    """Assets, source assets, checks and the IO manager of one namespace of the catalog."""

    # Owns the datasets named `<namespace>.*`; none: every dataset in the catalog (or, with
    # `pipelines`, those named after one of the pipelines: `inventory.*`).
    namespace: str | None = None
    asset_modules: Sequence[str] = ()
    # YAML pipelines (`conf/base/pipelines/<name>.yml`) whose nodes become assets; `["*"]`
    # loads every file there, so adding a pipeline is adding a file.
    pipelines: Sequence[str] = ()
    conf_dir: str = "conf"
    env: str | None = None
    io_manager_key: str = "catalog"
    source_group: str | None = None
    # Where quality checks keep failing rows, relative to the project root.
    audit_dir: str = "data/audit"

    def build_defs(self, context: dg.ComponentLoadContext) -> dg.Definitions:
        catalog = load_catalog(self.conf_dir, self.env)
        modules = [importlib.import_module(name) for name in self.asset_modules]
        assets = list(dg.load_assets_from_modules(modules)) if modules else []
        pipelines = self._pipelines(catalog)
        spaces = (self.namespace,) if self.namespace else tuple(p.name for p in pipelines)
        owns = partial(self._owns, spaces)
        assets += [
            node_assets(
                node,
                catalog=catalog,
                conf_dir=conf_folder(self.conf_dir),
                env=self.env,
                io_manager_key=self.io_manager_key,
                kinds=kinds_of,
            )
            for pipeline in pipelines
            for node in pipeline.nodes
        ]
        produced, consumed = self._keys(assets)
        mine = [n for n in produced | consumed if owns(n)]
        catalog.check_names(mine, namespace=spaces)
        owned = {n for n in catalog.names() if owns(n)}
        databases = [
            catalog.get(n)
            for n in sorted(owned)
            if catalog.explicit[n].get("type") == "sql.DatabaseSource"
        ]
        owned -= {d.name for d in databases}
        assets += [
            database_source_assets(d, conf_dir=self.conf_dir, env=self.env) for d in databases
        ]
        sources = sorted((owned | {n for n in consumed if owns(n)}) - produced)
        specs = [
            source_spec(catalog.get(n), self._source_group(n), self.io_manager_key) for n in sources
        ]
        checks = [availability_check(s, self.conf_dir, self.env) for s in specs]
        for name in sorted({n for n in produced if owns(n)} | set(sources)):
            key = dg.AssetKey(name.split("."))
            rules = catalog.rules(name)
            if rules:
                checks.append(quality_checks(key, rules, self.conf_dir, self.env, self.audit_dir))
        return dg.Definitions(
            assets=[*assets, *specs],
            asset_checks=checks,
            resources={self.io_manager_key: io_manager(self.conf_dir, self.env)},
        )

    def _source_group(self, name: str) -> str:
        """`source_group`, else `<namespace>_raw` (`inventory.movements_raw`: `inventory_raw`)."""
        if self.source_group:
            return self.source_group
        space = self.namespace or (name.split(".", 1)[0] if "." in name else "catalog")
        return f"{space}_raw"

    def _pipelines(self, catalog: Catalog) -> list[Pipeline]:
        if not self.pipelines:
            return []
        conf = conf_folder(self.conf_dir)
        names = pipeline_names(conf) if list(self.pipelines) == ["*"] else self.pipelines
        return load_pipelines(
            conf,
            names,
            parameters=load_parameters(conf, catalog.env),
            is_dataset=lambda name: catalog.resolve(name) is not None,
        )

    def _owns(self, spaces: Sequence[str], name: str) -> bool:
        if not spaces and not self.pipelines:
            return True
        return any(name.startswith(f"{space}.") for space in spaces)

    @staticmethod
    def _keys(assets: list) -> tuple[set[str], set[str]]:
        produced: set[str] = set()
        consumed: set[str] = set()
        for asset in assets:
            if isinstance(asset, dg.AssetsDefinition):
                produced |= {dataset_name(k) for k in asset.keys}
                consumed |= {dataset_name(d.asset_key) for s in asset.specs for d in s.deps}
        return produced, consumed - produced
