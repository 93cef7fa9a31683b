"""Endpoint-days, end to end: resume, extract, bookkeeping. No Dagster here.

The Dagster assets, the command line and the benchmark all call `run_endpoint_days`,
so they behave identically.
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from datetime import date, timedelta

import duckdb

from project.lib import warehouse
from project.lib.pncp import payload_store, progress
from project.lib.pncp.archive import ArchiveWriter, WarehouseUse, ensure_archive
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
from project.settings import load_settings


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


PARALLEL_DAYS = 4  # endpoint-days in flight: keeps the pipe full when a day has few pages
LISTED_DAYS = 3  # a headline names this many days; more are shown as a range


def _days_text(days: Sequence[date]) -> str:
    if len(days) <= LISTED_DAYS:
        return ", ".join(str(d) for d in days)
    return f"{len(days)} days {days[0]}..{days[-1]}"


def failure_headline(endpoint: str, outcomes: Sequence[EndpointDay], host: str) -> str | None:
    """Why an extraction of `endpoint` did not complete, in one line an operator can act on.

    E.g. `atas 2024-07-09: 12 pages failed (ConnectError to pncp.gov.br); resume with pncp
    retry-failed --month 2024-07`: the days, how many pages, the last failure's cause, the
    API host (never the URL's credentials) and the command that resumes. Days that lost
    no page but still do not add up to PNCP's totals (the totals moved while paging) are
    named with the command that re-extracts them. None when every day is complete.
    """
    failed = sorted((o for o in outcomes if o.report.failures), key=lambda o: o.report.day)
    short = sorted(
        (o for o in outcomes if o.status != "complete" and not o.report.failures),
        key=lambda o: o.report.day,
    )
    parts = []
    if failed:
        pages = sum(len(o.report.failures) for o in failed)
        cause = failed[-1].report.last_error
        months = sorted({f"{o.report.day:%Y-%m}" for o in failed})
        resume = " and ".join(f"pncp retry-failed --month {m}" for m in months)
        parts.append(
            f"{endpoint} {_days_text([o.report.day for o in failed])}: {pages} "
            f"page{'s' if pages != 1 else ''} failed ({cause} to {host}); resume with {resume}"
        )
    if short:
        archived = sum(o.completeness.archived_records for o in short)
        expected = sum(o.completeness.expected_records for o in short)
        days = [o.report.day for o in short]
        parts.append(
            f"{endpoint} {_days_text(days)}: incomplete, {archived} of {expected} records "
            f"archived; re-extract with pncp extract --day {days[0]} -e {endpoint}"
        )
    return "; ".join(parts) or None


def _finish(
    conn: duckdb.DuckDBPyConnection,
    endpoint: Endpoint,
    report: DayReport,
    run_id: str | None,
    schema_cache: dict[str, list[tuple[str, str]]] | None = None,
) -> EndpointDay:
    checked = (
        check_schema(conn, endpoint.name, report.day, report.structure, run_id, schema_cache)
        if report.structure
        else None
    )
    done = completeness(conn, endpoint.name, report.day, len(slices_of(endpoint)))
    outcome = EndpointDay(report, done, checked)
    log_execution(conn, report, run_id, outcome.status)
    return outcome


async def _extract_all(
    sessions: warehouse.Sessions,
    settings: ClientSettings,
    work: Sequence[tuple[Endpoint, date]],
    run_id: str | None,
    parallel: int,
    on_done: Callable[[EndpointDay], None] | None,
    use: WarehouseUse | None,
) -> list[EndpointDay]:
    gate = asyncio.Semaphore(parallel)
    with sessions(None) as conn:
        ensure_archive(conn)
        store_root = payload_store.root_for(conn)

    async def one(endpoint: Endpoint, day: date) -> EndpointDay:
        async with gate:
            # Every warehouse access is a job of the writer's thread: a session each round.
            checkpoint = await writer.checkpoint_async(endpoint.name, day)
            report = await extract_endpoint_day(client, endpoint, day, writer, checkpoint)
        # Outside the gate: the next endpoint-day fetches while this one's bookkeeping
        # waits for the writer (on a lake, a few catalog round trips).
        outcome = await writer.run_async(_finish, endpoint, report, run_id, writer.schema_cache)
        progress.done((endpoint.name, day))
        if on_done is not None:
            on_done(outcome)
        return outcome

    with ArchiveWriter(sessions, store_root, run_id, use) as writer:
        await writer.open_failures_async((e.name, d) for e, d in work)
        async with PncpClient(settings) as client:
            tasks = [asyncio.ensure_future(one(e, d)) for e, d in work]
            try:
                return list(await asyncio.gather(*tasks))
            except BaseException:
                # Stopping (an error, Ctrl-C, a cancelled run): the siblings' last flushes
                # must not wait for a warehouse another run holds.
                writer.abort()
                raise
            finally:
                # On a failure, stop the siblings before the writer and client close.
                for task in tasks:
                    task.cancel()
                await asyncio.gather(*tasks, return_exceptions=True)


def run_endpoint_days(
    target: duckdb.DuckDBPyConnection | warehouse.Sessions,
    settings: ClientSettings,
    work: Sequence[tuple[Endpoint, date]],
    run_id: str | None = None,
    *,
    parallel: int = PARALLEL_DAYS,
    on_done: Callable[[EndpointDay], None] | None = None,
    use: WarehouseUse | None = None,
) -> list[EndpointDay]:
    """Archive what is missing of each (endpoint, day), several at a time, one HTTP client.

    `target` is the warehouse: a connection held throughout (scripts, tests), or
    `Sessions` that take it only for each round of commits (Dagster steps, so other
    writers run while this one waits on the network). Returns the outcomes in the order
    of `work`; `on_done` sees each as it completes; `use` adds up the writer's rounds in
    the warehouse.
    """
    sessions = warehouse.held(target) if isinstance(target, duckdb.DuckDBPyConnection) else target
    return asyncio.run(_extract_all(sessions, settings, work, run_id, parallel, on_done, use))


def run_endpoint_day(
    target: duckdb.DuckDBPyConnection | warehouse.Sessions,
    settings: ClientSettings,
    endpoint: Endpoint,
    day: date,
    run_id: str | None = None,
) -> EndpointDay:
    """Archive what is missing of `endpoint` on `day`, then record how it went."""
    return run_endpoint_days(target, settings, [(endpoint, day)], run_id)[0]


def main(argv: list[str] | None = None) -> int:
    """`python -m project.lib.pncp.runner`: extract days outside Dagster (scripts, tests).

    Prints one line per endpoint-day as it completes, so a supervisor can follow it.
    """
    import argparse

    from project.lib.pncp.endpoints import ENDPOINTS

    parser = argparse.ArgumentParser(description=main.__doc__)
    parser.add_argument(
        "--warehouse",
        default=None,
        help="DuckDB file to archive into (default: the warehouse the settings name, a "
        "file or a DuckLake)",
    )
    parser.add_argument("--base-url", required=True, help="PNCP API base URL")
    parser.add_argument("--endpoint", action="append", choices=sorted(ENDPOINTS), required=True)
    parser.add_argument("--start", type=date.fromisoformat, required=True, help="YYYY-MM-DD")
    parser.add_argument("--end", type=date.fromisoformat, required=True, help="YYYY-MM-DD")
    parser.add_argument("--concurrency", type=int, default=16)
    parser.add_argument("--memory-limit", default="1GB", help="DuckDB memory_limit")
    parser.add_argument("--threads", type=int, default=None, help="DuckDB threads")
    parser.add_argument(
        "--hold",
        choices=("run", "commit"),
        default="run",
        help="hold the warehouse throughout (default, as a Dagster step does while no other "
        "writer waits), or open it for each round of commits (as when one always waits)",
    )
    args = parser.parse_args(argv)
    settings = ClientSettings(
        base_url=args.base_url,
        max_concurrency=args.concurrency,
        rate_limit_per_s=0,
        backoff_base_s=0.05,
        backoff_max_s=1.0,
    )
    days = [args.start + timedelta(days=i) for i in range((args.end - args.start).days + 1)]
    work = [(ENDPOINTS[name], day) for day in days for name in args.endpoint]

    def report(outcome: EndpointDay) -> None:
        records = outcome.completeness.archived_records
        print(
            f"{outcome.report.endpoint} {outcome.report.day} {outcome.status} records={records}",
            flush=True,
        )

    config = {"memory_limit": args.memory_limit}
    if args.threads:
        config["threads"] = str(args.threads)
    use = WarehouseUse()
    target = args.warehouse or warehouse.target_from(load_settings())
    if args.hold == "run":
        with warehouse.connection(target, config=config) as conn:
            outcomes = run_endpoint_days(conn, settings, work, on_done=report, use=use)
    else:
        sessions = warehouse.per_session(target, config=config)
        outcomes = run_endpoint_days(sessions, settings, work, on_done=report, use=use)
    print(
        f"warehouse sessions={use.sessions} held_s={use.held_s:.3f} longest_s={use.longest_s:.3f}",
        flush=True,
    )
    return int(any(o.status != "complete" for o in outcomes))


if __name__ == "__main__":
    raise SystemExit(main())
