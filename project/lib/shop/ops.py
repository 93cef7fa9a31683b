"""The shop's operational tables (`shop_ops`) and its expectation log.

`expectation_log` is the medallion's event log, as Lakeflow keeps one: a row per rule per
dataset per run, with the rows that passed and failed and the rule's action (bronze and
silver warn/drop, gold fail). Silver's rows are written by dbt itself (post-hooks of the
checked models); gold's come from its dbt tests' results, recorded by the Dagster asset.
The DDL matches dbt's `shop_ops_tables` macro (a test keeps the two equal), so whichever
runs first creates the tables.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime

import duckdb

DDL = """
CREATE SCHEMA IF NOT EXISTS shop_ops;
CREATE TABLE IF NOT EXISTS shop_ops.expectation_log (
    run_id VARCHAR, recorded_at TIMESTAMPTZ, layer VARCHAR, dataset VARCHAR, rule VARCHAR,
    action VARCHAR, passed BIGINT, failed BIGINT
);
CREATE TABLE IF NOT EXISTS shop_ops.replay_requests (
    request_id VARCHAR, rule VARCHAR, source VARCHAR, requested_at TIMESTAMPTZ,
    status VARCHAR, run_id VARCHAR
);
CREATE TABLE IF NOT EXISTS shop_ops.silver_watermarks (
    consumer VARCHAR, source VARCHAR, batch BIGINT, run_id VARCHAR, recorded_at TIMESTAMPTZ
);
CREATE TABLE IF NOT EXISTS shop_ops.cdc_watermarks (
    consumer VARCHAR, upstream VARCHAR, mark BIGINT, run_id VARCHAR, recorded_at TIMESTAMPTZ
);
"""
LOG = "shop_ops.expectation_log"


@dataclass(frozen=True)
class RuleResult:
    """One rule's result on one dataset in one run."""

    layer: str
    dataset: str
    rule: str
    action: str
    passed: int
    failed: int


def ensure_tables(conn: duckdb.DuckDBPyConnection) -> None:
    conn.execute(DDL)


def record(conn: duckdb.DuckDBPyConnection, run_id: str, results: list[RuleResult]) -> None:
    """Log `results` for `run_id`, replacing what a retry of the same run logged for them."""
    if not results:
        return
    ensure_tables(conn)
    now = datetime.now(UTC)
    conn.execute("BEGIN TRANSACTION")
    try:
        for r in results:
            conn.execute(
                f"DELETE FROM {LOG} WHERE run_id = ? AND layer = ? AND dataset = ? AND rule = ?",
                [run_id, r.layer, r.dataset, r.rule],
            )
        conn.executemany(
            f"INSERT INTO {LOG} (run_id, recorded_at, layer, dataset, rule, action, passed, "
            "failed) VALUES (?, ?, ?, ?, ?, ?, ?, ?)",
            [[run_id, now, r.layer, r.dataset, r.rule, r.action, r.passed, r.failed]
             for r in results],
        )  # fmt: skip
        conn.execute("COMMIT")
    except BaseException:
        conn.execute("ROLLBACK")
        raise


def results(conn: duckdb.DuckDBPyConnection, run_id: str, layer: str) -> list[RuleResult]:
    """What `run_id` logged for `layer`, by dataset then rule (empty without a log)."""
    exists = conn.execute(
        "SELECT count(*) FROM information_schema.tables WHERE table_catalog = "
        "current_database() AND table_schema = 'shop_ops' AND table_name = 'expectation_log'"
    ).fetchone()[0]
    if not exists:
        return []
    rows = conn.execute(
        f"SELECT layer, dataset, rule, action, passed, failed FROM {LOG} "
        "WHERE run_id = ? AND layer = ? ORDER BY dataset, recorded_at, rule",
        [run_id, layer],
    ).fetchall()
    return [RuleResult(*row) for row in rows]
