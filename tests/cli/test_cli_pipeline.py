"""Pipeline commands: runs launched through Dagster (in the instance, like any run), the
dry-run plan (nothing written) and retrying failed requests.
"""

from __future__ import annotations

import math
import os
import socket
from datetime import date, timedelta
from pathlib import Path

import dagster as dg
import pytest

from project.lib.pncp.endpoints import ENDPOINTS
from project.settings import load_settings
from project.simulators.pncp import FaultConfig, PageRef, PncpSimulator, SimulatorConfig

JULY = [date(2024, 7, 1) + timedelta(days=i) for i in range(31)]
DAY = date(2024, 7, 5)


def _runs(home: Path) -> list[dg.DagsterRun]:
    with dg.DagsterInstance.from_config(str(home)) as instance:
        return list(instance.get_runs())


def _materialized_partitions(home: Path, key: str) -> set[str]:
    with dg.DagsterInstance.from_config(str(home)) as instance:
        return set(instance.get_materialized_partitions(dg.AssetKey.from_user_string(key)))


@pytest.mark.slow
def test_extract_materializes_one_day_through_dagster(pncp, simulator_env, scalar) -> None:
    # What a deployment sets; the command runs its runs in its own process, one after
    # another, so an extraction there keeps the priority (a transformation may follow).
    nice = {"PNCP_EXTRACTION_NICE": "10"}
    result = pncp("extract", "--day", "2024-07-03", "--endpoint", "contratos", env=nice)
    assert result.code == 0, result.output
    settings = load_settings()
    (run,) = _runs(settings.dagster_home_path)
    assert run.status == dg.DagsterRunStatus.SUCCESS
    assert run.tags["pncp/command"] == "extract 2024-07-03"
    assert run.tags["dagster/partition"] == "2024-07-03"
    assert f"run {run.run_id} SUCCESS" in result.stdout
    assert _materialized_partitions(settings.dagster_home_path, "pncp/raw/contratos") == {
        "2024-07-03"
    }
    archived = scalar(settings.warehouse, "SELECT sum(record_count) FROM raw.api_requests")
    assert archived == simulator_env["expected"]("contratos", "2024-07-03")
    with dg.DagsterInstance.from_config(str(settings.dagster_home_path)) as instance:
        (record,) = instance.fetch_materializations(
            dg.AssetKey(["pncp", "raw", "contratos"]), limit=1
        ).records
    niceness = record.asset_materialization.metadata["cpu_niceness"].value
    assert niceness == os.getpriority(os.PRIO_PROCESS, 0)


@pytest.mark.slow
def test_transform_materializes_the_month_through_dagster(transformed: dict, scalar) -> None:
    result, home, warehouse_path = transformed["result"], transformed["home"], transformed["wh"]
    assert result.code == 0, result.output
    (run,) = _runs(home)
    assert run.status == dg.DagsterRunStatus.SUCCESS
    assert run.tags["dagster/partition"] == "2024-07-01"
    assert run.tags["pncp/command"] == "transform 2024-07"
    assert "dbt" not in result.stdout, "the run's own output goes to stderr"
    marts = scalar(
        warehouse_path,
        "SELECT count(*) FROM duckdb_tables() WHERE schema_name = 'marts'",
    )
    assert marts > 0
    contracts = scalar(
        warehouse_path,
        "SELECT count(*) FROM marts.contratos_mes WHERE mes_publicacao = '2024-07-01'",
    )
    assert contracts > 0
    with dg.DagsterInstance.from_config(str(home)) as instance:
        export = instance.get_latest_materialization_event(
            dg.AssetKey(["pncp", "exports", "contratos_mes"])
        ).asset_materialization
    assert export.partition == "2024-07-01"
    assert export.metadata["dagster/row_count"].value == contracts


@pytest.mark.slow
def test_run_month_extracts_every_day_then_transforms(pncp, simulator_env, scalar) -> None:
    result = pncp("--progress-every", "1", "run", "--month", "2024-07", "--endpoint", "contratos")
    assert result.code == 0, result.output
    # Without a terminal, progress is plain lines on stderr (stdout keeps the result):
    # one per stage at its start and end, and one a second in between.
    extract = _progress(result.stderr, "run 2024-07: extract")
    assert extract[0].startswith("0/31 endpoint-days, 0 pages, 0 records, 0 errors")
    assert extract[-1].startswith("31/31 endpoint-days, 31 pages, ")
    assert "done in" in extract[-1]
    done = [int(line.split("/")[0]) for line in extract]
    assert done == sorted(done)
    transform = _progress(result.stderr, "run 2024-07: transform")
    assert transform[0].startswith("0/")
    total = int(transform[-1].split("/")[1].split()[0])
    assert transform[-1].startswith(f"{total}/{total} assets, 0 errors, done in")
    assert "progress:" not in result.stdout
    settings = load_settings()
    runs = sorted(_runs(settings.dagster_home_path), key=lambda r: r.tags["pncp/command"])
    assert [r.tags["pncp/command"] for r in runs] == [
        "run 2024-07: extract",
        "run 2024-07: transform",
    ]
    assert all(r.status == dg.DagsterRunStatus.SUCCESS for r in runs)
    extract = runs[0]
    assert extract.tags["dagster/asset_partition_range_start"] == "2024-07-01"
    assert extract.tags["dagster/asset_partition_range_end"] == "2024-07-31"
    expected = sum(simulator_env["expected"]("contratos", d.isoformat()) for d in JULY)
    archived = scalar(settings.warehouse, "SELECT sum(record_count) FROM raw.api_requests")
    assert archived == expected
    assert _materialized_partitions(settings.dagster_home_path, "pncp/raw/contratos") == {
        d.isoformat() for d in JULY
    }
    assert "2024-07-01" in _materialized_partitions(
        settings.dagster_home_path, "pncp/marts/contratos_mes"
    )


def _progress(stderr: str, label: str) -> list[str]:
    """The figures of the progress lines of one stage, in order."""
    prefix = f"progress: {label}: "
    return [line.removeprefix(prefix) for line in stderr.splitlines() if line.startswith(prefix)]


def _closed_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def test_dry_run_against_an_unreachable_api_exits_1_saying_so(pncp) -> None:
    port = _closed_port()
    result = pncp(
        "dry-run", "--month", "2024-07", "-e", "atas",
        env={"PNCP_BASE_URL": f"http://127.0.0.1:{port}/api", "PNCP_MAX_RETRIES": "0",
             "PNCP_RATE_LIMIT_PER_S": "0"},
    )  # fmt: skip
    assert result.code == 1, result.output
    assert result.stderr.strip().splitlines()[-1] == (
        f"error: the PNCP API at 127.0.0.1:{port} could not be reached: all 31 page-1 "
        "requests failed (ConnectError); nothing could be planned"
    )
    assert "estimated requests to extract: at least 31" in result.stdout
    assert not load_settings().dagster_home_path.exists()


def test_dry_run_without_a_terminal_prints_periodic_progress_lines(pncp) -> None:
    slow = FaultConfig(latency_ms=60)
    with PncpSimulator(SimulatorConfig(scale=0.02, faults=slow)) as sim:
        result = pncp(
            "--progress-every", "0.2", "dry-run", "--month", "2024-07", "-e", "atas",
            env={"PNCP_BASE_URL": sim.base_url, "PNCP_MAX_CONCURRENCY": "2",
                 "PNCP_RATE_LIMIT_PER_S": "0"},
        )  # fmt: skip
    assert result.code == 0, result.output
    lines = _progress(result.stderr, "dry-run 2024-07")
    assert len(lines) >= 4, result.stderr  # start, at least two while probing, end
    assert lines[0].startswith("0/31 slices, 0 pages, 0 records, 0 errors")
    assert lines[-1].startswith("31/31 slices, 31 pages, ")
    assert "done in" in lines[-1]
    assert any("ETA" in line for line in lines[1:-1])
    done = [int(line.split("/")[0]) for line in lines]
    assert done == sorted(done)
    assert 0 < done[len(done) // 2] < 31, "lines came while it worked, not only at the end"
    assert "progress:" not in result.stdout


def test_run_refuses_a_month_that_is_not_a_partition_before_launching(pncp) -> None:
    result = pncp("run", "--month", "2999-01")
    assert result.code == 2
    assert result.stderr.startswith("error: 2999-01 is not a monthly partition (first 2024-01")
    assert result.stderr.count("\n") == 1
    assert not load_settings().dagster_home_path.exists()


def test_extract_refuses_a_day_that_has_not_ended(pncp) -> None:
    tomorrow = date.today() + timedelta(days=1)
    result = pncp("extract", "--day", tomorrow.isoformat())
    assert result.code == 2
    assert result.stderr.startswith(f"error: {tomorrow} is not a daily partition")
    assert not load_settings().dagster_home_path.exists()


def test_dry_run_plans_from_the_archive_and_page_one_without_writing(
    pncp, archive: Path, simulator_env
) -> None:
    expected = simulator_env["expected"]
    before = (archive.stat().st_mtime_ns, archive.read_bytes())
    result = pncp("dry-run", "--month", "2024-07", "--endpoint", "contratos", "-e", "atas")
    assert result.code == 0, result.output
    assert (archive.stat().st_mtime_ns, archive.read_bytes()) == before
    assert not load_settings().dagster_home_path.exists()
    rows = {
        line.split("|")[0].strip(): [c.strip() for c in line.split("|")[1:]]
        for line in result.stdout.splitlines()
        if "|" in line
    }
    for name in ("contratos", "atas"):
        size = ENDPOINTS[name].max_page_size
        pages = sum(max(1, math.ceil(expected(name, d.isoformat()) / size)) for d in JULY)
        archived = sum(max(1, math.ceil(expected(name, d.isoformat()) / size)) for d in JULY[:2])
        records = sum(expected(name, d.isoformat()) for d in JULY)
        days, slices, recs, total, held, to_fetch, errors = map(int, rows[name])
        assert (days, slices, recs, total, held, to_fetch, errors) == (
            31, 31, records, pages, archived, pages - archived, 0,
        )  # fmt: skip
    assert "monthly partition  2024-07-01" in result.stdout
    assert "2024-07-01 .. 2024-07-31 (31 days" in result.stdout


def test_dry_run_latest_plans_the_last_complete_month_and_writes_nothing(
    pncp, simulator_env
) -> None:
    from project.defs.pncp.partitions import monthly

    result = pncp("dry-run", "--latest", "--endpoint", "atas_atualizacao")
    assert result.code == 0, result.output
    assert f"Dry run for {monthly.get_last_partition_key()[:7]}" in result.stdout
    settings = load_settings()
    assert not settings.data_path.exists()
    assert not settings.dagster_home_path.exists()


def test_retry_failed_with_nothing_open_launches_nothing(pncp, archive: Path) -> None:
    result = pncp("retry-failed", "2024-07")
    assert result.code == 0, result.output
    assert "no open failed requests in 2024-07" in result.stdout
    assert not load_settings().dagster_home_path.exists()


@pytest.mark.slow
def test_retry_failed_rearchives_the_failed_pages_and_resolves_them(
    pncp, failed_archive: Path, simulator_env, scalar
) -> None:
    assert scalar(failed_archive, "SELECT count(*) FROM meta.failed_requests WHERE NOT resolved")
    result = pncp("retry-failed", "2024-07", "--max-retries", "3")
    assert result.code == 0, result.output
    assert "open failed requests in 2024-07: 1 before, 0 now" in result.stdout
    assert scalar(failed_archive, "SELECT count(*) FROM meta.failed_requests WHERE resolved") == 1
    archived = scalar(
        failed_archive,
        "SELECT sum(record_count) FROM raw.api_requests WHERE ingestion_date = '2024-07-02'",
    )
    assert archived == simulator_env["expected"]("contratos", "2024-07-02")
    (run,) = _runs(load_settings().dagster_home_path)
    assert run.tags["pncp/command"] == "retry-failed 2024-07-02"
    assert run.tags["dagster/partition"] == "2024-07-02"
    assert run.status == dg.DagsterRunStatus.SUCCESS


@pytest.mark.slow
def test_a_failed_run_exits_1_naming_the_incomplete_day(pncp, scalar) -> None:
    faults = FaultConfig(permanent_failures=frozenset({PageRef(path="atas", day=DAY, page=1)}))
    with PncpSimulator(SimulatorConfig(scale=0.02, faults=faults)) as faulty:
        host = faulty.base_url.split("/")[2]
        result = pncp(
            "extract",
            "--day",
            DAY.isoformat(),
            "-e",
            "atas",
            env={"PNCP_BASE_URL": faulty.base_url, "PNCP_MAX_RETRIES": "0"},
        )
    assert result.code == 1
    assert "Traceback" not in result.output
    error = result.stderr.strip().splitlines()[-1]
    assert error.startswith("error: run ")
    assert (
        f"pncp__raw__atas: atas {DAY}: 1 page failed (HTTP 500 to {host}); "
        "resume with pncp retry-failed --month 2024-07"
    ) in error
    settings = load_settings()
    (run,) = _runs(settings.dagster_home_path)
    assert run.status == dg.DagsterRunStatus.FAILURE
    assert scalar(settings.warehouse, "SELECT count(*) FROM meta.failed_requests") == 1
