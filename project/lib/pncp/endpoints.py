"""The PNCP consultation endpoints this platform extracts, as one registry.

The simulator, the HTTP client and the extraction assets all read this table, so a
page-size limit or a required parameter is written down exactly once. Figures come from
the official OpenAPI spec and the volumes measured against the live API
(`shared/pncp/README.md`).
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date, datetime
from typing import Any

DATE_FORMAT = "%Y%m%d"

# Modalidades de contratação (manual, section 5.2). 2 and 3 often answer 204 in real data.
MODALIDADES: dict[int, str] = {
    1: "Leilão - Eletrônico",
    2: "Diálogo Competitivo",
    3: "Concurso",
    4: "Concorrência - Eletrônica",
    5: "Concorrência - Presencial",
    6: "Pregão - Eletrônico",
    7: "Pregão - Presencial",
    8: "Dispensa de Licitação",
    9: "Inexigibilidade",
    10: "Manifestação de Interesse",
    11: "Pré-qualificação",
    12: "Credenciamento",
    13: "Leilão - Presencial",
}


def coerce_pncp_date(value: Any) -> Any:
    """PNCP's `yyyyMMdd` as a date; anything else unchanged (for pydantic `before` validators)."""
    if isinstance(value, str) and len(value) == 8 and value.isdigit():
        return datetime.strptime(value, DATE_FORMAT).date()
    return value


@dataclass(frozen=True)
class Endpoint:
    """One paginated, date-windowed PNCP endpoint."""

    name: str  # stable identifier used in asset keys and the archive
    path: str  # path below the API base URL
    max_page_size: int
    start_param: str = "dataInicial"
    end_param: str = "dataFinal"
    per_modalidade: bool = False  # requires codigoModalidadeContratacao
    daily_volume: int = 0  # default records per day in the simulator (measured)

    def window_params(self, start: date, end: date) -> dict[str, str]:
        return {
            self.start_param: start.strftime(DATE_FORMAT),
            self.end_param: end.strftime(DATE_FORMAT),
        }


ENDPOINTS: dict[str, Endpoint] = {
    e.name: e
    for e in (
        Endpoint("contratos", "/v1/contratos", 500, daily_volume=3_500),
        Endpoint("contratos_atualizacao", "/v1/contratos/atualizacao", 500, daily_volume=3_200),
        Endpoint(
            "contratacoes_publicacao",
            "/v1/contratacoes/publicacao",
            50,
            per_modalidade=True,
            daily_volume=6_600,
        ),
        Endpoint(
            "contratacoes_atualizacao",
            "/v1/contratacoes/atualizacao",
            50,
            per_modalidade=True,
            daily_volume=6_600,
        ),
        Endpoint("atas", "/v1/atas", 500, daily_volume=5_800),
        Endpoint("atas_atualizacao", "/v1/atas/atualizacao", 500, daily_volume=1_000),
    )
}


def endpoint_by_path(path: str) -> Endpoint | None:
    """The endpoint served at `path` (without the API base path), if any."""
    return next((e for e in ENDPOINTS.values() if e.path == path.rstrip("/")), None)
