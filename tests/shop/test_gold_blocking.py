"""Gold's FAIL expectations through Dagster: blocking checks that stop the downstream asset.

Two runs of the shop's silver and gold. The first, on clean bronze, is launched by
`pncp quarantine replay --launch` (everything materialized, silver's WARN checks carry
every rule's counts). The second, as the UI or the automation launch it, comes after a
row with a negative price got into silver behind the rules' back (what a rule removed by
mistake would let through): daily_sales' `revenue_not_negative` fails, as a blocking
check, and sales_summary is not materialized.
"""

from collections.abc import Iterator
from pathlib import Path
from types import SimpleNamespace

import dagster as dg
import duckdb
import pytest

import project.cli.quarantine_cmds  # noqa: F401  (registers `pncp quarantine` on the app)
from project.cli import app
from project.settings import load_settings
from tests.shop.conftest import item, land, order, payment, web_event

pytestmark = [pytest.mark.slow, pytest.mark.xdist_group("shop_dbt")]

SHOP = "group:shop_silver or group:shop_gold"


def _materialize(instance: dg.DagsterInstance) -> dg.ExecuteInProcessResult:
    from project.definitions import defs

    definitions = defs()
    keys = dg.AssetSelection.from_string(SHOP).resolve(definitions.resolve_asset_graph())
    return definitions.resolve_implicit_global_asset_job_def().execute_in_process(
        instance=instance, asset_selection=list(keys), raise_on_error=False
    )


def _materialized(result: dg.ExecuteInProcessResult) -> set[str]:
    return {
        "/".join(e.asset_key.path)
        for e in result.all_events
        if e.event_type == dg.DagsterEventType.ASSET_MATERIALIZATION
    }


def _checks(result: dg.ExecuteInProcessResult) -> dict[tuple[str, str], dg.AssetCheckEvaluation]:
    return {(e.asset_key.path[-1], e.check_name): e for e in result.get_asset_check_evaluations()}


def _run_events(instance: dg.DagsterInstance, run_id: str, kind: dg.DagsterEventType) -> list:
    records = instance.get_records_for_run(run_id, of_type=kind, limit=1000).records
    return [r.event_log_entry.dagster_event for r in records]


@pytest.fixture(scope="module")
def runs(tmp_path_factory: pytest.TempPathFactory) -> Iterator[SimpleNamespace]:
    base = tmp_path_factory.mktemp("gold_blocking")
    with pytest.MonkeyPatch.context() as patch:
        patch.setenv("PLATFORM_DATA_DIR", str(base / "data"))
        patch.setenv("DAGSTER_HOME", str(base / "dagster_home"))
        from project.lib.instance import ensure_dagster_home
        from project.settings import get_settings

        get_settings.cache_clear()
        settings = load_settings()
        warehouse: Path = settings.warehouse
        warehouse.parent.mkdir(parents=True, exist_ok=True)
        with duckdb.connect(str(warehouse)) as conn:
            land(conn, "orders", 1, [order(1), order(2, customer_id=None)])
            land(conn, "order_items", 2, [item(1), item(2)])
            land(conn, "payments", 3, [payment(1), payment(2)])
            land(conn, "web_events", 4, [web_event(1)])
        with dg.DagsterInstance.from_config(str(ensure_dagster_home(settings))) as instance:
            code = app.main(
                ["quarantine", "replay", "--rule", "status_allowed", "--source", "orders",
                 "--launch"]
            )  # fmt: skip
            (launched,) = instance.get_runs(limit=1)
            materialized = {
                "/".join(e.asset_key.path)
                for e in _run_events(
                    instance, launched.run_id, dg.DagsterEventType.ASSET_MATERIALIZATION
                )
            }
            checks = {
                (e.event_specific_data.asset_key.path[-1], e.event_specific_data.check_name): (
                    e.event_specific_data
                )
                for e in _run_events(
                    instance, launched.run_id, dg.DagsterEventType.ASSET_CHECK_EVALUATION
                )
            }
            clean = SimpleNamespace(
                code=code, run=launched, materialized=materialized, checks=checks
            )
            with duckdb.connect(str(warehouse)) as conn:
                conn.execute(
                    "INSERT INTO shop_silver.order_items (event_id, order_id, line_no, product_id, "
                    "quantity, unit_price, _batch, _line) "
                    "VALUES ('ie-bad', 'O00000001', 9, 'P00001', 10, -50.00, 0, 0)"
                )
            negative = _materialize(instance)
        yield SimpleNamespace(clean=clean, negative=negative, warehouse=warehouse)
        get_settings.cache_clear()


def test_a_replay_launches_silver_and_gold_through_dagster(runs: SimpleNamespace) -> None:
    assert runs.clean.code == 0
    assert runs.clean.run.status == dg.DagsterRunStatus.SUCCESS
    assert runs.clean.run.tags["pncp/command"] == "quarantine replay"
    assert {
        "shop/silver/orders",
        "shop/silver/order_items",
        "shop/silver/payments",
        "shop/silver/web_events",
        "shop/silver/quarantine",
        "shop/gold/daily_sales",
        "shop/gold/sales_summary",
    } <= runs.clean.materialized
    with duckdb.connect(str(runs.warehouse), read_only=True) as conn:
        requests = conn.execute("SELECT status, run_id FROM shop_ops.replay_requests").fetchall()
    assert requests == [("done", runs.clean.run.run_id)]


def test_silver_expectations_are_warn_checks_with_every_rules_counts(
    runs: SimpleNamespace,
) -> None:
    orders = runs.clean.checks[("orders", "expectations_orders")]
    assert orders.severity == dg.AssetCheckSeverity.WARN
    assert not orders.passed, "customer_id_not_null (warn) failed one row"
    assert orders.metadata["failed_warn"].value == 1
    assert orders.metadata["failed_drop"].value == 0
    assert orders.metadata["rows_evaluated"].value == 2
    assert orders.metadata["rule/customer_id_not_null"].value == "warn: 1 passed, 1 failed"
    records = orders.metadata["expectations"].value.records
    assert {r.data["rule"] for r in records} >= {"status_allowed", "order_ts_parses"}
    assert runs.clean.checks[("payments", "expectations_payments")].passed


def test_a_failing_gold_expectation_is_a_blocking_check_that_stops_downstream(
    runs: SimpleNamespace,
) -> None:
    from project.defs.shop.transformation import shop_dbt_models

    result = runs.negative
    assert not result.success
    check = _checks(result)[("daily_sales", "daily_sales_revenue_not_negative")]
    assert not check.passed
    assert check.severity == dg.AssetCheckSeverity.ERROR
    spec = next(
        s for s in shop_dbt_models.check_specs if s.name == "daily_sales_revenue_not_negative"
    )
    assert spec.blocking
    materialized = _materialized(result)
    assert "shop/gold/daily_sales" in materialized
    assert "shop/gold/sales_summary" not in materialized


def test_gold_expectation_results_go_to_the_expectation_log(runs: SimpleNamespace) -> None:
    with duckdb.connect(str(runs.warehouse), read_only=True) as conn:
        logged = conn.execute(
            "SELECT run_id, rule, action, passed, failed FROM shop_ops.expectation_log "
            "WHERE layer = 'gold' AND dataset = 'daily_sales' "
            "AND rule = 'daily_sales_revenue_not_negative'"
        ).fetchall()
    assert sorted((run, p, f) for run, _, _, p, f in logged) == sorted(
        [(runs.clean.run.run_id, 1, 0), (runs.negative.run_id, 0, 1)]
    )
    assert {action for _, _, action, _, _ in logged} == {"fail"}
