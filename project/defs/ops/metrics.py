"""Per-run metrics of every asset: duration, records, bytes, peak memory.

Two halves, because only the step's own process can measure its memory, and only a
process outside the warehouse pool may wait for the warehouse's single-writer lock:

1. `step_metrics_hooks` (attached to every asset by `project.definitions`) run in the
   step process when the step ends: they measure the step's duration and peak RSS, read
   records and bytes from the materialization's metadata, log one JSON-ready line
   (`duration_s`, `records`, ...) and record an asset observation per materialized
   asset partition, whose numeric metadata the UI plots on the asset's Plots tab.
2. The `pipeline_metrics` sensor copies those observations of finished runs into the
   warehouse's `meta.pipeline_metrics` (a platform table: `project.lib.metrics`), under
   the warehouse lease taken without waiting: while a step holds the warehouse, or
   another process holds the file, it skips and tries again without losing its place.
   Each attempt frees the slot of a holder whose process is gone
   (`project.resources.warehouse_lease`), so under the daemon a run killed while holding
   the warehouse is cleaned up within a tick even if no other run needs it.

Nothing here names a capability: every executable asset gets the hooks, and every
finished run is read, whatever capability its assets belong to.
"""

import json
import resource
import sys
import time

import dagster as dg
from dagster._core.events import AssetObservationData

from project.lib import warehouse
from project.lib.metrics import record_metrics
from project.resources.warehouse_lease import WarehouseLease
from project.settings import get_settings

METRIC_NAMES = ("run_duration_s", "run_records", "run_bytes", "run_peak_rss_mb")
# Metadata keys the platform's assets use for records and bytes, most specific first.
RECORD_KEYS = ("records_archived", "records", "dagster/row_count", "rows_affected", "row_count")
BYTES_KEYS = ("bytes_stored", "bytes_written", "bytes", "dagster/size_bytes", "bytes_received")
# The sensor holds the warehouse lease under this name (it has no run of its own).
SENSOR_HOLDER = "sensor:pipeline_metrics"
FINISHED = (dg.DagsterEventType.RUN_SUCCESS, dg.DagsterEventType.RUN_FAILURE)


def peak_rss_mb() -> float:
    """Peak resident memory of this process (the step's own process under multiprocess)."""
    peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    return round(peak / (1024 * 1024 if sys.platform == "darwin" else 1024), 1)


def first_number(metadata: dict[str, object], keys: tuple[str, ...]) -> float | None:
    for key in keys:
        value = getattr(metadata.get(key), "value", metadata.get(key))
        if isinstance(value, int | float) and not isinstance(value, bool):
            return float(value)
    return None


def _step_records(context: dg.HookContext) -> tuple[float | None, list[dg.EventLogRecord]]:
    records = context.instance.get_records_for_run(
        context.run_id,
        of_type={dg.DagsterEventType.STEP_START, dg.DagsterEventType.ASSET_MATERIALIZATION},
    ).records
    mine = [r for r in records if r.event_log_entry.step_key == context.step_key]
    starts = [
        r.timestamp
        for r in mine
        if r.event_log_entry.dagster_event_type == dg.DagsterEventType.STEP_START
    ]
    materializations = [
        r
        for r in mine
        if r.event_log_entry.dagster_event_type == dg.DagsterEventType.ASSET_MATERIALIZATION
    ]
    return (max(starts) if starts else None), materializations


def record_step_metrics(context: dg.HookContext, outcome: str) -> None:
    started, materializations = _step_records(context)
    duration = round(time.time() - started, 3) if started else None
    rss = peak_rss_mb()
    records_total = bytes_total = 0.0
    for record in materializations:
        materialization = record.asset_materialization
        if materialization is None:
            continue
        metadata = dict(materialization.metadata)
        records, size = first_number(metadata, RECORD_KEYS), first_number(metadata, BYTES_KEYS)
        records_total += records or 0
        bytes_total += size or 0
        values = {
            "run_duration_s": duration,
            "run_records": records,
            "run_bytes": size,
            "run_peak_rss_mb": rss,
        }
        observation = dg.AssetObservation(
            asset_key=materialization.asset_key,
            partition=materialization.partition,
            metadata={k: v for k, v in values.items() if v is not None},
        )
        # An observation in the run's own event log: linked to the run, and plotted.
        context.instance.report_dagster_event(
            dg.DagsterEvent(
                event_type_value=dg.DagsterEventType.ASSET_OBSERVATION.value,
                job_name=context.job_name,
                step_key=context.step_key,
                event_specific_data=AssetObservationData(observation),
            ),
            run_id=context.run_id,
        )
    context.log.info(
        f"step {context.step_key} {outcome}: {duration} s, peak {rss} MB",
        extra={
            "step": context.step_key,
            "outcome": outcome,
            "duration_s": duration,
            "records": records_total,
            "bytes": bytes_total,
            "peak_rss_mb": rss,
        },
    )


@dg.success_hook(name="step_metrics_on_success")
def step_metrics_on_success(context: dg.HookContext) -> None:
    record_step_metrics(context, "success")


@dg.failure_hook(name="step_metrics_on_failure")
def step_metrics_on_failure(context: dg.HookContext) -> None:
    record_step_metrics(context, "failure")


def step_metrics_hooks() -> set[dg.HookDefinition]:
    return {step_metrics_on_success, step_metrics_on_failure}


def metric_rows(
    instance: dg.DagsterInstance, run_id: str
) -> list[tuple[str, str | None, dict[str, float]]]:
    """(asset, partition, metrics) for each observation the hooks recorded in a run."""
    rows = []
    records = instance.get_records_for_run(
        run_id, of_type=dg.DagsterEventType.ASSET_OBSERVATION
    ).records
    for record in records:
        observation = record.asset_observation
        if observation is None or "run_peak_rss_mb" not in observation.metadata:
            continue
        metrics = {
            name: float(value.value)
            for name, value in observation.metadata.items()
            if name in METRIC_NAMES and isinstance(value.value, int | float)
        }
        rows.append((observation.asset_key.to_user_string(), observation.partition, metrics))
    return rows


def pipeline_metrics_sensor(
    minimum_interval_seconds: int = 60, lock_wait_s: float = 10.0
) -> dg.SensorDefinition:
    @dg.sensor(
        name="pipeline_metrics",
        default_status=dg.DefaultSensorStatus.RUNNING,
        minimum_interval_seconds=minimum_interval_seconds,
        description="Copies per-run asset metrics of finished runs into meta.pipeline_metrics.",
    )
    def pipeline_metrics(context: dg.SensorEvaluationContext) -> dg.SkipReason:
        cursor = json.loads(context.cursor) if context.cursor else {}
        moved = dict(cursor)
        batch: list[tuple[str, tuple[str, str | None, dict[str, float]]]] = []
        for event_type in FINISHED:
            result = context.instance.fetch_run_status_changes(
                event_type, limit=50, cursor=cursor.get(event_type.value), ascending=True
            )
            for record in result.records:
                run_id = record.event_log_entry.run_id
                batch.extend((run_id, row) for row in metric_rows(context.instance, run_id))
            if result.records:
                moved[event_type.value] = result.cursor
        if batch:
            settings = get_settings()
            lease = WarehouseLease(
                context.instance,
                settings.warehouse_pool,
                SENSOR_HOLDER,
                "pipeline_metrics",
                label="sensor pipeline_metrics",
                log=context.log.info,
            )
            with lease.try_hold() as held:
                if not held:
                    return dg.SkipReason(
                        "a run holds the warehouse pool; these runs are retried next tick"
                    )
                try:
                    with warehouse.connection(
                        warehouse.target_from(settings), wait_s=lock_wait_s
                    ) as conn:
                        for run_id, (asset, partition, metrics) in batch:
                            record_metrics(conn, run_id, asset, partition, metrics)
                except warehouse.WarehouseLockedError:
                    return dg.SkipReason("the warehouse is busy; these runs are retried next tick")
        context.update_cursor(json.dumps(moved))
        return dg.SkipReason(f"recorded {len(batch)} asset metric set(s)")

    return pipeline_metrics


@dg.definitions
def defs() -> dg.Definitions:
    return dg.Definitions(sensors=[pipeline_metrics_sensor()])
