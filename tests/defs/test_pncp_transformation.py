"""The PNCP transformation through Dagster: archive → dbt staging/marts → Parquet exports.

One month (July 2024) of every endpoint is archived once per module from the simulator;
the tests materialize the month's transformation like `dagster asset materialize` does
and check the data against the simulator's ground truth.
"""

import json
import os
from collections.abc import Iterator
from datetime import date, timedelta
from pathlib import Path
from types import SimpleNamespace

import dagster as dg
import duckdb
import pyarrow.parquet as pq
import pytest

from project.defs.pncp import selections
from project.lib import warehouse
from project.lib.pncp.archive import ArchivedPage, ArchiveWriter, ensure_archive
from project.lib.pncp.client import ClientSettings
from project.lib.pncp.endpoints import ENDPOINTS
from project.lib.pncp.runner import run_endpoint_days
from project.resources.dbt import DBT_PROJECT_DIR
from project.settings import get_settings
from project.simulators.pncp import PncpSimulator, expected_total

pytestmark = [pytest.mark.slow, pytest.mark.xdist_group("pncp_july")]

JULY = [date(2024, 7, 1) + timedelta(days=i) for i in range(31)]
MARTS = [
    "contratos_mes",
    "spend_by_organ_month",
    "supplier_concentration",
    "procurement_contract_links",
    "pncp_extraction_health",
]


def _point_at(
    data_dir: Path,
    home: Path,
    monkeypatch: pytest.MonkeyPatch,
    lake: tuple[SimpleNamespace, str] | None = None,
) -> None:
    """Settings at this data dir and instance, and at the lake `(lakes, schema)` if given."""
    monkeypatch.setenv("PLATFORM_DATA_DIR", str(data_dir))
    monkeypatch.setenv("DAGSTER_HOME", str(home))
    if lake:
        lakes, schema = lake
        lakes.use(monkeypatch, schema)
    get_settings.cache_clear()


def materialize_month(instance: dg.DagsterInstance, month: str) -> dg.ExecuteInProcessResult:
    """The transformation selection for one month, as the CLI and the UI launch it."""
    from project.definitions import defs

    definitions = defs()
    keys = dg.AssetSelection.from_string(selections.TRANSFORMATION).resolve(
        definitions.resolve_asset_graph()
    )
    return definitions.resolve_implicit_global_asset_job_def().execute_in_process(
        instance=instance,
        partition_key=f"{month}-01",
        asset_selection=list(keys),
        raise_on_error=False,
    )


def _checks(result: dg.ExecuteInProcessResult) -> dict[tuple[str, str], dg.AssetCheckEvaluation]:
    return {(e.asset_key.path[-1], e.check_name): e for e in result.get_asset_check_evaluations()}


def _materialized(result: dg.ExecuteInProcessResult) -> set[str]:
    return {
        e.asset_key.path[-1]
        for e in result.all_events
        if e.event_type == dg.DagsterEventType.ASSET_MATERIALIZATION
    }


# When each page was fetched: the only mart columns that differ between two extractions.
FETCH_TIMES = {"pncp_extraction_health": ("first_collected_at", "last_collected_at")}


def _mart_hashes(target: warehouse.Target, *, without_fetch_times: bool = False) -> dict[str, str]:
    with warehouse.connection(target, read_only=True) as conn:
        hashes = {}
        for mart in MARTS:
            dropped = FETCH_TIMES.get(mart, ()) if without_fetch_times else ()
            columns = f"* EXCLUDE ({', '.join(dropped)})" if dropped else "*"
            hashes[mart] = conn.execute(
                f"SELECT md5(string_agg(t::varchar, '|' ORDER BY t::varchar)) "
                f"FROM (SELECT {columns} FROM marts.{mart}) AS t"
            ).fetchone()[0]
        return hashes


def _july(
    simulator: PncpSimulator, base: Path, lake: tuple[SimpleNamespace, str] | None = None
) -> Iterator[dict]:
    """July 2024 extracted from the simulator and transformed once through Dagster, on the
    file warehouse or (with `lake`) on a DuckLake."""
    data_dir, home = base / "data", base / "home"
    with pytest.MonkeyPatch.context() as monkeypatch:
        _point_at(data_dir, home, monkeypatch, lake)
        settings = get_settings()
        target = warehouse.target_from(settings)
        client = ClientSettings(base_url=simulator.base_url, max_concurrency=16, rate_limit_per_s=0)
        with warehouse.connection(target) as conn:
            work = [(endpoint, day) for endpoint in ENDPOINTS.values() for day in JULY]
            outcomes = run_endpoint_days(conn, client, work)
        assert all(o.status == "complete" for o in outcomes)
        from project.lib.instance import ensure_dagster_home

        with dg.DagsterInstance.from_config(str(ensure_dagster_home(settings))) as instance:
            result = materialize_month(instance, "2024-07")

        def point(patch: pytest.MonkeyPatch) -> None:
            """Back to this warehouse (each test's own settings point elsewhere)."""
            _point_at(data_dir, home, patch, lake)

        yield {
            "result": result,
            "target": target,
            "exports": settings.exports / "pncp",
            "config": simulator.config,
            "home": home,
            "point": point,
        }
    get_settings.cache_clear()


# The month is built once per backend and module; the module runs on one xdist worker
# (`xdist_group`), so the two builds are shared by every test, the comparison included.
@pytest.fixture(scope="module")
def july_file(simulator: PncpSimulator, tmp_path_factory: pytest.TempPathFactory) -> Iterator[dict]:
    yield from _july(simulator, tmp_path_factory.mktemp("july_file"))


@pytest.fixture(scope="module")
def july_ducklake(
    simulator: PncpSimulator, tmp_path_factory: pytest.TempPathFactory, lakes: SimpleNamespace
) -> Iterator[dict]:
    with lakes.catalog() as schema:
        yield from _july(simulator, tmp_path_factory.mktemp("july_lake"), (lakes, schema))


@pytest.fixture(params=("file", "ducklake"))
def july(request: pytest.FixtureRequest, monkeypatch: pytest.MonkeyPatch) -> dict:
    built = request.getfixturevalue(f"july_{request.param}")
    built["point"](monkeypatch)
    return built


def test_a_month_materialized_on_each_backend_gives_identical_marts(
    july_file: dict, july_ducklake: dict, monkeypatch: pytest.MonkeyPatch
) -> None:
    july_file["point"](monkeypatch)
    on_file = _mart_hashes(july_file["target"], without_fetch_times=True)
    july_ducklake["point"](monkeypatch)
    on_lake = _mart_hashes(july_ducklake["target"], without_fetch_times=True)
    assert on_file == on_lake
    assert all(on_file.values()), "every mart has rows"
    for mart in MARTS:
        path = Path("year=2024") / "month=7" / "data.parquet"
        exported = [
            pq.read_table(exports / mart / path).drop_columns(list(FETCH_TIMES.get(mart, ())))
            for exports in (july_file["exports"], july_ducklake["exports"])
        ]
        assert exported[0].equals(exported[1]), f"{mart}: the Parquet exports differ"


def test_a_month_goes_from_the_archive_to_parquet_marts_matching_ground_truth(july: dict) -> None:
    result = july["result"]
    assert result.success
    assert {"contratos_mes", "stg_pncp__contratos", *MARTS} <= _materialized(result)
    # every ERROR check passed (keys, relationships, reconciliation with totalRegistros)
    for (asset, check), evaluation in _checks(result).items():
        if evaluation.severity == dg.AssetCheckSeverity.ERROR:
            assert evaluation.passed, f"{asset}: {check}"
    published = sum(expected_total(july["config"], "contratos", day) for day in JULY)
    with warehouse.connection(july["target"], read_only=True) as conn:
        contracts = conn.execute(
            "SELECT count(*), count(DISTINCT numero_controle_pncp), min(mes_publicacao), "
            "max(mes_publicacao) FROM marts.contratos_mes"
        ).fetchone()
        spend = conn.execute("SELECT sum(contracts) FROM marts.spend_by_organ_month").fetchone()
        links = conn.execute(
            "SELECT link_status, count(*) FROM marts.procurement_contract_links GROUP BY 1"
        ).fetchall()
        health = conn.execute(
            "SELECT sum(requests), sum(records), count(DISTINCT ingestion_date) "
            "FROM marts.pncp_extraction_health"
        ).fetchone()
        archived = conn.execute(
            "SELECT count(*), sum(record_count) FROM raw.api_requests"
        ).fetchone()
        top = conn.execute(
            "SELECT max(supplier_rank), min(share_of_organ_value), max(share_of_organ_value) "
            "FROM marts.supplier_concentration"
        ).fetchone()
    assert contracts == (published, published, date(2024, 7, 1), date(2024, 7, 1))
    assert spend[0] == published
    assert sum(n for _, n in links) == published
    assert {status for status, _ in links} <= {
        "linked",
        "procurement_not_archived",
        "no_procurement_reference",
    }
    assert health == (archived[0], archived[1], 31)
    assert top[0] <= 10
    assert 0 < top[1] <= top[2] <= 1

    export = july["exports"] / "contratos_mes"
    table = pq.read_table(export / "year=2024" / "month=7" / "data.parquet")
    assert table.num_rows == published
    keys = list(
        zip(
            table["orgao_cnpj"].to_pylist(), table["data_publicacao_pncp"].to_pylist(), strict=False
        )
    )
    assert keys == sorted(keys), "contratos_mes is exported ordered by body and publication"
    schema = json.loads((export / "_schema.json").read_text())
    described = {c["name"]: c["description"] for c in schema["columns"]}
    assert schema["partitioned_by"] == ["year", "month"]
    assert "numeroControlePNCP" in described["numero_controle_pncp"]
    assert all(described.values()), "every exported column is documented"
    for mart in MARTS:
        assert (july["exports"] / mart / "year=2024" / "month=7" / "data.parquet").exists()


def test_a_record_updated_in_a_later_feed_appears_once_with_its_latest_values(
    july: dict,
) -> None:
    with warehouse.connection(july["target"], read_only=True) as conn:
        versions = conn.execute(
            """
            WITH records AS (
                SELECT r.endpoint, r.ingestion_date,
                       unnest(from_json(p.payload -> 'data',
                           '[{"numeroControlePNCP": "VARCHAR", "dataAtualizacao": "VARCHAR",
                              "valorGlobal": "DOUBLE"}]')) AS rec
                FROM raw.api_requests r JOIN raw.payload_json p USING (payload_sha256)
                WHERE r.endpoint IN ('contratos', 'contratos_atualizacao')
            )
            SELECT rec.numeroControlePNCP, endpoint, ingestion_date,
                   rec.dataAtualizacao, rec.valorGlobal
            FROM records
            WHERE rec.numeroControlePNCP IN (
                SELECT rec.numeroControlePNCP FROM records WHERE endpoint = 'contratos'
                INTERSECT
                SELECT rec.numeroControlePNCP FROM records
                WHERE endpoint = 'contratos_atualizacao')
            ORDER BY 1, 4
            """
        ).fetchall()
        updated = {}
        for key, endpoint, _, stamp, value in versions:
            updated.setdefault(key, []).append((stamp, endpoint, value))
        # a contract first published, then re-emitted later with a newer dataAtualizacao
        key, history = next(
            (k, h) for k, h in updated.items() if len({stamp for stamp, _, _ in h}) > 1
        )
        latest_stamp, _, latest_value = history[-1]
        rows = conn.execute(
            "SELECT data_atualizacao AT TIME ZONE 'America/Sao_Paulo', valor_global "
            "FROM marts.contratos_mes WHERE numero_controle_pncp = ?",
            [key],
        ).fetchall()
    assert len(updated) > 10, "the simulator re-emits July contracts in July's update feed"
    assert len(rows) == 1
    assert rows[0][0].isoformat() == latest_stamp
    assert float(rows[0][1]) == pytest.approx(latest_value)


def test_re_materializing_a_month_leaves_identical_marts(
    july: dict, monkeypatch: pytest.MonkeyPatch
) -> None:
    before = _mart_hashes(july["target"])
    export = july["exports"] / "contratos_mes" / "year=2024" / "month=7" / "data.parquet"
    parquet_before = pq.read_table(export)
    # What a test left when it last failed, for one that passes now: dropped by the run.
    stale = "audit.not_null_stg_pncp__contratos_versions_ingestion_date"
    with warehouse.connection(july["target"]) as conn:
        conn.execute(f"CREATE TABLE {stale} AS SELECT 1 AS failing_row")
    with dg.DagsterInstance.from_config(str(july["home"])) as instance:
        again = materialize_month(instance, "2024-07")
    assert again.success
    assert _mart_hashes(july["target"]) == before
    # Failing rows are kept for the tests that fail (here WARN), and only for those.
    not_passed = [e for e in again.get_asset_check_evaluations() if not e.passed]
    with warehouse.connection(july["target"], read_only=True) as conn:
        audit = conn.execute(
            "SELECT table_name FROM information_schema.tables WHERE table_schema = 'audit' "
            "AND table_catalog = current_database()"
        ).fetchall()
        failing_rows = [
            conn.execute(f'SELECT count(*) FROM audit."{name}"').fetchone()[0] for (name,) in audit
        ]
    assert len(not_passed) >= 1
    assert len(audit) == len(not_passed)
    assert all(n > 0 for n in failing_rows)
    assert stale.split(".")[1] not in {name for (name,) in audit}
    # The second run on this warehouse starts from the parse the first one kept for its
    # profile: dbt re-parses nothing in full (11 s against 5 s).
    (log,) = DBT_PROJECT_DIR.glob(f"target/pncp_dbt_models-{again.run_id[:7]}-*/dbt.log")
    assert "Unable to do partial parsing" not in log.read_text()
    assert pq.read_table(export).equals(parquet_before)
    with warehouse.connection(july["target"], read_only=True) as conn:
        months = conn.execute(
            "SELECT DISTINCT ingestion_month FROM staging.stg_pncp__contratos"
        ).fetchall()
    assert months == [(date(2024, 7, 1),)]


# --- odd records: written straight into the archive --------------------------------------


def _contract(n: int, **changes: object) -> dict:
    record = {
        "numeroControlePncpCompra": None,
        "anoContrato": 2024,
        "tipoContrato": {"id": 1, "nome": "Contrato (termo inicial)"},
        "numeroContratoEmpenho": f"{n:03d}/2024",
        "dataAssinatura": "2024-08-01",
        "dataVigenciaInicio": "2024-08-01",
        "dataVigenciaFim": "2025-07-31",
        "niFornecedor": f"{n:014d}",
        "tipoPessoa": "PJ",
        "orgaoEntidade": {
            "cnpj": "04622816000108",
            "razaoSocial": "MUNICIPIO DE BOA VISTA",
            "poderId": "E",
            "esferaId": "M",
        },
        "categoriaProcesso": {"id": 2, "nome": "Compras"},
        "dataPublicacaoPncp": "2024-08-01T09:00:00",
        "dataAtualizacao": "2024-08-01T09:00:00",
        "sequencialContrato": n,
        "unidadeOrgao": {"codigoUnidade": "1", "nomeUnidade": "SECRETARIA", "ufSigla": "RR"},
        "nomeRazaoSocialFornecedor": f"FORNECEDOR {n}",
        "numeroControlePNCP": f"04622816000108-2-{n:06d}/2024",
        "receita": False,
        "objetoContrato": "Aquisição de material",
        "valorInicial": 1000.5,
        "valorGlobal": 1000.5,
    }
    record.update(changes)
    return record


def _archive_day(warehouse: Path, day: date, records: list[dict]) -> None:
    body = json.dumps(
        {"data": records, "totalRegistros": len(records), "totalPaginas": 1, "numeroPagina": 1}
    ).encode()
    page = ArchivedPage(
        endpoint="contratos",
        day=day,
        modalidade=0,
        page=1,
        params={"dataInicial": day.strftime("%Y%m%d"), "pagina": "1"},
        http_status=200,
        body=body,
        etag=None,
        record_count=len(records),
        total_records=len(records),
        total_pages=1,
        attempts=1,
    )
    warehouse.parent.mkdir(parents=True, exist_ok=True)
    with duckdb.connect(str(warehouse)) as conn:
        ensure_archive(conn)
        with ArchiveWriter.on(conn, run_id=None) as writer:
            writer.write([page])


def test_unknown_codes_nulls_and_odd_formats_load_flagged_by_warn_checks(
    instance: dg.DagsterInstance, warehouse_path: Path
) -> None:
    _archive_day(
        warehouse_path,
        date(2024, 8, 1),
        [
            _contract(1),
            _contract(
                2,
                tipoContrato={"id": 99, "nome": "Novo tipo"},
                orgaoEntidade={
                    "cnpj": "04622816000108",
                    "razaoSocial": "MUNICIPIO",
                    "poderId": "X",
                    "esferaId": "M",
                },
            ),
            _contract(
                3,
                valorGlobal="1.234,56",
                dataAssinatura="01/08/2024",
                nomeRazaoSocialFornecedor="  FORNECEDOR 3 ",
                processo="   ",
            ),
            _contract(4, valorInicial=None, objetoContrato=None, unidadeOrgao=None),
        ],
    )
    # A day outside the month: the run's window (PNCP_MIN_DATE/PNCP_MAX_DATE) leaves it out.
    _archive_day(warehouse_path, date(2024, 9, 2), [_contract(5)])
    result = materialize_month(instance, "2024-08")
    assert result.success
    assert "PNCP_MIN_DATE" not in os.environ, "the window is the run's, not the process's"
    checks = _checks(result)
    flagged = {
        name
        for (asset, name), e in checks.items()
        if asset == "stg_pncp__contratos" and not e.passed
    }
    assert all(checks[("stg_pncp__contratos", name)].severity.value == "WARN" for name in flagged)
    assert any(name.startswith("pncp_no_invalid_fields") for name in flagged)
    assert any("tipo_contrato_id" in name for name in flagged)
    assert any("orgao_poder_id" in name for name in flagged)
    with duckdb.connect(str(warehouse_path), read_only=True) as conn:
        columns = (
            "valor_global, data_assinatura, invalid_fields, tipo_contrato_id, unidade_codigo, "
            "nome_razao_social_fornecedor, processo"
        )
        rows = {
            row[0]: dict(zip(columns.split(", "), row[1:], strict=True))
            for row in conn.execute(
                f"SELECT sequencial_contrato, {columns} FROM staging.stg_pncp__contratos "
                "WHERE numero_controle_pncp IN (SELECT numero_controle_pncp "
                "FROM marts.contratos_mes)"
            ).fetchall()
        }
    assert len(rows) == 4, "every record loads"
    assert rows[2]["tipo_contrato_id"] == 99
    assert rows[3]["valor_global"] is None
    assert rows[3]["data_assinatura"] is None
    assert sorted(rows[3]["invalid_fields"]) == ["data_assinatura", "valor_global"]
    assert rows[3]["nome_razao_social_fornecedor"] == "FORNECEDOR 3", "text is trimmed"
    assert rows[3]["processo"] is None, "blank text is NULL"
    assert rows[1]["processo"] is None, "a field the record lacks is NULL"
    assert rows[4]["unidade_codigo"] is None
    assert rows[4]["invalid_fields"] == []
    with duckdb.connect(str(warehouse_path), read_only=True) as conn:
        months = conn.execute(
            "SELECT ingestion_month, count(*) FROM staging.stg_pncp__contratos GROUP BY ALL"
        ).fetchall()
    assert months == [(date(2024, 8, 1), 4)], "September's day is outside the run's window"


def test_a_missing_key_fails_the_error_check_and_blocks_the_marts(
    instance: dg.DagsterInstance, warehouse_path: Path
) -> None:
    keyless = _contract(2)
    del keyless["numeroControlePNCP"]
    _archive_day(warehouse_path, date(2024, 8, 1), [_contract(1), keyless])
    result = materialize_month(instance, "2024-08")
    assert not result.success
    check = _checks(result)[
        ("stg_pncp__contratos", "not_null_stg_pncp__contratos_numero_controle_pncp")
    ]
    assert not check.passed
    assert check.severity == dg.AssetCheckSeverity.ERROR
    materialized = _materialized(result)
    assert "stg_pncp__contratos" in materialized
    assert not materialized & {"contratos_mes", "spend_by_organ_month"}
    assert not (get_settings().exports / "pncp" / "contratos_mes").exists()
    with duckdb.connect(str(warehouse_path), read_only=True) as conn:
        audit = conn.execute(
            "SELECT count(*) FROM audit.not_null_stg_pncp__contratos_numero_controle_pncp"
        ).fetchone()[0]
    assert audit == 1, "the failing row is kept for inspection"


def test_the_window_reaches_dbt_inclusively_and_only_for_the_invocation(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    from project.defs.pncp.transformation import window_for_dbt

    monkeypatch.setenv("PNCP_MAX_DATE", "1999-01-01")
    monkeypatch.delenv("PNCP_MIN_DATE", raising=False)
    with window_for_dbt({"min_date": "2024-07-01", "max_date": "2024-07-31"}):
        assert (os.environ["PNCP_MIN_DATE"], os.environ["PNCP_MAX_DATE"]) == (
            "2024-07-01",
            "2024-07-31",
        )
    assert "PNCP_MIN_DATE" not in os.environ
    assert os.environ["PNCP_MAX_DATE"] == "1999-01-01"
