"""Daily-partitioned raw extraction assets, one per PNCP endpoint.

Each asset archives its endpoint-day into `raw.api_requests` (see
`project.lib.pncp.runner`). It holds the warehouse lease (a slot of the warehouse pool)
only for each round of commits, not while it waits on the API, so a long backfill lets
other writers (dbt, the daily schedule, other capabilities) in between. Two checks
ride along: completeness against PNCP's `totalRegistros` (ERROR) and schema drift
against the endpoint's first recorded structure (WARN).

What an operator sees: the step logs the API host it calls when it starts; each day's
own counts are metadata of that day's partition (`dagster/row_count` is the day's
archived records), so the asset's Partitions plots show one point per day even when a
backfill runs many days in one step; a step that does not complete fails with a
headline naming the endpoint, the days, the failed pages, their cause and the host, and
the command that resumes (`runner.failure_headline`). That headline is the step's own
error, not "Exceeded max_retries": the last attempt the retry policy allows raises a
failure that asks for no retry.
"""

import multiprocessing
from collections.abc import Iterator
from datetime import date, timedelta

import dagster as dg

from project.defs.pncp.partitions import daily
from project.lib import priority
from project.lib.metrics import record_metrics
from project.lib.pncp.archive import WarehouseUse
from project.lib.pncp.endpoints import ENDPOINTS, Endpoint
from project.lib.pncp.runner import EndpointDay, failure_headline, run_endpoint_days
from project.resources.pncp import PncpClientResource
from project.resources.warehouse import WarehouseResource, stop_on_interrupt

COMPLETE_CHECK = "records_match_totals"
DRIFT_CHECK = "schema_drift"


def raw_key(endpoint: Endpoint) -> dg.AssetKey:
    return dg.AssetKey(["pncp", "raw", endpoint.name])


def _days(context: dg.AssetExecutionContext) -> list[date]:
    window = context.partition_time_window
    first, last = window.start.date(), (window.end - timedelta(days=1)).date()
    return [first + timedelta(days=i) for i in range((last - first).days + 1)]


def _day_metadata(outcome: EndpointDay) -> dict[str, object]:
    """One day's own counts, for its partition's materialization (the Partitions plots)."""
    report, done = outcome.report, outcome.completeness
    return {
        "dagster/row_count": done.archived_records,
        "records_archived": done.archived_records,
        "records_expected": done.expected_records,
        "pages_fetched": report.pages_fetched,
        "pages_resumed": report.pages_resumed,
        "records_fetched": report.records_fetched,
        "requests": report.requests,
        "retries": report.retries,
        "throttled": report.throttled,
        "failed_pages": len(report.failures),
        "bytes_received": report.bytes_received,
        "duration_s": round(report.duration_s, 3),
    }


def _retries_left(context: dg.AssetExecutionContext) -> bool:
    """Whether Dagster will run this step again if it asks: a retry policy (the asset's,
    or the job's), retries enabled for the run, and attempts left under it."""
    step = context.get_step_execution_context()
    policy = step.op_retry_policy
    if policy is None or step.retry_mode.disabled:
        return False
    return context.retry_number < policy.max_retries


def _metadata(outcomes: list[EndpointDay]) -> dict[str, object]:
    reports = [o.report for o in outcomes]
    done = [o.completeness for o in outcomes]
    received = sum(r.bytes_received for r in reports)
    stored = sum(r.bytes_stored for r in reports)
    new = sum(r.bytes_new for r in reports)
    return {
        "days": len(outcomes),
        "incomplete_days": ", ".join(str(o.report.day) for o in outcomes if o.status != "complete"),
        "pages_fetched": sum(r.pages_fetched for r in reports),
        "pages_resumed": sum(r.pages_resumed for r in reports),
        "records_fetched": sum(r.records_fetched for r in reports),
        "records_archived": sum(d.archived_records for d in done),
        "records_expected": sum(d.expected_records for d in done),
        "bytes_received": received,
        "bytes_new": new,
        "dedup_ratio": round(received / new, 3) if new else 0.0,
        "bytes_stored": stored,
        "compression_ratio": round(new / stored, 2) if stored else 0.0,
        "requests": sum(r.requests for r in reports),
        "retries": sum(r.retries for r in reports),
        "throttled": sum(r.throttled for r in reports),
        "failed_pages": sum(len(r.failures) for r in reports),
        "duration_s": round(sum(r.duration_s for r in reports), 3),
    }


def _checks(key: dg.AssetKey, outcomes: list[EndpointDay]) -> Iterator[dg.AssetCheckResult]:
    done = [o.completeness for o in outcomes]
    yield dg.AssetCheckResult(
        asset_key=key,
        check_name=COMPLETE_CHECK,
        passed=all(d.complete for d in done),
        severity=dg.AssetCheckSeverity.ERROR,
        metadata={
            "records_archived": sum(d.archived_records for d in done),
            "records_expected": sum(d.expected_records for d in done),
            "pages_archived": sum(d.archived_pages for d in done),
            "pages_expected": sum(d.expected_pages for d in done),
        },
    )
    checked = [o.schema for o in outcomes if o.schema is not None]
    if checked:
        drifted = [c for c in checked if c.drift]
        yield dg.AssetCheckResult(
            asset_key=key,
            check_name=DRIFT_CHECK,
            passed=not drifted,
            severity=dg.AssetCheckSeverity.WARN,
            description="; ".join(sorted({c.drift.describe() for c in drifted})) or "no drift",
            metadata={
                "fingerprints": ", ".join(sorted({c.fingerprint for c in checked})),
                "baseline": checked[0].baseline_fingerprint or checked[0].fingerprint,
                "added": ", ".join(sorted({f for c in drifted for f in c.drift.added})),
                "removed": ", ".join(sorted({f for c in drifted for f in c.drift.removed})),
                "changed": ", ".join(sorted({f for c in drifted for f in c.drift.changed})),
            },
        )
    else:  # a day already archived (resumed, nothing fetched) or empty: nothing to compare
        yield dg.AssetCheckResult(
            asset_key=key,
            check_name=DRIFT_CHECK,
            passed=True,
            severity=dg.AssetCheckSeverity.WARN,
            description="no records fetched in this run: the archived structure was checked "
            "when its pages were fetched",
            metadata={"pages_sampled": 0},
        )


def _alone_in_its_process(context: dg.AssetExecutionContext) -> bool:
    """Whether a lower CPU priority for this process slows nothing but extraction: the step
    has a process of its own (the multiprocess executor's), or its run, executed in one
    process, materializes extractions only. A run of other assets in the same process
    would keep the priority, which cannot be raised back."""
    if multiprocessing.parent_process() is not None:
        return True
    selection = context.run.asset_selection
    return bool(selection) and selection <= {raw_key(e) for e in ENDPOINTS.values()}


def build_extraction_asset(endpoint: Endpoint) -> dg.AssetsDefinition:
    key = raw_key(endpoint)

    @dg.asset(
        key=key,
        partitions_def=daily,
        group_name="pncp_raw",
        kinds={"python", "duckdb"},
        owners=["team:data-platform"],
        description=(
            f"Raw pages of PNCP `{endpoint.path}` for one day, archived in raw.api_requests "
            "(each distinct body once, zstd, readable as raw.payload_json). "
            "Resumes from pages already stored. Holds the warehouse only to commit pages."
        ),
        check_specs=[
            dg.AssetCheckSpec(COMPLETE_CHECK, asset=key, description="Records == totalRegistros"),
            dg.AssetCheckSpec(DRIFT_CHECK, asset=key, description="Record structure is stable"),
        ],
        # A backfill of many days runs as one run per asset that loops over the days.
        backfill_policy=dg.BackfillPolicy.single_run(),
        retry_policy=dg.RetryPolicy(
            max_retries=2, delay=5, backoff=dg.Backoff.EXPONENTIAL, jitter=dg.Jitter.FULL
        ),
        tags={"pncp/endpoint": endpoint.name},
    )
    def _extract(
        context: dg.AssetExecutionContext, warehouse: WarehouseResource, pncp: PncpClientResource
    ) -> Iterator[dg.MaterializeResult | dg.AssetCheckResult]:
        def log_day(outcome: EndpointDay) -> None:
            archived = outcome.completeness.archived_records
            context.log.info(
                f"{endpoint.name} {outcome.report.day}: {outcome.status}, {archived} records",
                extra={"records": archived, "day": str(outcome.report.day)},
            )

        settings = pncp.client_settings()
        days = _days(context)
        span = str(days[0]) if len(days) == 1 else f"{days[0]}..{days[-1]} ({len(days)} days)"
        # It mostly waits on the API: CPU-bound runs beside it go first (project/lib/priority.py).
        nice = (
            priority.lower_priority(pncp.step_niceness())
            if _alone_in_its_process(context)
            else priority.niceness()
        )
        context.log.info(
            f"{endpoint.name} {span}: calling the PNCP API at {settings.host} "
            f"(CPU niceness {nice})",
            extra={"api_host": settings.host, "cpu_niceness": nice},
        )
        sessions = warehouse.sessions(context)
        use = WarehouseUse()
        try:
            with stop_on_interrupt("while extracting"):
                outcomes = run_endpoint_days(
                    sessions,
                    settings,
                    [(endpoint, day) for day in days],
                    context.run.run_id,
                    on_done=log_day,
                    use=use,
                )
            metadata = _metadata(outcomes) | {
                "cpu_niceness": nice,
                # Rounds of commits and their time: nobody waits longer than one round.
                "warehouse_rounds": use.sessions,
                "warehouse_commit_s": round(use.held_s, 3),
                "warehouse_longest_round_s": round(use.longest_s, 3),
            }
            with sessions(None) as conn:
                record_metrics(
                    conn,
                    context.run.run_id,
                    key.to_user_string(),
                    context.partition_key
                    if len(outcomes) == 1
                    else str(context.partition_key_range),
                    {k: v for k, v in metadata.items() if isinstance(v, int | float)},
                )
        finally:
            sessions.release()
        metadata |= {
            # How long the lease was held in all, and how often it was given way to a waiter.
            "warehouse_held_s": round(sessions.held_s, 3),
            "warehouse_gave_way": sessions.gave_way,
        }
        headline = failure_headline(endpoint.name, outcomes, settings.host)
        if headline is not None:
            # A retry resumes from the archive. On the last attempt, a failure that asks
            # for none: Dagster would otherwise report "Exceeded max_retries" as the
            # step's error and hide this headline under the full message.
            where = (
                f'pncp query "FROM meta.failed_requests WHERE NOT resolved AND endpoint = '
                f"'{endpoint.name}'\""
            )
            raise dg.Failure(
                description=headline,
                metadata={**metadata, "see": where},
                allow_retries=_retries_left(context),
            )
        if len(outcomes) > 1:
            for outcome in outcomes:
                context.add_asset_metadata(
                    _day_metadata(outcome), partition_key=str(outcome.report.day)
                )
            metadata = {k: v for k, v in metadata.items() if k not in _day_metadata(outcomes[0])}
        else:
            metadata |= _day_metadata(outcomes[0])
        yield dg.MaterializeResult(metadata=metadata)
        yield from _checks(key, outcomes)

    return _extract


extraction_assets = [build_extraction_asset(e) for e in ENDPOINTS.values()]
