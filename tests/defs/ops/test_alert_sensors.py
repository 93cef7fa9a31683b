"""Alert sensors in-process: what a failed partitioned run's alert says, and the shared gate.

The end-to-end path (daemon, schedule, real webhook) is in test_daemon.py; these tests
drive the project's sensors directly with contexts built from real failed runs.
"""

from __future__ import annotations

import dagster as dg
import pytest

from project.defs.ops.alerts import GATE_STATE_KEY, alert_sensors
from project.settings import get_settings

DAY = "2024-07-01"
daily = dg.DailyPartitionsDefinition(start_date="2024-07-01", timezone="America/Sao_Paulo")


@dg.asset(partitions_def=daily, group_name="demo_raw")
def contracts() -> dg.MaterializeResult:
    return dg.MaterializeResult(metadata={"records": 5})


@dg.asset(partitions_def=daily, deps=[contracts], group_name="demo_raw")
def amendments() -> None:
    raise dg.Failure(
        description="amendments: 2 pages failed (postgresql://etl:pg-secret@db/x unreachable)"
    )


@pytest.fixture
def alerting(monkeypatch: pytest.MonkeyPatch, webhook) -> object:
    monkeypatch.setenv("ALERT_WEBHOOK_URL", webhook.url)
    monkeypatch.setenv("DAGSTER_UI_URL", "http://dagster.example:3000")
    get_settings.cache_clear()
    webhook.clear()
    return webhook


def _failed_run(instance: dg.DagsterInstance) -> tuple[dg.DagsterRun, dg.DagsterEvent]:
    result = dg.materialize(
        [contracts, amendments], instance=instance, partition_key=DAY, raise_on_error=False
    )
    assert not result.success
    run = instance.get_run_by_id(result.run_id)
    (failure,) = instance.all_logs(run.run_id, of_type=dg.DagsterEventType.RUN_FAILURE)
    return run, failure.dagster_event


def _run_failure_sensor(instance: dg.DagsterInstance, run, event) -> None:
    sensor = next(s for s in alert_sensors() if s.name == "run_failure_alerts")
    context = dg.build_run_status_sensor_context(
        sensor_name=sensor.name, dagster_event=event, dagster_instance=instance, dagster_run=run
    ).for_run_failure()
    sensor(context)


def test_a_failed_partitioned_run_alert_names_the_asset_partition_error_and_run(
    instance: dg.DagsterInstance, alerting
) -> None:
    run, event = _failed_run(instance)
    _run_failure_sensor(instance, run, event)
    (alert,) = alerting.received()
    fields = {
        block["text"].split("\n")[0].strip("*"): block["text"].split("\n", 1)[1]
        for section in alert["blocks"]
        for block in section.get("fields", [])
    }
    assert fields["Run"] == run.run_id
    assert fields["Asset"] == "amendments"  # contracts materialized; amendments did not
    assert fields["Partition"] == DAY
    assert fields["Failed steps"] == "amendments"
    text = str(alert)
    assert "amendments: 2 pages failed" in text
    assert "pg-secret" not in text
    assert f"http://dagster.example:3000/runs/{run.run_id}" in text


def test_the_gate_is_shared_through_the_instance_so_a_repeat_is_not_posted(
    instance: dg.DagsterInstance, alerting
) -> None:
    for _ in range(2):
        run, event = _failed_run(instance)
        _run_failure_sensor(instance, run, event)
    assert len(alerting.received()) == 1
    assert instance.run_storage.get_cursor_values({GATE_STATE_KEY})[GATE_STATE_KEY]


def test_without_a_webhook_url_nothing_is_posted(
    instance: dg.DagsterInstance, monkeypatch: pytest.MonkeyPatch, webhook
) -> None:
    monkeypatch.delenv("ALERT_WEBHOOK_URL", raising=False)
    get_settings.cache_clear()
    webhook.clear()
    run, event = _failed_run(instance)
    _run_failure_sensor(instance, run, event)
    assert webhook.received() == []
