"""Alert sensors: a failed run, or an ERROR check that did not pass, posts to the webhook.

The sensors only gather the facts (run, job, assets, partition, error, UI link) into
`project.lib.alerts.Alert`; payloads, redaction, dedup and the rate limit live there.
The dedup/rate-limit state is kept in the Dagster instance's key-value store, so it is
shared by both sensors and survives restarts (and, on PostgreSQL, machines).

Both run by default and do nothing until ALERT_WEBHOOK_URL is set. A delivery error
fails the sensor tick, so the same runs are tried again on the next tick.
"""

import threading

import dagster as dg

from project.lib.alerts import Alert, AlertGate, dispatch
from project.settings import get_settings

GATE_STATE_KEY = "project/alerts/gate"
PARTITION_TAG = "dagster/partition"
RANGE_TAGS = ("dagster/asset_partition_range_start", "dagster/asset_partition_range_end")
WILL_RETRY_TAG = "dagster/will_retry"
IMPLICIT_JOB_PREFIX = "__ASSET_JOB"
MAX_CHECK_METADATA = 6

# Both sensors run in the same code server: one read-modify-write of the gate at a time.
_gate_lock = threading.Lock()


def run_url(run_id: str) -> str:
    return f"{get_settings().dagster_ui_url.rstrip('/')}/runs/{run_id}"


def partition_of(run: dg.DagsterRun) -> str | None:
    if PARTITION_TAG in run.tags:
        return run.tags[PARTITION_TAG]
    start, end = (run.tags.get(tag) for tag in RANGE_TAGS)
    return f"{start}...{end}" if start and end else None


def _job_label(run: dg.DagsterRun) -> str | None:
    # Runs launched by the automation sensors use Dagster's implicit asset job.
    return None if run.job_name.startswith(IMPLICIT_JOB_PREFIX) else run.job_name


def unmaterialized_assets(instance: dg.DagsterInstance, run_id: str) -> tuple[str, ...]:
    """The assets the run planned but did not materialize: what its failure left stale."""
    records = instance.get_records_for_run(
        run_id,
        of_type={
            dg.DagsterEventType.ASSET_MATERIALIZATION_PLANNED,
            dg.DagsterEventType.ASSET_MATERIALIZATION,
        },
    ).records
    planned, done = set(), set()
    for record in records:
        event = record.event_log_entry.dagster_event
        if event is None or event.asset_key is None:
            continue
        target = done if event.is_step_materialization else planned
        target.add(event.asset_key.to_user_string())
    return tuple(sorted((planned - done) or planned))


def _error_text(error: object) -> str:
    """The message of an error and of its causes, without the stack traces."""
    lines = []
    depth = 0
    while error is not None and depth < 3:
        message = (getattr(error, "message", "") or "").strip()
        if message:
            lines.append(message if depth == 0 else f"caused by: {message}")
        error = getattr(error, "cause", None)
        depth += 1
    return "\n".join(lines)


def run_failure_alert(
    instance: dg.DagsterInstance,
    run: dg.DagsterRun,
    run_failure_message: str,
    step_failures: list[dg.DagsterEvent],
) -> Alert:
    errors, steps = [], []
    for event in step_failures:
        steps.append(event.step_key or "?")
        error = getattr(event.event_specific_data, "error", None)
        errors.append(f"[{event.step_key}] {_error_text(error) or event.message or ''}".strip())
    assets = unmaterialized_assets(instance, run.run_id)
    job = _job_label(run)
    details = {"Failed steps": ", ".join(steps)} if steps else {}
    if run.tags.get(WILL_RETRY_TAG) == "true":
        details["Retry"] = "a retry of this run is queued"
    return Alert(
        kind="run_failure",
        title=f"Run failed: {job or ', '.join(assets) or run.job_name}",
        run_id=run.run_id,
        job=job,
        assets=assets,
        partition=partition_of(run),
        error="\n".join(errors) or run_failure_message,
        run_url=run_url(run.run_id),
        details=details,
    )


def failed_error_check_alerts(instance: dg.DagsterInstance, run: dg.DagsterRun) -> list[Alert]:
    """One alert per ERROR-severity check of the run that did not pass."""
    alerts = []
    records = instance.get_records_for_run(
        run.run_id, of_type=dg.DagsterEventType.ASSET_CHECK_EVALUATION
    ).records
    for record in records:
        event = record.event_log_entry.dagster_event
        evaluation = event.event_specific_data if event is not None else None
        if (
            evaluation is None
            or evaluation.passed
            or evaluation.severity != dg.AssetCheckSeverity.ERROR
        ):
            continue
        asset = evaluation.asset_key.to_user_string()
        details = {
            key: str(getattr(value, "value", value))
            for key, value in list(evaluation.metadata.items())[:MAX_CHECK_METADATA]
        }
        alerts.append(
            Alert(
                kind="check_failure",
                title=f"Check failed: {asset} {evaluation.check_name}",
                run_id=run.run_id,
                job=_job_label(run),
                assets=(asset,),
                partition=evaluation.partition or partition_of(run),
                error=evaluation.description or f"ERROR check {evaluation.check_name} did not pass",
                run_url=run_url(run.run_id),
                details=details,
            )
        )
    return alerts


def notify(instance: dg.DagsterInstance, alerts: list[Alert], log) -> None:
    """Send what the gate admits; its state is saved even when a delivery fails midway."""
    settings = get_settings()
    if not alerts:
        return
    if settings.alert_webhook_url is None:
        log.info(f"{len(alerts)} alert(s) not sent: ALERT_WEBHOOK_URL is not set")
        return
    with _gate_lock:
        storage = instance.run_storage
        state = storage.get_cursor_values({GATE_STATE_KEY}).get(GATE_STATE_KEY)
        gate = AlertGate.from_json(
            state, settings.alert_dedup_window_s, settings.alert_max_per_hour
        )
        try:
            for alert in alerts:
                decision = dispatch(
                    alert,
                    url=settings.alert_webhook_url.get_secret_value(),
                    gate=gate,
                    webhook_format=settings.alert_webhook_format,
                    secrets=settings.secret_values(),
                )
                log.info(f"{alert.kind} alert for run {alert.run_id}: {decision}")
        finally:
            storage.set_cursor_values({GATE_STATE_KEY: gate.to_json()})


def alert_sensors(minimum_interval_seconds: int = 30) -> list[dg.SensorDefinition]:
    @dg.run_failure_sensor(
        name="run_failure_alerts",
        default_status=dg.DefaultSensorStatus.RUNNING,
        minimum_interval_seconds=minimum_interval_seconds,
        description="Posts every failed run (and its failing ERROR checks) to ALERT_WEBHOOK_URL.",
    )
    def run_failure_alerts(context: dg.RunFailureSensorContext) -> None:
        run = context.dagster_run
        alerts = [
            run_failure_alert(
                context.instance,
                run,
                context.failure_event.message or "run failed",
                list(context.get_step_failure_events()),
            ),
            *failed_error_check_alerts(context.instance, run),
        ]
        notify(context.instance, alerts, context.log)

    @dg.run_status_sensor(
        name="check_failure_alerts",
        run_status=dg.DagsterRunStatus.SUCCESS,
        default_status=dg.DefaultSensorStatus.RUNNING,
        minimum_interval_seconds=minimum_interval_seconds,
        description="Posts ERROR checks that did not pass in successful runs to ALERT_WEBHOOK_URL.",
    )
    def check_failure_alerts(context: dg.RunStatusSensorContext) -> None:
        alerts = failed_error_check_alerts(context.instance, context.dagster_run)
        notify(context.instance, alerts, context.log)

    return [run_failure_alerts, check_failure_alerts]


@dg.definitions
def defs() -> dg.Definitions:
    return dg.Definitions(sensors=alert_sensors())
