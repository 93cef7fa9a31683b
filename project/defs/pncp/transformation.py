"""dbt models of the PNCP pipeline as monthly-partitioned Dagster assets.

Every model writes the DuckDB warehouse, so the dbt step holds the warehouse lease (a
slot of the warehouse pool, `project.resources.warehouse_lease`) for the whole build. A
run covers one month or, in a backfill, a range of months in one dbt invocation: the
window reaches the models as `--vars {min_date, max_date}` and each incremental model
replaces exactly the months of the window. dbt tests surface as asset checks; `dbt
build` skips everything downstream of a failing ERROR test, so a missing key blocks the
marts and their exports.
"""

import time
from collections.abc import Iterator, Mapping
from datetime import timedelta
from typing import Any

import dagster as dg
from dagster_dbt import (
    DagsterDbtTranslator,
    DagsterDbtTranslatorSettings,
    DbtCliResource,
    dbt_assets,
)

from project.defs.pncp.partitions import monthly
from project.resources.dbt import get_dbt_project, warehouse_metadata
from project.resources.warehouse import WarehouseResource

# Folder under models/ → layer; seeds are reference data loaded with staging.
_SEED_LAYER = "staging"


class PncpDbtTranslator(DagsterDbtTranslator):
    """Keys `pncp/<layer>/<model>` and groups `pncp_<layer>`, from the model's folder."""

    @staticmethod
    def _layer(props: Mapping[str, Any]) -> str:
        if props["resource_type"] == "seed":
            return _SEED_LAYER
        fqn = props.get("fqn", [])
        return fqn[1] if len(fqn) > 2 else "models"

    def get_asset_key(self, dbt_resource_props: Mapping[str, Any]) -> dg.AssetKey:
        if dbt_resource_props["resource_type"] == "source":
            return super().get_asset_key(dbt_resource_props)
        if dbt_resource_props["resource_type"] == "seed":
            return dg.AssetKey(["pncp", "reference", dbt_resource_props["name"]])
        return dg.AssetKey(["pncp", self._layer(dbt_resource_props), dbt_resource_props["name"]])

    def get_group_name(self, dbt_resource_props: Mapping[str, Any]) -> str | None:
        if dbt_resource_props["resource_type"] == "source":
            return dbt_resource_props["source_name"]  # pncp_raw, pncp_meta
        return f"pncp_{self._layer(dbt_resource_props)}"


translator = PncpDbtTranslator(
    settings=DagsterDbtTranslatorSettings(
        enable_asset_checks=True, enable_source_tests_as_checks=True
    )
)


def partition_vars(context: dg.AssetExecutionContext) -> dict[str, str]:
    """The run's partition window as dbt vars: first and last day, inclusive."""
    window = context.partition_time_window
    return {
        "min_date": window.start.date().isoformat(),
        "max_date": (window.end - timedelta(days=1)).date().isoformat(),
    }


def dbt_build_args(window_vars: Mapping[str, str]) -> list[str]:
    vars_yaml = "{" + ", ".join(f"{k}: '{v}'" for k, v in sorted(window_vars.items())) + "}"
    return ["build", "--vars", vars_yaml]


@dbt_assets(
    manifest=get_dbt_project().manifest_path,
    project=get_dbt_project(),
    dagster_dbt_translator=translator,
    partitions_def=monthly,
    backfill_policy=dg.BackfillPolicy.single_run(),
    name="pncp_dbt_models",
)
def pncp_dbt_models(
    context: dg.AssetExecutionContext, dbt: DbtCliResource, warehouse: WarehouseResource
) -> Iterator[Any]:
    with warehouse.lease(context):
        invocation = dbt.cli(dbt_build_args(partition_vars(context)), context=context)
        events, failure = [], None
        try:
            for event in invocation.stream():
                events.append(event)
        except Exception as exc:  # yield what was built (with its metadata), then fail
            failure = exc
        yield from with_warehouse_metadata(context, invocation, events, warehouse)
        if failure is not None:
            raise failure


def with_warehouse_metadata(
    context: dg.AssetExecutionContext,
    invocation: Any,
    events: list[Any],
    warehouse: WarehouseResource,
) -> Iterator[Any]:
    """The build's events, each model's output with its column types, row count and column
    lineage (`project.resources.dbt.warehouse_metadata`), read once dbt has let go of the
    warehouse (a DuckDB file admits one process): the step still holds the lease. Metadata
    that cannot be read is logged and left out; the materializations stand."""
    started = time.perf_counter()
    found: dict[str, dict[str, Any]] = {}
    stats: dict[str, Any] = {}
    try:
        with warehouse.get_reader() as conn:
            found = warehouse_metadata(
                invocation, events, conn, log=context.log.warning, stats=stats
            )
    except Exception as exc:
        context.log.warning(f"dbt column metadata not read: {type(exc).__name__}: {exc}")
    lineage = ", ".join(
        f"{len(stats[k])} {k}" for k in ("cached", "built", "skipped", "failed") if stats.get(k)
    )
    slowest = sorted(stats.get("seconds", {}).items(), key=lambda item: -item[1])[:3]
    context.log.info(
        f"column metadata of {len(found)} dbt node(s) in {time.perf_counter() - started:.2f} s"
        + (f"; column lineage: {lineage}" if lineage else "")
        + (f" (slowest: {', '.join(f'{n} {s:.2f} s' for n, s in slowest)})" if slowest else "")
    )
    for event in events:
        unique_id = getattr(event, "metadata", {}).get("unique_id")
        extra = found.get(getattr(unique_id, "text", unique_id))
        if extra and isinstance(event, dg.Output):
            event = event.with_metadata({**event.metadata, **extra})
        yield event
