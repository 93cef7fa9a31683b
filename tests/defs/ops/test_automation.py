"""Automation policy: which condition each layer gets, and how the conditions behave.

The behaviour tests run Dagster's own evaluator (`evaluate_automation_conditions`, with
its cursor carried from tick to tick, as the sensor does) over small graphs whose groups
follow the project's `<capability>_<layer>` naming, so the project's policy applies.
"""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from zoneinfo import ZoneInfo

import dagster as dg
import pytest

from project.defs.ops.automation import automation_sensors
from project.defs.ops.policy import (
    DAILY_CRON,
    DAILY_WINDOWS,
    MONTHLY_WINDOWS,
    PLATFORM_TIMEZONE,
    apply_policy,
    apply_to_spec,
    layer_of,
)

DAYS = 10


def _requested(result: dg.EvaluateAutomationConditionsResult) -> dict[str, int]:
    sizes = {r.key.to_user_string(): r.true_subset.size for r in result.results}
    return {key: size for key, size in sizes.items() if size}


@pytest.fixture(scope="module")
def project_graph() -> dg.AssetGraph:
    from project.definitions import defs

    return defs().resolve_asset_graph()


def test_the_layer_is_the_suffix_of_the_group() -> None:
    assert layer_of("pncp_marts") == "marts"
    assert layer_of("demo_gold") == "gold"
    assert layer_of("default") is None
    assert layer_of(None) is None


def test_every_project_layer_gets_its_condition(project_graph: dg.AssetGraph) -> None:
    expected = {
        "raw": None,
        "staging": "eager",
        "intermediate": "eager",
        "marts": "eager_or_stale",
        "exports": f"on_cron_if_inputs_changed({DAILY_CRON}, {PLATFORM_TIMEZONE})",
    }
    seen = set()
    for key in project_graph.materializable_asset_keys:
        node = project_graph.get(key)
        layer = layer_of(node.group_name)
        if layer not in expected:
            continue
        seen.add(layer)
        label = node.automation_condition.get_label() if node.automation_condition else None
        assert label == expected[layer], key
    assert seen == set(expected)


def test_marts_and_gold_and_only_they_have_freshness_windows(
    project_graph: dg.AssetGraph,
) -> None:
    """PNCP's monthly marts get a month's slack; the shop's unpartitioned gold a day's."""
    windows = {"marts": MONTHLY_WINDOWS, "gold": DAILY_WINDOWS}
    for key in project_graph.materializable_asset_keys:
        node = project_graph.get(key)
        layer = layer_of(node.group_name)
        if layer in windows:
            warn, fail = windows[layer]
            assert (node.partitions_def is not None) == (layer == "marts"), key
            assert node.freshness_policy == dg.FreshnessPolicy.time_window(
                fail_window=fail, warn_window=warn
            ), key
        else:
            assert node.freshness_policy is None, key


# dayjs `duration(...).humanize()`, which the UI uses to print freshness windows: the
# value is rounded in the largest unit whose threshold it stays under.
_DAYJS_THRESHOLDS = (
    (44, 1, "a few seconds", None), (89, 1, "a minute", None), (44, 60, None, "minutes"),
    (89, 60, "an hour", None), (21, 3600, None, "hours"), (35, 3600, "a day", None),
    (25, 86400, None, "days"), (45, 86400, "a month", None),
    (10, 30.44 * 86400, None, "months"), (17, 30.44 * 86400, "a year", None),
)  # fmt: skip


def _ui_text(window: timedelta) -> str:
    seconds = window.total_seconds()
    for limit, unit, fixed, plural in _DAYJS_THRESHOLDS:
        value = round(seconds / unit)
        if value <= limit:
            return fixed or f"{value} {plural}"
    return f"{round(seconds / (365.25 * 86400))} years"


@pytest.mark.parametrize("windows", [DAILY_WINDOWS, MONTHLY_WINDOWS], ids=["daily", "monthly"])
def test_warn_and_fail_windows_read_differently_in_the_ui(windows) -> None:
    warn, fail = windows
    assert warn < fail
    assert _ui_text(warn) != _ui_text(fail)
    assert _ui_text(timedelta(days=32)) == _ui_text(timedelta(days=35)) == "a month"


def test_an_asset_that_declares_its_own_condition_keeps_it() -> None:
    own = dg.AutomationCondition.on_missing()
    spec = dg.AssetSpec("m", group_name="pncp_marts", automation_condition=own)
    mapped = apply_to_spec(spec)
    assert mapped.automation_condition == own
    assert mapped.freshness_policy is not None


def test_automation_sensors_split_dbt_from_python_and_run_by_default(
    project_graph: dg.AssetGraph,
) -> None:
    sensors = {s.name: s for s in automation_sensors()}
    assert set(sensors) == {"automation_dbt", "automation_python"}
    targets = {name: s.asset_selection.resolve(project_graph) for name, s in sensors.items()}
    keys = project_graph.materializable_asset_keys
    automated = {k for k in keys if project_graph.get(k).automation_condition}
    assert not targets["automation_dbt"] & targets["automation_python"]
    assert automated <= targets["automation_dbt"] | targets["automation_python"]
    assert all("dbt" in project_graph.get(k).kinds for k in targets["automation_dbt"])
    for sensor in sensors.values():
        assert sensor.default_status == dg.DefaultSensorStatus.RUNNING


# --- reactivation -----------------------------------------------------------------------


def _daily_graph() -> dg.Definitions:
    today = datetime.now(ZoneInfo(PLATFORM_TIMEZONE)).date()
    daily = dg.DailyPartitionsDefinition(
        start_date=(today - timedelta(days=DAYS)).isoformat(), timezone=PLATFORM_TIMEZONE
    )

    @dg.asset(partitions_def=daily, group_name="demo_raw")
    def raw() -> None: ...

    @dg.asset(partitions_def=daily, deps=[raw], group_name="demo_staging")
    def stg() -> None: ...

    @dg.asset(partitions_def=daily, deps=[stg], group_name="demo_marts")
    def mart() -> None: ...

    # What the policy avoids: react to any updated partition, whatever its age.
    @dg.asset(
        partitions_def=daily,
        deps=[raw],
        group_name="demo_staging",
        automation_condition=dg.AutomationCondition.any_deps_updated().since_last_handled(),
    )
    def naive() -> None: ...

    return apply_policy(dg.Definitions(assets=[raw, stg, mart, naive]))


def test_turning_automation_back_on_requests_the_latest_partition_not_the_backlog(
    instance: dg.DagsterInstance,
) -> None:
    defs = _daily_graph()
    first = dg.evaluate_automation_conditions(defs=defs, instance=instance)
    assert first.total_requested == 0  # nothing extracted yet

    # While the sensor is off, ten days are extracted.
    raw = defs.resolve_assets_def("raw")
    for key in raw.partitions_def.get_partition_keys()[-DAYS:]:
        assert dg.materialize([raw], instance=instance, partition_key=key).success

    reactivated = dg.evaluate_automation_conditions(
        defs=defs, instance=instance, cursor=first.cursor
    )
    requested = _requested(reactivated)
    assert requested["stg"] == 1
    assert requested["mart"] == 1
    assert requested["naive"] == DAYS  # the flood the policy's conditions avoid


# --- exports: once per cron tick, only when inputs changed ------------------------------


def _export_graph() -> tuple[dg.Definitions, dg.AssetsDefinition, dg.AssetsDefinition]:
    @dg.asset(group_name="demo_marts", automation_condition=None)
    def mart() -> None: ...

    @dg.asset(deps=[mart], group_name="demo_exports")
    def export() -> None: ...

    return apply_policy(dg.Definitions(assets=[mart, export])), mart, export


def test_exports_run_once_after_the_daily_tick_and_only_when_a_mart_changed(
    instance: dg.DagsterInstance,
) -> None:
    defs, mart, export = _export_graph()
    day = datetime.now(ZoneInfo(PLATFORM_TIMEZONE)).replace(minute=0, second=0, microsecond=0)
    day = day + timedelta(days=2)

    def evaluate(hour: int, minute: int, cursor=None, days: int = 0):
        when = day.replace(hour=hour, minute=minute) + timedelta(days=days)
        return dg.evaluate_automation_conditions(
            defs=defs,
            instance=instance,
            asset_selection=dg.AssetSelection.assets(export),
            evaluation_time=when.astimezone(UTC),
            cursor=cursor,
        )

    tick = evaluate(6, 0)
    assert dg.materialize([mart], instance=instance).success  # marts rebuilt at 06:30
    tick = evaluate(6, 30, tick.cursor)
    assert tick.total_requested == 0  # inputs changed, but the 07:00 tick has not passed
    tick = evaluate(7, 5, tick.cursor)
    assert _requested(tick) == {"export": 1}
    assert dg.materialize([mart, export], instance=instance, selection=[export]).success
    tick = evaluate(7, 10, tick.cursor)
    assert tick.total_requested == 0  # handled for this tick
    tick = evaluate(7, 5, tick.cursor, days=1)
    assert tick.total_requested == 0  # next day's tick, but no input changed
