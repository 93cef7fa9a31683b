"""Re-check archived pages: is the stored body intact, and does PNCP still serve it?

Two comparisons per page, so a divergence says whose it is:

- the stored body (zstd file in the payload store) is decompressed and hashed again; a
  hash other than the recorded `payload_sha256`, an unreadable file or no file at all is
  damage to the archive (corruption, tampering, a lost file);
- the page is fetched again with the parameters it was archived with, and the body is
  hashed exactly as the archive hashes it (sha256 of the bytes as received); a different
  hash over an intact stored body means the data changed upstream since it was archived.

Read-only on the warehouse; the re-fetches go through the same client (rate limit,
retries, circuit breaker) as extraction.
"""

from __future__ import annotations

import asyncio
import json
import math
import random
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import date
from enum import StrEnum
from pathlib import Path

import duckdb
import httpx
import zstandard

from project.lib.pncp import payload_store, progress
from project.lib.pncp.archive import sha256_hex
from project.lib.pncp.client import ClientSettings, PncpClient, PncpError
from project.lib.pncp.endpoints import ENDPOINTS


class Outcome(StrEnum):
    OK = "ok"
    CHANGED_UPSTREAM = "changed upstream"  # stored body intact, PNCP now serves another
    CORRUPTED = "corrupted"  # stored body does not hash to its recorded sha256
    MISSING = "missing"  # no stored body for the recorded sha256
    UNREACHABLE = "unreachable"  # the re-fetch failed; nothing could be compared


ARCHIVE_FAULTS = frozenset({Outcome.CORRUPTED, Outcome.MISSING})


@dataclass(frozen=True)
class StoredPage:
    endpoint: str
    day: date
    modalidade: int
    page: int
    params: dict[str, str]  # as archived: the slice's parameters plus `pagina`
    http_status: int
    sha256: str | None  # None for a 204 (no body)
    record_count: int


@dataclass(frozen=True)
class Verdict:
    page: StoredPage
    outcome: Outcome
    detail: str
    upstream_sha256: str | None = None


def select_pages(
    conn: duckdb.DuckDBPyConnection,
    *,
    first: date | None = None,
    last: date | None = None,
    endpoints: Sequence[str] = (),
    fraction: float = 1.0,
    seed: int = 0,
) -> list[StoredPage]:
    """Archived pages in the date range, a reproducible random `fraction` of them (at least 1)."""
    sql = """SELECT endpoint, ingestion_date, modalidade, page, params, http_status,
                    payload_sha256, record_count
             FROM raw.api_requests WHERE true"""
    args: list[object] = []
    if first:
        sql += " AND ingestion_date >= ?"
        args.append(first)
    if last:
        sql += " AND ingestion_date <= ?"
        args.append(last)
    if endpoints:
        sql += " AND list_contains(?, endpoint)"
        args.append(list(endpoints))
    rows = conn.execute(sql + " ORDER BY ALL", args).fetchall()
    pages = [
        StoredPage(e, d, m, p, json.loads(params), status, sha, count)
        for e, d, m, p, params, status, sha, count in rows
    ]
    if fraction < 1.0 and pages:
        pages = random.Random(seed).sample(pages, max(1, math.ceil(len(pages) * fraction)))
        pages.sort(key=lambda p: (p.day, p.endpoint, p.modalidade, p.page))
    return pages


def check_stored(root: Path, page: StoredPage) -> Verdict | None:
    """A verdict when the stored body is damaged; None when it is intact (or a 204)."""
    if page.sha256 is None:
        return None
    path = payload_store.path_for(root, page.sha256)
    try:
        body = payload_store.read(root, page.sha256)
    except FileNotFoundError:
        return Verdict(page, Outcome.MISSING, f"no stored body at {path}")
    except zstandard.ZstdError as exc:
        return Verdict(page, Outcome.CORRUPTED, f"stored body is not valid zstd ({exc})")
    actual = sha256_hex(body)
    if actual != page.sha256:
        return Verdict(page, Outcome.CORRUPTED, f"stored body hashes to {actual}")
    return None


async def _refetch(client: PncpClient, page: StoredPage, damaged: Verdict | None) -> Verdict:
    verdict = await _compare(client, page, damaged)
    key = (page.endpoint, page.day, page.modalidade, page.page)
    if verdict.outcome is Outcome.OK:
        progress.page(page.record_count, key)
    else:
        progress.failed(key)
    progress.done(key)
    return verdict


async def _compare(client: PncpClient, page: StoredPage, damaged: Verdict | None) -> Verdict:
    endpoint = ENDPOINTS[page.endpoint]
    params = {k: v for k, v in page.params.items() if k != "pagina"}
    try:
        result = await client.fetch_page(endpoint, params, page.page, keep_records=False)
    except (PncpError, httpx.HTTPError) as exc:
        if damaged:
            return damaged
        return Verdict(page, Outcome.UNREACHABLE, str(exc))
    upstream = sha256_hex(result.body) if result.body else None
    if damaged:
        same = upstream == page.sha256
        note = "; PNCP still serves the recorded body" if same else ""
        return Verdict(page, damaged.outcome, damaged.detail + note, upstream)
    if upstream == page.sha256:
        return Verdict(page, Outcome.OK, "", upstream)
    detail = (
        f"HTTP {page.http_status} -> {result.http_status}, "
        f"records {page.record_count} -> {result.record_count}"
    )
    return Verdict(page, Outcome.CHANGED_UPSTREAM, detail, upstream)


async def _verify_all(
    root: Path, pages: Sequence[StoredPage], settings: ClientSettings
) -> list[Verdict]:
    async with PncpClient(settings) as client:
        return list(
            await asyncio.gather(*(_refetch(client, p, check_stored(root, p)) for p in pages))
        )


def verify_pages(
    root: Path, pages: Sequence[StoredPage], settings: ClientSettings
) -> list[Verdict]:
    """One verdict per page, in the order given."""
    return asyncio.run(_verify_all(root, pages, settings))
