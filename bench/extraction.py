"""Extract a full month of all six PNCP endpoints from the simulator with realistic latency.

Target (issue: PNCP extraction): the month at default volume in under 120 s and 500 MB
peak RSS for the extraction process on a 2-core machine. The baseline is the same
extractor one request at a time, run on the first BASELINE_DAYS days (a month of it
would take half an hour); the ratio compares throughput in records per second.
"""

from __future__ import annotations

import os
import re
import sys
import tempfile
from datetime import date, timedelta
from pathlib import Path

from bench.common import Measurement, print_table, run_measured, save, simulator_process
from project.lib.pncp.endpoints import ENDPOINTS

LATENCY_MS = float(os.environ.get("BENCH_LATENCY_MS", "150"))
SCALE = float(os.environ.get("BENCH_SCALE", "1.0"))
DAYS = int(os.environ.get("BENCH_DAYS", "31"))
CONCURRENCY = int(os.environ.get("BENCH_CONCURRENCY", "48"))
BASELINE_DAYS = int(os.environ.get("BENCH_BASELINE_DAYS", "1"))
START = date(2024, 7, 1)


def _extract(base_url: str, days: int, concurrency: int) -> tuple[float, float, int]:
    with tempfile.TemporaryDirectory() as tmp:
        command = [
            sys.executable, "-m", "project.lib.pncp.runner",
            "--warehouse", str(Path(tmp) / "bench.duckdb"), "--base-url", base_url,
            "--start", str(START), "--end", str(START + timedelta(days=days - 1)),
            "--concurrency", str(concurrency),
        ]  # fmt: skip
        for name in ENDPOINTS:
            command += ["--endpoint", name]
        seconds, rss, out = run_measured(command)
    records = sum(int(n) for n in re.findall(r"records=(\d+)", out))
    return seconds, rss, records


def run() -> list[Measurement]:
    with simulator_process("--scale", str(SCALE), "--latency-ms", str(LATENCY_MS)) as url:
        seconds, rss, records = _extract(url, DAYS, CONCURRENCY)
        base_seconds, _, base_records = _extract(url, BASELINE_DAYS, 1)
    result = Measurement(
        workload=f"extract {DAYS}d x6 endpoints, {LATENCY_MS:.0f} ms/page",
        seconds=seconds,
        peak_rss_mb=rss,
        records=records,
        baseline_seconds=base_seconds,
        baseline_records=base_records,
    )
    print_table([result])
    print(
        f"target: < 120 s and < 500 MB -> {'MET' if seconds < 120 and rss < 500 else 'MISSED'}"
        f" ({records} records, baseline {base_records} records one request at a time)"
    )
    return [result]


if __name__ == "__main__":
    save("extraction", run())
