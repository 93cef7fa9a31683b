"""The instance and workspace files the operations rely on."""

from __future__ import annotations

import dagster as dg
import yaml

from project.settings import PROJECT_ROOT


def test_the_instance_runs_every_daemon_the_operations_need(instance: dg.DagsterInstance) -> None:
    required = set(instance.get_required_daemon_types())
    assert {
        "SCHEDULER",  # schedules
        "SENSOR",  # automation, alert and metrics sensors
        "FRESHNESS_DAEMON",  # freshness policies
        "EVENT_LOG_CONSUMER",  # run-level retries
        "QUEUED_RUN_COORDINATOR",
    } <= required
    assert instance.freshness_enabled


def test_the_production_workspace_serves_the_same_location_as_the_local_one() -> None:
    local = yaml.safe_load((PROJECT_ROOT / "workspace.yaml").read_text())
    remote = yaml.safe_load((PROJECT_ROOT / "conf" / "dagster" / "workspace.grpc.yaml").read_text())
    (local_entry,) = local["load_from"]
    (remote_entry,) = remote["load_from"]
    name = local_entry["python_module"]["location_name"]
    assert remote_entry["grpc_server"]["location_name"] == name
