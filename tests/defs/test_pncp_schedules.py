"""PNCP schedules: what each tick asks for, in Brasília time, and that all start stopped."""

from __future__ import annotations

from datetime import datetime
from zoneinfo import ZoneInfo

import dagster as dg
import pytest

from project.defs.ops.runtime import STEP_RETRY
from project.defs.pncp.partitions import TIMEZONE, daily, monthly

SAO_PAULO = ZoneInfo(TIMEZONE)
TRANSFORMATION_GROUPS = ("pncp_staging", "pncp_intermediate", "pncp_marts", "pncp_exports")


@pytest.fixture(scope="module")
def project_defs() -> dg.Definitions:
    from project.definitions import defs

    return defs()


def _tick(defs: dg.Definitions, name: str, when: datetime) -> dg.RunRequest:
    schedule = defs.resolve_schedule_def(name)
    context = dg.build_schedule_context(
        scheduled_execution_time=when, repository_def=defs.get_repository_def()
    )
    result = schedule.evaluate_tick(context)
    (request,) = result.run_requests
    return request


def test_daily_extraction_runs_at_six_for_the_previous_day(project_defs: dg.Definitions) -> None:
    schedule = project_defs.resolve_schedule_def("pncp_daily_extraction_schedule")
    assert schedule.cron_schedule == "0 6 * * *"
    assert schedule.execution_timezone == TIMEZONE
    when = datetime(2024, 8, 2, 6, 0, tzinfo=SAO_PAULO)
    request = _tick(project_defs, "pncp_daily_extraction_schedule", when)
    assert request.partition_key == "2024-08-01"
    assert request.partition_key in daily.get_partition_keys(current_time=when)


def test_daily_extraction_job_extracts_every_raw_endpoint(project_defs: dg.Definitions) -> None:
    job = project_defs.resolve_job_def("pncp_daily_extraction")
    graph = project_defs.resolve_asset_graph()
    raw = dg.AssetSelection.groups("pncp_raw").resolve(graph)
    assert len(raw) == 6
    assert job.asset_layer.selected_asset_keys == raw
    assert job.partitions_def == daily


def test_monthly_rebuild_runs_on_the_second_for_the_previous_month(
    project_defs: dg.Definitions,
) -> None:
    schedule = project_defs.resolve_schedule_def("pncp_monthly_transformation_schedule")
    assert schedule.cron_schedule == "0 7 2 * *"
    assert schedule.execution_timezone == TIMEZONE
    # Month boundaries are Brasília's: 02:00 UTC on Aug 1st is still July 31st there.
    request = _tick(
        project_defs,
        "pncp_monthly_transformation_schedule",
        datetime(2024, 8, 2, 7, 0, tzinfo=SAO_PAULO),
    )
    assert request.partition_key == "2024-07-01"
    january = _tick(
        project_defs,
        "pncp_monthly_transformation_schedule",
        datetime(2025, 1, 2, 7, 0, tzinfo=SAO_PAULO),
    )
    assert january.partition_key == "2024-12-01"


def test_monthly_rebuild_job_covers_the_transformation_layers(
    project_defs: dg.Definitions,
) -> None:
    job = project_defs.resolve_job_def("pncp_monthly_transformation")
    graph = project_defs.resolve_asset_graph()
    selected = job.asset_layer.selected_asset_keys
    assert selected == dg.AssetSelection.groups(*TRANSFORMATION_GROUPS).resolve(graph)
    assert {graph.get(k).group_name for k in selected} == set(TRANSFORMATION_GROUPS)
    assert job.partitions_def == monthly


def test_every_schedule_starts_stopped(project_defs: dg.Definitions) -> None:
    schedules = list(project_defs.schedules or [])
    assert {s.name for s in schedules} == {
        "pncp_daily_extraction_schedule",
        "pncp_monthly_transformation_schedule",
    }
    assert all(s.default_status == dg.DefaultScheduleStatus.STOPPED for s in schedules)


def test_scheduled_jobs_retry_steps_with_the_platform_policy_with_jitter(
    project_defs: dg.Definitions,
) -> None:
    for name in ("pncp_daily_extraction", "pncp_monthly_transformation"):
        policy = project_defs.resolve_job_def(name).op_retry_policy
        assert policy == STEP_RETRY
        assert policy.max_retries >= 1
        assert policy.jitter is not None
