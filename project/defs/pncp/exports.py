"""Parquet exports of the PNCP marts, one asset per mart, so the UI shows the lineage
from API to file: `data/exports/pncp/<mart>/year=YYYY/month=M/data.parquet`.

Each export is monthly-partitioned like its mart and reads the warehouse holding the
warehouse lease (a DuckDB reader cannot open the file while a writer holds it). A check
compares the rows written with the mart's rows for the month. `dagster/row_count` is the
rows written, per month's partition when a backfill exports several.
"""

import json
from dataclasses import dataclass
from datetime import date
from functools import cache

import dagster as dg

from project.defs.pncp.partitions import monthly
from project.lib.exports import export_month, write_schema
from project.resources.dbt import get_dbt_project
from project.resources.warehouse import WarehouseResource
from project.settings import get_settings

ROWS_CHECK = "rows_match_mart"


@dataclass(frozen=True)
class MartExport:
    model: str
    month_column: str
    order_by: str


EXPORTS = (
    MartExport(
        "contratos_mes", "mes_publicacao", "orgao_cnpj, data_publicacao_pncp, numero_controle_pncp"
    ),
    MartExport("spend_by_organ_month", "mes_publicacao", "orgao_cnpj, modalidade_id"),
    MartExport("supplier_concentration", "mes_publicacao", "orgao_cnpj, supplier_rank"),
    MartExport("procurement_contract_links", "mes_publicacao", "orgao_cnpj, numero_controle_pncp"),
    MartExport("pncp_extraction_health", "ingestion_month", "ingestion_date, endpoint"),
)


@cache
def column_descriptions(model: str) -> dict[str, str]:
    """Column descriptions of a dbt model, from the manifest (the YAML docs)."""
    manifest = json.loads(get_dbt_project().manifest_path.read_text())
    node = manifest["nodes"].get(f"model.procurement.{model}", {})
    return {name: col.get("description", "") for name, col in node.get("columns", {}).items()}


def months_of(context: dg.AssetExecutionContext) -> list[date]:
    return [
        date.fromisoformat(key[:10])
        for key in monthly.get_partition_keys_in_range(context.partition_key_range)
    ]


def build_export(spec: MartExport) -> dg.AssetsDefinition:
    mart_key = dg.AssetKey(["pncp", "marts", spec.model])
    key = dg.AssetKey(["pncp", "exports", spec.model])

    @dg.asset(
        key=key,
        deps=[mart_key],
        group_name="pncp_exports",
        partitions_def=monthly,
        backfill_policy=dg.BackfillPolicy.single_run(),
        kinds={"parquet", "duckdb"},
        description=f"`marts.{spec.model}` as hive-partitioned Parquet (zstd), one file "
        "per month, with `_schema.json` (types and descriptions) beside the partitions.",
        check_specs=[dg.AssetCheckSpec(ROWS_CHECK, asset=key, blocking=True)],
    )
    def _export(
        context: dg.AssetExecutionContext, warehouse: WarehouseResource
    ) -> dg.MaterializeResult:
        root = get_settings().exports / "pncp"
        relation = f"marts.{spec.model}"
        descriptions = column_descriptions(spec.model)
        written, expected = [], 0
        with warehouse.lease(context), warehouse.get_reader() as conn:
            schema_path = write_schema(
                conn, relation, root, spec.model, descriptions, ["year", "month"]
            )
            for month in months_of(context):
                written.append(
                    export_month(
                        conn, relation, spec.month_column, month, spec.order_by, root, spec.model
                    )
                )
                expected += conn.execute(
                    f"SELECT count(*) FROM {relation} WHERE {spec.month_column} = ?", [month]
                ).fetchone()[0]
            columns = conn.execute(f"DESCRIBE SELECT * FROM {relation}").fetchall()
        rows = sum(w.rows for w in written)
        context.log.info(f"exported {rows} rows of {relation} into {len(written)} file(s)")
        months = months_of(context)
        if len(months) > 1:  # a backfill: each month's partition gets its own row count
            for month, month_written in zip(months, written, strict=True):
                context.add_asset_metadata(
                    {"dagster/row_count": month_written.rows}, partition_key=month.isoformat()
                )
        return dg.MaterializeResult(
            metadata={
                **({"dagster/row_count": rows} if len(months) == 1 else {}),
                "dagster/uri": str(root / spec.model),
                "dagster/column_schema": dg.TableSchema(
                    columns=[
                        dg.TableColumn(name, kind, description=descriptions.get(name) or None)
                        for name, kind, *_ in columns
                    ]
                ),
                "files": dg.MetadataValue.json([str(w.path) for w in written]),
                "bytes": sum(w.bytes for w in written),
                "schema_file": dg.MetadataValue.path(str(schema_path)),
            },
            check_results=[
                dg.AssetCheckResult(
                    check_name=ROWS_CHECK,
                    passed=rows == expected,
                    metadata={"rows_written": rows, "rows_in_mart": expected},
                )
            ],
        )

    return _export


pncp_exports = [build_export(spec) for spec in EXPORTS]
