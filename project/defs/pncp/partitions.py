"""Partitions of the PNCP pipeline: one day per extraction, in Brasília time."""

import dagster as dg

from project.settings import get_settings

TIMEZONE = "America/Sao_Paulo"

daily = dg.DailyPartitionsDefinition(
    start_date=get_settings().pncp_start_date.isoformat(), timezone=TIMEZONE
)
