"""A `pncp` run killed with `kill -9` while it holds the warehouse blocks nothing.

The run's process dies holding its slot of the warehouse pool; the next run of any
selection sees, while it waits, that the holder's process is gone, marks the dead run
failed, frees the slot and goes on. `pncp doctor` reports the dead holder meanwhile.
"""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import dagster as dg
import pytest
from dagster._core.test_utils import create_run_for_test

from project.lib import warehouse
from project.lib.instance import ensure_dagster_home, prepare_storage
from project.resources.warehouse_lease import STALE_AFTER_S, WarehouseLease, holders
from project.settings import load_settings

pytestmark = pytest.mark.slow

PNCP = Path(sys.executable).parent / "pncp"
ARCHIVE = "SELECT endpoint, ingestion_date, page, payload_sha256 FROM raw.api_requests ORDER BY ALL"


def _rows(path: Path) -> list[tuple]:
    with warehouse.connection(path, read_only=True) as conn:
        return conn.execute(ARCHIVE).fetchall()


def _holding_run(home: Path, pool: str, process: subprocess.Popen, timeout: float = 180) -> str:
    """Wait until the process's run holds the warehouse; return its run id."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        assert process.poll() is None, "the run ended before it held the warehouse"
        if (home / "dagster.yaml").exists():
            with dg.DagsterInstance.from_config(str(home)) as instance:
                found = holders(instance, pool, STALE_AFTER_S)
            if found:
                return found[0].run_id
        time.sleep(0.2)
    raise AssertionError("the run never held the warehouse")


def _marts(path: Path) -> dict[str, list[tuple]]:
    with warehouse.connection(path, read_only=True) as conn:
        return {
            mart: conn.execute(f"SELECT * FROM marts.{mart} ORDER BY ALL").fetchall()
            for mart in ("contratos_mes", "spend_by_organ_month", "supplier_concentration")
        }


def test_a_run_killed_holding_the_warehouse_is_freed_by_the_next_run(
    archive: Path, pncp, scalar, transformed: dict
) -> None:
    config = load_settings()
    home, pool = config.dagster_home_path, config.warehouse_pool
    # The storage exists before anything runs, as `make instance` leaves it: this test's
    # own polling of the instance must not race the victim's creation of it.
    prepare_storage(config, ensure_dagster_home(config))
    before = _rows(archive)
    victim = subprocess.Popen(
        [str(PNCP), "transform", "--month", "2024-07"],
        stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, start_new_session=True,
    )  # fmt: skip
    dead_run = _holding_run(home, pool, victim)
    time.sleep(1.0)  # dbt is under way inside the warehouse step
    os.killpg(victim.pid, signal.SIGKILL)
    victim.wait(timeout=30)

    doctor = pncp("doctor")
    assert f"pncp free-run {dead_run}" in doctor.output, doctor.output
    status = pncp("recovery-status", "2024-07")
    assert f"pncp free-run {dead_run}" in status.output, status.output

    started = time.monotonic()
    other = pncp("extract", "--day", "2024-07-03", "-e", "atas", timeout=300)
    assert other.code == 0, other.output[-4000:]
    assert time.monotonic() - started < 120
    assert f"dead holder, run {dead_run}" in other.output, other.output[-4000:]

    again = pncp("transform", "--month", "2024-07", timeout=600)
    assert again.code == 0, again.output[-4000:]
    with dg.DagsterInstance.from_config(str(home)) as instance:
        run = instance.get_run_by_id(dead_run)
        assert run.status == dg.DagsterRunStatus.FAILURE
        assert holders(instance, pool, STALE_AFTER_S) == []
    # The killed run changed nothing of the archive; the later extraction added its day.
    after = _rows(archive)
    assert [r for r in after if str(r[1]) != "2024-07-03"] == before
    # ... and the re-run built the marts an uninterrupted `pncp transform` builds.
    assert scalar(archive, "SELECT count(*) FROM marts.contratos_mes") > 0
    assert _marts(archive) == _marts(transformed["wh"])


def test_a_run_waiting_for_the_warehouse_says_who_holds_it_and_stops_on_sigterm(
    archive: Path, instance: dg.DagsterInstance
) -> None:
    config = load_settings()
    holder_run = create_run_for_test(
        instance, job_name="holder", status=dg.DagsterRunStatus.STARTED
    ).run_id
    lease = WarehouseLease(instance, config.warehouse_pool, holder_run, "long_write")
    with lease.hold():
        waiter = subprocess.Popen(
            [str(PNCP), "extract", "--day", "2024-07-03", "-e", "atas"],
            stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True, start_new_session=True,
        )  # fmt: skip
        lines: list[str] = []
        deadline = time.monotonic() + 180
        while time.monotonic() < deadline:
            line = waiter.stdout.readline()
            assert line, "".join(lines[-40:])
            lines.append(line)
            if "waiting for the warehouse" in line:
                break
        assert f"held by run {holder_run} (long_write, pid {os.getpid()}" in lines[-1]
        waiter.send_signal(signal.SIGTERM)
        output, _ = waiter.communicate(timeout=60)
        assert waiter.returncode == 1, output[-3000:]
        assert "stopped by an interrupt (Ctrl-C or SIGTERM)" in output, output[-3000:]
        info = instance.event_log_storage.get_concurrency_info(config.warehouse_pool)
        assert [s.run_id for s in info.pending_steps] == [holder_run]  # its claim withdrawn
    with warehouse.connection(archive, read_only=True) as conn:
        days = conn.execute("SELECT DISTINCT ingestion_date FROM raw.api_requests").fetchall()
    assert "2024-07-03" not in {str(d) for (d,) in days}


def test_backup_and_rollback_take_the_lease_and_name_its_holder_when_they_give_up(
    archive: Path, pncp, instance: dg.DagsterInstance
) -> None:
    assert pncp("backup").code == 0
    config = load_settings()
    holder_run = create_run_for_test(
        instance, job_name="holder", status=dg.DagsterRunStatus.STARTED
    ).run_id
    with WarehouseLease(instance, config.warehouse_pool, holder_run, "dbt_build").hold():
        refused = pncp("--lock-wait", "2", "rollback", "--to", "latest")
    assert refused.code == 2, refused.output
    assert f"the warehouse is held by run {holder_run} (dbt_build" in refused.output
    restored = pncp("--lock-wait", "2", "rollback", "--to", "latest")
    assert restored.code == 0, restored.output
