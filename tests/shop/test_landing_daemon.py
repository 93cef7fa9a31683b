"""A real `dagster-daemon` turns new landing files into bronze and silver without a step
by hand: the landing sensor launches bronze runs, the automation sensor the silver build.

One code server (`tests/shop/locations/shop_location.py`) and the daemon, on a temporary
SQLite instance rendered from the project's template, as in production. Two batches land
one after the other; each must reach silver on its own.
"""

from __future__ import annotations

import os
import subprocess
import sys
import time
from collections.abc import Callable
from pathlib import Path

import dagster as dg
import duckdb
import pytest
import yaml
from dagster._core.errors import DagsterUserCodeUnreachableError
from dagster._grpc.client import DagsterGrpcClient

from project.lib.instance import ensure_dagster_home
from project.settings import PROJECT_ROOT, get_settings, load_settings
from project.simulators.shop import ShopSpec, generate

LOCATION = Path(__file__).parent / "locations" / "shop_location.py"
LOCATION_NAME = "shop_daemon_test"
BIN = Path(sys.executable).parent
# Each stage (code server up, each batch in silver, the runs' end) gets its own budget: a
# whole-test deadline failed on a slow shared machine where the test took 1.8x its usual time.
STAGE_S = 300

pytestmark = pytest.mark.slow


def _free_port() -> int:
    import socket

    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def _silver(warehouse: Path) -> dict[str, int] | None:
    """Silver orders by bronze batch, or None while the warehouse is being written."""
    if not warehouse.exists():
        return None
    try:
        with duckdb.connect(str(warehouse), read_only=True) as conn:
            return dict(
                conn.execute(
                    "SELECT _source_file, count(*) FROM shop_silver.orders GROUP BY ALL"
                ).fetchall()
            )
    except (duckdb.IOException, duckdb.CatalogException):
        return None


def _wait_for(predicate: Callable[[], bool], processes: dict, logs: dict, what: str) -> None:
    deadline = time.monotonic() + STAGE_S
    while not predicate():
        for name, process in processes.items():
            assert process.poll() is None, f"{name} exited: {logs[name].read_text()[-3000:]}"
        assert time.monotonic() < deadline, (
            f"{what} not reached in {STAGE_S} s; daemon log: {logs['daemon'].read_text()[-3000:]}"
        )
        time.sleep(1)


def test_new_landing_files_reach_bronze_and_silver_under_the_daemon(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, stop_process_group: Callable
) -> None:
    landing = tmp_path / "landing"
    env = {
        "DAGSTER_HOME": str(tmp_path / "dagster_home"),
        "PLATFORM_DATA_DIR": str(tmp_path / "data"),
        "SHOP_LANDING_DIR": str(landing),
    }
    for name, value in env.items():
        monkeypatch.setenv(name, value)
    get_settings.cache_clear()
    settings = load_settings()
    home = ensure_dagster_home(settings)
    port = _free_port()
    workspace = tmp_path / "workspace.yaml"
    workspace.write_text(yaml.safe_dump({"load_from": [{"grpc_server": {
        "host": "127.0.0.1", "port": port, "location_name": LOCATION_NAME}}]}))  # fmt: skip
    logs = {name: tmp_path / f"{name}.log" for name in ("code_server", "daemon")}
    commands = {
        "code_server": [str(BIN / "dagster"), "code-server", "start", "-f", str(LOCATION),
                        "-a", "defs", "-d", str(PROJECT_ROOT), "-h", "127.0.0.1",
                        "-p", str(port), "--location-name", LOCATION_NAME],
        "daemon": [str(BIN / "dagster-daemon"), "run", "-w", str(workspace)],
    }  # fmt: skip
    first = generate(landing, ShopSpec(orders=60, seed=7, batch=1))
    processes: dict[str, subprocess.Popen] = {}
    try:
        for name, command in commands.items():
            processes[name] = subprocess.Popen(
                command, cwd=PROJECT_ROOT, env={**os.environ, **env},
                stdout=logs[name].open("w"), stderr=subprocess.STDOUT, start_new_session=True,
            )  # fmt: skip
            if name == "code_server":
                client = DagsterGrpcClient(port=port, host="127.0.0.1")
                deadline = time.monotonic() + STAGE_S
                while True:
                    try:
                        client.ping("ready?")
                        break
                    except DagsterUserCodeUnreachableError:
                        assert processes[name].poll() is None, logs[name].read_text()[-3000:]
                        assert time.monotonic() < deadline, "the code server did not start"
                        time.sleep(0.5)
        first_files = {p.relative_to(landing).as_posix() for p in first.files["orders"]}
        _wait_for(lambda: set(_silver(settings.warehouse) or {}) == first_files,
                  processes, logs, "the first batch in silver")  # fmt: skip
        # A second batch lands while the daemon runs: it follows without anything else.
        second = generate(landing, ShopSpec(orders=40, seed=7, batch=2))
        both = first_files | {p.relative_to(landing).as_posix() for p in second.files["orders"]}
        _wait_for(lambda: set(_silver(settings.warehouse) or {}) == both,
                  processes, logs, "the second batch in silver")  # fmt: skip
        # Silver is committed before the run's gold models: let the run end before stopping.
        with dg.DagsterInstance.from_config(str(home)) as instance:
            _wait_for(lambda: all(r.is_finished for r in instance.get_runs()),
                      processes, logs, "the runs' end")  # fmt: skip
    finally:
        for process in reversed(processes.values()):  # the daemon first
            stop_process_group(process)
    get_settings.cache_clear()

    silver = _silver(settings.warehouse)
    assert sum(silver.values()) == first.rows["orders"] + second.rows["orders"]
    with duckdb.connect(str(settings.warehouse), read_only=True) as conn:
        ledger = conn.execute(
            "SELECT source, count(*), count(*) FILTER (WHERE status = 'ingested') "
            "FROM shop_landing.files GROUP BY ALL ORDER BY 1"
        ).fetchall()
    landed = {s: len(first.files[s]) + len(second.files[s]) for s in first.files}
    assert ledger == [(s, n, n) for s, n in sorted(landed.items())]
    with dg.DagsterInstance.from_config(str(home)) as instance:
        runs = instance.get_runs()
        by_sensor = {r.tags.get("dagster/sensor_name") for r in runs}
        assert {"shop_landing", "automation_dbt"} <= by_sensor
        assert all(r.status == dg.DagsterRunStatus.SUCCESS for r in runs if r.is_finished)
