"""dbt models of the PNCP pipeline as monthly-partitioned Dagster assets.

Every model writes the DuckDB warehouse, so the dbt step holds the warehouse lease (a
slot of the warehouse pool, `project.resources.warehouse_lease`) for the whole build. A
run covers one month or, in a backfill, a range of months in one dbt invocation: the
window reaches the models in the environment (`PNCP_MIN_DATE`, `PNCP_MAX_DATE`: a new
`--vars` value every month would make dbt re-parse the whole project) and each incremental
model replaces exactly the months of the window. dbt tests surface as asset checks; `dbt
build` skips everything downstream of a failing ERROR test, so a missing key blocks the
marts and their exports.
"""

from collections.abc import Iterator, Mapping
from contextlib import AbstractContextManager
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
from project.resources.dbt import (
    collect_events,
    dbt_environment,
    get_dbt_project,
    with_warehouse_metadata,
)
from project.resources.warehouse import WarehouseResource

# Folder under models/ → layer; seeds are reference data loaded with staging.
_SEED_LAYER = "staging"
# PNCP's models and seeds only: other capabilities' models have @dbt_assets of their own.
PNCP_MODELS = " ".join(
    f"path:{folder}"
    for folder in ("models/staging/pncp", "models/intermediate/pncp", "models/marts/pncp", "seeds")
)


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


# Where the models read the run's window (macros/pncp/partition_window.sql).
WINDOW_ENV = {"min_date": "PNCP_MIN_DATE", "max_date": "PNCP_MAX_DATE"}


def partition_window(context: dg.AssetExecutionContext) -> dict[str, str]:
    """The run's partition window: first and last day, inclusive."""
    window = context.partition_time_window
    return {
        "min_date": window.start.date().isoformat(),
        "max_date": (window.end - timedelta(days=1)).date().isoformat(),
    }


def window_for_dbt(window: Mapping[str, str]) -> AbstractContextManager[None]:
    """The window where the models read it, for the dbt invocations started inside."""
    return dbt_environment({WINDOW_ENV[name]: day for name, day in window.items()})


@dbt_assets(
    manifest=get_dbt_project().manifest_path,
    project=get_dbt_project(),
    dagster_dbt_translator=translator,
    select=PNCP_MODELS,
    partitions_def=monthly,
    backfill_policy=dg.BackfillPolicy.single_run(),
    name="pncp_dbt_models",
)
def pncp_dbt_models(
    context: dg.AssetExecutionContext, dbt: DbtCliResource, warehouse: WarehouseResource
) -> Iterator[Any]:
    with warehouse.lease(context), window_for_dbt(partition_window(context)):
        invocation = dbt.cli(["build"], context=context)
        events, failure = collect_events(invocation)
        outputs = with_warehouse_metadata(context, invocation, events, warehouse)
    yield from outputs
    if failure is not None:
        raise failure
