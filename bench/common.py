"""Helpers shared by benchmarks: child processes with wall time and peak RSS, result files."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import time
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from dataclasses import asdict, dataclass
from pathlib import Path

RESULTS = Path(__file__).parent / "results"


@dataclass
class Measurement:
    workload: str
    seconds: float
    peak_rss_mb: float
    records: int
    baseline_seconds: float | None = None
    baseline_records: int | None = None

    @property
    def records_per_s(self) -> float:
        return self.records / self.seconds if self.seconds else 0.0

    @property
    def ratio(self) -> float | None:
        """Throughput against the baseline (records/s over records/s)."""
        if not self.baseline_seconds or not self.baseline_records:
            return None
        return self.records_per_s / (self.baseline_records / self.baseline_seconds)


def run_measured(
    command: Sequence[str], env: dict[str, str] | None = None
) -> tuple[float, float, str]:
    """Run a child to completion; return (wall seconds, its peak RSS in MB, stdout)."""
    started = time.monotonic()
    proc = subprocess.Popen(
        list(command), stdout=subprocess.PIPE, text=True, env={**os.environ, **(env or {})}
    )
    stdout = proc.stdout.read()
    _, status, usage = os.wait4(proc.pid, 0)
    proc.returncode = os.waitstatus_to_exitcode(status)
    elapsed = time.monotonic() - started
    if proc.returncode != 0:
        raise RuntimeError(f"{command[:4]} exited {proc.returncode}:\n{stdout[-2000:]}")
    return elapsed, usage.ru_maxrss / 1024, stdout


@contextmanager
def simulator_process(*args: str) -> Iterator[str]:
    """The PNCP simulator in its own process (its CPU is not the extractor's); yields base URL."""
    proc = subprocess.Popen(
        [sys.executable, "-m", "project.lib.pncp.simulator", "--port", "0", *args],
        stdout=subprocess.PIPE,
        text=True,
    )
    try:
        yield proc.stdout.readline().strip()
    finally:
        proc.terminate()
        proc.wait(timeout=30)


def save(name: str, measurements: list[Measurement]) -> Path:
    RESULTS.mkdir(exist_ok=True)
    path = RESULTS / f"{name}.json"
    rows = [{**asdict(m), "records_per_s": m.records_per_s, "ratio": m.ratio} for m in measurements]
    path.write_text(json.dumps({"benchmark": name, "at": time.time(), "results": rows}, indent=2))
    return path


def print_table(measurements: list[Measurement]) -> None:
    print(f"{'workload':<44}{'time s':>9}{'peak MB':>9}{'rec/s':>10}{'base s':>9}{'ratio':>8}")
    for m in measurements:
        base = f"{m.baseline_seconds:.1f}" if m.baseline_seconds else "-"
        ratio = f"{m.ratio:.1f}x" if m.ratio else "-"
        print(
            f"{m.workload:<44}{m.seconds:>9.1f}{m.peak_rss_mb:>9.0f}"
            f"{m.records_per_s:>10.0f}{base:>9}{ratio:>8}"
        )
