"""Bronze: one asset per landing source, fed by the landing sensor in micro-batches.

A run names its files in its config (what the sensor offered); a run without files (the
UI's Materialize, `dagster asset materialize`, `pncp landing ingest`) takes every file
of the source that the ledger does not have as ingested. Either way the ledger decides:
a file version is ingested once, whoever offers it and however often.

Bronze runs are serialized by a pool of their own (`shop_bronze`, one slot) on top of the
warehouse lease, so the ledger's ingestion order (`_batch`, silver's watermark) is the
commit order on every backend, a lake with several writers included.
"""

from datetime import UTC, datetime
from typing import Any

import dagster as dg

from project.lib.shop import bronze, ledger, ops
from project.lib.shop.landing import Offer, list_files, offer
from project.lib.shop.sources import LandingSource, shop_sources
from project.resources.landing import LandingResource
from project.resources.warehouse import WarehouseResource

BRONZE_POOL = "shop_bronze"
EXPECTATIONS_CHECK = "expectations"
READABLE_CHECK = "files_readable"


class LandedFileConfig(dg.Config):
    source: str
    path: str
    size: int
    mtime_ns: int
    sha256: str
    first_seen: str


class LandingFilesConfig(dg.Config):
    """The files of this micro-batch; empty means every file not yet ingested."""

    files: list[LandedFileConfig] = []


def bronze_key(source: str) -> dg.AssetKey:
    return dg.AssetKey(["shop", "bronze", source])


def _offers(
    config: LandingFilesConfig, landing: LandingResource, source: LandingSource, done: set
) -> list[Offer]:
    if config.files:
        return [Offer(**f.model_dump()) for f in config.files if f.source == source.name]
    now = datetime.now(UTC)
    found = []
    for landed in list_files(landing.path, source):
        item = offer(landing.path, landed, now)
        if (item.path, item.sha256) not in done:
            found.append(item)
    return found


def _summary(results: list[bronze.FileResult]) -> dict[str, Any]:
    by_status: dict[str, int] = {}
    for result in results:
        by_status[result.status] = by_status.get(result.status, 0) + 1
    ingested = [r for r in results if r.status == "ingested"]
    return {
        "files": by_status,
        "rows": sum(r.rows for r in ingested),
        "malformed_lines": sum(r.malformed for r in ingested),
        "rescued_rows": sum(r.rescued for r in ingested),
        "new_columns": sorted({c for r in ingested for c in r.new_columns}),
        "batches": [r.batch for r in ingested],
    }


def build_bronze_asset(source: LandingSource) -> dg.AssetsDefinition:
    key = bronze_key(source.name)

    @dg.asset(
        key=key,
        group_name="shop_bronze",
        kinds={"duckdb"},
        description=(
            f"Landing files of `{source.name}` ({source.format}) as landed, every value as "
            f"text, with provenance; schema evolution `{source.evolution}`, rewrites "
            f"`{source.rewrite_policy}`."
        ),
        check_specs=[
            dg.AssetCheckSpec(
                EXPECTATIONS_CHECK,
                asset=key,
                description="WARN expectations: rows failing each rule, kept.",
            ),
            dg.AssetCheckSpec(
                READABLE_CHECK, asset=key, description="Every file of the run could be read."
            ),
        ],
        tags={"shop/source": source.name},
    )
    def _bronze(
        context: dg.AssetExecutionContext,
        config: LandingFilesConfig,
        landing: LandingResource,
        warehouse: WarehouseResource,
    ):
        run_id = context.run.run_id
        with (
            warehouse.lease_for(context, pool=BRONZE_POOL, slots=1).hold(),
            warehouse.lease(context),
            warehouse.get_connection() as conn,
        ):
            bronze.ensure_bronze(conn, source)
            done = ledger.ingested_fingerprints(conn)
            offers = _offers(config, landing, source, done)
            results = []
            for item in offers:
                result = bronze.ingest_file(conn, landing.path, source, item, run_id)
                results.append(result)
                if result.status not in ("already", "ingested"):
                    context.log.warning(f"{result.path}: {result.status}: {result.error}")
            summary = _summary(results)
            expectations = bronze.bronze_expectations(conn, source, summary["batches"])
            ops.record(
                conn,
                run_id,
                [
                    ops.RuleResult("bronze", source.name, e.rule, e.action, e.passed, e.failed)
                    for e in expectations
                ],
            )
        context.log.info(f"{source.name}: {summary}")
        yield dg.MaterializeResult(
            metadata={
                "files": dg.MetadataValue.json(summary["files"]),
                "dagster/row_count": summary["rows"],
                "rows_ingested": summary["rows"],
                "malformed_lines": summary["malformed_lines"],
                "rescued_rows": summary["rescued_rows"],
                "new_columns": ", ".join(summary["new_columns"]) or "none",
                "ledger": "shop_landing.files",
            }
        )
        failed = {e.rule: e.failed for e in expectations if e.failed}
        yield dg.AssetCheckResult(
            check_name=EXPECTATIONS_CHECK,
            passed=not failed,
            severity=dg.AssetCheckSeverity.WARN,
            metadata={
                **{f"{e.rule} (passed/failed)": f"{e.passed}/{e.failed}" for e in expectations},
                "failed_rows_by_rule": dg.MetadataValue.json(failed),
                "event_log": "shop_ops.expectation_log",
            },
        )
        unreadable = [r for r in results if r.status == "failed"]
        yield dg.AssetCheckResult(
            check_name=READABLE_CHECK,
            passed=not unreadable,
            severity=dg.AssetCheckSeverity.WARN,
            metadata={"failed_files": dg.MetadataValue.json({r.path: r.error for r in unreadable})},
        )
        held = [r for r in results if r.status == "held"]
        if held:
            raise dg.Failure(
                description="; ".join(r.error or r.path for r in held),
                metadata={
                    "held_files": dg.MetadataValue.json({r.path: r.new_columns for r in held})
                },
                allow_retries=False,
            )

    return _bronze


def bronze_assets() -> list[dg.AssetsDefinition]:
    return [build_bronze_asset(source) for source in shop_sources().sources.values()]
