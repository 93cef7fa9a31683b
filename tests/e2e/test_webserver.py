"""The web UI's path end to end: `dagster dev`, a launch through GraphQL, the archived data.

The launch is the call the UI's "Materialize" button makes (`launchPipelineExecution` on
the implicit asset job with an asset selection and a `dagster/partition` tag); the run
then goes through the queue, the daemon and a run worker, as in `make dev`.
"""

from __future__ import annotations

import contextlib
import os
import signal
import time
from pathlib import Path

import dagster as dg
import pytest

from project.lib import warehouse
from project.resources.warehouse_lease import STALE_AFTER_S, holders

pytestmark = pytest.mark.slow

DAY = "2024-07-01"
ATAS = ["pncp", "raw", "atas"]

ASSET = """
query Asset($key: AssetKeyInput!, $partition: String!) {
  assetNodeOrError(assetKey: $key) { __typename ... on AssetNode {
    assetMaterializations(partitions: [$partition]) {
      runId partition
      metadataEntries { label ... on IntMetadataEntry { intValue } }
    }
    assetChecksOrError { ... on AssetChecks { checks {
      name executionForLatestMaterialization { runId status }
    } } }
  } }
}
"""


def test_a_materialization_launched_like_the_ui_button_succeeds_and_archives_the_day(
    dagster_dev,
) -> None:
    run_id = dagster_dev.launch(ATAS, DAY)

    assert dagster_dev.wait_for_run(run_id) == "SUCCESS", dagster_dev.tail()
    expected = dagster_dev.expected_records("atas", DAY)
    with warehouse.connection(dagster_dev.warehouse, read_only=True) as conn:
        pages, records, runs = conn.execute(
            """SELECT count(*), sum(record_count), list(DISTINCT run_id)
               FROM raw.api_requests WHERE endpoint = 'atas' AND ingestion_date = ?""",
            [DAY],
        ).fetchone()
    assert records == expected > 0
    assert pages == -(-expected // 500)
    assert runs == [run_id]

    node = dagster_dev.graphql(ASSET, {"key": {"path": ATAS}, "partition": DAY})["assetNodeOrError"]
    (materialization,) = node["assetMaterializations"]
    assert materialization["runId"] == run_id
    assert materialization["partition"] == DAY
    metadata = {e["label"]: e.get("intValue") for e in materialization["metadataEntries"]}
    assert metadata["records_archived"] == expected
    checks = {
        c["name"]: c["executionForLatestMaterialization"]
        for c in node["assetChecksOrError"]["checks"]
    }
    assert {name: c["status"] for name, c in checks.items()} == {
        "records_match_totals": "SUCCEEDED",
        "schema_drift": "SUCCEEDED",
    }
    assert {c["runId"] for c in checks.values()} == {run_id}


STAGING = ["pncp", "staging", "stg_pncp__api_requests"]


def _descendants(pid: int) -> list[int]:
    """`pid` and every process below it (from /proc: the run worker, its steps, dbt)."""
    parents: dict[int, list[int]] = {}
    for stat in Path("/proc").glob("[0-9]*/stat"):
        try:
            fields = stat.read_text().rsplit(")", 1)[1].split()
        except OSError:
            continue
        parents.setdefault(int(fields[1]), []).append(int(stat.parent.name))
    found, todo = [], [pid]
    while todo:
        current = todo.pop()
        found.append(current)
        todo.extend(parents.get(current, []))
    return found


def _holder_pid(home: Path, run_id: str, timeout_s: float = 180) -> int:
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        with dg.DagsterInstance.from_config(str(home)) as instance:
            for holder in holders(instance, "duckdb_warehouse", STALE_AFTER_S):
                if holder.run_id == run_id and holder.record is not None:
                    return holder.record.pid
        time.sleep(0.2)
    raise AssertionError(f"run {run_id} never held the warehouse")


def test_a_ui_run_killed_holding_the_warehouse_does_not_block_the_next_one(
    dagster_dev,
) -> None:
    extraction = dagster_dev.launch(ATAS, "2024-07-02")
    assert dagster_dev.wait_for_run(extraction) == "SUCCESS", dagster_dev.tail()
    victim = dagster_dev.launch(STAGING, "2024-07-01")
    step_pid = _holder_pid(dagster_dev.home, victim)
    time.sleep(1.0)  # dbt under way in the warehouse step
    run_worker = int(Path(f"/proc/{step_pid}/stat").read_text().rsplit(")", 1)[1].split()[1])
    for pid in _descendants(run_worker):  # the machine lost: run worker, step, dbt
        with contextlib.suppress(ProcessLookupError):
            os.kill(pid, signal.SIGKILL)

    again = dagster_dev.launch(STAGING, "2024-07-01")
    assert dagster_dev.wait_for_run(again, timeout_s=300) == "SUCCESS", dagster_dev.tail()
    assert dagster_dev.wait_for_run(victim, timeout_s=60) == "FAILURE"
    with dg.DagsterInstance.from_config(str(dagster_dev.home)) as instance:
        # The daemon may retry the dead run (run_retries): a live holder, never the dead one.
        left = holders(instance, "duckdb_warehouse", STALE_AFTER_S)
    assert [h for h in left if h.run_id == victim or h.dead_reason] == []
    with warehouse.connection(dagster_dev.warehouse, read_only=True) as conn:
        days = conn.execute(
            "SELECT count(DISTINCT ingestion_date) FROM staging.stg_pncp__api_requests"
        ).fetchone()[0]
    assert days >= 1
