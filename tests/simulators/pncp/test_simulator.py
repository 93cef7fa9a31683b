"""The PNCP simulator over real HTTP: PNCP's contract, deterministic data, injected faults.

Expected record keys are copied from the official spec (`RecuperarContratoDTO`,
`RecuperarCompraPublicacaoDTO`, `AtaRegistroPrecoPeriodoDTO`) rather than read from the
simulator, so the schema tests check the simulator against PNCP, not against itself.
"""

from __future__ import annotations

import json
import math
import re
import subprocess
import sys
import threading
import time
from collections.abc import Iterator
from datetime import date, timedelta
from typing import Any

import httpx
import pytest

from project.lib.pncp.endpoints import ENDPOINTS, MODALIDADES
from project.simulators.pncp import (
    ADMIN_PATH,
    DriftChange,
    FaultKind,
    PageRef,
    PncpSimulator,
    SchemaDrift,
    SimulatorConfig,
    expected_total,
    records_for,
)

CONFIG = SimulatorConfig(seed=7, scale=0.02)
DAY = date(2024, 7, 2)  # a Tuesday
SATURDAY = date(2024, 7, 6)
YMD = "%Y%m%d"

CONTRACT_KEYS = [
    "numeroControlePncpCompra", "codigoPaisFornecedor", "anoContrato", "tipoContrato",
    "numeroContratoEmpenho", "dataAssinatura", "dataVigenciaInicio", "dataVigenciaFim",
    "niFornecedor", "tipoPessoa", "orgaoEntidade", "categoriaProcesso", "dataPublicacaoPncp",
    "dataAtualizacao", "sequencialContrato", "unidadeOrgao", "informacaoComplementar",
    "processo", "unidadeSubRogada", "orgaoSubRogado", "nomeRazaoSocialFornecedor",
    "niFornecedorSubContratado", "nomeFornecedorSubContratado", "numeroControlePNCP",
    "receita", "numeroParcelas", "numeroRetificacao", "tipoPessoaSubContratada",
    "objetoContrato", "valorInicial", "valorParcela", "valorGlobal", "valorAcumulado",
    "dataAtualizacaoGlobal", "identificadorCipi", "urlCipi", "usuarioNome",
]  # fmt: skip
PROCUREMENT_KEYS = [
    "srp", "orgaoEntidade", "anoCompra", "sequencialCompra", "dataInclusao",
    "dataPublicacaoPncp", "dataAtualizacao", "numeroCompra", "unidadeOrgao", "amparoLegal",
    "dataAberturaProposta", "dataEncerramentoProposta", "informacaoComplementar", "processo",
    "objetoCompra", "linkSistemaOrigem", "justificativaPresencial", "unidadeSubRogada",
    "orgaoSubRogado", "valorTotalHomologado", "linkProcessoEletronico", "numeroControlePNCP",
    "modalidadeId", "dataAtualizacaoGlobal", "modoDisputaId", "valorTotalEstimado",
    "modalidadeNome", "modoDisputaNome", "tipoInstrumentoConvocatorioCodigo",
    "tipoInstrumentoConvocatorioNome", "fontesOrcamentarias", "situacaoCompraId",
    "situacaoCompraNome", "usuarioNome",
]  # fmt: skip
ATA_KEYS = [
    "numeroControlePNCPAta", "numeroAtaRegistroPreco", "anoAta", "numeroControlePNCPCompra",
    "cancelado", "dataCancelamento", "dataAssinatura", "vigenciaInicio", "vigenciaFim",
    "dataPublicacaoPncp", "dataInclusao", "dataAtualizacao", "dataAtualizacaoGlobal",
    "usuario", "objetoContratacao", "cnpjOrgao", "nomeOrgao", "cnpjOrgaoSubrogado",
    "nomeOrgaoSubrogado", "codigoUnidadeOrgao", "nomeUnidadeOrgao",
    "codigoUnidadeOrgaoSubrogado", "nomeUnidadeOrgaoSubrogado",
]  # fmt: skip
ORGAO_KEYS = ["cnpj", "razaoSocial", "poderId", "esferaId"]
UNIDADE_KEYS = ["ufNome", "codigoUnidade", "nomeUnidade", "ufSigla", "municipioNome", "codigoIbge"]
ENVELOPE_KEYS = [
    "data", "totalRegistros", "totalPaginas", "numeroPagina", "paginasRestantes", "empty",
]  # fmt: skip
ERROR_KEYS = ["message", "path", "timestamp", "status", "error"]

PROCUREMENT_NUMBER = re.compile(r"^\d{14}-1-\d{6}/\d{4}$")
CONTRACT_NUMBER = re.compile(r"^\d{14}-2-\d{6}/\d{4}$")
ATA_NUMBER = re.compile(r"^\d{14}-1-\d{6}/\d{4}-\d{6}$")
LOCAL_TIMESTAMP = re.compile(r"^\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}$")

HTTP = httpx.Client(timeout=10)  # one pool for the module: a client per request is slow


@pytest.fixture(scope="module")
def sim() -> Iterator[PncpSimulator]:
    """A fault-free simulator shared by the read-only tests."""
    with PncpSimulator(CONFIG) as running:
        yield running


@pytest.fixture
def faulty() -> Iterator[PncpSimulator]:
    """A simulator of its own, for tests that reconfigure faults."""
    with PncpSimulator(CONFIG) as running:
        yield running


def params(
    endpoint: str, start: date = DAY, end: date | None = None, **extra: Any
) -> dict[str, Any]:
    e = ENDPOINTS[endpoint]
    return {
        e.start_param: start.strftime(YMD),
        e.end_param: (end or start).strftime(YMD),
        "pagina": 1,
        **extra,
    }


def get(
    simulator: PncpSimulator, endpoint: str, timeout: float = 10, **query: Any
) -> httpx.Response:
    url = simulator.base_url + ENDPOINTS[endpoint].path
    return HTTP.get(url, params=query or params(endpoint), timeout=timeout)


def all_pages(
    simulator: PncpSimulator, endpoint: str, day: date = DAY, **extra: Any
) -> list[dict[str, Any]]:
    envelopes = []
    page = 1
    while True:
        response = get(simulator, endpoint, **{**params(endpoint, day, **extra), "pagina": page})
        if response.status_code == 204:
            return envelopes
        response.raise_for_status()
        envelopes.append(response.json())
        page += 1


# --- PNCP's envelope and pagination -----------------------------------------------------


def test_envelope_has_pncp_fields_in_order(sim: PncpSimulator) -> None:
    body = get(sim, "contratos").json()
    assert list(body) == ENVELOPE_KEYS
    assert body["numeroPagina"] == 1
    assert body["empty"] is False


def test_pages_add_up_to_total_and_page_count_is_ceiling(sim: PncpSimulator) -> None:
    envelopes = all_pages(sim, "contratos", tamanhoPagina=10)
    total = envelopes[0]["totalRegistros"]
    assert sum(len(e["data"]) for e in envelopes) == total
    assert len(envelopes) == envelopes[0]["totalPaginas"] == math.ceil(total / 10)
    assert [e["paginasRestantes"] for e in envelopes] == list(range(len(envelopes) - 1, -1, -1))


def test_page_size_defaults_to_the_endpoint_maximum(sim: PncpSimulator) -> None:
    query = params("contratacoes_publicacao", codigoModalidadeContratacao=8)
    body = get(sim, "contratacoes_publicacao", **query).json()
    assert len(body["data"]) == min(body["totalRegistros"], 50)
    assert body["totalPaginas"] == math.ceil(body["totalRegistros"] / 50)


def test_served_records_equal_the_ground_truth(sim: PncpSimulator) -> None:
    served = [r for e in all_pages(sim, "contratos", tamanhoPagina=10) for r in e["data"]]
    assert served == records_for(CONFIG, "contratos", DAY)
    assert len(served) == expected_total(CONFIG, "contratos", DAY)


def test_page_beyond_the_last_is_204_without_body(sim: PncpSimulator) -> None:
    pages = get(sim, "atas").json()["totalPaginas"]
    response = get(sim, "atas", **params("atas", pagina=pages + 1))
    assert response.status_code == 204
    assert response.content == b""


def test_a_day_without_records_is_204(sim: PncpSimulator) -> None:
    empty = next(
        m for m in (2, 3) if expected_total(CONFIG, "contratacoes_publicacao", DAY, m) == 0
    )
    query = params("contratacoes_publicacao", codigoModalidadeContratacao=empty)
    response = get(sim, "contratacoes_publicacao", **query)
    assert response.status_code == 204
    assert response.content == b""


def test_a_window_of_several_days_serves_them_in_order(sim: PncpSimulator) -> None:
    end = DAY + timedelta(days=2)
    served = [
        r
        for e in all_pages(sim, "atas", DAY, dataFinal=end.strftime(YMD), tamanhoPagina=10)
        for r in e["data"]
    ]
    days = [DAY + timedelta(days=n) for n in range(3)]
    assert served == [r for day in days for r in records_for(CONFIG, "atas", day)]


# --- PNCP's refusals --------------------------------------------------------------------


@pytest.mark.parametrize("bad", ["2024-07-02", "02072024x", "20240231", "2024072"])
def test_a_date_not_in_yyyymmdd_is_400_with_pncp_error_body(sim: PncpSimulator, bad: str) -> None:
    response = get(sim, "contratos", **{**params("contratos"), "dataInicial": bad})
    assert response.status_code == 400
    body = response.json()
    assert list(body) == ERROR_KEYS
    assert body["status"] == "400"
    assert body["path"] == "/api/consulta/v1/contratos"


@pytest.mark.parametrize("size", [501, 9])
def test_a_page_size_outside_10_to_max_is_400(sim: PncpSimulator, size: int) -> None:
    assert get(sim, "contratos", **params("contratos", tamanhoPagina=size)).status_code == 400


def test_procurements_without_modalidade_are_400(sim: PncpSimulator) -> None:
    response = get(sim, "contratacoes_publicacao", **params("contratacoes_publicacao"))
    assert response.status_code == 400
    assert "codigoModalidadeContratacao" in response.json()["message"]


def test_a_missing_page_number_is_400(sim: PncpSimulator) -> None:
    query = params("contratos")
    del query["pagina"]
    assert get(sim, "contratos", **query).status_code == 400


def test_a_window_over_365_days_is_422(sim: PncpSimulator) -> None:
    query = params("contratos", DAY - timedelta(days=366), DAY)
    response = get(sim, "contratos", **query)
    assert response.status_code == 422
    assert list(response.json()) == ERROR_KEYS


def test_an_unknown_path_is_404(sim: PncpSimulator) -> None:
    assert HTTP.get(sim.base_url + "/v1/pca/usuario").status_code == 404


# --- deterministic, realistic data ------------------------------------------------------


def test_two_servers_with_the_same_seed_serve_identical_bytes(sim: PncpSimulator) -> None:
    query = params("contratacoes_atualizacao", codigoModalidadeContratacao=6, tamanhoPagina=20)
    with PncpSimulator(CONFIG) as twin:
        assert (
            get(twin, "contratacoes_atualizacao", **query).content
            == get(sim, "contratacoes_atualizacao", **query).content
        )


def test_another_seed_serves_other_records() -> None:
    other = SimulatorConfig(seed=8, scale=CONFIG.scale)
    assert records_for(other, "contratos", DAY) != records_for(CONFIG, "contratos", DAY)


@pytest.mark.parametrize(
    ("endpoint", "keys"),
    [
        ("contratos", CONTRACT_KEYS),
        ("contratos_atualizacao", CONTRACT_KEYS),
        ("contratacoes_publicacao", PROCUREMENT_KEYS),
        ("contratacoes_atualizacao", PROCUREMENT_KEYS),
        ("atas", ATA_KEYS),
        ("atas_atualizacao", ATA_KEYS),
    ],
)
def test_records_have_the_spec_keys_in_order(
    sim: PncpSimulator, endpoint: str, keys: list[str]
) -> None:
    extra = {"codigoModalidadeContratacao": 6} if ENDPOINTS[endpoint].per_modalidade else {}
    records = get(sim, endpoint, **params(endpoint, **extra)).json()["data"]
    assert records
    assert all(list(r) == keys for r in records)
    if "orgaoEntidade" in keys:
        assert all(list(r["orgaoEntidade"]) == ORGAO_KEYS for r in records)
        assert all(list(r["unidadeOrgao"]) == UNIDADE_KEYS for r in records)


def test_control_numbers_follow_pncp_masks_and_are_unique() -> None:
    contracts = records_for(CONFIG, "contratos", DAY)
    procurements = records_for(CONFIG, "contratacoes_publicacao", DAY)
    atas = records_for(CONFIG, "atas", DAY)
    for records, key, mask in (
        (contracts, "numeroControlePNCP", CONTRACT_NUMBER),
        (procurements, "numeroControlePNCP", PROCUREMENT_NUMBER),
        (atas, "numeroControlePNCPAta", ATA_NUMBER),
    ):
        numbers = [r[key] for r in records]
        assert all(mask.match(n) for n in numbers)
        assert len(set(numbers)) == len(numbers)


def test_control_numbers_start_with_the_publishing_body_cnpj() -> None:
    for record in records_for(CONFIG, "contratacoes_publicacao", DAY):
        assert record["numeroControlePNCP"][:14] == record["orgaoEntidade"]["cnpj"]
    for ata in records_for(CONFIG, "atas", DAY):
        assert ata["numeroControlePNCPAta"].startswith(ata["numeroControlePNCPCompra"] + "-")


def test_timestamps_are_local_without_time_zone() -> None:
    record = records_for(CONFIG, "contratacoes_publicacao", DAY)[0]
    for field in ("dataPublicacaoPncp", "dataAtualizacao", "dataInclusao"):
        assert LOCAL_TIMESTAMP.match(record[field]), record[field]
    assert record["dataPublicacaoPncp"].startswith("2024-07-02T")


def test_money_is_decimal_and_codes_are_letters() -> None:
    contracts = records_for(CONFIG, "contratos", DAY)
    assert all(isinstance(r["valorGlobal"], float) for r in contracts)
    assert {r["orgaoEntidade"]["poderId"] for r in contracts} <= {"E", "L", "J", "N"}
    assert any(r["informacaoComplementar"] is None for r in contracts), "optional fields null"


def test_a_few_codes_are_not_in_the_manual() -> None:
    contracts = [
        r for n in range(60) for r in records_for(CONFIG, "contratos", DAY - timedelta(days=n))
    ]
    unknown = [
        r
        for r in contracts
        if r["orgaoEntidade"]["poderId"] not in {"E", "L", "J"}
        or not 1 <= r["tipoContrato"]["id"] <= 12
        or not 1 <= r["categoriaProcesso"]["id"] <= 11
    ]
    assert 0 < len(unknown) < 0.02 * len(contracts)


def test_most_contracts_reference_procurements_the_simulator_serves() -> None:
    served = {
        r["numeroControlePNCP"]
        for n in range(1, 61)
        for r in records_for(CONFIG, "contratacoes_publicacao", DAY - timedelta(days=n))
    }
    references = [r["numeroControlePncpCompra"] for r in records_for(CONFIG, "contratos", DAY)]
    linked = [ref for ref in references if ref is not None]
    assert len(linked) > 0.5 * len(references)
    assert set(linked) <= served


def test_pregao_and_dispensa_dominate_and_rare_modalidades_are_mostly_empty() -> None:
    days = [DAY + timedelta(days=n) for n in range(28)]
    totals = {
        m: sum(expected_total(CONFIG, "contratacoes_publicacao", d, m) for d in days)
        for m in MODALIDADES
    }
    assert totals[6] + totals[8] > 0.6 * sum(totals.values())
    for rare in (2, 3):
        assert (
            sum(expected_total(CONFIG, "contratacoes_publicacao", d, rare) == 0 for d in days) > 20
        )


def test_weekends_are_much_quieter_than_weekdays() -> None:
    for endpoint in ("contratos", "contratacoes_publicacao", "atas"):
        assert expected_total(CONFIG, endpoint, SATURDAY) < 0.5 * expected_total(
            CONFIG, endpoint, DAY
        )


def test_scale_multiplies_the_volume() -> None:
    small = expected_total(SimulatorConfig(scale=0.1), "contratos", DAY)
    large = expected_total(SimulatorConfig(scale=1.0), "contratos", DAY)
    assert 7 < large / small < 13


def test_the_update_feed_reemits_earlier_records_with_a_newer_update_time() -> None:
    earlier = {
        r["numeroControlePNCP"]: r
        for n in range(1, 61)
        for r in records_for(CONFIG, "contratos", DAY - timedelta(days=n))
    }
    updates = records_for(CONFIG, "contratos_atualizacao", DAY)
    reemitted = [r for r in updates if r["numeroControlePNCP"] in earlier]
    assert len(reemitted) > 0.3 * len(updates)
    for record in reemitted:
        original = earlier[record["numeroControlePNCP"]]
        assert record["dataAtualizacao"].startswith("2024-07-02")
        assert record["dataAtualizacao"] > original["dataAtualizacao"]
        assert record["numeroRetificacao"] > original["numeroRetificacao"]
        assert record["dataPublicacaoPncp"] == original["dataPublicacaoPncp"]
    assert any(
        r["valorGlobal"] != earlier[r["numeroControlePNCP"]]["valorGlobal"] for r in reemitted
    )


def test_the_update_feed_also_lists_the_days_own_publications() -> None:
    published = {
        r["numeroControlePNCP"] for r in records_for(CONFIG, "contratacoes_publicacao", DAY)
    }
    updates = records_for(CONFIG, "contratacoes_atualizacao", DAY)
    assert {r["numeroControlePNCP"] for r in updates} & published
    assert len({r["numeroControlePNCP"] for r in updates}) == len(updates)


# --- faults -----------------------------------------------------------------------------


def only(kind: FaultKind, **settings: Any) -> dict[str, Any]:
    return {"fault_rate": 1.0, "kinds": [kind], **settings}


def test_rate_limit_answers_429_with_retry_after(faulty: PncpSimulator) -> None:
    faulty.configure(**only(FaultKind.RATE_LIMITED, retry_after_s=7))
    response = get(faulty, "contratos")
    assert response.status_code == 429
    assert response.headers["Retry-After"] == "7"


def test_rate_limit_can_come_without_retry_after(faulty: PncpSimulator) -> None:
    faulty.configure(**only(FaultKind.RATE_LIMITED_NO_RETRY_AFTER))
    response = get(faulty, "contratos")
    assert response.status_code == 429
    assert "Retry-After" not in response.headers


@pytest.mark.parametrize(
    ("kind", "status"),
    [(FaultKind.SERVER_ERROR, 500), (FaultKind.BAD_GATEWAY, 502), (FaultKind.UNAVAILABLE, 503)],
)
def test_server_faults_answer_their_status(
    faulty: PncpSimulator, kind: FaultKind, status: int
) -> None:
    faulty.configure(**only(kind))
    assert get(faulty, "contratos").status_code == status


def test_a_slow_answer_outlasts_the_client_timeout(faulty: PncpSimulator) -> None:
    faulty.configure(**only(FaultKind.SLOW, slow_s=1.0))
    with pytest.raises(httpx.ReadTimeout):
        get(faulty, "contratos", timeout=0.2, **params("contratos"))


def test_a_dropped_connection_gets_no_response(faulty: PncpSimulator) -> None:
    faulty.configure(**only(FaultKind.DROP))
    with pytest.raises(httpx.RemoteProtocolError):
        get(faulty, "contratos")


def test_a_truncated_body_is_cut_with_a_matching_content_length(faulty: PncpSimulator) -> None:
    whole = get(faulty, "contratos").content
    faulty.configure(**only(FaultKind.TRUNCATED))
    response = get(faulty, "contratos")
    assert response.status_code == 200
    assert int(response.headers["Content-Length"]) == len(response.content) < len(whole)
    assert whole.startswith(response.content)
    with pytest.raises(json.JSONDecodeError):
        response.json()


def test_an_invalid_json_body_comes_with_status_200(faulty: PncpSimulator) -> None:
    faulty.configure(**only(FaultKind.INVALID_JSON))
    response = get(faulty, "contratos")
    assert response.status_code == 200
    with pytest.raises(json.JSONDecodeError):
        response.json()


def test_a_fault_rate_fails_that_share_and_retries_can_succeed(faulty: PncpSimulator) -> None:
    faulty.configure(fault_rate=0.5, kinds=[FaultKind.SERVER_ERROR])
    statuses = [get(faulty, "contratos").status_code for _ in range(60)]
    assert 15 < statuses.count(500) < 45
    assert statuses.count(200) == 60 - statuses.count(500)


def test_latency_delays_requests_without_blocking_others(faulty: PncpSimulator) -> None:
    faulty.configure(latency_ms=400)
    get(faulty, "contratos")  # render the page once
    durations: list[float] = []

    def timed() -> None:
        started = time.perf_counter()
        get(faulty, "contratos")
        durations.append(time.perf_counter() - started)

    started = time.perf_counter()
    threads = [threading.Thread(target=timed) for _ in range(6)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert min(durations) >= 0.4
    assert time.perf_counter() - started < 1.6  # 6 sequential requests would take 2.4 s


def test_schema_drift_shows_from_its_date_on(faulty: PncpSimulator) -> None:
    since = DAY + timedelta(days=1)
    faulty.configure(
        schema_drift=[
            SchemaDrift(endpoint="contratos", since=since, change=DriftChange.RETYPE),
            SchemaDrift(
                endpoint="contratos",
                since=since,
                change=DriftChange.RENAME,
                field="niFornecedor",
                new_name="cnpjFornecedor",
            ),
            SchemaDrift(endpoint="contratos", since=since, change=DriftChange.ADD, field="novo"),
        ]
    )
    before = get(faulty, "contratos").json()["data"][0]
    after = get(faulty, "contratos", **params("contratos", since)).json()["data"][0]
    assert isinstance(before["valorGlobal"], float)
    assert "novo" not in before
    assert isinstance(after["valorGlobal"], str)
    assert "cnpjFornecedor" in after
    assert "niFornecedor" not in after
    assert after["novo"] == "drift"
    assert records_for(faulty.config, "contratos", since)[0] == after


def test_a_permanent_failure_answers_500_until_reconfigured(faulty: PncpSimulator) -> None:
    broken = PageRef(path="/v1/contratos", day=DAY, page=1)
    faulty.configure(permanent_failures=[broken])
    assert [get(faulty, "contratos").status_code for _ in range(3)] == [500, 500, 500]
    assert get(faulty, "contratos", **params("contratos", DAY + timedelta(1))).status_code == 200
    faulty.configure(permanent_failures=[])
    assert get(faulty, "contratos").status_code == 200


# --- admin API and CLI ------------------------------------------------------------------


def test_admin_config_can_be_replaced_over_http(faulty: PncpSimulator) -> None:
    url = faulty.url + ADMIN_PATH + "/config"
    new = {"fault_rate": 1.0, "kinds": ["unavailable"], "latency_ms": 5}
    assert HTTP.put(url, json=new).status_code == 200
    assert HTTP.get(url).json()["kinds"] == {"unavailable": 1.0}
    assert get(faulty, "contratos").status_code == 503


def test_admin_refuses_an_invalid_config(faulty: PncpSimulator) -> None:
    url = faulty.url + ADMIN_PATH + "/config"
    assert HTTP.put(url, json={"fault_rate": 2}).status_code == 400
    assert faulty.faults.fault_rate == 0


def test_admin_stats_count_requests_by_status_fault_and_endpoint(faulty: PncpSimulator) -> None:
    get(faulty, "contratos")
    faulty.configure(**only(FaultKind.RATE_LIMITED))
    get(faulty, "atas")
    stats = HTTP.get(faulty.url + ADMIN_PATH + "/stats").json()
    assert stats["requests"] == 2
    assert stats["by_status"] == {"200": 1, "429": 1}
    assert stats["by_fault"] == {"rate_limited": 1}
    assert stats["by_endpoint"] == {"contratos": 1, "atas": 1}
    assert HTTP.delete(faulty.url + ADMIN_PATH + "/stats").status_code == 204
    assert faulty.stats()["requests"] == 0


def test_the_command_line_prints_the_base_url_and_serves() -> None:
    command = [sys.executable, "-m", "project.simulators.pncp", "--port", "0", "--scale", "0.01"]
    with subprocess.Popen(command, stdout=subprocess.PIPE, text=True) as process:
        try:
            base_url = process.stdout.readline().strip()  # type: ignore[union-attr]
            assert base_url.endswith("/api/consulta")
            response = HTTP.get(base_url + "/v1/atas", params=params("atas"), timeout=10)
            assert response.status_code == 200
        finally:
            process.terminate()
        assert process.wait(timeout=10) == 0
