"""Serving pages: PNCP's envelope around exactly the records a page holds.

Totals come from `Portal.count`, which renders nothing; a page renders only its own
slice of the day (records are independent, see `feeds`), so the first page of a day is
as fast as any other and a month pulled in any order renders each record once. Bodies
are kept in a byte-bounded LRU, so retries of a failed page cost nothing; concurrent
requests for the same page wait for one render instead of repeating it.
"""

from __future__ import annotations

import math
import threading
from collections import OrderedDict
from datetime import timedelta

from project.simulators.pncp.drift import SchemaDrift, drifted
from project.simulators.pncp.feeds import Portal
from project.simulators.pncp.params import PageQuery

PageKey = tuple[PageQuery, tuple[SchemaDrift, ...]]


class PageStore:
    """Page bodies of one portal, over a memory-bounded cache."""

    def __init__(self, portal: Portal, max_bytes: int) -> None:
        self.portal = portal
        self.max_bytes = max_bytes
        self._pages: OrderedDict[PageKey, bytes | None] = OrderedDict()
        self._bytes = 0
        self._lock = threading.Lock()
        self._rendering: dict[PageKey, threading.Lock] = {}

    def page(self, query: PageQuery, drifts: tuple[SchemaDrift, ...] = ()) -> bytes | None:
        """The page's body in PNCP's envelope, or None for PNCP's 204 (nothing there)."""
        key = (query, drifts)
        with self._lock:
            if key in self._pages:
                self._pages.move_to_end(key)
                return self._pages[key]
            rendering = self._rendering.setdefault(key, threading.Lock())
        with rendering:
            with self._lock:
                if key in self._pages:
                    return self._pages[key]
            body = self._render(query, drifts)
            with self._lock:
                self._store(key, body)
                self._rendering.pop(key, None)
        return body

    def _render(self, query: PageQuery, drifts: tuple[SchemaDrift, ...]) -> bytes | None:
        name = query.endpoint.name
        days = [query.start + timedelta(n) for n in range((query.end - query.start).days + 1)]
        counts = [self.portal.count(name, day, query.modalidade) for day in days]
        total = sum(counts)
        pages = math.ceil(total / query.size)
        if query.page > pages:
            return None
        first = (query.page - 1) * query.size
        last = min(first + query.size, total)
        records: list[str] = []
        offset = 0  # of the day within the window
        for day, count in zip(days, counts, strict=True):
            if offset + count > first and offset < last:
                start, stop = max(first - offset, 0), min(last - offset, count)
                rendered = self.portal.records(name, day, query.modalidade, start, stop)
                applicable = tuple(d for d in drifts if d.applies(name, day))
                if applicable:
                    rendered = [drifted(r, applicable) for r in rendered]
                records += rendered
            offset += count
            if offset >= last:
                break
        return (
            f'{{"data":[{",".join(records)}],"totalRegistros":{total},"totalPaginas":{pages},'
            f'"numeroPagina":{query.page},"paginasRestantes":{pages - query.page},"empty":false}}'
        ).encode()

    def _store(self, key: PageKey, body: bytes | None) -> None:
        self._pages[key] = body
        self._bytes += len(body or b"")
        while self._bytes > self.max_bytes and len(self._pages) > 1:
            _, evicted = self._pages.popitem(last=False)
            self._bytes -= len(evicted or b"")
