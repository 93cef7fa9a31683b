"""Schedules of the PNCP pipeline and the jobs they launch, in Brasília time.

All start STOPPED: turning one on is a deliberate act in the UI (Automation tab) or with
`dagster schedule start`, so a laptop never starts calling the real PNCP API by itself.

- `pncp_daily_extraction_schedule`: at 06:00 every day, the previous day of every PNCP
  endpoint (group `pncp_raw`). The marts pick the new day up through the automation
  conditions of their layer (`project.defs.ops.policy`).
- `pncp_monthly_transformation_schedule`: on the 2nd at 07:00, a full rebuild of the
  previous month's transformation (staging, intermediate, marts, exports), catching
  records PNCP updated after the month's days were extracted.

The jobs select by the same strings as the operator CLI (`selections`), and retry steps
with the platform's default step policy (`project.defs.ops.runtime.STEP_RETRY`).
"""

import dagster as dg

from project.defs.ops.runtime import STEP_RETRY
from project.defs.pncp.partitions import TIMEZONE, monthly
from project.defs.pncp.selections import EXTRACTION, TRANSFORMATION

pncp_daily_extraction_job = dg.define_asset_job(
    "pncp_daily_extraction",
    selection=EXTRACTION,
    op_retry_policy=STEP_RETRY,
    description="Every PNCP endpoint for one day into the raw archive.",
)

pncp_monthly_transformation_job = dg.define_asset_job(
    "pncp_monthly_transformation",
    selection=TRANSFORMATION,
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
