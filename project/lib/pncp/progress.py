"""Progress of PNCP work as it happens: pages, records, failures, endpoint-days done.

Extraction, planning and verification report here, and whoever watches (the `pncp`
command line draws a progress display from it) subscribes with `watching`. A report
nobody watches costs one empty loop. A process-wide list rather than a callback threaded
through every call because an extraction launched by the command line runs inside a
Dagster run in the same process: the asset's code cannot be handed a callback by the
command that launched the run, but it runs in the same process as the subscriber.

Events: `page` (a page archived, fetched or checked; `records` its record count),
`failed` (pages given up on), `done` (a unit finished: an endpoint-day, a planned slice).
Units and failed pages are counted by key, so a step that Dagster retries does not count
its endpoint-days twice, and a page that failed and then was archived is no error any more.
"""

from __future__ import annotations

import threading
from collections.abc import Hashable, Iterable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field


@dataclass
class Tally:
    """Running totals a display reads; updated under a lock (reports come from run threads)."""

    pages: int = 0
    records: int = 0
    finished: set[Hashable] = field(default_factory=set)
    failing: set[Hashable] = field(default_factory=set)

    def __post_init__(self) -> None:
        self._lock = threading.Lock()

    def page(self, records: int, key: Hashable | None) -> None:
        with self._lock:
            self.pages += 1
            self.records += records
            self.failing.discard(key)

    def failed(self, keys: Iterable[Hashable]) -> None:
        with self._lock:
            self.failing.update(keys)

    def done(self, key: Hashable) -> None:
        with self._lock:
            self.finished.add(key)

    def snapshot(self) -> tuple[int, int, int, int]:
        """(units done, pages, records, pages failing now)."""
        with self._lock:
            return len(self.finished), self.pages, self.records, len(self.failing)


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


def page(records: int, key: Hashable | None = None) -> None:
    """A page fetched, archived or checked; `key` names it (a failure of it is over)."""
    for tally in _watchers:
        tally.page(records, key)


def failed(*keys: Hashable) -> None:
    """Pages given up on, by key."""
    for tally in _watchers:
        tally.failed(keys)


def done(key: Hashable) -> None:
    """A unit of work finished (an endpoint-day, a planned slice, a checked page)."""
    for tally in _watchers:
        tally.done(key)
