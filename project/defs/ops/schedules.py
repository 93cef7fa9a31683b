"""Schedules of the platform and the jobs they launch, in Brasília time.

All start STOPPED: turning one on is a deliberate act in the UI (Automation tab) or with
`dagster schedule start`, so a laptop never starts calling the real PNCP API by itself.

- `pncp_daily_extraction_schedule`: at 06:00 every day, the previous day of every PNCP
  endpoint (group `pncp_raw`). The marts pick the new day up through their automation
  conditions (`project.defs.ops.policy`).
- `pncp_monthly_transformation_schedule`: on the 2nd at 07:00, a full rebuild of the
  previous month's transformation (staging, intermediate, marts, exports), catching
  records PNCP updated after the month's days were extracted.

The e-commerce demo generator's schedule joins `schedules()` when that capability exists.
"""

import dagster as dg

from project.defs.pncp.partitions import TIMEZONE, monthly

# Step-level retries with jitter for every op of these jobs that has no policy of its own
# (extraction assets bring theirs); run-level retries are instance configuration.
STEP_RETRY = dg.RetryPolicy(
    max_retries=2, delay=30, backoff=dg.Backoff.EXPONENTIAL, jitter=dg.Jitter.PLUS_MINUS
)

TRANSFORMATION_GROUPS = ("pncp_staging", "pncp_intermediate", "pncp_marts", "pncp_exports")

pncp_daily_extraction_job = dg.define_asset_job(
    "pncp_daily_extraction",
    selection=dg.AssetSelection.groups("pncp_raw"),
    op_retry_policy=STEP_RETRY,
    description="Every PNCP endpoint for one day into the raw archive.",
)

pncp_monthly_transformation_job = dg.define_asset_job(
    "pncp_monthly_transformation",
    selection=dg.AssetSelection.groups(*TRANSFORMATION_GROUPS),
    op_retry_policy=STEP_RETRY,
    description="dbt models and Parquet exports of one month, rebuilt from the raw archive.",
)

pncp_daily_extraction_schedule = dg.build_schedule_from_partitioned_job(
    pncp_daily_extraction_job,
    name="pncp_daily_extraction_schedule",
    hour_of_day=6,
    minute_of_hour=0,
    default_status=dg.DefaultScheduleStatus.STOPPED,
    description="06:00 America/Sao_Paulo: extract the previous day of every PNCP endpoint.",
)


@dg.schedule(
    name="pncp_monthly_transformation_schedule",
    job=pncp_monthly_transformation_job,
    cron_schedule="0 7 2 * *",
    execution_timezone=TIMEZONE,
    default_status=dg.DefaultScheduleStatus.STOPPED,
    description="07:00 on the 2nd, America/Sao_Paulo: rebuild the previous month.",
)
def pncp_monthly_transformation_schedule(context: dg.ScheduleEvaluationContext) -> dg.RunRequest:
    # The partition is chosen here rather than by `build_schedule_from_partitioned_job`,
    # which needs the job's partitioning at load time; this keeps the location loadable
    # whatever the partitioning of the transformation assets.
    month = monthly.get_partition_keys(current_time=context.scheduled_execution_time)[-1]
    return dg.RunRequest(run_key=month, partition_key=month)


def jobs() -> list:
    return [pncp_daily_extraction_job, pncp_monthly_transformation_job]


def schedules() -> list[dg.ScheduleDefinition]:
    return [pncp_daily_extraction_schedule, pncp_monthly_transformation_schedule]


@dg.definitions
def defs() -> dg.Definitions:
    return dg.Definitions(jobs=jobs(), schedules=schedules())
