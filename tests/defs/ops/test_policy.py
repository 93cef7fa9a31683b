"""Applying the policy changes asset specs and hooks, and nothing else in the definitions."""

from __future__ import annotations

import dagster as dg
import pytest

from project.defs.ops.metrics import step_metrics_hooks
from project.defs.ops.policy import apply_policy


@dg.asset(group_name="demo_marts")
def revenue() -> None: ...


@dg.multi_asset(
    specs=[
        dg.AssetSpec("orders_clean", group_name="demo_staging"),
        dg.AssetSpec("orders_daily", group_name="demo_marts"),
    ]
)
def orders_models():
    yield dg.MaterializeResult(asset_key="orders_clean")
    yield dg.MaterializeResult(asset_key="orders_daily")


revenue_job = dg.define_asset_job("revenue_job", selection=[revenue])


@dg.sensor(job=revenue_job)
def revenue_sensor() -> None: ...


@dg.asset_check(asset=revenue)
def revenue_is_positive() -> dg.AssetCheckResult:
    return dg.AssetCheckResult(passed=True)


@pytest.fixture(scope="module")
def project_defs() -> dg.Definitions:
    from project.definitions import defs

    return defs()


def test_every_field_but_the_assets_is_kept() -> None:
    defs = dg.Definitions(
        assets=[revenue, orders_models, dg.AssetSpec("outside", group_name="demo_raw")],
        asset_checks=[revenue_is_positive],
        jobs=[revenue_job],
        schedules=[dg.ScheduleDefinition(name="nightly", job=revenue_job, cron_schedule="@daily")],
        sensors=[revenue_sensor],
        resources={"greeting": "hello"},
        executor=dg.in_process_executor,
        loggers={"console": dg.colored_console_logger},
        metadata={"owner": "platform"},
    )
    mapped = apply_policy(defs, hooks=step_metrics_hooks())
    for field in (
        "asset_checks",
        "jobs",
        "schedules",
        "sensors",
        "resources",
        "executor",
        "loggers",
        "metadata",
    ):
        assert getattr(mapped, field) == getattr(defs, field), field
    mapped.validate_loadable(mapped)


def test_a_multi_asset_gets_the_policy_per_spec_and_the_hooks_once() -> None:
    mapped = apply_policy(dg.Definitions(assets=[orders_models]), hooks=step_metrics_hooks())
    specs = {spec.key.to_user_string(): spec for spec in mapped.assets[0].specs}
    assert specs["orders_clean"].automation_condition.get_label() == "eager"
    assert specs["orders_daily"].automation_condition.get_label() == "eager_or_stale"
    assert specs["orders_daily"].freshness_policy is not None
    assert mapped.assets[0].hook_defs == step_metrics_hooks()


def test_the_code_location_keeps_its_component_tree(project_defs: dg.Definitions) -> None:
    assert project_defs.component_tree is not None
    assert project_defs.component_tree.defs_module_name == "project.defs"


def test_every_executable_asset_of_the_location_has_the_metrics_hooks(
    project_defs: dg.Definitions,
) -> None:
    executable = [
        asset
        for asset in project_defs.assets or []
        if isinstance(asset, dg.AssetsDefinition) and asset.is_executable
    ]
    assert any(len(asset.keys) > 1 for asset in executable), "dbt assets are among them"
    for asset in executable:
        assert step_metrics_hooks() <= asset.hook_defs, asset.keys
