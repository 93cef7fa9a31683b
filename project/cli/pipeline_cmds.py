"""Running the pipeline through Dagster: extract days, transform months, retry, plan.

Every command validates its input against the real partitions of the code location
before launching anything, then runs through `Launcher` (see `launch.py`), so the runs
are in the Dagster UI. Extraction resumes from the archive: re-running a day that is
complete costs no request.
"""

from __future__ import annotations

import contextlib
import math
import os
from collections import defaultdict
from datetime import date
from typing import TYPE_CHECKING, Annotated

import typer

from project.cli.app import CliError, CommandFailed, Options, app
from project.cli.common import (
    MonthArgument,
    MonthOption,
    WarehouseMissing,
    client_settings,
    one_month,
    parse_day,
    parse_endpoints,
    parse_month,
    reader,
    render_table,
    settings,
)
from project.cli.launch import Launcher, PlannedRun, raw_selection
from project.defs.pncp.selections import TRANSFORMATION
from project.lib.pncp.endpoints import ENDPOINTS
from project.settings import Settings

if TYPE_CHECKING:
    from project.lib.pncp.plan import SlicePlan

PANEL = "Pipeline"

EndpointOption = Annotated[
    list[str] | None,
    typer.Option("--endpoint", "-e", help="Only this endpoint (repeat); default: all six."),
]


def _month_key(first: date) -> str:
    from project.defs.pncp.partitions import month_key

    return month_key(first.strftime("%Y-%m"))


def _require_month(first: date) -> str:
    """The monthly partition key of `first`'s month, or CliError when it is not one."""
    from project.defs.pncp.partitions import monthly

    key = _month_key(first)
    if not monthly.has_partition_key(key):
        raise CliError(
            f"{first:%Y-%m} is not a monthly partition (first "
            f"{monthly.get_first_partition_key()[:7]}, last "
            f"{monthly.get_last_partition_key()[:7]}: months that have ended)"
        )
    return key


def _require_day(day: date) -> None:
    from project.defs.pncp.partitions import daily

    if not daily.has_partition_key(day.isoformat()):
        raise CliError(
            f"{day} is not a daily partition (first {daily.get_first_partition_key()}, "
            f"last {daily.get_last_partition_key()}: days that have ended)"
        )


def _latest_month() -> tuple[date, date]:
    from project.defs.pncp.partitions import monthly

    return parse_month(monthly.get_last_partition_key()[:7])


def _execute(launcher: Launcher, runs: list[PlannedRun]) -> None:
    """Run in order; stop at the first failure (a transform must not run on a gap)."""
    for run in runs:
        typer.echo(f"launching: {run.label} ({run.selection})", err=True)
        outcome = launcher.execute(run)
        typer.echo(outcome.summary())
        if not outcome.success:
            detail = "; ".join(outcome.failures) or "see the run in the Dagster UI"
            raise CommandFailed(f"run {outcome.run_id} failed: {detail}")
    typer.echo(f"runs recorded in {launcher.home}; browse them with `pncp ui`")


def _month_runs(
    launcher: Launcher, first: date, last: date, endpoints: list[str], label: str
) -> list[PlannedRun]:
    month = first.strftime("%Y-%m")
    extract = launcher.plan(
        f"{label} {month}: extract",
        raw_selection(endpoints, list(ENDPOINTS)),
        days=(first, last),
    )
    transform = launcher.plan(
        f"{label} {month}: transform", TRANSFORMATION, partition=_month_key(first)
    )
    return [extract, transform]


@app.command("extract", rich_help_panel=PANEL)
def extract(
    day: Annotated[str, typer.Option("--day", help="The day (daily partition), YYYY-MM-DD.")],
    endpoint: EndpointOption = None,
) -> None:
    """Materialize the raw extraction of one day through Dagster.

    Example: pncp extract --day 2024-07-01 --endpoint contratos
    """
    when = parse_day(day)
    names = parse_endpoints(endpoint)
    _require_day(when)
    with Launcher(settings()) as launcher:
        run = launcher.plan(
            f"extract {when}", raw_selection(names, list(ENDPOINTS)), days=(when, when)
        )
        _execute(launcher, [run])


@app.command("transform", rich_help_panel=PANEL)
def transform(
    month: Annotated[str, typer.Option("--month", help="The month, YYYY-MM.")],
) -> None:
    """Materialize the dbt models and Parquet exports of one month through Dagster.

    Runs the transformation selection (dbt staging, intermediate and marts, then the
    Parquet exports) for the monthly partition YYYY-MM-01, from the raw pages already
    archived.

    Example: pncp transform --month 2024-07
    """
    key = _require_month(parse_month(month)[0])
    with Launcher(settings()) as launcher:
        run = launcher.plan(f"transform {month}", TRANSFORMATION, partition=key)
        _execute(launcher, [run])


@app.command("run", rich_help_panel=PANEL)
def run(
    month: Annotated[str | None, typer.Option("--month", help="The month to run, YYYY-MM.")] = None,
    latest: Annotated[
        bool,
        typer.Option(
            "--latest",
            help=(
                "The latest complete month: Dagster's last monthly partition (on 2024-08-15,"
                " 2024-07)."
            ),
        ),
    ] = False,
    endpoint: EndpointOption = None,
    pipeline: Annotated[
        str | None,
        typer.Option(
            "--pipeline",
            "-p",
            help="Run a YAML pipeline (conf/base/pipelines/NAME.yml) instead of PNCP's month.",
            rich_help_panel="YAML pipelines",
        ),
    ] = None,
    env: Annotated[
        str | None,
        typer.Option(
            "--env",
            help="Catalog environment for --pipeline (default: $CATALOG_ENV, else local).",
            rich_help_panel="YAML pipelines",
        ),
    ] = None,
    tags: Annotated[
        list[str] | None,
        typer.Option(
            "--tags", help="Only nodes with this tag (repeat).", rich_help_panel="YAML pipelines"
        ),
    ] = None,
    from_nodes: Annotated[
        list[str] | None,
        typer.Option(
            "--from-nodes",
            help="This node and everything downstream of it (repeat).",
            rich_help_panel="YAML pipelines",
        ),
    ] = None,
    to_nodes: Annotated[
        list[str] | None,
        typer.Option(
            "--to-nodes",
            help="This node and everything it needs upstream (repeat).",
            rich_help_panel="YAML pipelines",
        ),
    ] = None,
    params: Annotated[
        list[str] | None,
        typer.Option(
            "--params",
            help="Override a parameter for this run: key=value, dotted keys (repeat).",
            rich_help_panel="YAML pipelines",
        ),
    ] = None,
) -> None:
    """Extract every day of a month, then transform it: two Dagster runs. Or, with
    --pipeline, run a pipeline declared in YAML (or a slice of it) as one Dagster run.

    The extraction is one run over the month's daily partitions (resuming from the
    archive); the transformation runs only if it succeeded. --latest picks the latest
    complete month, the last monthly partition: a month becomes a partition once it has
    ended in Brasília time.

    Example: pncp run --month 2024-07

    Example: pncp run --pipeline inventory --from-nodes stock_levels --params
    inventory.reorder.safety_days=10
    """
    yaml_options = env or tags or from_nodes or to_nodes or params
    if pipeline is not None:
        if month or latest or endpoint:
            raise CliError(
                "--pipeline runs a YAML pipeline: --month, --latest and --endpoint "
                "are for PNCP's month"
            )
        from project.cli.yaml_runs import run_pipeline

        run_pipeline(
            pipeline,
            env=env,
            tags=tags or [],
            from_nodes=from_nodes or [],
            to_nodes=to_nodes or [],
            params=params or [],
        )
        return
    if yaml_options:
        raise CliError("--env, --tags, --from-nodes, --to-nodes and --params need --pipeline NAME")
    if (month is None) == (not latest):
        raise CliError("give exactly one of --month YYYY-MM or --latest")
    names = parse_endpoints(endpoint)
    first, last = parse_month(month) if month else _latest_month()
    _require_month(first)
    with Launcher(settings()) as launcher:
        runs = _month_runs(launcher, first, last, names, "run")
        _execute(launcher, runs)


@app.command("dry-run", rich_help_panel=PANEL)
def dry_run(
    month: Annotated[str | None, typer.Option("--month", help="The month, YYYY-MM.")] = None,
    latest: Annotated[
        bool, typer.Option("--latest", help="The latest complete month (as `run --latest`).")
    ] = False,
    endpoint: EndpointOption = None,
) -> None:
    """Plan a month's run without writing anything: partitions, endpoints, requests.

    Slices already started in the archive are planned from the totals stored with their
    page 1; every other slice costs one page-1 request now (at the smallest page size) to
    read PNCP's totalRegistros. Nothing is written: not the warehouse, not the instance.
    Exits 1, saying so, when the API cannot be reached or any slice could not be planned
    (the estimate is then a lower bound).

    Example: pncp dry-run --month 2024-07 --endpoint contratos
    """
    from project.cli.progress import Progress
    from project.lib.pncp.extract import slices_of
    from project.lib.pncp.plan import plan_extraction, read_checkpoints

    if (month is None) == (not latest):
        raise CliError("give exactly one of --month YYYY-MM or --latest")
    names = parse_endpoints(endpoint)
    first, _ = parse_month(month) if month else _latest_month()
    days = _month_days(first)
    config = settings()
    work = [(ENDPOINTS[name], day) for name in names for day in days]
    checkpoints: dict = {}
    # No warehouse yet: nothing archived, every slice is planned from its page 1. The
    # reader is closed before the requests: it never blocks a writer.
    with contextlib.suppress(WarehouseMissing), reader(config) as conn:
        checkpoints = read_checkpoints(conn, work)
    client = client_settings(config)
    slices = sum(len(slices_of(endpoint)) for endpoint, _ in work)
    label = f"dry-run {first:%Y-%m}"
    with Progress(label, slices, "slices", every_s=Options.progress_every_s):
        plans = plan_extraction(checkpoints, client, work)
    _print_plan(config, first, days, names, plans)
    failed = [p for p in plans if p.error]
    if failed:
        probed = sum(1 for p in plans if p.records is None or p.archived == 0)
        if len(failed) == probed:
            raise CommandFailed(
                f"the PNCP API at {client.host} could not be reached: all {len(failed)} "
                f"page-1 requests failed ({_causes(failed)}); nothing could be planned"
            )
        raise CommandFailed(
            f"{len(failed)} of {len(plans)} slices could not be planned ({_causes(failed)} "
            f"from {client.host}); the estimate is a lower bound"
        )


def _causes(failed: list[SlicePlan]) -> str:
    """`ConnectError` or `HTTP 503 x3, ReadTimeout x1`: why slices could not be planned."""
    counts: dict[str, int] = defaultdict(int)
    for plan in failed:
        counts[plan.cause or "error"] += 1
    if len(counts) == 1:
        return next(iter(counts))
    return ", ".join(f"{cause} x{n}" for cause, n in sorted(counts.items(), key=lambda c: -c[1]))


def _month_days(first: date) -> list[date]:
    """The month's daily partitions; the month itself must be a monthly partition."""
    from project.defs.pncp.partitions import daily, monthly

    key = _require_month(first)
    window = monthly.time_window_for_partition_key(key)
    return [date.fromisoformat(k) for k in daily.get_partition_keys_in_time_window(window)]


def _print_plan(
    config: Settings, first: date, days: list[date], names: list[str], plans: list[SlicePlan]
) -> None:
    from project.lib.pncp.client import redact_url

    per_endpoint: dict[str, list[SlicePlan]] = defaultdict(list)
    for plan in plans:
        per_endpoint[plan.endpoint].append(plan)
    typer.echo(f"Dry run for {first:%Y-%m}: nothing is written.")
    typer.echo(f"  monthly partition  {_month_key(first)} (transformation: {TRANSFORMATION})")
    typer.echo(f"  daily partitions   {days[0]} .. {days[-1]} ({len(days)} days, extraction)")
    typer.echo(f"  endpoints          {', '.join(names)}")
    typer.echo(f"  API                {redact_url(config.pncp_base_url)}")
    typer.echo("")
    rows = []
    for name in names:
        slices = per_endpoint[name]
        rows.append(
            [
                name,
                len({p.day for p in slices}),
                len(slices),
                sum(p.records or 0 for p in slices),
                sum(p.pages for p in slices),
                sum(p.archived for p in slices),
                sum(p.to_fetch for p in slices),
                sum(1 for p in slices if p.error),
            ]
        )
    totals = [sum(r[i] for r in rows) for i in range(1, 8)]
    columns = ["endpoint", "days", "slices", "records", "pages", "archived", "to fetch", "errors"]
    typer.echo(render_table(columns, [*rows, ["total", *totals]]))
    to_fetch, errors = totals[5], totals[6]
    rate = config.pncp_rate_limit_per_s
    pace = f", at least {math.ceil(to_fetch / rate / 60)} min at {rate:g} req/s" if rate else ""
    at_least = "at least " if errors else ""
    typer.echo(f"\nestimated requests to extract: {at_least}{to_fetch}{pace}")
    if errors:
        first_error = next(p.error for p in plans if p.error)
        typer.echo(f"{errors} slice(s) could not be planned (counted as 1 page): {first_error}")


@app.command("retry-failed", rich_help_panel=PANEL)
def retry_failed(
    month_argument: MonthArgument = None,
    month_option: MonthOption = None,
    max_retries: Annotated[
        int | None,
        typer.Option(
            min=0, max=20, help="HTTP retries per page for this retry (PNCP_MAX_RETRIES)."
        ),
    ] = None,
) -> None:
    """Re-run the extraction of the endpoint-days of a month with open failed requests.

    One Dagster run per day, selecting the endpoints that failed that day; the archive
    resumes, so only missing pages are requested, and archived pages resolve their rows
    in meta.failed_requests.

    Example: pncp retry-failed --month 2024-07 --max-retries 10
    """
    month = one_month(month_argument, month_option)
    first, last = parse_month(month)
    config = settings()
    failing = _open_failures(config, first, last)
    if not failing:
        typer.echo(f"no open failed requests in {month}")
        return
    total = sum(len(v) for v in failing.values())
    typer.echo(f"{total} open failed request(s) on {len(failing)} day(s) of {month}", err=True)
    if max_retries is not None:
        os.environ["PNCP_MAX_RETRIES"] = str(max_retries)
        config = settings()
    with Launcher(config) as launcher:
        runs = [
            launcher.plan(
                f"retry-failed {day}",
                raw_selection(sorted(endpoints), list(ENDPOINTS)),
                days=(day, day),
            )
            for day, endpoints in sorted(failing.items())
        ]
        failed_runs = []
        for planned in runs:
            outcome = launcher.execute(planned)
            typer.echo(outcome.summary())
            if not outcome.success:
                failed_runs.append(outcome.run_id)
    remaining = sum(len(v) for v in _open_failures(config, first, last).values())
    typer.echo(f"open failed requests in {month}: {total} before, {remaining} now")
    if remaining or failed_runs:
        raise CommandFailed(
            f"{remaining} failed request(s) still open in {month} "
            f"(runs that failed: {', '.join(failed_runs) or 'none'}); "
            f"see `pncp recovery-status --month {month} --problems`"
        )


def _open_failures(config: Settings, first: date, last: date) -> dict[date, set[str]]:
    from project.lib.pncp.archive import open_failures
    from project.lib.pncp.recovery import has_archive

    failing: dict[date, set[str]] = defaultdict(set)
    with reader(config) as conn:
        if not has_archive(conn):
            return {}
        for row in open_failures(conn):
            if first <= row["ingestion_date"] <= last:
                failing[row["ingestion_date"]].add(row["endpoint"])
    return dict(failing)
