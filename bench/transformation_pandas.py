"""The pandas baseline of the transformation benchmark: the same staging and mart logic
as the dbt models, written the straightforward way, in one process.

Run as `python -m bench.transformation_pandas <data dir> <output dir>` on a copy of the
archive; prints the marts' row counts as JSON on its last line, so the benchmark can
check that both implementations produced the same result. Each page body is read from
the zstd store and parsed with `json.loads`, flattened with `pd.json_normalize`, cast
like the staging model (values that do not cast become nulls and are listed in
`invalid_fields`), deduplicated to the latest version per control number, then joined
and aggregated into `contratos_mes`, `spend_by_organ_month`, `supplier_concentration`
and `procurement_contract_links`, written as Parquet where the export assets write theirs.

The column specs are read from the dbt staging models themselves, so both sides cast
the same fields. Not reproduced: dbt's tests, the dimension tables and
`pncp_extraction_health` (a group-by of `raw.api_requests`).
"""

from __future__ import annotations

import hashlib
import json
import re
import sys
from datetime import date
from pathlib import Path

import duckdb
import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.parquet as pq
import zstandard

from project.lib.exports import FILE_NAME, partition_dir
from project.lib.pncp import payload_store
from project.settings import PROJECT_ROOT

MONTH = date(2024, 7, 1)
MONTH_END = date(2024, 7, 31)
TZ = "America/Sao_Paulo"
STAGING = PROJECT_ROOT / "dbt_project" / "models" / "staging" / "pncp"
_SPEC = re.compile(r"\['(\w+)', 'record\.([\w.]+)', '(\w+)'\]")
ORDER = ["data_atualizacao", "ingestion_date", "source_endpoint", "source_page", "source_position"]


def specs_of(model: str) -> list[tuple[str, str, str]]:
    """(column, JSON path, type) of a staging model, as its versions model's SQL lists them."""
    return _SPEC.findall((STAGING / f"{model}_versions.sql").read_text())


def read_records(warehouse: Path, endpoints: list[str]) -> pd.DataFrame:
    """Every record of the endpoints' pages archived in the month, flattened."""
    with duckdb.connect(str(warehouse), read_only=True) as conn:
        pages = conn.execute(
            """SELECT endpoint, ingestion_date, page, payload_sha256 FROM raw.api_requests
               WHERE list_contains(?, endpoint) AND payload_sha256 IS NOT NULL
                 AND ingestion_date BETWEEN ? AND ?""",
            [endpoints, MONTH, MONTH_END],
        ).fetchall()
        root = payload_store.root_for(conn)
    decompressor = zstandard.ZstdDecompressor()
    frames = []
    for endpoint, ingestion_date, page, sha in pages:
        body = json.loads(decompressor.decompress(payload_store.path_for(root, sha).read_bytes()))
        frame = pd.json_normalize(body["data"])
        frame["source_endpoint"] = endpoint
        frame["ingestion_date"] = pd.Timestamp(ingestion_date)
        frame["source_page"] = page
        frame["source_position"] = np.arange(1, len(frame) + 1)
        frames.append(frame)
    return pd.concat(frames, ignore_index=True) if frames else pd.DataFrame()


def cast(raw: pd.Series, kind: str) -> pd.Series:
    """The staging model's try_cast of one field; what does not cast becomes null."""
    if kind == "text":
        text = raw.astype("string").str.strip()
        return text.mask(text == "")
    if kind in ("int", "bigint"):
        number = pd.to_numeric(raw, errors="coerce")
        return number.where(number == number.round()).astype("Int64")
    if kind == "money":
        return pd.to_numeric(raw, errors="coerce").round(2)
    if kind == "bool":
        return raw.map({True: True, False: False, "true": True, "false": False}).astype("boolean")
    stamps = pd.to_datetime(raw, errors="coerce", format="ISO8601")
    if kind == "date":
        return stamps.dt.normalize()
    return stamps.dt.tz_localize(TZ, ambiguous="NaT", nonexistent="NaT")


def stage(warehouse: Path, model: str, endpoints: list[str], key: str) -> pd.DataFrame:
    """A staging model: typed columns, `invalid_fields`, latest version per `key`."""
    records = read_records(warehouse, endpoints)
    if records.empty:
        return pd.DataFrame()
    specs = specs_of(model)
    typed = pd.DataFrame(index=records.index)
    invalid = []
    for name, path, kind in specs:
        raw = records[path] if path in records else pd.Series(None, index=records.index)
        typed[name] = cast(raw, kind)
        if kind != "text":
            invalid.append((name, (raw.notna() & typed[name].isna()).to_numpy()))
    flags = np.column_stack([mask for _, mask in invalid])
    names = np.array([name for name, _ in invalid])
    typed["invalid_fields"] = [list(names[row]) for row in flags]
    for column in ["source_endpoint", "ingestion_date", "source_page", "source_position"]:
        typed[column] = records[column]
    typed["ingestion_month"] = typed["ingestion_date"].dt.to_period("M").dt.to_timestamp()
    keyless = typed[typed[key].isna()]
    latest = typed[typed[key].notna()].sort_values(
        [key, *ORDER], ascending=[True, False, False, True, True, True], na_position="last"
    )
    return pd.concat([latest.drop_duplicates(key, keep="first"), keyless], ignore_index=True)


def md5_of(prefix: str, *columns: pd.Series) -> pd.Series:
    joined = columns[0].astype("string")
    for column in columns[1:]:
        joined = joined + "|" + column.astype("string")
    return joined.map(
        lambda v: hashlib.md5(f"{prefix}|{v}".encode()).hexdigest(), na_action="ignore"
    )


def contratos_mes(contracts: pd.DataFrame, procurements: pd.DataFrame) -> pd.DataFrame:
    published = contracts["data_publicacao_pncp"].dt.tz_convert(TZ).dt.tz_localize(None)
    contracts = contracts.assign(
        mes_publicacao=published.dt.to_period("M")
        .dt.to_timestamp()
        .fillna(contracts["ingestion_month"])
    )
    compra = procurements[
        ["numero_controle_pncp", "modalidade_id", "data_publicacao_pncp", "valor_total_estimado"]
    ].rename(
        columns={
            "numero_controle_pncp": "numero_controle_pncp_compra",
            "data_publicacao_pncp": "compra_publicada_em",
        }
    )
    month = contracts[contracts["mes_publicacao"] == pd.Timestamp(MONTH)]
    mart = month.merge(compra, how="left", on="numero_controle_pncp_compra")
    mart["orgao_key"] = md5_of("orgao", mart["orgao_cnpj"])
    mart["unidade_key"] = md5_of("unidade", mart["orgao_cnpj"], mart["unidade_codigo"])
    mart["fornecedor_key"] = md5_of("fornecedor", mart["ni_fornecedor"])
    mart = mart.rename(columns={"ingestion_date": "last_ingestion_date"})
    return mart.sort_values(
        ["mes_publicacao", "orgao_cnpj", "data_publicacao_pncp", "numero_controle_pncp"],
        na_position="last",
        ignore_index=True,
    )


CONTRATOS_MES_COLUMNS = [
    "mes_publicacao", "numero_controle_pncp", "orgao_key", "unidade_key", "fornecedor_key",
    "orgao_cnpj", "orgao_razao_social", "unidade_codigo", "unidade_uf_sigla", "ni_fornecedor",
    "nome_razao_social_fornecedor", "tipo_pessoa", "numero_controle_pncp_compra",
    "modalidade_id", "tipo_contrato_id", "categoria_processo_id", "ano_contrato",
    "numero_contrato_empenho", "objeto_contrato", "receita", "valor_inicial", "valor_global",
    "valor_acumulado", "numero_parcelas", "numero_retificacao", "data_assinatura",
    "data_vigencia_inicio", "data_vigencia_fim", "data_publicacao_pncp", "data_atualizacao",
    "invalid_fields", "last_ingestion_date", "source_endpoint",
]  # fmt: skip


def spend_by_organ_month(mart: pd.DataFrame) -> pd.DataFrame:
    return (
        mart[mart["orgao_cnpj"].notna()]
        .groupby(["mes_publicacao", "orgao_key", "orgao_cnpj", "modalidade_id"], dropna=False)
        .agg(
            orgao_razao_social=("orgao_razao_social", "first"),
            contracts=("numero_controle_pncp", "size"),
            valor_global=("valor_global", lambda s: s.sum(min_count=1)),
            valor_inicial=("valor_inicial", lambda s: s.sum(min_count=1)),
            suppliers=("ni_fornecedor", "nunique"),
        )
        .reset_index()
        .sort_values(["mes_publicacao", "orgao_cnpj", "modalidade_id"], ignore_index=True)
    )


def supplier_concentration(mart: pd.DataFrame) -> pd.DataFrame:
    organ = ["mes_publicacao", "orgao_key"]
    by_supplier = (
        mart[mart["orgao_cnpj"].notna() & mart["ni_fornecedor"].notna()]
        .groupby([*organ, "orgao_cnpj", "fornecedor_key", "ni_fornecedor"])
        .agg(
            nome_razao_social_fornecedor=("nome_razao_social_fornecedor", "first"),
            contracts=("numero_controle_pncp", "size"),
            valor_global=("valor_global", "sum"),
        )
        .reset_index()
    )
    grouped = by_supplier.groupby(organ)["valor_global"]
    by_supplier["organ_valor_global"] = grouped.transform("sum")
    by_supplier["organ_suppliers"] = grouped.transform("size")
    share = by_supplier["valor_global"] / by_supplier["organ_valor_global"]
    by_supplier["share_of_organ_value"] = share.where(by_supplier["organ_valor_global"] > 0)
    by_supplier = by_supplier.sort_values(
        [*organ, "valor_global", "ni_fornecedor"], ascending=[True, True, False, True]
    )
    by_supplier["supplier_rank"] = by_supplier.groupby(organ).cumcount() + 1
    by_supplier["organ_hhi"] = (
        ((by_supplier["share_of_organ_value"] * 100) ** 2)
        .groupby([by_supplier[c] for c in organ])
        .transform("sum")
        .round(2)
    )
    by_supplier["share_of_organ_value"] = by_supplier["share_of_organ_value"].round(6)
    top = by_supplier[by_supplier["supplier_rank"] <= 10]
    return top.sort_values(["mes_publicacao", "orgao_cnpj", "supplier_rank"], ignore_index=True)


def procurement_contract_links(mart: pd.DataFrame, known: pd.Series) -> pd.DataFrame:
    links = mart[
        [
            "mes_publicacao", "numero_controle_pncp", "numero_controle_pncp_compra", "orgao_cnpj",
            "modalidade_id", "compra_publicada_em", "data_publicacao_pncp",
            "valor_total_estimado", "valor_global",
        ]
    ].rename(columns={"data_publicacao_pncp": "contrato_publicado_em"})  # fmt: skip
    linked = links["numero_controle_pncp_compra"].isin(known)
    links["link_status"] = np.where(
        links["numero_controle_pncp_compra"].isna(),
        "no_procurement_reference",
        np.where(linked, "linked", "procurement_not_archived"),
    )
    links["days_from_procurement_to_contract"] = (
        links["contrato_publicado_em"].dt.normalize() - links["compra_publicada_em"].dt.normalize()
    ).dt.days
    estimated = links["valor_total_estimado"]
    links["contracted_to_estimated_ratio"] = (
        (links["valor_global"] / estimated).round(4).where(estimated > 0)
    )
    return links.sort_values(
        ["mes_publicacao", "orgao_cnpj", "numero_controle_pncp"], ignore_index=True
    )


def write_month(frame: pd.DataFrame, root: Path, mart: str) -> int:
    """The month's Parquet file (zstd) where the export assets put it."""
    target = partition_dir(root, mart, MONTH) / FILE_NAME
    target.parent.mkdir(parents=True, exist_ok=True)
    pq.write_table(pa.Table.from_pandas(frame, preserve_index=False), target, compression="zstd")
    return len(frame)


def main(data_dir: Path, out: Path) -> dict[str, float]:
    warehouse = data_dir / "warehouse.duckdb"
    contracts = stage(
        warehouse,
        "stg_pncp__contratos",
        ["contratos", "contratos_atualizacao"],
        "numero_controle_pncp",
    )
    procurements = stage(
        warehouse,
        "stg_pncp__contratacoes",
        ["contratacoes_publicacao", "contratacoes_atualizacao"],
        "numero_controle_pncp",
    )
    if procurements.empty:
        procurements = pd.DataFrame(
            {c: pd.Series(dtype="object") for c in ["numero_controle_pncp", "modalidade_id"]}
            | {
                "data_publicacao_pncp": pd.Series(dtype=f"datetime64[ns, {TZ}]"),
                "valor_total_estimado": pd.Series(dtype="float64"),
            }
        )
    procurements = procurements[procurements["numero_controle_pncp"].notna()]
    mart = contratos_mes(contracts, procurements)
    rows = {
        "contratos_mes": write_month(mart[CONTRATOS_MES_COLUMNS], out, "contratos_mes"),
        "spend_by_organ_month": write_month(
            spend_by_organ_month(mart), out, "spend_by_organ_month"
        ),
        "supplier_concentration": write_month(
            supplier_concentration(mart), out, "supplier_concentration"
        ),
        "procurement_contract_links": write_month(
            procurement_contract_links(mart, procurements["numero_controle_pncp"]),
            out,
            "procurement_contract_links",
        ),
    }
    return {
        **rows,
        "staging_contracts": len(contracts),
        "valor_global": float(mart["valor_global"].sum()),
    }


if __name__ == "__main__":
    print(json.dumps(main(Path(sys.argv[1]), Path(sys.argv[2]))))
