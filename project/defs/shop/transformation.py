"""Silver and gold of the shop medallion: the dbt models under models/{silver,gold}/shop.

Keys `shop/<layer>/<model>` and groups `shop_silver` / `shop_gold` (the layer policy makes
silver eager and gold eager-or-stale with freshness); the bronze tables they read are the
assets `shop/bronze/<source>`. One `dbt build` per run, holding the warehouse lease like
PNCP's, with the Dagster run id in `SHOP_RUN_ID` so the expectation log and the quarantine
name the run. Every layer is incremental: silver takes the bronze batches it has not seen
(and the quarantined rows of pending replay requests); the dimensions apply the change
feeds of the keys with new changes (AUTO CDC, SCD1/SCD2, macros/shop/auto_cdc.sql); the
facts and KPIs recompute the orders, sessions, days and customers whose inputs changed
(macros/shop/incremental.sql). part 1's daily_sales and sales_summary are rebuilt.

Checks, all dbt tests:
- `expectations_<model>` on each silver model, WARN (never blocks): the rules that failed
  rows in this run; its metadata lists every rule's passed/failed counts from
  `shop_ops.expectation_log`;
- gold's FAIL expectations, severity error: blocking checks (revenue never negative, every
  order of a known customer joined to exactly one of its versions, totals reconciled with
  silver, SCD2 history without overlaps); `dbt build` skips what is downstream of a
  failure and the step fails. Gold's WARN checks (an order whose customer, or a line whose
  product, has not landed yet) never block. Their counts go to the expectation log too.
"""

from collections.abc import Iterator, Mapping, Set
from contextlib import AbstractContextManager
from typing import Any

import dagster as dg
from dagster_dbt import (
    DagsterDbtTranslator,
    DagsterDbtTranslatorSettings,
    DbtCliResource,
    dbt_assets,
)

from project.lib.shop import ops
from project.resources.dbt import (
    collect_events,
    dbt_environment,
    get_dbt_project,
    with_warehouse_metadata,
)
from project.resources.warehouse import WarehouseResource

SHOP_MODELS = "path:models/silver/shop path:models/gold/shop"
# dbt sources that are no asset of the graph: the operator's CLI writes them, and a
# dependency on an asset that is never materialized would keep eager silver from running.
NOT_ASSETS = frozenset({"shop_ops"})
EXPECTATIONS_CHECK = "expectations_"


class ShopDbtTranslator(DagsterDbtTranslator):
    """Keys `shop/<layer>/<model>` and groups `shop_<layer>`, from the model's folder;
    bronze sources keep the keys their YAML gives (`shop/bronze/<source>`)."""

    def get_asset_key(self, dbt_resource_props: Mapping[str, Any]) -> dg.AssetKey:
        if dbt_resource_props["resource_type"] == "source":
            return super().get_asset_key(dbt_resource_props)
        return dg.AssetKey(["shop", dbt_resource_props["fqn"][1], dbt_resource_props["name"]])

    def get_group_name(self, dbt_resource_props: Mapping[str, Any]) -> str | None:
        if dbt_resource_props["resource_type"] == "source":
            return dbt_resource_props["source_name"]  # shop_bronze
        return f"shop_{dbt_resource_props['fqn'][1]}"

    def get_asset_spec(
        self, manifest: Mapping[str, Any], unique_id: str, project: Any
    ) -> dg.AssetSpec:
        spec = super().get_asset_spec(manifest, unique_id, project)
        hidden = {
            super(ShopDbtTranslator, self).get_asset_key(props)
            for props in manifest["sources"].values()
            if props["source_name"] in NOT_ASSETS
        }
        deps = [dep for dep in spec.deps if dep.asset_key not in hidden]
        return spec.replace_attributes(deps=deps) if len(deps) < len(spec.deps) else spec


translator = ShopDbtTranslator(settings=DagsterDbtTranslatorSettings(enable_asset_checks=True))


RUN_ID_ENV = "SHOP_RUN_ID"


def dbt_build_args() -> list[str]:
    """`dbt build` for the run. Tests run only when every model they read is built in it
    (`cautious`): gold's reconciliation reads silver too, and a run of silver alone must
    not fail on gold that it does not rebuild."""
    return ["build", "--indirect-selection", "cautious"]


def run_id_for_dbt(run_id: str) -> AbstractContextManager[None]:
    """The run's id where the models read it (`SHOP_RUN_ID`, macro `shop_run_id`): an
    environment variable rather than `--vars`, whose new value on every run would make
    dbt re-parse the whole project."""
    return dbt_environment({RUN_ID_ENV: run_id})


@dbt_assets(
    manifest=get_dbt_project().manifest_path,
    project=get_dbt_project(),
    dagster_dbt_translator=translator,
    select=SHOP_MODELS,
    name="shop_dbt_models",
)
def shop_dbt_models(
    context: dg.AssetExecutionContext, dbt: DbtCliResource, warehouse: WarehouseResource
) -> Iterator[Any]:
    with warehouse.lease(context), run_id_for_dbt(context.run.run_id):
        invocation = dbt.cli(dbt_build_args(), context=context)
        events, failure = collect_events(invocation)
        try:
            blocking = {spec.name for spec in context.assets_def.check_specs if spec.blocking}
            events = with_expectation_results(context.run.run_id, events, warehouse, blocking)
        except Exception as exc:  # the build stands; its counts stay in the log
            context.log.warning(f"expectation results not read: {type(exc).__name__}: {exc}")
        outputs = with_warehouse_metadata(context, invocation, events, warehouse)
    yield from outputs
    if failure is not None:
        raise failure


def gold_results(
    events: list[Any], row_counts: Mapping[str, int], blocking: Set[str]
) -> list[ops.RuleResult]:
    """Gold's expectations (its dbt tests) as expectation-log rows: a test's failing rows
    are `failed`, the rest of the dataset's rows `passed`; the action is `fail` for a
    blocking check (`blocking`: the names of the checks declared severity error), `warn`
    for the others."""
    found = []
    for event in events:
        if not isinstance(event, dg.AssetCheckResult) or event.asset_key.path[:2] != [
            "shop",
            "gold",
        ]:
            continue
        dataset = event.asset_key.path[-1]
        raw = event.metadata.get("dagster_dbt/failed_row_count")
        failed = int(getattr(raw, "value", raw) or 0)
        passed = max(row_counts.get(dataset, failed) - failed, 0)
        action = "fail" if event.check_name in blocking else "warn"
        found.append(ops.RuleResult("gold", dataset, event.check_name, action, passed, failed))
    return found


def expectations_metadata(results: list[ops.RuleResult]) -> dict[str, Any]:
    """A silver model's rule counts as check metadata: a table, and totals by action."""
    table = dg.MetadataValue.table(
        records=[
            dg.TableRecord(
                {"rule": r.rule, "action": r.action, "passed": r.passed, "failed": r.failed}
            )
            for r in results
        ],
        schema=dg.TableSchema(
            columns=[
                dg.TableColumn("rule", "string"),
                dg.TableColumn("action", "string"),
                dg.TableColumn("passed", "int"),
                dg.TableColumn("failed", "int"),
            ]
        ),
    )
    evaluated = max((r.passed + r.failed for r in results), default=0)
    return {
        "expectations": table,
        "rows_evaluated": dg.MetadataValue.int(evaluated),
        "failed_drop": dg.MetadataValue.int(sum(r.failed for r in results if r.action == "drop")),
        "failed_warn": dg.MetadataValue.int(sum(r.failed for r in results if r.action == "warn")),
        **{
            f"rule/{r.rule}": dg.MetadataValue.text(
                f"{r.action}: {r.passed} passed, {r.failed} failed"
            )
            for r in results
        },
    }


def with_expectation_results(
    run_id: str,
    events: list[Any],
    warehouse: WarehouseResource,
    blocking: Set[str],
) -> list[Any]:
    """The events, the silver `expectations_<model>` checks with every rule's counts of the
    run; gold's check results are added to the expectation log (`blocking`: the names of
    the blocking checks)."""
    with warehouse.get_connection() as conn:
        counts = {
            dataset: conn.execute(f'SELECT count(*) FROM shop_gold."{dataset}"').fetchone()[0]
            for dataset in {
                e.asset_key.path[-1]
                for e in events
                if isinstance(e, dg.AssetCheckResult) and e.asset_key.path[:2] == ["shop", "gold"]
            }
        }
        ops.record(conn, run_id, gold_results(events, counts, blocking))
        silver = ops.results(conn, run_id, "silver")
    by_dataset: dict[str, list[ops.RuleResult]] = {}
    for result in silver:
        by_dataset.setdefault(result.dataset, []).append(result)
    enriched = []
    for event in events:
        if isinstance(event, dg.AssetCheckResult) and event.check_name.startswith(
            EXPECTATIONS_CHECK
        ):
            found = by_dataset.get(event.asset_key.path[-1], [])
            event = event.with_metadata({**event.metadata, **expectations_metadata(found)})
        enriched.append(event)
    return enriched
