"""`dg` works on the project: `dg check defs`, `dg list defs` and `dg launch`.

dg loads `project.definitions` ([tool.dg.project] in pyproject), the code location that
`dagster dev` serves: the defs folder with project-wide policy applied. The listing is
compared with the reviewed asset-graph snapshot, automation conditions included, which
only the policy sets. Each command is a subprocess from the repository root, as a person
runs it, with a temporary DAGSTER_HOME and data directory.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from collections.abc import Mapping
from pathlib import Path

import dagster as dg
import pytest

from project.settings import PROJECT_ROOT

DG = Path(sys.executable).parent / "dg"
SNAPSHOT = Path(__file__).parent.parent / "snapshots" / "asset_graph.json"
# Children load the whole code location; their code is measured by faster tests.
UNTRACED = ("COVERAGE_PROCESS_CONFIG", "COVERAGE_PROCESS_START")
# Settings that would point the children outside their temporary directories.
UNSET = ("WAREHOUSE_PATH", "EXPORTS_DIR", "DAGSTER_PG_URL", "LOG_FORMAT")

pytestmark = pytest.mark.slow


def run_dg(*args: str, env: Mapping[str, str]) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [str(DG), *args],
        cwd=PROJECT_ROOT,
        env=dict(env),
        capture_output=True,
        text=True,
        timeout=300,
    )


def child_env(**overrides: str) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if k not in UNTRACED + UNSET}
    return {**env, **overrides}


@pytest.fixture(scope="module")
def dg_env(tmp_path_factory: pytest.TempPathFactory) -> dict[str, str]:
    """An environment with its own data directory and a rendered Dagster instance."""
    base = tmp_path_factory.mktemp("dg")
    env = child_env(PLATFORM_DATA_DIR=str(base / "data"), DAGSTER_HOME=str(base / "dagster_home"))
    subprocess.run(
        [sys.executable, "-m", "project.lib.instance"],
        cwd=PROJECT_ROOT,
        env=env,
        check=True,
        capture_output=True,
        timeout=120,
    )
    return env


@pytest.fixture(scope="module")
def listed(dg_env: dict[str, str]) -> dict:
    """`dg list defs --json`, parsed."""
    result = run_dg("list", "defs", "--json", env=dg_env)
    assert result.returncode == 0, result.stderr[-3000:]
    return json.loads(result.stdout)


@pytest.fixture(scope="module")
def snapshot() -> dict:
    return json.loads(SNAPSHOT.read_text())


def test_dg_check_defs_validates_the_code_location(dg_env: dict[str, str]) -> None:
    result = run_dg("check", "defs", env=dg_env)

    assert result.returncode == 0, result.stdout[-3000:] + result.stderr[-3000:]
    assert "All definitions loaded successfully" in result.stdout + result.stderr


def test_dg_list_defs_lists_every_asset_schedule_sensor_and_job(
    listed: dict, snapshot: dict
) -> None:
    assert {a["asset_key"] for a in listed["assets"]} == set(snapshot["assets"])
    assert "pncp/raw/atas" in {a["asset_key"] for a in listed["assets"]}
    assert sorted(s["name"] for s in listed["schedules"]) == snapshot["schedules"]
    assert sorted(s["name"] for s in listed["sensors"]) == snapshot["sensors"]
    assert sorted(j["name"] for j in listed["jobs"]) == snapshot["jobs"]


def test_dg_lists_the_definitions_with_project_policy_applied(listed: dict, snapshot: dict) -> None:
    conditions = {
        a["asset_key"]: (a.get("automation_condition") or {}).get("label") for a in listed["assets"]
    }
    expected = {key: asset["automation_condition"] for key, asset in snapshot["assets"].items()}
    assert any(expected.values())
    assert conditions == expected


def test_dg_launch_materializes_one_raw_partition(
    simulator_env: dict, instance: dg.DagsterInstance
) -> None:
    result = run_dg(
        "launch", "--assets", "pncp/raw/atas", "--partition", "2024-07-08", env=child_env()
    )

    assert result.returncode == 0, result.stdout[-3000:] + result.stderr[-3000:]
    event = instance.get_latest_materialization_event(dg.AssetKey(["pncp", "raw", "atas"]))
    assert event is not None
    assert event.asset_materialization.partition == "2024-07-08"
