"""Database sources of the catalog (`sql.DatabaseSource`) as assets: one per source table.

A source's tables are one multi-asset (one step, subsettable), grouped by source: each
selected table is copied in its own warehouse transaction (`project.lib.cdc.sync`), under
the warehouse lease. Its materialization carries the cursor position, the rows read,
inserted, updated and deleted, and the duration; tables kept whole (`merge`, `scd2`'s
current rows, `snapshot`) get a blocking check that the copy has as many rows as the
source (between two delete checks, at least as many). A table that fails (unreachable
database, missing column, type change...) is named with its cause and leaves its copy as
it was; the other tables are still copied, and the step fails at the end, naming every
failed table.
"""

import re
from typing import Any

import dagster as dg

from project.lib.cdc.sync import WHOLE_MODES, TableSync, ensure_state, sync_table
from project.lib.datasets.errors import DatasetError
from project.lib.datasets.sources import SOURCE_ALIAS, DatabaseSource
from project.resources.catalog_io import load_catalog
from project.resources.warehouse import WarehouseResource

ROW_COUNT_CHECK = "row_count_matches_source"
# Crons of sources read in the platform's zone (project.defs.ops.policy's, not imported:
# a component type depends on no definitions).
PLATFORM_TIMEZONE = "America/Sao_Paulo"


def group_of(source: DatabaseSource) -> str:
    """`crm.source` → `crm_source`: the group of its tables."""
    return re.sub(r"\W", "_", source.name)


def table_key(source: DatabaseSource, table: str) -> dg.AssetKey:
    return dg.AssetKey([source.warehouse_schema, table])


def _description(source: DatabaseSource, table: str) -> str:
    spec = source.tables[table]
    how = {
        "append": f"new rows by {spec.cursor}",
        "merge": f"upserted by {spec.primary_key}, changes by {spec.cursor}, deletes applied",
        "scd2": f"a version per change of {spec.primary_key} (by {spec.cursor}), deletes close "
        "the current version",
        "snapshot": f"compared whole by {spec.primary_key} with the last load",
    }[spec.mode]
    return (
        f"{source.schema_name}.{table} of {source.location()} ({source.name}), "
        f"copied as {spec.mode}: {how}."
    )


def _metadata(result: TableSync) -> dict[str, Any]:
    metadata: dict[str, Any] = {
        "mode": result.mode,
        "rows_read": result.read,
        "rows_inserted": result.inserted,
        "rows_updated": result.updated,
        "rows_deleted": result.deleted,
        "deletes_checked": result.deletes_checked,
        "duration_s": round(result.duration_s, 3),
        "dagster/row_count": result.target_rows,
        "dagster/table_name": result.target,
        "dagster/column_schema": dg.TableSchema(
            columns=[dg.TableColumn(name, kind) for name, kind in result.columns]
        ),
    }
    if result.cursor is not None:
        metadata["cursor"] = result.cursor
    if result.source_rows is not None:
        metadata["source_rows"] = result.source_rows
    if result.columns_added:
        metadata["columns_added"] = result.columns_added
    return metadata


def _row_count_check(key: dg.AssetKey, result: TableSync) -> dg.AssetCheckResult:
    """Equal counts after a run that checked deletes; between delete checks (a cadence of
    hours) rows deleted in the source are still in the copy, so the copy may have more
    rows, never fewer."""
    source, target = result.source_rows or 0, result.target_rows
    passed = target == source if result.deletes_checked else target >= source
    return dg.AssetCheckResult(
        asset_key=key,
        check_name=ROW_COUNT_CHECK,
        passed=passed,
        metadata={
            "source_rows": source,
            "target_rows": target,
            "deletes_checked": result.deletes_checked,
        },
        description=None
        if result.deletes_checked or not passed
        else f"{target - source} rows deleted in the source await the next delete check",
    )


def database_source_assets(
    source: DatabaseSource, *, conf_dir: str, env: str | None
) -> dg.AssetsDefinition:
    """The tables of `source` as one subsettable multi-asset with their row-count checks."""
    kind = "sqlite" if source.database else source.credentials or "database"
    specs = [
        dg.AssetSpec(
            key=table_key(source, table),
            group_name=group_of(source),
            description=_description(source, table),
            kinds={"duckdb"},
            metadata={
                "source": source.name,
                "mode": spec.mode,
                "primary_key": spec.primary_key,
                "cursor": spec.cursor or "",
                "dagster/table_name": f"{source.warehouse_schema}.{table}",
            },
            skippable=True,
            automation_condition=(
                dg.AutomationCondition.on_cron(source.refresh_cron, PLATFORM_TIMEZONE)
                if source.refresh_cron
                else None
            ),
        )
        for table, spec in source.tables.items()
    ]
    checks = [
        dg.AssetCheckSpec(
            ROW_COUNT_CHECK,
            asset=table_key(source, table),
            blocking=True,
            description="After the load, the copy has as many (current) rows as the source.",
        )
        for table, spec in source.tables.items()
        if spec.mode in WHOLE_MODES
    ]
    name = source.name

    @dg.multi_asset(
        specs=specs,
        check_specs=checks,
        can_subset=True,
        name=f"{group_of(source)}__copy",
        description=f"Copies the changed rows of {name}'s tables ({kind}) into the warehouse.",
    )
    def copy(context: dg.AssetExecutionContext, warehouse: WarehouseResource):
        current = load_catalog(conf_dir, env).get(name)  # credentials resolved now
        if not isinstance(current, DatabaseSource):
            raise dg.Failure(f"{name} is no longer a sql.DatabaseSource in the catalog")
        failures = []
        selected = set(context.selected_asset_keys)
        checks_wanted = {k.asset_key for k in context.selected_asset_check_keys}
        for table in current.tables:
            key = table_key(current, table)
            if key not in selected:
                continue
            try:
                result = _copy(context, warehouse, current, table)
            except DatasetError as exc:
                context.log.error(str(exc))
                failures.append(str(exc))
                continue
            context.log.info(
                f"{result.target}: read {result.read}, inserted {result.inserted}, updated "
                f"{result.updated}, deleted {result.deleted} in {result.duration_s:.2f} s"
            )
            yield dg.MaterializeResult(asset_key=key, metadata=_metadata(result))
            if key in checks_wanted and result.source_rows is not None:
                yield _row_count_check(key, result)
        if failures:
            raise dg.Failure(description="; ".join(failures), allow_retries=False)

    return copy


def _copy(
    context: dg.AssetExecutionContext,
    warehouse: WarehouseResource,
    source: DatabaseSource,
    table: str,
) -> TableSync:
    with warehouse.lease(context), warehouse.get_connection() as conn:
        ensure_state(conn)
        source.attach(conn)
        try:
            return sync_table(conn, source, table)
        except DatasetError:
            raise
        except Exception as exc:  # a scanner's or DuckDB's error: name the table
            from project.lib.datasets.databases import scrub

            raise DatasetError(
                f"source {source.name!r}, table {table!r}: {scrub(str(exc), source.secrets())}"
            ) from None
        finally:
            conn.execute(f"DETACH DATABASE IF EXISTS {SOURCE_ALIAS}")
