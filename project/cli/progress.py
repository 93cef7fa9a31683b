"""Progress of a long command, on stderr: a live display on a terminal, plain lines otherwise.

stdout stays the command's result (a summary, a table, JSON), as before. On a terminal,
rich (which typer brings) draws one bar per stage with units done (endpoint-days,
slices, pages, assets, bytes), pages, records and errors, and an ETA; when stderr is a
pipe or a file (CI, cron, `2>log`), the same figures go out as one plain line every
`pncp --progress-every SECONDS` (default 10), plus one when the stage starts and one when
it ends, so a log shows that a command lives and how far it is:

    progress: run 2024-07: extract: 12/31 endpoint-days, 96 pages, 41,230 records,
    0 errors, 25 s, ETA 40 s            (one line)

Figures come from `project.lib.pncp.progress` (extraction, planning and verification
report there as they work, in this process, Dagster runs included) or from a `poll`
callable for work that reports nothing itself (a dbt build's materializations read from
the run's event log, the bytes a backup has written so far).
"""

from __future__ import annotations

import contextlib
import sys
import threading
import time
from collections.abc import Callable
from types import TracebackType
from typing import Self

from project.lib.pncp import progress as reports

Poll = Callable[[], tuple[int, int, int, int]]  # (done, pages, records, errors)


def _duration(seconds: float) -> str:
    seconds = round(seconds)
    if seconds < 60:
        return f"{seconds} s"
    minutes, seconds = divmod(seconds, 60)
    if minutes < 60:
        return f"{minutes} min {seconds:02d} s"
    hours, minutes = divmod(minutes, 60)
    return f"{hours} h {minutes:02d} min"


class Progress:
    """One stage of a command: `with Progress("extract 2024-07", 31, "endpoint-days"):`.

    `live` (default: stderr is a terminal) picks the rich display; otherwise plain lines
    every `every_s` seconds. `show` lists which of pages/records/errors the stage has.
    """

    def __init__(
        self,
        label: str,
        total: int | None,
        unit: str,
        *,
        every_s: float = 10.0,
        poll: Poll | None = None,
        live: bool | None = None,
        show: tuple[str, ...] = ("pages", "records", "errors"),
    ) -> None:
        self.label = label
        self.total = total
        self.unit = unit
        self.every_s = max(0.1, every_s)
        self.poll = poll
        self.live = sys.stderr.isatty() if live is None else live
        self.show = show
        self.tally = reports.Tally()
        self._watch = reports.watching(self.tally)
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None
        self._started = 0.0
        self._rich = None
        self._task = None
        self._polled = (0, 0, 0, 0)

    # --- figures ------------------------------------------------------------------------

    def figures(self) -> tuple[int, int, int, int]:
        if self.poll is not None:
            # A display must never fail what it shows: on an error, the last figures stay.
            with contextlib.suppress(Exception):
                self._polled = self.poll()
            return self._polled
        return self.tally.snapshot()

    def line(self, final: bool = False) -> str:
        done, pages, records, errors = self.figures()
        elapsed = time.monotonic() - self._started
        of = f"/{self.total}" if self.total is not None else ""
        parts = [f"{done:,}{of} {self.unit}"]
        if "pages" in self.show:
            parts.append(f"{pages:,} pages")
        if "records" in self.show:
            parts.append(f"{records:,} records")
        if "errors" in self.show:
            parts.append(f"{errors:,} errors")
        parts.append(_duration(elapsed))
        if final:
            parts[-1] = f"done in {_duration(elapsed)}"
        elif self.total and done:
            parts.append(f"ETA {_duration(elapsed / done * max(0, self.total - done))}")
        return f"progress: {self.label}: {', '.join(parts)}"

    # --- display ------------------------------------------------------------------------

    def __enter__(self) -> Self:
        self._watch.__enter__()
        self._started = time.monotonic()
        if self.live:
            self._start_rich()
        else:
            self._print(self.line())
        self._thread = threading.Thread(target=self._tick, name="pncp-progress", daemon=True)
        self._thread.start()
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self._stop.set()
        if self._thread is not None:
            self._thread.join()
        self._watch.__exit__(exc_type, exc, tb)
        if self._rich is not None:
            self._update_rich()
            self._rich.stop()
        else:
            self._print(self.line(final=True))

    def _tick(self) -> None:
        interval = 0.5 if self.live else self.every_s
        while not self._stop.wait(interval):
            if self._rich is not None:
                self._update_rich()
            else:
                self._print(self.line())

    @staticmethod
    def _print(text: str) -> None:
        print(text, file=sys.stderr, flush=True)

    def _start_rich(self) -> None:
        from rich.console import Console
        from rich.progress import (
            BarColumn,
            MofNCompleteColumn,
            TextColumn,
            TimeElapsedColumn,
            TimeRemainingColumn,
        )
        from rich.progress import (
            Progress as RichProgress,
        )

        self._rich = RichProgress(
            TextColumn("[bold]{task.description}"),
            BarColumn(bar_width=20),
            MofNCompleteColumn(),
            TextColumn(f"{self.unit}"),
            TextColumn("{task.fields[figures]}"),
            TimeElapsedColumn(),
            TextColumn("ETA"),
            TimeRemainingColumn(),
            console=Console(stderr=True),
            transient=False,
        )
        self._rich.start()
        self._task = self._rich.add_task(self.label, total=self.total, figures="")

    def _update_rich(self) -> None:
        done, pages, records, errors = self.figures()
        shown = {"pages": f"{pages:,} pages", "records": f"{records:,} records"}
        shown["errors"] = f"{errors:,} errors"
        figures = ", ".join(shown[name] for name in self.show)
        self._rich.update(self._task, completed=done, figures=figures)
