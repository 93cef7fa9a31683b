"""Run-level retries: transient failures (a lost run worker) are retried, step failures not.

Steps retry themselves (exponential backoff with jitter); retrying the whole run after a
step failed would repeat a deterministic failure, so the instance only retries runs
that died outside their steps.
"""

from __future__ import annotations

import dagster as dg
from dagster._core.events import RunFailureReason
from dagster._core.execution.retries import auto_reexecution_should_retry_run

from project.lib.instance import render_instance_config
from project.settings import load_settings

WILL_RETRY_TAG = "dagster/will_retry"


@dg.asset
def always_fails() -> None:
    raise RuntimeError("deterministic failure")


def test_the_instance_retries_runs_twice_but_not_after_a_step_failure() -> None:
    retries = render_instance_config(load_settings())["run_retries"]
    assert retries == {"enabled": True, "max_retries": 2, "retry_on_asset_or_op_failure": False}


def test_a_step_failure_is_not_retried_at_run_level(instance: dg.DagsterInstance) -> None:
    result = dg.materialize([always_fails], instance=instance, raise_on_error=False)
    assert not result.success
    run = instance.get_run_by_id(result.run_id)
    assert run.tags[WILL_RETRY_TAG] == "false"


def test_a_run_that_died_outside_its_steps_is_retried(instance: dg.DagsterInstance) -> None:
    result = dg.materialize([always_fails], instance=instance, raise_on_error=False)
    run = instance.get_run_by_id(result.run_id)
    assert instance.run_retries_enabled
    assert instance.run_retries_max_retries == 2
    for reason in (RunFailureReason.UNEXPECTED_TERMINATION, RunFailureReason.RUN_WORKER_RESTART):
        assert auto_reexecution_should_retry_run(instance, run, reason)
    assert not auto_reexecution_should_retry_run(instance, run, RunFailureReason.STEP_FAILURE)
