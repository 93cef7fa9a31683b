"""Partitions of the PNCP pipeline, in Brasília time.

Extraction runs one day per partition; transformation (dbt models and exports) runs one
month per partition, keyed by the month's first day (`2024-07-01`). A month depends on
every day in it (Dagster maps daily → monthly by time window).
"""

import dagster as dg

from project.settings import get_settings

TIMEZONE = "America/Sao_Paulo"

daily = dg.DailyPartitionsDefinition(
    start_date=get_settings().pncp_start_date.isoformat(), timezone=TIMEZONE
)

monthly = dg.MonthlyPartitionsDefinition(
    start_date=get_settings().pncp_start_date.replace(day=1).isoformat(), timezone=TIMEZONE
)


def month_key(month: str) -> str:
    """`2024-07` → the monthly partition key `2024-07-01`."""
    return f"{month}-01"
