"""What extracting some endpoint-days would cost, found out without writing anything.

Each slice (endpoint-day, per modalidade where the endpoint needs one) needs
`ceil(totalRegistros / page size)` requests, one for an empty (204) slice. Slices the
archive already started are planned from the totals it stored with their page 1, minus
the pages it holds; the others cost one page-1 request now, at PNCP's smallest page size
(only the envelope's totals are wanted), through the same client as extraction.
"""

from __future__ import annotations

import asyncio
import math
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import date

import duckdb
import httpx

from project.lib.pncp import progress
from project.lib.pncp.archive import Checkpoint, read_checkpoint
from project.lib.pncp.client import ClientSettings, PncpClient, PncpError
from project.lib.pncp.endpoints import Endpoint
from project.lib.pncp.extract import error_word, request_params, slices_of
from project.lib.pncp.recovery import has_archive

PROBE_PAGE_SIZE = 10  # PNCP's smallest tamanhoPagina


@dataclass(frozen=True)
class SlicePlan:
    endpoint: str
    day: date
    modalidade: int
    records: int | None  # totalRegistros; None when page 1 could not be fetched
    pages: int  # requests the whole slice takes at the endpoint's page size
    archived: int  # of those, pages the archive already holds
    error: str | None = None
    cause: str | None = None  # the error in a word: `ConnectError`, `HTTP 503`

    @property
    def to_fetch(self) -> int:
        return max(0, self.pages - self.archived)


def _pages(endpoint: Endpoint, records: int) -> int:
    return max(1, math.ceil(records / endpoint.max_page_size))


async def _probe(client: PncpClient, endpoint: Endpoint, day: date, modalidade: int) -> SlicePlan:
    params = request_params(endpoint, day, modalidade)
    key = (endpoint.name, day, modalidade)
    try:
        result = await client.fetch_page(
            endpoint, params, 1, min(PROBE_PAGE_SIZE, endpoint.max_page_size), keep_records=False
        )
    except (PncpError, httpx.HTTPError) as exc:
        progress.failed(key)
        progress.done(key)
        return SlicePlan(endpoint.name, day, modalidade, None, 1, 0, str(exc), error_word(exc))
    records = result.total_records
    progress.page(records, key)
    progress.done(key)
    return SlicePlan(endpoint.name, day, modalidade, records, _pages(endpoint, records), 0)


def _from_archive(
    endpoint: Endpoint, day: date, modalidade: int, checkpoint: Checkpoint
) -> SlicePlan:
    records, total_pages = checkpoint.totals[modalidade]
    held = sum(1 for m, _ in checkpoint.pages if m == modalidade)
    return SlicePlan(endpoint.name, day, modalidade, records, max(1, total_pages), held)


async def _plan_all(
    checkpoints: dict[tuple[str, date], Checkpoint],
    settings: ClientSettings,
    work: Sequence[tuple[Endpoint, date]],
) -> list[SlicePlan]:
    async with PncpClient(settings) as client:
        plans: list[SlicePlan | asyncio.Future[SlicePlan]] = []
        for endpoint, day in work:
            checkpoint = checkpoints.get((endpoint.name, day), Checkpoint())
            for modalidade in slices_of(endpoint):
                if modalidade in checkpoint.totals:
                    plans.append(_from_archive(endpoint, day, modalidade, checkpoint))
                    progress.done((endpoint.name, day, modalidade))
                else:
                    plans.append(asyncio.ensure_future(_probe(client, endpoint, day, modalidade)))
        return [p if isinstance(p, SlicePlan) else await p for p in plans]


def read_checkpoints(
    conn: duckdb.DuckDBPyConnection, work: Sequence[tuple[Endpoint, date]]
) -> dict[tuple[str, date], Checkpoint]:
    """What the archive holds of each (endpoint, day); read-only, and none without an archive."""
    if not has_archive(conn):
        return {}
    return {(e.name, d): read_checkpoint(conn, e.name, d) for e, d in work}


def plan_extraction(
    checkpoints: dict[tuple[str, date], Checkpoint],
    settings: ClientSettings,
    work: Sequence[tuple[Endpoint, date]],
) -> list[SlicePlan]:
    """One plan per slice of each (endpoint, day), in order of `work` and modalidade."""
    return asyncio.run(_plan_all(checkpoints, settings, work))
