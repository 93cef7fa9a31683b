"""The project's Dagster instance: SQLite and PostgreSQL storage, the warehouse pool.

Materializations here go through the real code location (`project.definitions`)
against the PNCP simulator, so they exercise the same path as `make demo`.
"""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import dagster as dg
import pytest

from project.lib import warehouse
from project.lib.instance import ensure_dagster_home, render_instance_config
from project.settings import PROJECT_ROOT, load_settings

DAY = "2024-07-01"


def _materialize_in_process(
    instance: dg.DagsterInstance, selection: str
) -> dg.ExecuteInProcessResult:
    from project.definitions import defs

    job = defs().resolve_implicit_global_asset_job_def()
    return job.execute_in_process(
        instance=instance,
        partition_key=DAY,
        asset_selection=[dg.AssetKey.from_user_string(selection)],
    )


def _archived_records(path: Path, endpoint: str) -> int:
    with warehouse.connection(path, read_only=True) as conn:
        return conn.execute(
            "SELECT sum(record_count) FROM raw.api_requests WHERE endpoint = ?", [endpoint]
        ).fetchone()[0]


def test_sqlite_instance_runs_a_materialization(
    instance: dg.DagsterInstance, simulator_env: dict, warehouse_path: Path
) -> None:
    assert "SqliteEventLogStorage" in type(instance.event_log_storage).__name__ or (
        "Sqlite" in type(instance.event_log_storage).__name__
    )
    result = _materialize_in_process(instance, "pncp/raw/contratos")
    assert result.success
    expected = simulator_env["expected"]("contratos", DAY)
    assert _archived_records(warehouse_path, "contratos") == expected > 0
    record = instance.get_latest_materialization_event(dg.AssetKey(["pncp", "raw", "contratos"]))
    assert record is not None


@pytest.mark.postgres
def test_postgres_instance_runs_a_materialization(
    monkeypatch: pytest.MonkeyPatch,
    postgres_database: str,
    simulator_env: dict,
    warehouse_path: Path,
) -> None:
    monkeypatch.setenv("DAGSTER_PG_URL", postgres_database)
    settings = load_settings()
    config = render_instance_config(settings)
    assert config["storage"] == {"postgres": {"postgres_url": {"env": "DAGSTER_PG_URL"}}}
    home = ensure_dagster_home(settings)
    assert postgres_database not in (home / "dagster.yaml").read_text()
    with dg.DagsterInstance.from_config(str(home)) as instance:
        assert "Postgres" in type(instance.run_storage).__name__
        result = _materialize_in_process(instance, "pncp/raw/atas")
        assert result.success
        runs = instance.get_runs()
        assert [r.run_id for r in runs] == [result.run_id]
    assert _archived_records(warehouse_path, "atas") == simulator_env["expected"]("atas", DAY)


def _lease_sessions(instance: dg.DagsterInstance, run_id: str) -> int:
    """Rounds of commits the run's materialization reports (each under the lease)."""
    (record,) = instance.get_records_for_run(
        run_id, of_type=dg.DagsterEventType.ASSET_MATERIALIZATION
    ).records
    return record.asset_materialization.metadata["warehouse_rounds"].value


def test_two_runs_launched_together_both_succeed_sharing_the_warehouse_lease(
    instance: dg.DagsterInstance, simulator_env: dict, warehouse_path: Path
) -> None:
    """Two `dagster asset materialize` processes write the warehouse at the same time, each
    commit round under the lease (tests/resources/test_warehouse_lease.py shows that one
    holder at a time)."""
    env = {**os.environ, **simulator_env["env"], "DAGSTER_HOME": str(instance.root_directory)}
    dagster = str(Path(sys.executable).parent / "dagster")
    processes = [
        subprocess.Popen(
            [
                dagster,
                "asset",
                "materialize",
                "-m",
                "project.definitions",
                "--select",
                f"pncp/raw/{endpoint}",
                "--partition",
                DAY,
            ],
            cwd=PROJECT_ROOT,
            env=env,
            stdout=subprocess.PIPE,
            stderr=subprocess.STDOUT,
            text=True,
        )
        for endpoint in ("contratos", "atas")
    ]
    outputs = [p.communicate(timeout=600)[0] for p in processes]
    for process, output in zip(processes, outputs, strict=True):
        assert process.returncode == 0, output[-4000:]
    runs = instance.get_runs()
    assert len(runs) == 2
    assert all(r.status == dg.DagsterRunStatus.SUCCESS for r in runs)
    assert all(_lease_sessions(instance, r.run_id) >= 2 for r in runs)
    assert _archived_records(warehouse_path, "contratos") == simulator_env["expected"](
        "contratos", DAY
    )
    assert _archived_records(warehouse_path, "atas") == simulator_env["expected"]("atas", DAY)
