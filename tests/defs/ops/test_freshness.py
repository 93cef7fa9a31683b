"""Freshness: a mart past its fail window is reported stale, and the automation refreshes it.

Time travels instead of sleeping: Dagster's `freeze_time` moves the clock that both the
freshness daemon (`FreshnessDaemon`, run one iteration at a time against an in-process
workspace) and the automation evaluation read.
"""

from __future__ import annotations

import importlib.util
import time
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path

import dagster as dg
import pytest
from dagster._core.definitions.freshness import FreshnessState
from dagster._core.remote_origin import InProcessCodeLocationOrigin
from dagster._core.test_utils import create_test_daemon_workspace_context, freeze_time
from dagster._core.types.loadable_target_origin import LoadableTargetOrigin
from dagster._core.workspace.context import WorkspaceProcessContext
from dagster._core.workspace.load_target import InProcessWorkspaceLoadTarget
from dagster._daemon.freshness import FreshnessDaemon

from project.defs.ops.policy import DAILY_WINDOWS

LOCATION = Path(__file__).parent / "locations" / "freshness_location.py"
MART = dg.AssetKey("orders_by_day")
WARN, FAIL = DAILY_WINDOWS


def _location():
    spec = importlib.util.spec_from_file_location("ops_freshness_location", LOCATION)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


@pytest.fixture
def workspace(instance: dg.DagsterInstance) -> Iterator[WorkspaceProcessContext]:
    origin = InProcessCodeLocationOrigin(
        loadable_target_origin=LoadableTargetOrigin(python_file=str(LOCATION), attribute="defs"),
        location_name="freshness_test",
    )
    target = InProcessWorkspaceLoadTarget(origin)
    with create_test_daemon_workspace_context(target, instance) as context:
        yield context


def _freshness_at(
    instance: dg.DagsterInstance, workspace: WorkspaceProcessContext, timestamp: float
) -> FreshnessState:
    """Run one iteration of the real freshness daemon at `timestamp`; the recorded state."""
    with freeze_time(timestamp):
        list(FreshnessDaemon().run_iteration(workspace))
    return instance.get_freshness_state_records([MART])[MART].freshness_state


def _at(timestamp: float) -> datetime:
    return datetime.fromtimestamp(timestamp, UTC)


def test_the_mart_carries_warn_and_fail_windows() -> None:
    node = _location().defs.resolve_asset_graph().get(MART)
    assert node.freshness_policy == dg.FreshnessPolicy.time_window(
        fail_window=FAIL, warn_window=WARN
    )


def test_a_mart_past_its_fail_window_is_stale_until_the_automation_refreshes_it(
    instance: dg.DagsterInstance, workspace: WorkspaceProcessContext
) -> None:
    location = _location()
    assert dg.materialize([location.raw_orders, location.orders_by_day], instance=instance).success
    built = time.time()

    warn_at = built + (WARN + timedelta(hours=1)).total_seconds()
    stale_at = built + (FAIL + timedelta(minutes=5)).total_seconds()
    assert _freshness_at(instance, workspace, built + 3600) == FreshnessState.PASS
    assert _freshness_at(instance, workspace, warn_at) == FreshnessState.WARN
    assert _freshness_at(instance, workspace, stale_at) == FreshnessState.FAIL

    # The automation picks the stale mart up, and only it: the raw table has no condition.
    evaluation = dg.evaluate_automation_conditions(
        defs=location.defs, instance=instance, evaluation_time=_at(stale_at)
    )
    requested = {r.key for r in evaluation.results if r.true_subset.size}
    assert requested == {MART}

    with freeze_time(stale_at + 60):
        refresh = dg.materialize(
            [location.raw_orders, location.orders_by_day],
            instance=instance,
            selection=[MART],
        )
    assert refresh.success
    assert _freshness_at(instance, workspace, stale_at + 120) == FreshnessState.PASS

    # Fresh again: the next evaluation asks for nothing.
    again = dg.evaluate_automation_conditions(
        defs=location.defs,
        instance=instance,
        evaluation_time=_at(stale_at + 180),
        cursor=evaluation.cursor,
    )
    assert again.total_requested == 0
