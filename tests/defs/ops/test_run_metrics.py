"""Per-run metrics: measured in the step, plotted as asset metadata, copied to the warehouse."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import dagster as dg
import duckdb
import pytest

from project.defs.ops.metrics import pipeline_metrics_sensor, step_metrics_hooks
from project.defs.ops.policy import apply_policy

HOLD_LOCK = """
import sys, time
from project.lib import warehouse
conn = warehouse.connect(sys.argv[1])
print("locked", flush=True)
time.sleep(60)
"""


@dg.asset(group_name="demo_raw")
def orders() -> dg.MaterializeResult:
    return dg.MaterializeResult(metadata={"records_archived": 120, "bytes_stored": 4096})


@dg.asset(deps=[orders], group_name="demo_marts")
def orders_by_day() -> dg.MaterializeResult:
    return dg.MaterializeResult(metadata={"dagster/row_count": 7})


@pytest.fixture
def finished_run(instance: dg.DagsterInstance) -> str:
    defs = apply_policy(dg.Definitions(assets=[orders, orders_by_day]), hooks=step_metrics_hooks())
    result = defs.resolve_implicit_global_asset_job_def().execute_in_process(instance=instance)
    assert result.success
    return result.run_id


def _rows(path: Path) -> list[tuple]:
    with duckdb.connect(str(path), read_only=True) as conn:
        return conn.execute(
            "SELECT run_id, asset, metric, value FROM meta.pipeline_metrics ORDER BY ALL"
        ).fetchall()


def test_each_materialization_gets_an_observation_with_the_run_metrics(
    instance: dg.DagsterInstance, finished_run: str
) -> None:
    records = instance.get_records_for_run(
        finished_run, of_type=dg.DagsterEventType.ASSET_OBSERVATION
    ).records
    metrics = {
        r.asset_observation.asset_key.to_user_string(): {
            k: v.value for k, v in r.asset_observation.metadata.items()
        }
        for r in records
    }
    assert set(metrics) == {"orders", "orders_by_day"}
    assert metrics["orders"]["run_records"] == 120
    assert metrics["orders"]["run_bytes"] == 4096
    assert metrics["orders_by_day"]["run_records"] == 7
    for values in metrics.values():
        assert values["run_peak_rss_mb"] > 10
        assert 0 <= values["run_duration_s"] < 60


def test_the_sensor_copies_finished_runs_into_the_warehouse_once(
    instance: dg.DagsterInstance, finished_run: str, warehouse_path: Path
) -> None:
    sensor = pipeline_metrics_sensor()
    context = dg.build_sensor_context(instance=instance)
    sensor.evaluate_tick(context)
    rows = _rows(warehouse_path)
    assert {(r[0], r[1]) for r in rows} == {
        (finished_run, "orders"),
        (finished_run, "orders_by_day"),
    }
    assert ("orders", "run_records", 120.0) in {(r[1], r[2], r[3]) for r in rows}

    again = pipeline_metrics_sensor().evaluate_tick(
        dg.build_sensor_context(instance=instance, cursor=context.cursor)
    )
    assert "recorded 0" in again.skip_message
    assert len(_rows(warehouse_path)) == len(rows)


def test_a_busy_warehouse_postpones_the_copy_without_losing_runs(
    instance: dg.DagsterInstance, finished_run: str, warehouse_path: Path
) -> None:
    sensor = pipeline_metrics_sensor(lock_wait_s=0.5)
    context = dg.build_sensor_context(instance=instance)
    # Another process (a run writing the warehouse) holds DuckDB's single-writer lock.
    holder = subprocess.Popen(
        [sys.executable, "-c", HOLD_LOCK, str(warehouse_path)],
        stdout=subprocess.PIPE,
        text=True,
    )
    try:
        assert holder.stdout.readline().strip() == "locked"
        busy = sensor.evaluate_tick(context)
    finally:
        holder.kill()
        holder.wait()
    assert "busy" in busy.skip_message
    assert context.cursor is None

    sensor.evaluate_tick(context)
    assert {r[0] for r in _rows(warehouse_path)} == {finished_run}
    assert json.loads(context.cursor)


def test_the_sensor_leaves_the_warehouse_to_a_step_in_the_warehouse_pool(
    instance: dg.DagsterInstance, finished_run: str, warehouse_path: Path
) -> None:
    storage = instance.event_log_storage
    storage.set_concurrency_slots("duckdb_warehouse", 1)
    claim = storage.claim_concurrency_slot("duckdb_warehouse", "other-run", "dbt_models")
    assert claim.is_claimed
    context = dg.build_sensor_context(instance=instance)
    busy = pipeline_metrics_sensor().evaluate_tick(context)
    assert "warehouse pool" in busy.skip_message
    assert context.cursor is None

    storage.free_concurrency_slot_for_step("other-run", "dbt_models")
    pipeline_metrics_sensor().evaluate_tick(context)
    assert {r[0] for r in _rows(warehouse_path)} == {finished_run}
