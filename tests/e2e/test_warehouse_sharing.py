"""A long extraction backfill does not hold the warehouse: other writers run in between.

Two `dagster asset materialize` processes launched together on one instance and one
warehouse: a 7-day backfill of PNCP's procurement publications (one step that loops over
the days, 13 modalities a day) against a simulator that answers each page after 150 ms,
and the dbt transformation (models and Parquet exports) of another month. The extraction
holds the warehouse lease only for its commits, so the transformation takes it in
between and finishes first (holding the warehouse for the whole step, as before, it
finished after the backfill); both succeed, and the archive is the one a run of the same
days one after the other gives.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import time
from datetime import date, timedelta
from pathlib import Path

import dagster as dg
import pytest

from project.defs.pncp import selections
from project.lib import warehouse
from project.lib.pncp.client import ClientSettings
from project.lib.pncp.endpoints import ENDPOINTS
from project.lib.pncp.runner import run_endpoint_days
from project.resources.warehouse_lease import GIVEN_BACK, TAKEN
from project.settings import PROJECT_ROOT
from project.simulators.pncp import FaultConfig, PncpSimulator, SimulatorConfig

pytestmark = pytest.mark.slow

DAGSTER = str(Path(sys.executable).parent / "dagster")
IN_PROCESS = json.dumps({"execution": {"config": {"in_process": {}}}})
SCALE = 0.1
BACKFILL = [date(2024, 7, 1) + timedelta(days=i) for i in range(7)]
OTHER_MONTH_DAYS = [date(2024, 6, 3), date(2024, 6, 4)]
ARCHIVE_KEY = """
    SELECT endpoint, ingestion_date, modalidade, page, payload_sha256, record_count,
           total_records, total_pages
    FROM raw.api_requests ORDER BY ALL
"""


def _extract(
    path: Path | warehouse.Target, base_url: str, days: list[date], endpoints=tuple(ENDPOINTS)
) -> None:
    settings = ClientSettings(base_url=base_url, rate_limit_per_s=0, max_concurrency=8)
    with warehouse.connection(path) as conn:
        run_endpoint_days(conn, settings, [(ENDPOINTS[e], d) for d in days for e in endpoints])


def _materialize(env: dict[str, str], selection: str, *partition: str) -> subprocess.Popen:
    return subprocess.Popen(
        [DAGSTER, "asset", "materialize", "-m", "project.definitions",
         "--select", selection, *partition, "--config-json", IN_PROCESS],
        cwd=PROJECT_ROOT, env=env, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True,
    )  # fmt: skip


def _finish(process: subprocess.Popen, timeout: float = 900) -> tuple[int, str, float]:
    output, _ = process.communicate(timeout=timeout)
    return process.returncode, output, time.monotonic()


def test_a_backfill_and_another_months_transformation_share_the_warehouse(
    tmp_path: Path, child_environ, simulator_env
) -> None:
    fast = PncpSimulator(SimulatorConfig(scale=SCALE))
    slow = PncpSimulator(SimulatorConfig(scale=SCALE, faults=FaultConfig(latency_ms=150)))
    with fast, slow:
        data = tmp_path / "data"
        _extract(data / "warehouse.duckdb", fast.base_url, OTHER_MONTH_DAYS)
        env = {
            **child_environ(),
            "PLATFORM_DATA_DIR": str(data),
            "DAGSTER_HOME": str(tmp_path / "home"),
            "PNCP_BASE_URL": slow.base_url,
            # The defaults towards the real API (politeness): 4 requests at a time, 4 a second.
            "PNCP_MAX_CONCURRENCY": "4",
            "PNCP_RATE_LIMIT_PER_S": "4",
            # The default: the backfill's steps leave the cores to the transformation.
            "PNCP_EXTRACTION_NICE": "10",
        }
        subprocess.run([sys.executable, "-m", "project.lib.instance"], env=env, check=True)

        started = time.monotonic()
        backfill = _materialize(
            env, 'key:"pncp/raw/contratacoes_publicacao"', "--partition-range",
            f"{BACKFILL[0]}...{BACKFILL[-1]}",
        )  # fmt: skip
        time.sleep(5)  # the backfill is under way before the transformation starts
        transformation = _materialize(env, selections.TRANSFORMATION, "--partition", "2024-06-01")
        t_code, t_output, t_end = _finish(transformation)
        b_code, b_output, b_end = _finish(backfill)

        timings = f"transformation {t_end - started:.0f} s, backfill {b_end - started:.0f} s"
        print(timings)
        assert t_code == 0, t_output[-6000:]
        assert b_code == 0, b_output[-6000:]
        assert t_end < b_end, timings

        with dg.DagsterInstance.from_config(str(tmp_path / "home")) as instance:
            (record,) = instance.fetch_materializations(
                dg.AssetKey(["pncp", "raw", "contratacoes_publicacao"]), limit=1
            ).records
        use = {k: v.value for k, v in record.asset_materialization.metadata.items()}
        print({k: v for k, v in use.items() if k.startswith("warehouse_")})
        # The backfill gave the warehouse way to the transformation's dbt build, which
        # waited at most one round of commits.
        assert use["warehouse_gave_way"] >= 1
        assert use["warehouse_longest_round_s"] < 5
        assert use["cpu_niceness"] == max(10, os.getpriority(os.PRIO_PROCESS, 0))

        sequential = tmp_path / "sequential" / "warehouse.duckdb"
        _extract(sequential, fast.base_url, OTHER_MONTH_DAYS)
        _extract(sequential, fast.base_url, BACKFILL, ["contratacoes_publicacao"])

    with warehouse.connection(data / "warehouse.duckdb", read_only=True) as conn:
        shared = conn.execute(ARCHIVE_KEY).fetchall()
        months = conn.execute(
            "SELECT DISTINCT month(mes_publicacao) FROM marts.contratos_mes"
        ).fetchall()
    with warehouse.connection(sequential, read_only=True) as conn:
        alone = conn.execute(ARCHIVE_KEY).fetchall()
    assert shared == alone
    assert {d for _, d, *_ in shared} == set(BACKFILL + OTHER_MONTH_DAYS)
    assert months == [(6,)]  # the transformation built the other month


# --- three runs launched together: concurrent on DuckLake, serialized on a file ---------

# Two extraction runs of three days each (long enough to span the other runs' start-up).
TOGETHER_DAYS = [("2024-07-01", "2024-07-03"), ("2024-07-08", "2024-07-10")]


def _holds(instance: dg.DagsterInstance, run_id: str) -> list[tuple[float, float]]:
    """When the run held the warehouse: its lease's taken/given-back lines in the event log."""
    holds, taken = [], None
    for entry in instance.all_logs(run_id):
        message = entry.user_message or ""
        if message.startswith(TAKEN):
            taken = entry.timestamp
        elif message.startswith(GIVEN_BACK) and taken is not None:
            holds.append((taken, entry.timestamp))
            taken = None
    return holds


def _wait_for_a_hold(home: Path, timeout_s: float = 180) -> None:
    """Until a run of the instance at `home` holds the warehouse."""
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        with dg.DagsterInstance.from_config(str(home)) as instance:
            if any(_holds_or_holding(instance, r.run_id) for r in instance.get_runs()):
                return
        time.sleep(0.5)
    raise AssertionError(f"no run took the warehouse within {timeout_s:.0f} s")


def _holds_or_holding(instance: dg.DagsterInstance, run_id: str) -> bool:
    return any((e.user_message or "").startswith(TAKEN) for e in instance.all_logs(run_id))


def _overlap(a: list[tuple[float, float]], b: list[tuple[float, float]]) -> float:
    """Seconds during which both runs held the warehouse."""
    return sum(max(0.0, min(e1, e2) - max(s1, s2)) for s1, e1 in a for s2, e2 in b)


def test_three_runs_launched_together_overlap_on_ducklake_and_serialize_on_a_file(
    warehouse_backend: str, warehouse_target: warehouse.Target, tmp_path: Path, child_environ
) -> None:
    slow = PncpSimulator(SimulatorConfig(scale=SCALE, faults=FaultConfig(latency_ms=150)))
    with PncpSimulator(SimulatorConfig(scale=SCALE)) as fast, slow:
        _extract(warehouse_target, fast.base_url, OTHER_MONTH_DAYS)
        env = {
            **child_environ(),
            "DAGSTER_HOME": str(tmp_path / "home"),
            "PNCP_BASE_URL": slow.base_url,
            "PNCP_MAX_CONCURRENCY": "4",
            "PNCP_RATE_LIMIT_PER_S": "0",
        }
        subprocess.run([sys.executable, "-m", "project.lib.instance"], env=env, check=True)
        # The transformation first, and the extractions as soon as it writes: process
        # start-up (10-20 s on a loaded machine) must not decide whether they meet.
        runs = [_materialize(env, selections.TRANSFORMATION, "--partition", "2024-06-01")]
        _wait_for_a_hold(tmp_path / "home")
        selection = 'key:"pncp/raw/contratacoes_publicacao"'
        runs += [
            _materialize(env, selection, "--partition-range", f"{first}...{last}")
            for first, last in TOGETHER_DAYS
        ]
        finished = [_finish(run) for run in runs]
    for code, output, _ in finished:
        assert code == 0, output[-6000:]

    with dg.DagsterInstance.from_config(str(tmp_path / "home")) as instance:
        records = instance.get_run_records()
        assert len(records) == 3
        assert all(r.dagster_run.is_success for r in records)
        holds = {r.dagster_run.run_id: _holds(instance, r.dagster_run.run_id) for r in records}
        slots = instance.event_log_storage.get_concurrency_info("duckdb_warehouse").slot_count
    assert all(holds.values()), "every run held the warehouse"
    ids = list(holds)
    shared = {(a, b): _overlap(holds[a], holds[b]) for i, a in enumerate(ids) for b in ids[i + 1 :]}
    start = min(s for spans in holds.values() for s, _ in spans)
    print(warehouse_backend, {k: round(v, 1) for k, v in shared.items()})
    print(
        {
            k[:8]: [(round(s - start, 1), round(e - start, 1)) for s, e in v]
            for k, v in holds.items()
        }
    )
    if warehouse_backend == "ducklake":
        assert slots == 4
        assert all(seconds > 0 for seconds in shared.values()), "all three wrote at once"
    else:
        assert slots == 1
        assert not any(shared.values()), "one writer at a time on a file"
    with warehouse.connection(warehouse_target, read_only=True) as conn:
        days = conn.execute(
            "SELECT DISTINCT ingestion_date::varchar FROM raw.api_requests "
            "WHERE endpoint = 'contratacoes_publicacao' ORDER BY 1"
        ).fetchall()
        months = conn.execute("SELECT DISTINCT month(mes_publicacao) FROM marts.contratos_mes")
        assert months.fetchall() == [(6,)]
    extracted = [str(d) for d in OTHER_MONTH_DAYS]
    for first, last in TOGETHER_DAYS:
        start = date.fromisoformat(first)
        extracted += [str(start + timedelta(days=i)) for i in range(3)]
        assert extracted[-1] == last
    assert [d for (d,) in days] == extracted
