"""`pncp init`, `pncp doctor` and `pncp ui`, as subprocesses."""

from __future__ import annotations

import socket
import subprocess
import sys
import time
from collections.abc import Callable
from pathlib import Path

import httpx
import pytest
from dotenv import dotenv_values

from project.settings import PROJECT_ROOT, load_settings

ARCHIVE_TABLES = {
    ("raw", "api_requests"),
    ("raw", "payloads"),
    ("meta", "execution_log"),
    ("meta", "failed_requests"),
    ("meta", "schema_versions"),
}  # meta.pipeline_metrics is a platform table, created by the first run that records metrics


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def test_init_creates_env_instance_and_warehouse_and_is_idempotent(
    pncp, tmp_path: Path, scalar
) -> None:
    env_file = tmp_path / "checkout" / ".env"
    settings = load_settings()
    first = pncp("init", "--env-file", str(env_file))
    assert first.code == 0, first.output
    assert env_file.read_text() == (PROJECT_ROOT / ".env.example").read_text()
    assert dotenv_values(env_file) == {}, "a fresh .env pins nothing: the environment decides"
    assert (settings.dagster_home_path / "dagster.yaml").exists()
    tables = scalar(
        settings.warehouse,
        "SELECT list((schema_name, table_name)) FROM duckdb_tables()",
    )
    assert {tuple(t) for t in tables} >= ARCHIVE_TABLES
    assert (settings.warehouse.parent / "payloads" / "pncp").is_dir()
    assert "created from .env.example" in first.stdout
    assert "created (schemas" in first.stdout

    env_file.write_text("# the operator's own settings\n")
    again = pncp("init", "--env-file", str(env_file))
    assert again.code == 0, again.output
    assert env_file.read_text() == "# the operator's own settings\n"
    assert "exists, left as it is" in again.stdout
    assert "ready (schemas" in again.stdout


def test_doctor_passes_on_a_ready_checkout(pncp, archive: Path) -> None:
    assert pncp("init", "--env-file", str(archive.parent / ".env")).code == 0
    result = pncp("doctor")
    assert result.code == 0, result.output
    checks = {line.split(":")[0] for line in result.stdout.splitlines() if ":" in line}
    for check in ("OK    python", "OK    packages", "OK    settings", "OK    disk",
                  "OK    warehouse", "OK    payload store", "OK    dagster instance",
                  "OK    pncp api", "OK    failed requests", "OK    duckdb extensions",
                  "OK    warehouse pool"):  # fmt: skip
        assert check in checks, result.stdout
    assert "0 failures" in result.stdout
    assert "ducklake, excel, mysql_scanner, postgres_scanner" in result.stdout


def test_doctor_fails_with_a_fix_for_each_problem(pncp, failed_archive: Path) -> None:
    result = pncp(
        "doctor",
        "--min-free-gb",
        "1000000",
        env={"PNCP_BASE_URL": f"http://127.0.0.1:{_free_port()}/api/consulta"},
    )
    assert result.code == 1, result.output
    lines = result.stdout.splitlines()
    failed = {line.split(":")[0].split()[-1] for line in lines if line.startswith("FAIL")}
    assert {"disk", "api", "instance"} <= failed, result.stdout
    assert all("(fix: " in line for line in lines if line.startswith(("FAIL", "WARN")))
    assert any(
        line.startswith("WARN  failed requests: open: 1 in 2024-07")
        and "pncp retry-failed --month 2024-07" in line
        for line in lines
    ), result.stdout
    assert result.stderr.startswith("error: ")
    assert "Traceback" not in result.output


def test_doctor_names_the_process_holding_the_warehouse(pncp, archive: Path, lock) -> None:
    with lock(archive) as pid:
        result = pncp("doctor")
    assert result.code == 1
    assert f"FAIL  warehouse: {archive} is locked by another process (PID {pid})" in result.stdout
    assert f"(fix: wait for that run or shell to finish (ps -p {pid}))" in result.stdout


@pytest.mark.slow
def test_ui_serves_the_dagster_ui_with_the_code_location(stop_process_group: Callable) -> None:
    port = _free_port()
    ui = subprocess.Popen(
        [str(Path(sys.executable).parent / "pncp"), "ui", "--port", str(port)],
        stdout=subprocess.PIPE, stderr=subprocess.STDOUT, start_new_session=True,
    )  # fmt: skip
    query = "{ workspaceOrError { ... on Workspace { locationEntries { name "
    query += "locationOrLoadError { __typename } } } } }"
    deadline, entry = time.monotonic() + 240, None
    try:
        while time.monotonic() < deadline and entry is None:
            try:
                answer = httpx.post(
                    f"http://127.0.0.1:{port}/graphql", json={"query": query}, timeout=10
                ).json()
                entries = answer["data"]["workspaceOrError"]["locationEntries"]
                if entries and entries[0]["locationOrLoadError"]:
                    entry = entries[0]
            except (httpx.HTTPError, KeyError, TypeError, ValueError):
                pass
            time.sleep(1)
        page = httpx.get(f"http://127.0.0.1:{port}/", timeout=10)
    finally:
        stop_process_group(ui)
    assert entry is not None, "the UI never loaded the code location"
    assert entry["name"] == "procurement_platform"
    assert entry["locationOrLoadError"]["__typename"] == "RepositoryLocation"
    assert page.status_code == 200
    assert (load_settings().dagster_home_path / "dagster.yaml").exists()


@pytest.mark.slow
def test_two_first_extractions_started_together_on_a_fresh_project_both_succeed(
    pncp, simulator_env, tmp_path: Path, scalar
) -> None:
    import os

    import dagster as dg

    from tests.cli.conftest import PNCP

    assert pncp("init", "--env-file", str(tmp_path / ".env")).code == 0
    settings = load_settings()
    days = ("2024-07-03", "2024-07-04")
    started = [
        subprocess.Popen(
            [str(PNCP), "extract", "--day", day, "-e", "atas"],
            env={**os.environ, **simulator_env["env"]},
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
        )
        for day in days
    ]
    outputs = [process.communicate(timeout=600) for process in started]
    for process, (stdout, stderr) in zip(started, outputs, strict=True):
        assert process.returncode == 0, stdout + stderr
        assert "OperationalError" not in stderr
    with dg.DagsterInstance.from_config(str(settings.dagster_home_path)) as instance:
        runs = instance.get_runs()
    assert sorted(r.tags["dagster/partition"] for r in runs) == list(days)
    assert all(r.status == dg.DagsterRunStatus.SUCCESS for r in runs)
    archived = scalar(settings.warehouse, "SELECT sum(record_count) FROM raw.api_requests")
    assert archived == sum(simulator_env["expected"]("atas", day) for day in days)
