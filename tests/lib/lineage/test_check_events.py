"""A check step's OpenLineage run, built from plain data: START, then COMPLETE whose input
(the checked dataset) carries dataQualityAssertions, or FAIL with the error when nothing
was evaluated; every event validates against the vendored spec."""

from __future__ import annotations

import sys
from datetime import UTC, datetime, timedelta
from pathlib import Path

from openlineage.client.serde import Serde

from project.lib.lineage import events
from project.lib.lineage.model import Assertion, AssetLineage, Column, DatasetName

sys.path.insert(0, str(Path(__file__).parents[2] / "lineage"))
import openlineage_spec

CONTEXT = events.RunContext("loc", "0b5e6a5e-0000-4000-8000-000000000001", "__ASSET_JOB", "s")
DATASET = AssetLineage(
    key="shop/levels",
    dataset=DatasetName("file", "/data/levels.parquet"),
    storage="catalog",
    columns=[Column("on_hand", "int64")],
    row_count=30,
)
STARTED = datetime(2024, 7, 1, 12, tzinfo=UTC)


def as_json(run_events: list) -> list[dict]:
    found = [Serde.to_dict(e) for e in run_events]
    for event in found:
        openlineage_spec.validate(event)
        openlineage_spec.parse(event)
    return found


def test_a_check_run_carries_its_assertions_on_the_dataset_it_read() -> None:
    check = events.CheckRun(
        node="shop__levels__quality",
        dataset=DATASET,
        started=STARTED,
        ended=STARTED + timedelta(seconds=2),
        assertions=[
            Assertion("on_hand_not_negative", False, "warn", "on_hand", "range rule"),
            Assertion("completeness_name", True, "error", "name"),
        ],
    )
    start, complete = as_json(events.check_events(CONTEXT, check))
    assert (start["eventType"], complete["eventType"]) == ("START", "COMPLETE")
    assert start["run"]["runId"] == complete["run"]["runId"]
    assert complete["job"]["name"] == "shop__levels__quality"
    [read] = complete["inputs"]
    assert (read["namespace"], read["name"]) == ("file", "/data/levels.parquet")
    assert read["inputFacets"]["dataQualityMetrics"]["rowCount"] == 30
    found = read["inputFacets"]["dataQualityAssertions"]["assertions"]
    assert [(a["assertion"], a["success"], a.get("column")) for a in found] == [
        ("completeness_name", True, "name"),
        ("on_hand_not_negative", False, "on_hand"),
    ]
    assert "dataQualityAssertions" not in start["inputs"][0]["inputFacets"]


def test_a_check_step_that_failed_before_evaluating_is_a_fail_event() -> None:
    check = events.CheckRun(
        node="shop__levels__quality",
        dataset=DATASET,
        started=STARTED,
        ended=STARTED,
        error="DatasetError: dataset 'shop.levels': cannot read /data/levels.parquet",
    )
    _, failed = as_json(events.check_events(CONTEXT, check))
    assert failed["eventType"] == "FAIL"
    assert failed["run"]["facets"]["errorMessage"]["message"].startswith("DatasetError")
    assert "dataQualityAssertions" not in failed["inputs"][0]["inputFacets"]
