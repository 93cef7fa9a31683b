"""The web UI's path end to end: `dagster dev`, a launch through GraphQL, the archived data.

The launch is the call the UI's "Materialize" button makes (`launchPipelineExecution` on
the implicit asset job with an asset selection and a `dagster/partition` tag); the run
then goes through the queue, the daemon and a run worker, as in `make dev`.
"""

from __future__ import annotations

import pytest

from project.lib import warehouse

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
