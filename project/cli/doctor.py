"""`pncp doctor`: is this checkout ready to run the pipeline, and if not, what fixes it?

Each check returns findings `OK|WARN|FAIL  <check>: <detail> (fix: ...)`. A check that
cannot run because an earlier one failed says so instead of failing twice. The checks
touch nothing: the warehouse write probe is a rolled-back transaction, and on a DuckLake
the catalog is attached read-only first, so a catalog with no lake yet is reported, not
created.
"""

from __future__ import annotations

import asyncio
import importlib.metadata
import logging
import os
import platform
import re
import shutil
import time
import tomllib
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import date, timedelta
from pathlib import Path

import duckdb
from packaging.requirements import Requirement
from packaging.specifiers import SpecifierSet
from packaging.utils import canonicalize_name

from project.lib import extensions, lake, warehouse
from project.lib.pncp import payload_store
from project.lib.pncp.client import ClientSettings, PncpClient, PncpError
from project.lib.pncp.endpoints import ENDPOINTS
from project.lib.pncp.recovery import has_archive
from project.settings import PROJECT_ROOT, Settings, SettingsError, load_settings

OK, WARN, FAIL = "OK", "WARN", "FAIL"
SETUP_FIX = "make setup (or .uv/bin/uv sync --frozen --all-groups)"


@dataclass(frozen=True)
class Finding:
    level: str
    check: str
    detail: str
    fix: str = ""

    def line(self) -> str:
        fix = f" (fix: {self.fix})" if self.fix and self.level != OK else ""
        return f"{self.level:<5} {self.check}: {self.detail}{fix}"


def check_python(pyproject: dict) -> Finding:
    wanted = pyproject["project"]["requires-python"]
    version = platform.python_version()
    if SpecifierSet(wanted).contains(version):
        return Finding(OK, "python", f"{version} ({wanted})")
    return Finding(FAIL, "python", f"{version} does not satisfy {wanted}", SETUP_FIX)


def check_packages(pyproject: dict, lock: dict) -> Finding:
    """Every declared dependency is installed at the version uv.lock pins."""
    locked = {canonicalize_name(p["name"]): p.get("version") for p in lock.get("package", [])}
    specs = list(pyproject["project"]["dependencies"])
    for group in pyproject.get("dependency-groups", {}).values():
        specs += [s for s in group if isinstance(s, str)]
    problems = []
    for spec in specs:
        name = canonicalize_name(Requirement(spec).name)
        try:
            installed = importlib.metadata.version(name)
        except importlib.metadata.PackageNotFoundError:
            problems.append(f"{name} missing")
            continue
        if locked.get(name) and installed != locked[name]:
            problems.append(f"{name} {installed} (uv.lock: {locked[name]})")
    if problems:
        shown = ", ".join(problems[:5]) + (
            f" and {len(problems) - 5} more" if len(problems) > 5 else ""
        )
        return Finding(FAIL, "packages", shown, SETUP_FIX)
    return Finding(
        OK,
        "packages",
        f"{len(specs)} dependencies as pinned in uv.lock "
        f"(dagster {importlib.metadata.version('dagster')}, "
        f"duckdb {importlib.metadata.version('duckdb')})",
    )


def check_disk(path: Path, min_free_gb: float) -> Finding:
    existing = next(p for p in (path, *path.parents) if p.exists())
    free_gb = shutil.disk_usage(existing).free / 2**30
    detail = f"{free_gb:.1f} GB free at {existing}"
    if free_gb < min_free_gb:
        return Finding(
            FAIL,
            "disk",
            f"{detail}, below {min_free_gb:g} GB",
            "free space or move PLATFORM_DATA_DIR",
        )
    return Finding(OK, "disk", detail)


def _months_with_open_failures(conn: duckdb.DuckDBPyConnection) -> list[tuple[str, int]]:
    return conn.execute(
        """SELECT strftime(ingestion_date, '%Y-%m') AS month, count(*)
           FROM meta.failed_requests WHERE NOT resolved GROUP BY 1 ORDER BY 1"""
    ).fetchall()


def check_warehouse(config: Settings) -> Iterator[Finding]:
    """Exists, not locked, readable, writable (rolled back), archive present, no open failures."""
    target = warehouse.target_from(config)
    if target.is_lake:
        yield from _check_lake(target)
        return
    path = config.warehouse
    if not path.exists():
        yield Finding(FAIL, "warehouse", f"{path} does not exist", "pncp init")
        return
    if not os.access(path, os.W_OK) or not os.access(path.parent, os.W_OK):
        yield Finding(
            FAIL, "warehouse", f"{path} is not writable by this user", f"chmod u+w {path}"
        )
        return
    try:
        conn = warehouse.connect(path, wait_s=0)
    except warehouse.WarehouseLockedError as exc:
        holder = re.search(r"\(PID (\d+)\)", str(exc.__cause__ or ""))
        pid = holder.group(1) if holder else "?"
        yield Finding(
            FAIL,
            "warehouse",
            f"{path} is locked by another process (PID {pid})",
            f"wait for that run or shell to finish (ps -p {pid})",
        )
        return
    except duckdb.Error as exc:
        yield Finding(
            FAIL, "warehouse", f"{path} cannot be opened: {exc}", "pncp rollback --to latest"
        )
        return
    try:
        tables = conn.execute("SELECT count(*) FROM duckdb_tables()").fetchone()[0]
        conn.execute("BEGIN TRANSACTION")
        conn.execute("CREATE TABLE main.doctor_write_probe AS SELECT 1 AS probe")
        conn.execute("ROLLBACK")
        size_mb = path.stat().st_size / 2**20
        yield Finding(
            OK, "warehouse", f"{path} readable and writable, {tables} tables, {size_mb:.1f} MB"
        )
        yield from _check_archive(conn)
    finally:
        conn.close()


def _check_archive(conn: duckdb.DuckDBPyConnection) -> Iterator[Finding]:
    """The archive's tables exist, and no failed request is open."""
    if not has_archive(conn):
        yield Finding(WARN, "archive", "no raw/meta archive tables yet", "pncp init")
        return
    months = _months_with_open_failures(conn)
    if months:
        listed = ", ".join(f"{n} in {m}" for m, n in months)
        fixes = "; ".join(f"pncp retry-failed --month {m}" for m, _ in months[:3])
        yield Finding(WARN, "failed requests", f"open: {listed}", fixes)
    else:
        yield Finding(OK, "failed requests", "none open")


_CATALOG_FIX = "start PostgreSQL, or correct WAREHOUSE_CATALOG_URL / WAREHOUSE_CATALOG_SCHEMA"
_NO_LAKE = "creating a new DuckLake is explicitly disabled"


def _one_line(text: str) -> str:
    return "; ".join(line.strip() for line in text.splitlines() if line.strip())


def _check_lake(target: warehouse.Target) -> Iterator[Finding]:
    """The lake's data path is writable; its catalog attaches and takes a (rolled back) write."""
    data = target.path
    if not data.is_dir():
        yield Finding(FAIL, "lake data", f"{data} does not exist", "pncp init")
    elif not os.access(data, os.W_OK | os.X_OK):
        yield Finding(FAIL, "lake data", f"{data} is not writable", f"chmod -R u+w {data}")
    else:
        yield Finding(OK, "lake data", f"{data} exists and is writable")
    try:
        # Read-only first: a read-write attach would create a lake in an empty catalog.
        warehouse.connect(target, read_only=True).close()
        conn = warehouse.connect(target)
    except warehouse.CatalogUnavailableError as exc:
        if _NO_LAKE in str(exc):
            yield Finding(
                FAIL,
                "warehouse",
                f"{target.describe()}: no DuckLake in catalog schema {target.catalog_schema}",
                "pncp init",
            )
        else:
            yield Finding(FAIL, "warehouse", _one_line(str(exc)), _CATALOG_FIX)
        return
    try:
        tables, size = lake.size(conn)
        current = lake.current_snapshot(conn).id
        conn.execute("BEGIN TRANSACTION")
        conn.execute("CREATE TABLE main.doctor_write_probe (probe INTEGER)")
        conn.execute("ROLLBACK")
        yield Finding(
            OK,
            "warehouse",
            f"{target.describe()}: catalog schema {target.catalog_schema} attached, readable "
            f"and writable, {tables} tables, {size / 2**20:.1f} MB, snapshot {current}",
        )
        yield from _check_archive(conn)
    except duckdb.Error as exc:
        detail = _one_line(warehouse.redact(str(exc), target.catalog_url()))
        yield Finding(FAIL, "warehouse", f"{target.describe()}: {detail}", _CATALOG_FIX)
    finally:
        conn.close()


def check_payload_store(config: Settings) -> Finding:
    root = payload_store.root_beside(warehouse.target_from(config).anchor)
    if not root.exists():
        return Finding(WARN, "payload store", f"{root} does not exist yet", "pncp init")
    if not os.access(root, os.W_OK):
        return Finding(FAIL, "payload store", f"{root} is not writable", f"chmod -R u+w {root}")
    bodies = sum(1 for _ in root.glob(f"[0-9a-f][0-9a-f]/*{payload_store.SUFFIX}"))
    return Finding(OK, "payload store", f"{root} ({bodies} files)")


def check_extensions() -> Finding:
    """DuckDB's extensions load by name from the project's directory, with nothing downloaded."""
    names = sorted(extensions.EXTENSIONS)
    try:
        conn = duckdb.connect(config=extensions.connection_config())
        try:
            for name in names:
                conn.execute(f"LOAD {name}")
        finally:
            conn.close()
    except (extensions.ExtensionMissingError, duckdb.Error) as exc:
        first = (str(exc).strip().splitlines() or [type(exc).__name__])[0]
        return Finding(FAIL, "duckdb extensions", first, SETUP_FIX)
    where = extensions.EXTENSION_DIR.relative_to(PROJECT_ROOT)
    return Finding(
        OK, "duckdb extensions", f"DuckDB {extensions.version()}: {', '.join(names)} ({where}/)"
    )


def check_instance(config: Settings) -> Finding:
    """The Dagster instance's storage answers (SQLite under DAGSTER_HOME, or PostgreSQL)."""
    home = config.dagster_home_path
    if not (home / "dagster.yaml").exists():
        return Finding(FAIL, "dagster instance", f"{home}/dagster.yaml missing", "pncp init")
    if config.dagster_pg_url is not None:
        import psycopg2

        try:
            psycopg2.connect(config.dagster_pg_url.get_secret_value(), connect_timeout=5).close()
        except psycopg2.Error as exc:
            first = str(exc).strip().splitlines()[0] if str(exc).strip() else type(exc).__name__
            return Finding(
                FAIL,
                "dagster instance",
                f"PostgreSQL storage unreachable: {first}",
                "start PostgreSQL or correct DAGSTER_PG_URL, then pncp init",
            )
    import dagster as dg

    try:
        with dg.DagsterInstance.from_config(str(home)) as instance:
            runs = instance.get_runs_count()
            storage = type(instance.run_storage).__name__
    except Exception as exc:
        return Finding(FAIL, "dagster instance", f"{home}: {exc}", "pncp init")
    return Finding(OK, "dagster instance", f"{home} ({storage}, {runs} runs)")


def _expected_slots(config: Settings) -> str:
    slots = config.warehouse_slots
    if config.warehouse_backend == "ducklake":
        return f"{slots} slot{'s' if slots != 1 else ''} (WAREHOUSE_WRITERS on ducklake)"
    return "1 slot (one writer on a DuckDB file)"


def check_warehouse_pool(config: Settings) -> Finding:
    """Who holds the warehouse pool, and whether it admits as many writers as the backend
    takes; a holder whose process is gone is reported with the fix."""
    from project.cli.runs_cmds import pool_holders, pool_limit

    pool = config.warehouse_pool
    expected = _expected_slots(config)
    try:
        found = pool_holders(config)
        limit = pool_limit(config)
    except Exception as exc:
        return Finding(WARN, "warehouse pool", f"cannot read the pool {pool}: {exc}")
    dead = [h for h in found if h.dead_reason]
    if dead:
        return Finding(
            FAIL,
            "warehouse pool",
            "; ".join(f"held by dead {h.describe()}: {h.dead_reason}" for h in dead),
            " or ".join(f"pncp free-run {h.run_id}" for h in dead)
            + " (any run that needs the warehouse also frees it)",
        )
    if limit is not None and limit != config.warehouse_slots:
        return Finding(
            WARN,
            "warehouse pool",
            f"{pool} admits {limit} writer(s); the warehouse expects {expected}",
            "the next run or pncp backup sets it, or: "
            f"dagster instance concurrency set {pool} {config.warehouse_slots}",
        )
    if found:
        held = "; ".join(h.describe() for h in found)
        return Finding(OK, "warehouse pool", f"{pool} ({expected}) held by {held}")
    return Finding(OK, "warehouse pool", f"{pool} is free ({expected})")


def check_api(config: Settings) -> Finding:
    """One small real request: page 1 of yesterday's contratos."""
    settings = ClientSettings.from_settings(
        config, timeout_s=min(config.pncp_timeout_s, 15.0), max_retries=0, rate_limit_per_s=0
    )
    endpoint = ENDPOINTS["contratos"]
    day = date.today() - timedelta(days=1)

    async def probe() -> int:
        async with PncpClient(settings) as client:
            result = await client.fetch_page(
                endpoint, endpoint.window_params(day, day), 1, 10, keep_records=False
            )
            return result.http_status

    started = time.monotonic()
    client_log = logging.getLogger("project.pncp.client")
    level = client_log.level
    client_log.setLevel(logging.ERROR)  # the finding reports the failure, once
    try:
        status = asyncio.run(probe())
    except (PncpError, OSError, ValueError) as exc:
        return Finding(
            FAIL,
            "pncp api",
            f"{config.pncp_base_url} failed: {exc}",
            "check PNCP_BASE_URL, the network and any proxy",
        )
    finally:
        client_log.setLevel(level)
    elapsed = time.monotonic() - started
    return Finding(OK, "pncp api", f"{config.pncp_base_url} answered {status} in {elapsed:.2f} s")


def run_checks(min_free_gb: float) -> Iterator[Finding]:
    pyproject = tomllib.loads((PROJECT_ROOT / "pyproject.toml").read_text())
    lock_path = PROJECT_ROOT / "uv.lock"
    lock = tomllib.loads(lock_path.read_text()) if lock_path.exists() else {}
    yield check_python(pyproject)
    yield check_packages(pyproject, lock)
    try:
        config = load_settings()
    except SettingsError as exc:
        detail = "; ".join(line.strip() for line in str(exc).splitlines()[1:])
        yield Finding(FAIL, "settings", detail, "correct the variable in the environment or .env")
        yield Finding(WARN, "remaining checks", "skipped: they need valid settings")
        return
    yield Finding(OK, "settings", f"valid (data dir {config.data_path})")
    target = warehouse.target_from(config)
    yield check_disk(target.path if target.is_lake else config.data_path, min_free_gb)
    yield from check_warehouse(config)
    yield check_payload_store(config)
    yield check_extensions()
    instance = check_instance(config)
    yield instance
    if instance.level == OK:
        yield check_warehouse_pool(config)
    yield check_api(config)
