"""A small code location for the daemon test, assembled from the project's own ops pieces.

`upstream` and `broken` are extracted by a daily schedule (stopped by default, like the
project's; the test starts it); `downstream` is a mart kept up to date by the
project's automation policy; the alert and metrics sensors and the metrics hooks are the
project's, with short intervals. The ERROR checks of `upstream` and `downstream` fail;
`broken` fails quoting a secret.
"""

import os

import dagster as dg

from project.defs.ops.alerts import alert_sensors
from project.defs.ops.automation import automation_sensors
from project.defs.ops.metrics import pipeline_metrics_sensor, step_metrics_hooks
from project.defs.ops.policy import apply_policy
from project.defs.ops.runtime import with_runtime
from project.settings import get_settings

INTERVAL_S = 5


@dg.asset(
    group_name="demo_raw",
    check_specs=[dg.AssetCheckSpec("rows_expected", asset="upstream")],
)
def upstream(context: dg.AssetExecutionContext):
    context.log.info("upstream extracted", extra={"records": 3})
    yield dg.MaterializeResult(metadata={"records": 3, "bytes_written": 512})
    yield dg.AssetCheckResult(
        check_name="rows_expected",
        passed=False,
        severity=dg.AssetCheckSeverity.ERROR,
        description="3 rows, expected 4",
        metadata={"rows": 3, "expected": 4},
    )


@dg.asset(group_name="demo_raw")
def broken() -> None:
    token = os.environ.get("PNCP_API_TOKEN", "")
    raise RuntimeError(f"upstream API refused token {token}")


@dg.asset(
    deps=[upstream],
    group_name="demo_marts",
    check_specs=[dg.AssetCheckSpec("totals_reconcile", asset="downstream")],
)
def downstream():
    yield dg.MaterializeResult(metadata={"records": 1})
    yield dg.AssetCheckResult(
        check_name="totals_reconcile",
        passed=False,
        severity=dg.AssetCheckSeverity.ERROR,
        description="totals differ from upstream by 2",
    )


extract = dg.define_asset_job("extract_daily", selection=["upstream", "broken"])

defs = with_runtime(
    apply_policy(
        dg.Definitions(
            assets=[upstream, broken, downstream],
            jobs=[extract],
            schedules=[
                dg.ScheduleDefinition(
                    name="extract_daily_schedule",
                    job=extract,
                    cron_schedule="0 0 * * *",
                    default_status=dg.DefaultScheduleStatus.STOPPED,
                )
            ],
            sensors=[
                *automation_sensors(minimum_interval_seconds=INTERVAL_S),
                *alert_sensors(minimum_interval_seconds=INTERVAL_S),
                pipeline_metrics_sensor(minimum_interval_seconds=INTERVAL_S),
            ],
        ),
        hooks=step_metrics_hooks(),
    ),
    get_settings(),
)
