"""Progress of PNCP work as it happens: pages, records, failures, endpoint-days done.

Extraction, planning and verification report here, and whoever watches (the `pncp`
command line draws a progress display from it) subscribes with `watching`. A report
nobody watches costs one empty loop. A process-wide list rather than a callback threaded
through every call because an extraction launched by the command line runs inside a
Dagster run in the same process: the asset's code cannot be handed a callback by the
command that launched the run, but it runs in the same process as the subscriber.

Events: `page` (a page archived, fetched or checked; `records` its record count),
`failed` (pages given up on), `done` (a unit finished: an endpoint-day, a planned slice).
"""

from __future__ import annotations

import threading
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass


@dataclass
class Tally:
    """Running totals a display reads; updated under a lock (reports come from run threads)."""

    done: int = 0
    pages: int = 0
    records: int = 0
    errors: int = 0

    def __post_init__(self) -> None:
        self._lock = threading.Lock()

    def add(self, done: int = 0, pages: int = 0, records: int = 0, errors: int = 0) -> None:
        with self._lock:
            self.done += done
            self.pages += pages
            self.records += records
            self.errors += errors

    def snapshot(self) -> tuple[int, int, int, int]:
        with self._lock:
            return self.done, self.pages, self.records, self.errors


_watchers: list[Tally] = []


@contextmanager
def watching(tally: Tally | None = None) -> Iterator[Tally]:
    """Collect every report made in this process while the block runs into `tally`."""
    tally = tally if tally is not None else Tally()
    _watchers.append(tally)
    try:
        yield tally
    finally:
        _watchers.remove(tally)


def page(records: int) -> None:
    for tally in _watchers:
        tally.add(pages=1, records=records)


def failed(pages: int = 1) -> None:
    for tally in _watchers:
        tally.add(errors=pages)


def done(units: int = 1) -> None:
    for tally in _watchers:
        tally.add(done=units)
