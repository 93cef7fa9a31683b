"""Shared fixtures: temporary warehouse and Dagster instance, real PostgreSQL and MariaDB.

Service-backed fixtures skip with a reason on a laptop without the service, but fail
under `CI=true`, where the services are part of the contract.
"""

from __future__ import annotations

import os
import shutil
import signal
import socket
import subprocess
import sys
import uuid
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from datetime import date
from pathlib import Path
from types import SimpleNamespace
from urllib.parse import urlsplit, urlunsplit

import dagster as dg
import pytest

from project.lib import warehouse
from project.lib.instance import ensure_dagster_home
from project.settings import PROJECT_ROOT, get_settings, load_settings
from project.simulators.pncp import PncpSimulator, SimulatorConfig, expected_total

IN_CI = os.environ.get("CI", "").lower() == "true"
PG_ADMIN_URL = os.environ.get("TEST_PG_ADMIN_URL", "postgresql://postgres@127.0.0.1:5432/test")
MYSQL_HOST = os.environ.get("TEST_MYSQL_HOST", "127.0.0.1")
TESTS = Path(__file__).parent
RABBITMQ_URL = os.environ.get("TEST_CELERY_BROKER_URL", "pyamqp://guest:guest@127.0.0.1:5672//")


def with_password(url: str, password: str) -> str:
    """`url` carrying `password`: the local servers trust every connection and ignore it,
    so a test can check that the password never shows."""
    parts = urlsplit(url)
    netloc = f"{parts.username}:{password}@{parts.hostname}:{parts.port or 5432}"
    return urlunsplit(parts._replace(netloc=netloc))


def service_unavailable(service: str, error: Exception) -> None:
    """Skip on a laptop, fail in CI: the CI machine always runs the services."""
    message = f"{service} is not reachable ({type(error).__name__}: {error})"
    if IN_CI:
        pytest.fail(f"{message}; CI=true requires it", pytrace=False)
    pytest.skip(f"{message}; start it to run this test")


def _stop_process_group(process: subprocess.Popen, timeout: float = 60) -> None:
    """SIGTERM a process started with `start_new_session=True` and its children; SIGKILL
    the group if it has not exited after `timeout` seconds."""
    if process.poll() is None:
        os.killpg(process.pid, signal.SIGTERM)
        try:
            process.wait(timeout=timeout)
        except subprocess.TimeoutExpired:
            os.killpg(process.pid, signal.SIGKILL)
            process.wait()


@pytest.fixture(scope="session", autouse=True)
def _dbt_outside_coverage() -> Iterator[None]:
    """Every dbt a test starts, directly or through Dagster, is `tests/bin/dbt`: the
    environment's dbt without coverage's subprocess patch. dbt runs no code of project/,
    and tracing its Python cost ~10% of a dbt-heavy test (73 s against 67 s)."""
    real = Path(sys.executable).parent / "dbt"
    with pytest.MonkeyPatch.context() as patch:
        patch.setenv("TEST_DBT_EXECUTABLE", str(real))
        path = [str(TESTS / "bin"), str(real.parent), os.environ.get("PATH", "")]
        patch.setenv("PATH", os.pathsep.join(path))
        yield


@pytest.fixture(scope="session")
def stop_process_group() -> Callable[..., None]:
    """Stops a server the test started (dagster dev, the daemon, Celery workers)."""
    return _stop_process_group


@pytest.fixture(autouse=True)
def _isolated_settings(
    tmp_path_factory: pytest.TempPathFactory, monkeypatch: pytest.MonkeyPatch
) -> Iterator[None]:
    """Every test gets its own data dir and instance dir; settings are re-read."""
    base = tmp_path_factory.mktemp("platform")
    monkeypatch.setenv("PLATFORM_DATA_DIR", str(base / "data"))
    monkeypatch.setenv("DAGSTER_HOME", str(base / "dagster_home"))
    # An extraction step lowers its process's CPU priority, which cannot be raised back:
    # in the test's own process that would slow every later test of this worker. Tests
    # that run steps in processes of their own set it (tests/e2e/test_warehouse_sharing.py).
    monkeypatch.setenv("PNCP_EXTRACTION_NICE", "0")
    for name in (
        "WAREHOUSE_PATH",
        "WAREHOUSE_BACKEND",
        "WAREHOUSE_CATALOG_URL",
        "WAREHOUSE_CATALOG_SCHEMA",
        "WAREHOUSE_DATA_PATH",
        "EXPORTS_DIR",
        "SHOP_LANDING_DIR",
        "DAGSTER_PG_URL",
        "LOG_FORMAT",
    ):
        monkeypatch.delenv(name, raising=False)
    get_settings.cache_clear()
    yield
    get_settings.cache_clear()


@pytest.fixture
def warehouse_path() -> Path:
    return load_settings().warehouse


BACKENDS = ("file", "ducklake")


def pg_admin(service: str = "PostgreSQL"):
    """An autocommit connection to the local PostgreSQL, or skip/fail naming `service`."""
    psycopg2 = pytest.importorskip("psycopg2")
    try:
        admin = psycopg2.connect(PG_ADMIN_URL, connect_timeout=5)
    except psycopg2.OperationalError as exc:
        service_unavailable(service, exc)
    admin.autocommit = True
    return admin


@contextmanager
def lake_catalog() -> Iterator[str]:
    """A fresh DuckLake catalog: a schema of its own in the local PostgreSQL, dropped after."""
    schema = f"lake_{uuid.uuid4().hex[:10]}"
    admin = pg_admin("PostgreSQL (the DuckLake catalog)")
    try:
        yield schema
    finally:
        warehouse.close_lakes()  # this process's catalog connections, before the drop
        with admin.cursor() as cur:
            cur.execute(f'DROP SCHEMA IF EXISTS "{schema}" CASCADE')
        admin.close()


def use_lake(monkeypatch: pytest.MonkeyPatch, schema: str) -> None:
    """Point the settings (this process and its children) at a DuckLake warehouse."""
    monkeypatch.setenv("WAREHOUSE_BACKEND", "ducklake")
    monkeypatch.setenv("WAREHOUSE_CATALOG_URL", PG_ADMIN_URL)
    monkeypatch.setenv("WAREHOUSE_CATALOG_SCHEMA", schema)
    get_settings.cache_clear()


@pytest.fixture(scope="session")
def lakes() -> SimpleNamespace:
    """`catalog()` and `use(monkeypatch, schema)` for fixtures that build their own lake."""
    return SimpleNamespace(catalog=lake_catalog, use=use_lake)


@pytest.fixture(params=BACKENDS)
def warehouse_backend(request: pytest.FixtureRequest, monkeypatch: pytest.MonkeyPatch):
    """Runs the test on each backend: the DuckDB file and a DuckLake on the local PostgreSQL
    (a catalog schema per test). The settings, Dagster's resources and dbt follow it."""
    if request.param == "file":
        yield "file"
        return
    with lake_catalog() as schema:
        use_lake(monkeypatch, schema)
        yield "ducklake"


@pytest.fixture
def warehouse_target(warehouse_backend: str) -> warehouse.Target:
    """The warehouse of the test's backend, as the platform's code addresses it."""
    return warehouse.target_from(load_settings())


@pytest.fixture
def instance() -> Iterator[dg.DagsterInstance]:
    """A SQLite Dagster instance rendered from the project's own dagster.yaml template."""
    home = ensure_dagster_home(load_settings())
    with dg.DagsterInstance.from_config(str(home)) as inst:
        yield inst


@pytest.fixture
def postgres_database() -> Iterator[str]:
    """A fresh PostgreSQL database per test, dropped afterwards; yields its URL.

    Per test, not per session: Dagster run storage in one test must not see another's runs.
    """
    name = f"test_{uuid.uuid4().hex[:10]}"
    admin = pg_admin()
    with admin.cursor() as cur:
        cur.execute(f'CREATE DATABASE "{name}"')
    base = PG_ADMIN_URL.rsplit("/", 1)[0]
    try:
        yield f"{base}/{name}"
    finally:
        with admin.cursor() as cur:
            cur.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
        admin.close()


@pytest.fixture(scope="session")
def mysql_database() -> Iterator[dict]:
    """A fresh MariaDB/MySQL database for the session; yields pymysql connect kwargs."""
    import pymysql

    name = f"test_{uuid.uuid4().hex[:10]}"
    params = {"host": MYSQL_HOST, "port": 3306, "user": "root", "password": ""}
    try:
        admin = pymysql.connect(**params, connect_timeout=5, autocommit=True)
    except pymysql.err.OperationalError as exc:
        service_unavailable("MariaDB", exc)
    with admin.cursor() as cur:
        cur.execute(f"CREATE DATABASE `{name}`")
    try:
        yield {**params, "database": name}
    finally:
        with admin.cursor() as cur:
            cur.execute(f"DROP DATABASE IF EXISTS `{name}`")
        admin.close()


@pytest.fixture(scope="session")
def rabbitmq_broker() -> str:
    """The machine's RabbitMQ as a Celery broker URL, once its port answers."""
    address = urlsplit(RABBITMQ_URL)
    try:
        with socket.create_connection((address.hostname, address.port or 5672), timeout=5):
            pass
    except OSError as exc:
        service_unavailable("RabbitMQ", exc)
    return RABBITMQ_URL


SIMULATOR_SCALE = 0.02  # a small but real day: ~70 contratos, a few pages per slice


@pytest.fixture(scope="session")
def simulator() -> Iterator[PncpSimulator]:
    """One PNCP simulator for the session (fault-free; tests that inject faults start their own)."""
    with PncpSimulator(SimulatorConfig(scale=SIMULATOR_SCALE)) as sim:
        yield sim


@pytest.fixture
def simulator_env(simulator: PncpSimulator, monkeypatch: pytest.MonkeyPatch) -> dict:
    """Point the platform at the simulator (env for this process and for subprocesses)."""
    env = {
        "PNCP_BASE_URL": simulator.base_url,
        "PNCP_MAX_CONCURRENCY": "8",
        "PNCP_RATE_LIMIT_PER_S": "0",
    }
    for name, value in env.items():
        monkeypatch.setenv(name, value)
    get_settings.cache_clear()

    def expected(endpoint: str, day: str) -> int:
        return expected_total(simulator.config, endpoint, date.fromisoformat(day))

    return {"env": env, "expected": expected, "simulator": simulator}


@pytest.fixture
def project_conf(tmp_path: Path) -> Path:
    """The project's conf/ copied under tmp_path, with an empty conf/local (a developer's
    own overrides never reach a test); tests change the copy, never the checkout."""
    conf = tmp_path / "conf"
    shutil.copytree(PROJECT_ROOT / "conf", conf, ignore=shutil.ignore_patterns("local"))
    (conf / "local").mkdir()
    return conf


@pytest.fixture
def catalog_conf(project_conf: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """`project_conf` made the catalog's conf (CATALOG_CONF_DIR), in its default env."""
    monkeypatch.setenv("CATALOG_CONF_DIR", str(project_conf))
    monkeypatch.delenv("CATALOG_ENV", raising=False)
    return project_conf
