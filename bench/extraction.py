"""Extract a full month of all six PNCP endpoints from the simulator with realistic latency.

Target (issue: PNCP extraction): the month at default volume in under 120 s and 500 MB
peak RSS for the extraction process on a 2-core machine. The baseline is the same
extractor one request at a time, run on the first BASELINE_DAYS days (a month of it
would take half an hour); the ratio compares throughput in records per second.

The month runs twice, in the same run: holding the warehouse throughout (`--hold run`:
what a Dagster step does while no other writer waits for the lease) and opening it for
each round of commits (`--hold commit`: what it does when another writer waits at every
round, the worst case), so the cost of giving the warehouse way is a ratio measured on
the same machine, with how long the warehouse was held per endpoint-day in each.
"""

from __future__ import annotations

import os
import re
import sys
import tempfile
from datetime import date, timedelta
from pathlib import Path

from bench.common import (
    Measurement,
    fresh_warehouse,
    print_table,
    run_measured,
    save,
    simulator_process,
)
from project.lib.pncp.endpoints import ENDPOINTS

LATENCY_MS = float(os.environ.get("BENCH_LATENCY_MS", "150"))
SCALE = float(os.environ.get("BENCH_SCALE", "1.0"))
DAYS = int(os.environ.get("BENCH_DAYS", "31"))
CONCURRENCY = int(os.environ.get("BENCH_CONCURRENCY", "48"))
BASELINE_DAYS = int(os.environ.get("BENCH_BASELINE_DAYS", "1"))
START = date(2024, 7, 1)


def extract(
    base_url: str, days: int, concurrency: int, hold: str = "run", backend: str = "file"
) -> tuple[float, float, int, float]:
    """Seconds, peak RSS (MB), records, and seconds the warehouse was held, on a fresh
    warehouse of `backend` (the runner follows the settings, as a Dagster step does)."""
    with (
        tempfile.TemporaryDirectory(prefix="bench-extract-") as tmp,
        fresh_warehouse(backend, Path(tmp)) as scratch,
    ):
        command = [
            sys.executable, "-m", "project.lib.pncp.runner", "--base-url", base_url,
            "--start", str(START), "--end", str(START + timedelta(days=days - 1)),
            "--concurrency", str(concurrency), "--hold", hold,
        ]  # fmt: skip
        for name in ENDPOINTS:
            command += ["--endpoint", name]
        seconds, rss, out = run_measured(command, env=scratch.env)
    records = sum(int(n) for n in re.findall(r"records=(\d+)", out))
    held = re.search(r"held_s=([\d.]+)", out)
    # Held throughout, the warehouse is held for the whole run.
    return seconds, rss, records, float(held.group(1)) if hold == "commit" else seconds


def run() -> list[Measurement]:
    with simulator_process("--scale", str(SCALE), "--latency-ms", str(LATENCY_MS)) as url:
        whole, whole_rss, whole_records, _ = extract(url, DAYS, CONCURRENCY)
        seconds, rss, records, held = extract(url, DAYS, CONCURRENCY, hold="commit")
        base_seconds, _, base_records, _ = extract(url, BASELINE_DAYS, 1)
    workload = f"extract {DAYS}d x6 endpoints, {LATENCY_MS:.0f} ms/page"
    results = [
        Measurement(
            workload=f"{workload}, warehouse {mode}",
            seconds=time_s,
            peak_rss_mb=rss_mb,
            records=count,
            baseline_seconds=base_seconds,
            baseline_records=base_records,
        )
        for mode, time_s, rss_mb, count in (
            ("held throughout", whole, whole_rss, whole_records),
            ("given way every round", seconds, rss, records),
        )
    ]
    print_table(results)
    endpoint_days = DAYS * len(ENDPOINTS)
    print(
        f"warehouse held: {whole:.1f} s throughout ({1000 * whole / endpoint_days:.0f} ms per "
        f"endpoint-day); given way every round, {held:.1f} s of {seconds:.1f} s "
        f"({1000 * held / endpoint_days:.0f} ms per endpoint-day); time given way / held "
        f"throughout = {seconds / whole:.2f}"
    )
    print(
        f"target: < 120 s and < 500 MB -> {'MET' if whole < 120 and whole_rss < 500 else 'MISSED'}"
        f" ({records} records, baseline {base_records} records one request at a time)"
    )
    return results


if __name__ == "__main__":
    save("extraction", run())
