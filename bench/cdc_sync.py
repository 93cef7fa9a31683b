"""One measured table sync of the CDC benchmark, in a process of its own.

Run as `python -m bench.cdc_sync <warehouse file> <database URL> <schema> <table> <mode>
<detect_deletes_every_hours> <now, ISO 8601> [--profile]`: syncs the PostgreSQL table into
the DuckDB warehouse file as an asset does (project/components/database_sources.py): a
warehouse connection with the platform's memory limit (`WAREHOUSE_MEMORY_LIMIT`), the
state table, the source attached READ_ONLY, `sync_table`. `now` is the run's clock as the
sync sees it, so the benchmark decides whether the delete check is due.

Prints as JSON on its last line what the sync reported (rows read, inserted, updated,
deleted, source and target rows, whether deletes were checked), the seconds from opening
the warehouse to closing it (the sync itself: interpreter start-up and imports left out,
the checkpoint at close included) and the process's peak RSS in MB as the kernel counts
it (VmHWM). With `--profile`, each SQL statement's seconds go to stderr.
"""

from __future__ import annotations

import json
import sys
import time
from datetime import datetime
from pathlib import Path

import duckdb

from project.lib import warehouse
from project.lib.cdc.sync import ensure_state, sync_table
from project.lib.datasets.sources import DatabaseSource
from project.settings import load_settings

# What the sync reported, passed on to the benchmark.
REPORTED = (
    "read", "inserted", "updated", "deleted", "deletes_checked",
    "source_rows", "target_rows", "duration_s", "cursor",
)  # fmt: skip


class Timed:
    """A connection that logs how long each statement took (`--profile`)."""

    def __init__(self, conn: duckdb.DuckDBPyConnection) -> None:
        self._conn = conn

    def execute(self, sql: str, *args):
        started = time.monotonic()
        result = self._conn.execute(sql, *args)
        text = " ".join(sql.split())
        print(f"  {time.monotonic() - started:7.2f} s  {text[:150]}", file=sys.stderr)
        return result

    def __getattr__(self, name: str):
        return getattr(self._conn, name)


def source_of(url: str, schema: str, table: str, mode: str, every_hours: float) -> DatabaseSource:
    spec = {"mode": mode, "primary_key": "id"}
    if mode != "snapshot":
        spec |= {"cursor": "updated_at", "lag": 300}
    entry = {
        "type": "sql.DatabaseSource",
        "credentials": "bench",
        "schema": schema,
        "target_schema": "bench",
        "detect_deletes_every_hours": every_hours,
        "tables": {table: spec},
    }
    return DatabaseSource.model_validate(entry).bind("bench.source", lambda: {"con": url})


def peak_rss_mb() -> float:
    for line in Path("/proc/self/status").read_text().splitlines():
        if line.startswith("VmHWM:"):
            return int(line.split()[1]) / 1024
    return 0.0


def main(argv: list[str]) -> dict:
    path, url, schema, table, mode, every, now, *flags = argv
    source = source_of(url, schema, table, mode, float(every))
    config = {"memory_limit": load_settings().warehouse_memory_limit}
    started = time.monotonic()
    with warehouse.connection(Path(path), config=config) as conn:
        conn.execute("SET TimeZone = 'UTC'")
        ensure_state(conn)
        source.attach(conn)
        target = Timed(conn) if "--profile" in flags else conn
        result = sync_table(target, source, table, now=datetime.fromisoformat(now))
    return {
        "sync_s": time.monotonic() - started,
        "vmhwm_mb": peak_rss_mb(),
        **{k: getattr(result, k) for k in REPORTED},
    }


if __name__ == "__main__":
    print(json.dumps(main(sys.argv[1:])))
