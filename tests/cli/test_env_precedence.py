"""One precedence in every entry point: `pncp` and `dagster` resolve a `.env` alike.

Dagster's commands load the `.env` of their working directory over the process
environment; the project's settings do the same (`project.settings`). With a `.env` that
sets PLATFORM_DATA_DIR and a different value in the environment, a `pncp` command and a
`dagster` command started from that directory write into one warehouse, the `.env` one.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import dagster as dg
import pytest

from project.lib import warehouse

BIN = Path(sys.executable).parent
IN_PROCESS = json.dumps({"execution": {"config": {"in_process": {}}}})


def _run(argv: list[str], cwd: Path, env: dict[str, str]) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        argv, cwd=cwd, env=env, capture_output=True, text=True, timeout=600, check=False
    )


def _archived_days(path: Path, endpoint: str) -> set[str]:
    with warehouse.connection(path, read_only=True) as conn:
        rows = conn.execute(
            "SELECT DISTINCT ingestion_date::VARCHAR FROM raw.api_requests WHERE endpoint = ?",
            [endpoint],
        ).fetchall()
    return {day for (day,) in rows}


@pytest.mark.slow
def test_pncp_and_dagster_write_the_warehouse_of_the_working_directory_env_file(
    tmp_path: Path, simulator_env: dict, instance: dg.DagsterInstance
) -> None:
    from_file, from_environment = tmp_path / "data_from_env_file", tmp_path / "data_from_environ"
    work = tmp_path / "work"
    work.mkdir()
    (work / ".env").write_text(f"PLATFORM_DATA_DIR={from_file}\n")
    env = {**os.environ, "PLATFORM_DATA_DIR": str(from_environment), "COLUMNS": "200"}

    cli = _run([str(BIN / "pncp"), "extract", "--day", "2024-07-08", "-e", "atas"], work, env)
    assert cli.returncode == 0, cli.stdout + cli.stderr
    dagster = _run(
        [str(BIN / "dagster"), "asset", "materialize", "-m", "project.definitions",
         "--select", "pncp/raw/atas", "--partition", "2024-07-09", "--config-json", IN_PROCESS],
        work, env,
    )  # fmt: skip
    assert dagster.returncode == 0, dagster.stdout[-3000:] + dagster.stderr[-3000:]

    assert _archived_days(from_file / "warehouse.duckdb", "atas") == {"2024-07-08", "2024-07-09"}
    assert not from_environment.exists()
    # pncp can still see both values, and says which one it used.
    assert (
        f"PLATFORM_DATA_DIR is set in the environment ({str(from_environment)!r}) and in "
        f"{work / '.env'} ({str(from_file)!r}): the .env value is used"
    ) in cli.stderr
    assert {r.status for r in instance.get_runs()} == {dg.DagsterRunStatus.SUCCESS}
