"""PNCP's request rules: which parameters an endpoint needs and what it rejects.

Mirrors the live API: a missing or malformed parameter is 400, `tamanhoPagina` outside
10..max is 400 (absent means the endpoint's max), a window over 365 days (or ending
before it starts) is 422. Unknown parameters and optional filters are accepted and
ignored, as they narrow nothing the simulator needs to reproduce.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date, datetime

from project.lib.pncp.endpoints import DATE_FORMAT, Endpoint

BASE_PATH = "/api/consulta"
MIN_PAGE_SIZE = 10
MAX_WINDOW_DAYS = 365
MODALIDADE_PARAM = "codigoModalidadeContratacao"


class QueryError(Exception):
    """A request PNCP would refuse, with the status it would answer."""

    def __init__(self, status: int, message: str) -> None:
        super().__init__(message)
        self.status = status
        self.message = message


@dataclass(frozen=True)
class PageQuery:
    endpoint: Endpoint
    start: date
    end: date
    modalidade: int | None
    page: int
    size: int


def parse_query(endpoint: Endpoint, params: dict[str, list[str]]) -> PageQuery:
    """The page a request asks for, or `QueryError` as PNCP would answer it."""
    start_text = _required(params, endpoint.start_param, "String")
    end_text = _required(params, endpoint.end_param, "String")
    page_text = _required(params, "pagina", "Integer")
    modalidade_text = (
        _required(params, MODALIDADE_PARAM, "Long") if endpoint.per_modalidade else None
    )
    start = parse_date(start_text, endpoint.start_param)
    end = parse_date(end_text, endpoint.end_param)
    page = _integer(page_text, "pagina")
    if page < 1:
        raise QueryError(400, "pagina: deve ser maior que ou igual a 1")
    size_text = _optional(params, "tamanhoPagina")
    size = endpoint.max_page_size if size_text is None else _integer(size_text, "tamanhoPagina")
    if not MIN_PAGE_SIZE <= size <= endpoint.max_page_size:
        raise QueryError(
            400,
            f"tamanhoPagina: deve estar entre {MIN_PAGE_SIZE} e {endpoint.max_page_size}",
        )
    modalidade = None if modalidade_text is None else _integer(modalidade_text, MODALIDADE_PARAM)
    if end < start:
        raise QueryError(422, "Data Final deve ser maior ou igual à Data Inicial")
    if (end - start).days > MAX_WINDOW_DAYS:
        raise QueryError(422, f"Período de consulta não pode ser superior a {MAX_WINDOW_DAYS} dias")
    return PageQuery(endpoint, start, end, modalidade, page, size)


def parse_date(text: str, name: str) -> date:
    """`yyyyMMdd`, strictly: PNCP refuses ISO dates and other separators."""
    if len(text) != 8 or not text.isdigit():
        raise QueryError(400, f"{name}: data inválida '{text}', formato esperado yyyyMMdd")
    try:
        return datetime.strptime(text, DATE_FORMAT).date()
    except ValueError:
        raise QueryError(400, f"{name}: data inválida '{text}'") from None


def _optional(params: dict[str, list[str]], name: str) -> str | None:
    values = params.get(name)
    return values[0].strip() if values else None


def _required(params: dict[str, list[str]], name: str, java_type: str) -> str:
    value = _optional(params, name)
    if not value:  # Spring's wording, as the live API answers it
        raise QueryError(
            400,
            f"Required request parameter '{name}' for method parameter type {java_type} "
            "is not present",
        )
    return value


def _integer(text: str, name: str) -> int:
    try:
        return int(text)
    except ValueError:
        raise QueryError(400, f"{name}: valor inválido '{text}'") from None
