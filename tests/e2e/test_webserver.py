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


def _parent(pid: int) -> int:
    return int(Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[1])


def _run_worker(step_pid: int) -> int:
    """The run worker of step `step_pid`: its parent, or its parent's parent when the step
    was forked from the run's fork server (project/defs/ops/runtime.py)."""
    parent = _parent(step_pid)
    if b"forkserver" in Path(f"/proc/{parent}/cmdline").read_bytes():
        return _parent(parent)
    return parent


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
    run_worker = _run_worker(step_pid)
    for pid in _descendants(run_worker):  # the machine lost: run worker, fork server, step, dbt
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


CONTRATOS = ["pncp", "raw", "contratos"]
MART = ["pncp", "marts", "contratos_mes"]
MONTH = "2024-07-01"  # the monthly partition of July 2024
TRANSFORMATION_GROUPS = ("pncp_staging", "pncp_intermediate", "pncp_marts")

# What the asset page's Overview asks for its "Columns" section and row count: the
# definition's metadata and the latest materialization's (AssetNodeOverview in the UI
# shows the materialization's `dagster/column_schema`, with descriptions from the
# definition's, and the materialization's `dagster/row_count`).
MART_METADATA = """
fragment Entries on MetadataEntry {
  label __typename
  ... on TableSchemaMetadataEntry { schema { columns { name type description } } }
  ... on IntMetadataEntry { intValue }
}
query Mart($key: AssetKeyInput!) {
  assetNodeOrError(assetKey: $key) { __typename ... on AssetNode {
    metadataEntries { ...Entries }
  } }
  assetOrError(assetKey: $key) { __typename ... on Asset {
    assetMaterializations(limit: 1) { runId partition metadataEntries { ...Entries } }
  } }
}
"""


def _entry(entries: list[dict], label: str, typename: str) -> dict | None:
    return next((e for e in entries if e["label"] == label and e["__typename"] == typename), None)


def test_the_mart_shows_a_type_for_every_column_and_its_row_count_after_a_ui_run(
    dagster_dev,
) -> None:
    extraction = dagster_dev.launch(CONTRATOS, "2024-07-01")
    assert dagster_dev.wait_for_run(extraction) == "SUCCESS", dagster_dev.tail()
    transformation = dagster_dev.launch_assets(
        dagster_dev.group_assets(*TRANSFORMATION_GROUPS), MONTH
    )
    assert dagster_dev.wait_for_run(transformation, timeout_s=420) == "SUCCESS", dagster_dev.tail()

    with warehouse.connection(dagster_dev.warehouse, read_only=True) as conn:
        table_columns = conn.execute(
            """SELECT column_name, data_type FROM information_schema.columns
               WHERE table_catalog = current_database()
                 AND table_schema = 'marts' AND table_name = 'contratos_mes'
               ORDER BY ordinal_position"""
        ).fetchall()
        (rows,) = conn.execute("SELECT count(*) FROM marts.contratos_mes").fetchone()
    assert rows > 0
    assert len(table_columns) > 20

    data = dagster_dev.graphql(MART_METADATA, {"key": {"path": MART}})
    (latest,) = data["assetOrError"]["assetMaterializations"]
    assert (latest["runId"], latest["partition"]) == (transformation, MONTH)
    shown = _entry(latest["metadataEntries"], "dagster/column_schema", "TableSchemaMetadataEntry")
    assert shown is not None, latest["metadataEntries"]
    columns = shown["schema"]["columns"]
    assert [c for c in columns if not c["type"].strip()] == []
    assert [(c["name"], c["type"]) for c in columns] == table_columns
    row_count = _entry(latest["metadataEntries"], "dagster/row_count", "IntMetadataEntry")
    assert row_count is not None, latest["metadataEntries"]
    assert row_count["intValue"] == rows

    # The definition's columns (from dbt's manifest, untyped) only lend the UI their
    # descriptions: every one of them is a column the materialization types.
    definition = data["assetNodeOrError"]["metadataEntries"]
    declared = _entry(definition, "dagster/column_schema", "TableSchemaMetadataEntry")
    assert declared is not None
    assert {c["name"] for c in declared["schema"]["columns"]} <= {c["name"] for c in columns}
    assert all(c["description"] for c in columns)
