"""The command line end to end, as CI and the README run it: `dagster asset materialize`.

A fresh temporary instance and warehouse, the session's PNCP simulator, and the two
selections of the pipeline (`project.defs.pncp.selections`): one day of every raw
endpoint, then the month of every model and export built on it. Each command is a real
subprocess; the test then reads the runs from the instance and the data from the
warehouse and the export files.
"""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import dagster as dg
import pytest

from project.defs.pncp import selections
from project.lib import warehouse
from project.lib.pncp.endpoints import ENDPOINTS
from project.settings import PROJECT_ROOT, load_settings

pytestmark = pytest.mark.slow

DAY = "2024-07-01"  # also the key of its month's partition
DAGSTER = str(Path(sys.executable).parent / "dagster")
# Steps run in the run's own process: with the default multiprocess executor each step
# first spends 5-20 s importing Dagster and the code location in a fresh subprocess,
# which made this test take 4-7 minutes. The webserver and browser tests cover that path.
IN_PROCESS = json.dumps({"execution": {"config": {"in_process": {}}}})


def _run(
    instance: dg.DagsterInstance, selection: str, partition: str, environ: dict[str, str]
) -> subprocess.CompletedProcess[str]:
    """`dagster asset materialize` against `instance`, run to completion."""
    env = {**environ, "DAGSTER_HOME": str(instance.root_directory)}
    return subprocess.run(
        [DAGSTER, "asset", "materialize", "-m", "project.definitions",
         "--select", selection, "--partition", partition, "--config-json", IN_PROCESS],
        cwd=PROJECT_ROOT, env=env, capture_output=True, text=True, timeout=600,
    )  # fmt: skip


def _materialize(
    instance: dg.DagsterInstance, selection: str, partition: str, environ: dict[str, str]
) -> None:
    done = _run(instance, selection, partition, environ)
    if done.returncode != 0:
        pytest.fail(f"{selection} exited {done.returncode}:\n{(done.stdout + done.stderr)[-6000:]}")


def _check_results(instance: dg.DagsterInstance, run_id: str) -> dict[str, bool]:
    events = instance.all_logs(run_id, of_type=dg.DagsterEventType.ASSET_CHECK_EVALUATION)
    results = {}
    for record in events:
        evaluation = record.get_dagster_event().event_specific_data
        key = f"{evaluation.asset_key.to_user_string()}:{evaluation.check_name}"
        results[key] = evaluation.passed
    return results


def test_a_day_extracted_then_its_month_transformed_from_the_command_line(
    instance: dg.DagsterInstance, simulator_env: dict, warehouse_path: Path, child_environ
) -> None:
    _materialize(instance, selections.EXTRACTION, DAY, child_environ())
    _materialize(instance, selections.TRANSFORMATION, DAY, child_environ())

    extraction, transformation = reversed(instance.get_runs())  # newest first
    for run in (extraction, transformation):
        assert run.status == dg.DagsterRunStatus.SUCCESS
        assert run.tags["dagster/partition"] == DAY
    raw = {f"pncp/raw/{name}" for name in ENDPOINTS}
    assert raw <= {k.to_user_string() for k in extraction.asset_selection}
    checks = _check_results(instance, extraction.run_id)
    assert checks == {
        f"{key}:{name}": True for key in raw for name in ("records_match_totals", "schema_drift")
    }
    dbt_checks = _check_results(instance, transformation.run_id)
    assert dbt_checks, "dbt tests surface as asset checks"
    assert all(dbt_checks.values()), [k for k, passed in dbt_checks.items() if not passed]

    with warehouse.connection(warehouse_path, read_only=True) as conn:
        archived = dict(
            conn.execute(
                """SELECT endpoint, sum(record_count)::BIGINT FROM raw.api_requests
                   WHERE ingestion_date = ? GROUP BY endpoint""",
                [DAY],
            ).fetchall()
        )
        health = conn.execute(
            """SELECT endpoint, records FROM marts.pncp_extraction_health
               WHERE ingestion_date = ? ORDER BY endpoint""",
            [DAY],
        ).fetchall()
        contracts = conn.execute("SELECT count(*) FROM marts.contratos_mes").fetchone()[0]
    expected = {name: simulator_env["expected"](name, DAY) for name in ENDPOINTS}
    assert archived == expected
    assert dict(health) == expected, "the health mart counts what the archive holds"
    assert contracts > 0

    exports = load_settings().exports / "pncp"
    files = sorted(exports.glob("*/year=2024/month=7/*.parquet"))
    assert files, f"no Parquet export for 2024-07 under {exports}"
    marts = {p.parts[-4] for p in files}
    assert {"contratos_mes", "pncp_extraction_health"} <= marts


def test_materializing_a_complete_day_again_succeeds(
    instance: dg.DagsterInstance, simulator_env: dict, child_environ
) -> None:
    _materialize(instance, "pncp/raw/atas", DAY, child_environ())

    again = _run(instance, "pncp/raw/atas", DAY, child_environ())

    assert again.returncode == 0, (again.stdout + again.stderr)[-3000:]
    assert [r.status for r in instance.get_runs()] == [dg.DagsterRunStatus.SUCCESS] * 2
