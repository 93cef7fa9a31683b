"""Pagination arithmetic, which must never be off by one.

- The simulator's envelope: `totalPaginas` is the ceiling of `totalRegistros` over the
  page size, every page holds exactly its share, `paginasRestantes` counts down, the page
  after the last is a 204, and the pages together hold each record once.
- The client's page validation (`parse_page`) accepts exactly the record count a page
  must carry and rejects short or oversized pages.
- The extractor's page planning on resume: whatever subset of pages the archive lost,
  a re-run fetches exactly those pages and the day ends complete.
"""

from __future__ import annotations

import json
import math
import shutil
from collections.abc import Iterator
from datetime import date, timedelta
from pathlib import Path

import httpx
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from project.lib import warehouse
from project.lib.pncp.client import ClientSettings, InvalidPage, parse_page
from project.lib.pncp.endpoints import ENDPOINTS, MODALIDADES, Endpoint
from project.lib.pncp.runner import run_endpoint_day
from project.simulators.pncp import PncpSimulator, SimulatorConfig, expected_total

SCALE = 0.3  # a day of contratos spans a few 500-record pages; procurements many 50-record ones
JULY = [date(2024, 7, 1) + timedelta(days=n) for n in range(31)]
few_examples = settings(
    max_examples=15, deadline=None, suppress_health_check=[HealthCheck.too_slow]
)


@pytest.fixture(scope="module")
def sim() -> Iterator[PncpSimulator]:
    with PncpSimulator(SimulatorConfig(scale=SCALE)) as simulator:
        yield simulator


def _get(sim: PncpSimulator, endpoint: Endpoint, day: date, modalidade: int, page: int, size: int):
    params = {**endpoint.window_params(day, day), "pagina": page, "tamanhoPagina": size}
    if endpoint.per_modalidade:
        params["codigoModalidadeContratacao"] = modalidade
    return httpx.get(f"{sim.base_url}{endpoint.path}", params=params, timeout=30)


@few_examples
@given(
    endpoint=st.sampled_from(list(ENDPOINTS.values())),
    day=st.sampled_from(JULY),
    modalidade=st.sampled_from(list(MODALIDADES)),
    data=st.data(),
)
def test_simulator_pages_partition_the_total_exactly(
    sim: PncpSimulator, endpoint: Endpoint, day: date, modalidade: int, data: st.DataObject
) -> None:
    total = expected_total(
        sim.config, endpoint.name, day, modalidade if endpoint.per_modalidade else None
    )
    # Small pages make many requests: keep each example under ~30 pages.
    size = data.draw(
        st.integers(max(10, math.ceil(total / 30)), endpoint.max_page_size), label="page size"
    )
    pages = math.ceil(total / size)
    seen: list[str] = []
    for page in range(1, pages + 1):
        answer = _get(sim, endpoint, day, modalidade, page, size)
        assert answer.status_code == 200
        envelope, records = parse_page(answer.content, page, size)
        assert envelope["totalRegistros"] == total
        assert envelope["totalPaginas"] == pages
        assert envelope["numeroPagina"] == page
        assert envelope["paginasRestantes"] == pages - page
        assert len(records) == min(size, total - (page - 1) * size)
        seen += [json.dumps(r, sort_keys=True) for r in records]
    assert len(seen) == total
    assert len(set(seen)) == total, "a record was served twice"
    assert _get(sim, endpoint, day, modalidade, pages + 1, size).status_code == 204


@settings(deadline=None)
@given(
    total=st.integers(0, 10**6),
    size=st.integers(1, 500),
    data=st.data(),
)
def test_parse_page_accepts_exactly_the_implied_record_count(
    total: int, size: int, data: st.DataObject
) -> None:
    pages = max(1, math.ceil(total / size))
    page = data.draw(st.integers(1, pages + 1), label="page")
    implied = min(size, max(0, total - (page - 1) * size))

    def body(count: int) -> bytes:
        return json.dumps(
            {"data": [{"n": i} for i in range(count)], "totalRegistros": total,
             "totalPaginas": math.ceil(total / size), "numeroPagina": page}
        ).encode()  # fmt: skip

    envelope, records = parse_page(body(implied), page, size)
    assert len(records) == implied
    assert envelope["totalRegistros"] == total
    if implied:
        with pytest.raises(InvalidPage, match="implies"):
            parse_page(body(implied - 1), page, size)
    with pytest.raises(InvalidPage, match="at most"):
        parse_page(body(size + 1), page, size)


RESUMED_DAY = date(2024, 7, 3)  # a Wednesday: many procurements across modalidades
PROCUREMENTS = ENDPOINTS["contratacoes_publicacao"]


@pytest.fixture(scope="module")
def archived_day(sim: PncpSimulator, tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A warehouse (and its payload store) holding one complete endpoint-day."""
    root = tmp_path_factory.mktemp("archived_day")
    with warehouse.connection(root / "warehouse.duckdb") as conn:
        outcome = run_endpoint_day(conn, _client(sim), PROCUREMENTS, RESUMED_DAY)
    assert outcome.status == "complete"
    return root


def _client(sim: PncpSimulator) -> ClientSettings:
    return ClientSettings(base_url=sim.base_url, max_concurrency=8, rate_limit_per_s=0)


def _pages(conn) -> list[tuple[int, int]]:
    return conn.execute(
        """SELECT modalidade, page FROM raw.api_requests
           WHERE endpoint = ? AND ingestion_date = ? ORDER BY ALL""",
        [PROCUREMENTS.name, RESUMED_DAY],
    ).fetchall()


@settings(max_examples=25, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(data=st.data())
def test_a_rerun_fetches_exactly_the_pages_the_archive_lost(
    sim: PncpSimulator, archived_day: Path, tmp_path_factory: pytest.TempPathFactory, data
) -> None:
    copy = tmp_path_factory.mktemp("resume")
    shutil.copytree(archived_day, copy, dirs_exist_ok=True)
    path = copy / "warehouse.duckdb"
    with warehouse.connection(path) as conn:
        complete = _pages(conn)
        lost = data.draw(st.sets(st.sampled_from(complete)), label="lost pages")
        for modalidade, page in lost:
            conn.execute(
                """DELETE FROM raw.api_requests WHERE endpoint = ? AND ingestion_date = ?
                   AND modalidade = ? AND page = ?""",
                [PROCUREMENTS.name, RESUMED_DAY, modalidade, page],
            )

        outcome = run_endpoint_day(conn, _client(sim), PROCUREMENTS, RESUMED_DAY)

        assert outcome.status == "complete"
        assert outcome.report.pages_fetched == len(lost)
        assert outcome.report.pages_resumed == len(complete) - len(lost)
        assert _pages(conn) == complete
        archived = conn.execute(
            "SELECT sum(record_count) FROM raw.api_requests WHERE ingestion_date = ?",
            [RESUMED_DAY],
        ).fetchone()[0]
    assert archived == expected_total(sim.config, PROCUREMENTS.name, RESUMED_DAY)
