"""One endpoint-day, end to end: resume, extract, bookkeeping. No Dagster here.

The Dagster asset, the operator CLI and the benchmark all call `run_endpoint_day`, so
the three behave identically.
"""

from __future__ import annotations

import asyncio
from dataclasses import dataclass
from datetime import date

import duckdb

from project.lib.pncp.archive import ArchiveWriter, ensure_archive, read_checkpoint
from project.lib.pncp.bookkeeping import (
    Completeness,
    SchemaCheck,
    check_schema,
    completeness,
    log_execution,
)
from project.lib.pncp.client import ClientSettings, PncpClient
from project.lib.pncp.endpoints import Endpoint
from project.lib.pncp.extract import DayReport, extract_endpoint_day, slices_of


@dataclass(frozen=True)
class EndpointDay:
    report: DayReport
    completeness: Completeness
    schema: SchemaCheck | None  # None when nothing new was fetched

    @property
    def status(self) -> str:
        if self.report.circuit_open:
            return "circuit_open"
        if self.report.failures or not self.completeness.complete:
            return "incomplete"
        return "complete"


async def _extract(
    settings: ClientSettings,
    endpoint: Endpoint,
    day: date,
    writer: ArchiveWriter,
    conn: duckdb.DuckDBPyConnection,
) -> DayReport:
    checkpoint = read_checkpoint(conn, endpoint.name, day)
    async with PncpClient(settings) as client:
        return await extract_endpoint_day(client, endpoint, day, writer, checkpoint)


def run_endpoint_day(
    conn: duckdb.DuckDBPyConnection,
    settings: ClientSettings,
    endpoint: Endpoint,
    day: date,
    run_id: str | None = None,
) -> EndpointDay:
    """Archive what is missing of `endpoint` on `day`, then record how it went."""
    ensure_archive(conn)
    writer = ArchiveWriter(conn, run_id)
    report = asyncio.run(_extract(settings, endpoint, day, writer, conn))
    checked = (
        check_schema(conn, endpoint.name, day, report.structure, run_id)
        if report.structure
        else None
    )
    done = completeness(conn, endpoint.name, day, len(slices_of(endpoint)))
    outcome = EndpointDay(report, done, checked)
    log_execution(conn, report, run_id, outcome.status)
    return outcome
