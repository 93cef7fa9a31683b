"""One endpoint-day, end to end: resume, extract, bookkeeping. No Dagster here.

The Dagster asset, the operator CLI and the benchmark all call `run_endpoint_day`, so
the three behave identically.
"""

from __future__ import annotations

import asyncio
from dataclasses import dataclass
from datetime import date, timedelta

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


def main(argv: list[str] | None = None) -> int:
    """`python -m project.lib.pncp.runner`: extract days outside Dagster (scripts, tests).

    Prints one line per endpoint-day as it completes, so a supervisor can follow it.
    """
    import argparse

    from project.lib import warehouse
    from project.lib.pncp.endpoints import ENDPOINTS

    parser = argparse.ArgumentParser(description=main.__doc__)
    parser.add_argument("--warehouse", required=True, help="DuckDB file to archive into")
    parser.add_argument("--base-url", required=True, help="PNCP API base URL")
    parser.add_argument("--endpoint", action="append", choices=sorted(ENDPOINTS), required=True)
    parser.add_argument("--start", type=date.fromisoformat, required=True, help="YYYY-MM-DD")
    parser.add_argument("--end", type=date.fromisoformat, required=True, help="YYYY-MM-DD")
    parser.add_argument("--concurrency", type=int, default=16)
    args = parser.parse_args(argv)
    settings = ClientSettings(
        base_url=args.base_url,
        max_concurrency=args.concurrency,
        rate_limit_per_s=0,
        backoff_base_s=0.05,
        backoff_max_s=1.0,
    )
    days = [args.start + timedelta(days=i) for i in range((args.end - args.start).days + 1)]
    status = 0
    with warehouse.connection(args.warehouse) as conn:
        for day in days:
            for name in args.endpoint:
                outcome = run_endpoint_day(conn, settings, ENDPOINTS[name], day)
                records = outcome.completeness.archived_records
                print(f"{name} {day} {outcome.status} records={records}", flush=True)
                status = status or int(outcome.status != "complete")
    return status


if __name__ == "__main__":
    raise SystemExit(main())
