"""Scale-out: a job on the Celery executor, two real workers, PostgreSQL instance storage.

As in the README's production setup: the instance is rendered from the project template
with DAGSTER_PG_URL, the executor is the project's (`DAGSTER_EXECUTOR=celery`), the two
workers are started with `dagster-celery worker start -y conf/dagster/celery.yaml`
against the machine's RabbitMQ, and the run is launched with `dagster job execute`.
"""

from __future__ import annotations

import os
import socket
import subprocess
import sys
import time
import uuid
from collections.abc import Callable, Iterator
from pathlib import Path

import dagster as dg
import pytest

from project.lib.instance import ensure_dagster_home
from project.settings import PROJECT_ROOT, get_settings, load_settings

LOCATION = Path(__file__).parent / "locations" / "celery_location.py"
WORKERS = ("w1", "w2")
BIN = Path(sys.executable).parent

pytestmark = [pytest.mark.postgres, pytest.mark.slow]


@pytest.fixture
def celery_env(
    postgres_database: str,
    rabbitmq_broker: str,
    monkeypatch: pytest.MonkeyPatch,
    tmp_path: Path,
) -> Iterator[dict[str, str]]:
    env = {
        "DAGSTER_PG_URL": postgres_database,
        "DAGSTER_EXECUTOR": "celery",
        "CELERY_BROKER_URL": rabbitmq_broker,
        # A private queue: other Celery workers on this broker never take these steps.
        "TEST_CELERY_QUEUE": f"dagster-test-{uuid.uuid4().hex[:8]}",
        # `dagster-celery worker start` runs `celery` from PATH.
        "PATH": f"{BIN}{os.pathsep}{os.environ.get('PATH', '')}",
    }
    for name, value in env.items():
        monkeypatch.setenv(name, value)
    get_settings.cache_clear()
    home = ensure_dagster_home(load_settings())
    env["DAGSTER_HOME"] = str(home)
    yield env
    get_settings.cache_clear()


@pytest.fixture
def workers(
    celery_env: dict[str, str], tmp_path: Path, stop_process_group: Callable
) -> Iterator[dict[str, Path]]:
    """Two single-process workers on the test's queue; yields their log files by name."""
    logs = {name: tmp_path / f"{name}.log" for name in WORKERS}
    processes = []
    try:
        for name in WORKERS:
            command = [
                str(BIN / "dagster-celery"), "worker", "start", "-A", "dagster_celery.app",
                "-y", str(PROJECT_ROOT / "conf" / "dagster" / "celery.yaml"),
                "-n", name, "-q", celery_env["TEST_CELERY_QUEUE"],
                "--", "--concurrency=1",
            ]  # fmt: skip
            processes.append(
                subprocess.Popen(
                    command,
                    cwd=PROJECT_ROOT,
                    env={**os.environ, **celery_env},
                    stdout=logs[name].open("w"),
                    stderr=subprocess.STDOUT,
                    start_new_session=True,
                )
            )
        deadline = time.monotonic() + 120
        while not all(" ready." in path.read_text() for path in logs.values()):
            for process, (name, path) in zip(processes, logs.items(), strict=True):
                assert process.poll() is None, f"worker {name} exited:\n{path.read_text()[-3000:]}"
            assert time.monotonic() < deadline, "the Celery workers did not start"
            time.sleep(1)
        yield logs
    finally:
        for process in processes:
            stop_process_group(process, timeout=30)


def _materializations(instance: dg.DagsterInstance, run_id: str) -> dict[str, dict]:
    records = instance.get_records_for_run(
        run_id, of_type=dg.DagsterEventType.ASSET_MATERIALIZATION
    ).records
    return {
        r.asset_materialization.asset_key.to_user_string(): {
            k: v.value for k, v in r.asset_materialization.metadata.items()
        }
        for r in records
    }


def test_every_step_runs_on_a_celery_worker_and_writers_take_turns(
    celery_env: dict[str, str], workers: dict[str, Path]
) -> None:
    started = time.monotonic()
    result = subprocess.run(
        [str(BIN / "dagster"), "job", "execute", "-f", str(LOCATION), "-a", "defs",
         "-j", "celery_job"],
        cwd=PROJECT_ROOT, env={**os.environ, **celery_env},
        capture_output=True, text=True, timeout=300, check=False,
    )  # fmt: skip
    elapsed = time.monotonic() - started
    assert result.returncode == 0, (result.stdout + result.stderr)[-4000:]

    with dg.DagsterInstance.from_config(celery_env["DAGSTER_HOME"]) as instance:
        assert "Postgres" in type(instance.run_storage).__name__
        (run,) = instance.get_runs(filters=dg.RunsFilter(job_name="celery_job"), limit=1)
        assert run.status == dg.DagsterRunStatus.SUCCESS
        events = instance.all_logs(run.run_id)
        materialized = _materializations(instance, run.run_id)

    steps = {"fetch_contracts", "fetch_procurements", "load_contracts", "load_procurements"}
    success = dg.DagsterEventType.STEP_SUCCESS
    succeeded = {e.step_key for e in events if e.dagster_event_type == success}
    assert succeeded == steps
    # Each step was handed to a worker by the executor, and the worker says it ran it.
    delegated = {
        e.step_key: e.dagster_event.engine_event_data.metadata["Celery worker"].value
        for e in events
        if e.dagster_event_type == dg.DagsterEventType.ENGINE_EVENT
        and "in celery worker" in (e.message or "")
    }
    hostname = socket.gethostname()
    assert set(delegated) == steps
    assert set(delegated.values()) == {f"{name}@{hostname}" for name in WORKERS}
    for step, worker in delegated.items():
        assert materialized[step]["celery_worker"] == worker  # ran inside that worker's task
        assert materialized[step]["pid"] != os.getpid()

    # Fetches (no pool) ran side by side on the two workers ...
    a, b = materialized["fetch_contracts"], materialized["fetch_procurements"]
    assert a["celery_worker"] != b["celery_worker"]
    assert max(a["started"], b["started"]) < min(a["finished"], b["finished"])
    # ... while the warehouse writers, in a pool of one, took turns.
    first, second = sorted(
        (materialized["load_contracts"], materialized["load_procurements"]),
        key=lambda m: m["started"],
    )
    assert second["started"] >= first["finished"]
    assert elapsed < 240
