"""The dataset catalog as a Dagster IO manager: an asset's output is saved to, and an input
loaded from, the catalog entry named by the asset key (`["sales", "orders_clean"]` is the
dataset `sales.orders_clean`).

Which file, table or database that is depends on the catalog environment (`CATALOG_ENV`,
or `env` here), never on code. The resource's config holds the conf folder and the
environment's name only: credentials are resolved by the dataset when it connects, so they
never reach run config, metadata, logs or the UI.

A partitioned asset saves and loads its own partition; an unpartitioned consumer of a
partitioned dataset gets every partition. An input annotated `pa.RecordBatchReader` is
streamed instead of loaded whole. A materialization carries the row count and the saved
Arrow schema as `dagster/column_schema` (read from the stream's header, never the data).
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any

import dagster as dg
import pyarrow as pa

from project.lib.datasets import Catalog, Dataset, DatasetError, current_env
from project.settings import PROJECT_ROOT


def dataset_name(key: dg.AssetKey) -> str:
    return ".".join(key.path)


# Replaces every component's `conf_dir` (like Kedro's `--conf-source`): one checkout run
# against another configuration tree, such as a deployment's or a test's.
CONF_DIR_ENV = "CATALOG_CONF_DIR"


def conf_folder(conf_dir: str | Path) -> Path:
    path = Path(os.environ.get(CONF_DIR_ENV, "").strip() or conf_dir)
    return path if path.is_absolute() else PROJECT_ROOT / path


def load_catalog(
    conf_dir: str | Path, env: str | None, project_root: str | Path | None = None
) -> Catalog:
    """The catalog as the environment has it now: not cached, since interpolations read
    environment variables (a few small YAML files take milliseconds to read). Relative
    paths in entries are relative to the project root, wherever the conf folder is."""
    root = Path(project_root) if project_root else PROJECT_ROOT
    return Catalog.load(conf_folder(conf_dir), env or current_env(), root=root)


def table_schema(schema: pa.Schema) -> dg.TableSchema:
    """A saved dataset's Arrow schema as Dagster's column schema (the UI's Columns tab, the
    OpenLineage schema facet): Arrow's type names, `NOT NULL` where the field says so."""
    return dg.TableSchema(
        columns=[
            dg.TableColumn(
                name=field.name,
                type=str(field.type),
                constraints=None if field.nullable else dg.TableColumnConstraints(nullable=False),
            )
            for field in schema
        ]
    )


class CatalogIOManager(dg.ConfigurableIOManager):
    """Saves and loads assets through the catalog in `conf_dir` for environment `env`."""

    conf_dir: str = "conf"
    env: str | None = None
    # What relative paths in entries are relative to (default: this project's root); a
    # Kedro project elsewhere sets its own.
    project_root: str | None = None
    # Versioned datasets load their latest version unless one is chosen here.
    load_versions: dict[str, str] = {}

    def catalog(self) -> Catalog:
        return load_catalog(self.conf_dir, self.env, self.project_root)

    def _dataset(self, key: dg.AssetKey):
        name = dataset_name(key)
        dataset = self.catalog().get(name)
        if name in self.load_versions and hasattr(dataset, "load_version"):
            dataset.load_version = self.load_versions[name]
        return dataset

    def handle_output(self, context: dg.OutputContext, obj: Any) -> None:
        if obj is None:
            return
        dataset = self._dataset(context.asset_key)
        partition = self._partition(context, dataset)
        written = dataset.save(obj, partition)
        metadata: dict[str, Any] = {
            "dataset": dataset.name,
            "dataset_type": dataset.type,
            "catalog_env": self.catalog().env,
            "location": dataset.location(),
        }
        if "rows" in written:
            metadata["dagster/row_count"] = written.pop("rows")
        schema = written.pop("schema", None)
        if schema is not None:
            metadata["dagster/column_schema"] = table_schema(schema)
        metadata.update({k: v for k, v in written.items() if v not in (None, [], {})})
        context.add_output_metadata(metadata)

    @staticmethod
    def _partition(context: dg.OutputContext, dataset: Dataset) -> str | None:
        """The one partition a run writes: a range in one run would need the data split by
        key, which the output does not carry, so it is refused rather than saved whole."""
        if not context.has_asset_partitions:
            return None
        if not dataset.partitioned:
            raise DatasetError(
                f"dataset {dataset.name!r}: a partitioned asset needs a partitioned dataset "
                f"type ({dataset.type} keeps one version of its data)"
            )
        if not context.has_partition_key:
            keys = list(context.asset_partition_keys)
            span = context.asset_partition_key_range
            raise DatasetError(
                f"dataset {dataset.name!r}: one run wrote {len(keys)} partitions "
                f"({span.start}...{span.end}); run one partition per run (no single-run "
                "backfill)"
            )
        return context.partition_key

    def load_input(self, context: dg.InputContext) -> Any:
        upstream = context.upstream_output
        key = context.asset_key if context.has_asset_key else None
        if key is None and upstream is not None:
            key = upstream.asset_key
        if key is None:
            raise dg.DagsterInvariantViolationError("the catalog loads assets only")
        dataset = self._dataset(key)
        partitions = list(context.asset_partition_keys) if context.has_asset_partitions else None
        if partitions and not dataset.partitioned:
            raise DatasetError(
                f"dataset {dataset.name!r}: {dataset.type} has no partitions to load"
            )
        if context.dagster_type.typing_type is pa.RecordBatchReader:
            return dataset.scan(partitions)
        return dataset.load(partitions)
