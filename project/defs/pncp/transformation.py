"""dbt models of the PNCP pipeline as Dagster assets.

Every dbt model writes the DuckDB warehouse, so the whole dbt step runs in the warehouse
pool, like the Python writers. dbt tests surface as asset checks.
"""

from collections.abc import Iterator, Mapping
from typing import Any

import dagster as dg
from dagster_dbt import (
    DagsterDbtTranslator,
    DagsterDbtTranslatorSettings,
    DbtCliResource,
    dbt_assets,
)

from project.resources.dbt import get_dbt_project
from project.settings import get_settings


class PncpDbtTranslator(DagsterDbtTranslator):
    """Keys `pncp/<layer>/<model>` and groups `pncp_<layer>`, from the model's folder."""

    @staticmethod
    def _layer(props: Mapping[str, Any]) -> str:
        fqn = props.get("fqn", [])
        return fqn[1] if len(fqn) > 2 else "models"

    def get_asset_key(self, dbt_resource_props: Mapping[str, Any]) -> dg.AssetKey:
        if dbt_resource_props["resource_type"] == "source":
            return super().get_asset_key(dbt_resource_props)
        return dg.AssetKey(["pncp", self._layer(dbt_resource_props), dbt_resource_props["name"]])

    def get_group_name(self, dbt_resource_props: Mapping[str, Any]) -> str | None:
        return f"pncp_{self._layer(dbt_resource_props)}"


translator = PncpDbtTranslator(
    settings=DagsterDbtTranslatorSettings(
        enable_asset_checks=True, enable_source_tests_as_checks=True
    )
)


@dbt_assets(
    manifest=get_dbt_project().manifest_path,
    project=get_dbt_project(),
    dagster_dbt_translator=translator,
    pool=get_settings().warehouse_pool,
    name="pncp_dbt_models",
)
def pncp_dbt_models(context: dg.AssetExecutionContext, dbt: DbtCliResource) -> Iterator[Any]:
    yield from dbt.cli(["build"], context=context).stream()
