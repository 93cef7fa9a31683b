"""One measured table sync of the CDC benchmark, in a process of its own.

Run as `python -m bench.cdc_sync <warehouse file> <database URL> <schema> <table> <mode>
<detect_deletes_every_hours> <now, ISO 8601> [--profile | --floor]`: syncs the PostgreSQL
table into the DuckDB warehouse file as an asset does
(project/components/database_sources.py): a warehouse connection with the platform's
memory limit (`WAREHOUSE_MEMORY_LIMIT`), the state table, the source attached READ_ONLY,
`sync_table`. `now` is the run's clock as the sync sees it, so the benchmark decides
whether the delete check is due.

Prints as JSON on its last line what the sync reported (rows read, inserted, updated,
deleted, source and target rows, whether deletes were checked), the seconds from opening
the warehouse to closing it (the sync itself: interpreter start-up and imports left out,
the checkpoint at close included), those seconds by phase (`open` the warehouse, `attach`
the source, `sync_table`, `close`: the checkpoint), and the process's peak RSS in MB as
the kernel counts it (VmHWM). With `--profile`, each SQL statement's seconds go to
stderr. With `--floor`, no sync: the same warehouse opened, the source attached, and only
what an incremental run cannot avoid reading (`floor`), so the benchmark can say how fast
a sync could possibly be.
"""

from __future__ import annotations

import json
import sys
import time
from datetime import datetime
from pathlib import Path

import duckdb

from project.lib import warehouse
from project.lib.cdc.sync import _read, _Table, ensure_state, sync_table
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


class Phases:
    """Seconds spent in each phase of the child, in order."""

    def __init__(self) -> None:
        self.seconds: dict[str, float] = {}
        self.started = self._clock = time.monotonic()

    def end(self, name: str) -> None:
        now = time.monotonic()
        self.seconds[name] = round(now - self._clock, 3)
        self._clock = now


def main(argv: list[str]) -> dict:
    path, url, schema, table, mode, every, now, *flags = argv
    source = source_of(url, schema, table, mode, float(every))
    config = {"memory_limit": load_settings().warehouse_memory_limit}
    phases = Phases()
    conn = warehouse.connect(Path(path), config=config)
    try:
        conn.execute("SET TimeZone = 'UTC'")
        ensure_state(conn)
        phases.end("open")
        source.attach(conn)
        phases.end("attach")
        if "--floor" in flags:
            reported = floor(conn, source, table, phases)
        else:
            target = Timed(conn) if "--profile" in flags else conn
            result = sync_table(target, source, table, now=datetime.fromisoformat(now))
            phases.end("sync_table")
            reported = {k: getattr(result, k) for k in REPORTED}
    finally:
        conn.close()
    phases.end("close")  # the checkpoint: what was committed, written to the file
    return {
        "sync_s": time.monotonic() - phases.started,
        "phases": phases.seconds,
        "vmhwm_mb": peak_rss_mb(),
        **reported,
    }


def floor(conn: duckdb.DuckDBPyConnection, source: DatabaseSource, table: str, phases) -> dict:
    """`--floor`: only what any incremental run must read, nothing written: the rows from
    the last position minus the lag (as the sync reads them), and the key column of the
    whole table (the least a delete check transfers: summed, so no key is left unread)."""
    position = conn.execute(
        "SELECT cursor_value FROM meta.cdc_state WHERE source_table = ?", [table]
    ).fetchone()[0]
    types = dict(
        conn.execute(
            "SELECT column_name, data_type FROM duckdb_columns() WHERE database_name = 'src' "
            "AND schema_name = ? AND table_name = ?",
            [source.schema_name, table],
        ).fetchall()
    )
    spec = source.tables[table]
    _read(conn, _Table(source, table, spec), types, position)
    read = conn.execute("SELECT count(*) FROM batch").fetchone()[0]
    phases.end("read_changes")
    key = f'"{spec.primary_key}"'
    conn.execute(f'SELECT sum({key}) FROM src."{source.schema_name}"."{table}"').fetchall()
    phases.end("read_keys")
    return {"read": read}


if __name__ == "__main__":
    print(json.dumps(main(sys.argv[1:])))
