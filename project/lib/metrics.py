"""`meta.pipeline_metrics`: one row per metric of an asset partition in a run.

A platform table, not a capability's: the `pipeline_metrics` sensor
(`project.defs.ops.metrics`) copies every asset's run metrics into it, and a capability
may add metrics of its own (PNCP's extraction records its page and byte counts). The
table is created on first use by `record_metrics`, so no capability's schema setup has to
know about it; `ensure_metrics_table` is there for whoever wants it earlier.
"""

from __future__ import annotations

from datetime import UTC, datetime

import duckdb

from project.lib import warehouse

DDL = """
CREATE SCHEMA IF NOT EXISTS meta;
CREATE TABLE IF NOT EXISTS meta.pipeline_metrics (
    run_id VARCHAR,
    asset VARCHAR NOT NULL,
    partition_key VARCHAR,
    metric VARCHAR NOT NULL,
    value DOUBLE NOT NULL,
    recorded_at TIMESTAMP NOT NULL
);
"""


def ensure_metrics_table(conn: duckdb.DuckDBPyConnection) -> None:
    """Create `meta.pipeline_metrics` (and the `meta` schema) if missing; idempotent."""
    warehouse.create_tables(conn, DDL)


def record_metrics(
    conn: duckdb.DuckDBPyConnection,
    run_id: str | None,
    asset: str,
    partition_key: str | None,
    metrics: dict[str, float],
) -> None:
    """Append `metrics` of `asset` (one partition, or a range as text) measured in `run_id`."""
    if not metrics:
        return
    ensure_metrics_table(conn)
    now = datetime.now(UTC).replace(tzinfo=None)
    conn.executemany(
        "INSERT INTO meta.pipeline_metrics VALUES (?, ?, ?, ?, ?, ?)",
        [(run_id, asset, partition_key, name, float(v), now) for name, v in metrics.items()],
    )
