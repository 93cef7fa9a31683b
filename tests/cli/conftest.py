"""Fixtures of the `pncp` command-line tests: the installed console script, run as a
subprocess against the session's PNCP simulator, on copies of archives extracted once.
"""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import date
from pathlib import Path

import pytest

from project.lib import warehouse
from project.lib.pncp.archive import ensure_archive
from project.lib.pncp.client import ClientSettings
from project.lib.pncp.endpoints import ENDPOINTS
from project.lib.pncp.runner import run_endpoint_days
from project.settings import load_settings
from project.simulators.pncp import FaultConfig, PageRef, PncpSimulator, SimulatorConfig

PNCP = Path(sys.executable).parent / "pncp"
ARCHIVED_DAYS = (date(2024, 7, 1), date(2024, 7, 2))
FAILING_PAGE = PageRef(path="contratos", day=date(2024, 7, 2), page=1)


@dataclass(frozen=True)
class Result:
    code: int
    stdout: str
    stderr: str
    raw_stdout: bytes

    @property
    def output(self) -> str:
        return self.stdout + self.stderr


Pncp = Callable[..., Result]


def run_pncp(*args: str, env: dict[str, str] | None = None, timeout: float = 600) -> Result:
    """`pncp ARGS` as an operator runs it; wide columns keep help text on one line."""
    completed = subprocess.run(
        [str(PNCP), *args],
        env={**os.environ, "COLUMNS": "200", **(env or {})},
        capture_output=True,
        timeout=timeout,
        check=False,
    )
    return Result(
        completed.returncode,
        completed.stdout.decode(errors="replace"),
        completed.stderr.decode(errors="replace"),
        completed.stdout,
    )


@pytest.fixture
def pncp() -> Pncp:
    return run_pncp


def _extract(
    path: Path | warehouse.Target, base_url: str, work: list, max_retries: int = 2
) -> None:
    settings = ClientSettings(
        base_url=base_url,
        max_concurrency=8,
        rate_limit_per_s=0,
        max_retries=max_retries,
        backoff_base_s=0.01,
        backoff_max_s=0.05,
    )
    with warehouse.connection(path) as conn:
        run_endpoint_days(conn, settings, work)


@pytest.fixture(scope="session")
def prepared_archive(simulator: PncpSimulator, tmp_path_factory: pytest.TempPathFactory) -> Path:
    """Two days of every endpoint, extracted once per session: the data dir holding it."""
    data = tmp_path_factory.mktemp("prepared") / "data"
    work = [(e, d) for d in ARCHIVED_DAYS for e in ENDPOINTS.values()]
    _extract(data / "warehouse.duckdb", simulator.base_url, work)
    return data


@pytest.fixture(scope="session")
def failing_archive(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """contratos on both archived days, page 1 of the second one left failed (open)."""
    data = tmp_path_factory.mktemp("failing") / "data"
    faults = FaultConfig(permanent_failures=frozenset({FAILING_PAGE}))
    with PncpSimulator(SimulatorConfig(scale=0.02, faults=faults)) as faulty:
        work = [(ENDPOINTS["contratos"], d) for d in ARCHIVED_DAYS]
        _extract(data / "warehouse.duckdb", faulty.base_url, work, max_retries=0)
    return data


def _install(source: Path) -> Path:
    """Copy an archive into this test's data dir; return the warehouse path.

    A moved warehouse's `raw.payload_json` view still reads the old store until a writer
    connects; `ensure_archive` (what every extraction and `pncp init` runs) re-points it.
    """
    target = load_settings().data_path
    shutil.copytree(source, target, dirs_exist_ok=True)
    path = load_settings().warehouse
    with warehouse.connection(path) as conn:
        ensure_archive(conn)
    return path


@pytest.fixture
def archive(prepared_archive: Path, simulator_env: dict) -> Path:
    """This test's own copy of the two-day archive (warehouse path), API = the simulator."""
    return _install(prepared_archive)


@pytest.fixture
def lake_archive(
    warehouse_target: warehouse.Target, simulator: PncpSimulator, simulator_env: dict
) -> warehouse.Target:
    """This test's DuckLake holding the first archived day of contratos, API = the simulator.

    The test picks the lake with `@pytest.mark.parametrize("warehouse_backend",
    ["ducklake"], indirect=True)`.
    """
    _extract(warehouse_target, simulator.base_url, [(ENDPOINTS["contratos"], ARCHIVED_DAYS[0])])
    return warehouse_target


@pytest.fixture
def failed_archive(failing_archive: Path, simulator_env: dict) -> Path:
    """This test's own copy of the archive with an open failure, API = a healthy simulator."""
    return _install(failing_archive)


@contextmanager
def holding_lock(path: Path) -> Iterator[int]:
    """Another process holds the warehouse's writer lock; yields its PID."""
    holder = subprocess.Popen(
        [
            sys.executable,
            "-c",
            "import duckdb, sys, time; c = duckdb.connect(sys.argv[1]); "
            "print('ready', flush=True); time.sleep(300)",
            str(path),
        ],
        stdout=subprocess.PIPE,
        text=True,
    )
    try:
        assert holder.stdout is not None
        assert holder.stdout.readline().strip() == "ready"
        yield holder.pid
    finally:
        holder.kill()
        holder.wait()


def count(path: Path, sql: str) -> object:
    with warehouse.connection(path, read_only=True) as conn:
        return conn.execute(sql).fetchone()[0]


@pytest.fixture
def lock() -> Callable[[Path], contextmanager]:
    """`with lock(path) as pid:` another process holds the warehouse's writer lock."""
    return holding_lock


@pytest.fixture
def scalar() -> Callable[[Path, str], object]:
    """The single value of a query on a warehouse, read-only."""
    return count


@pytest.fixture(scope="session")
def transformed(
    prepared_archive: Path, simulator: PncpSimulator, tmp_path_factory: pytest.TempPathFactory
) -> dict:
    """`pncp transform --month 2024-07` once per session, on a copy of the two-day archive."""
    base = tmp_path_factory.mktemp("transformed")
    shutil.copytree(prepared_archive, base / "data")
    with warehouse.connection(base / "data" / "warehouse.duckdb") as conn:
        ensure_archive(conn)
    env = {
        "PLATFORM_DATA_DIR": str(base / "data"),
        "DAGSTER_HOME": str(base / "dagster_home"),
        "PNCP_BASE_URL": simulator.base_url,
    }
    result = run_pncp("transform", "--month", "2024-07", env=env)
    return {
        "result": result,
        "env": env,
        "home": base / "dagster_home",
        "wh": base / "data" / "warehouse.duckdb",
    }
