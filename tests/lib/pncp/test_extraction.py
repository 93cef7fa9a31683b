"""Extraction against the PNCP simulator: completeness, faults, kill -9, drift, secrets.

These are the acceptance tests of the extraction: real HTTP against the simulator, a
real DuckDB archive, no mocks.
"""

from __future__ import annotations

import hashlib
import logging
import signal
import subprocess
import sys
from datetime import date, timedelta
from pathlib import Path

import pytest

from project.lib import warehouse
from project.lib.pncp import payload_store
from project.lib.pncp.archive import open_failures
from project.lib.pncp.client import ClientSettings
from project.lib.pncp.endpoints import ENDPOINTS, MODALIDADES
from project.lib.pncp.runner import run_endpoint_day
from project.simulators.pncp import (
    DriftChange,
    FaultConfig,
    FaultKind,
    PageRef,
    PncpSimulator,
    SchemaDrift,
    SimulatorConfig,
    expected_total,
)

MONTH = [date(2024, 7, 1) + timedelta(days=i) for i in range(31)]
CONTRACTS_AND_PROCUREMENTS = ("contratos", "contratacoes_publicacao")
SMALL = 0.1  # a tenth of the measured daily volumes: a real month, quicker to pull twice


def _client(base_url: str, **overrides: object) -> ClientSettings:
    """Quick retries: the simulator's faults are transient unless configured otherwise.

    The timeout leaves room for a loaded CI machine (coverage tracing slows the in-process
    simulator); tests of slow responses set a shorter one with a longer `slow_s`.
    """
    fast = {
        "max_concurrency": 16,
        "rate_limit_per_s": 0,
        "timeout_s": 10.0,
        "max_retries": 8,
        "backoff_base_s": 0.05,
        "backoff_max_s": 0.5,
        "retry_after_max_s": 1.0,
    }
    return ClientSettings(base_url=base_url, **{**fast, **overrides})


def _extract(path: warehouse.Target | Path, settings: ClientSettings, endpoints, days) -> list:
    with warehouse.connection(path) as conn:
        return [run_endpoint_day(conn, settings, ENDPOINTS[e], d) for d in days for e in endpoints]


def _archive_content(path: warehouse.Target | Path) -> list[tuple]:
    """What the archive holds, independent of when and how it was fetched."""
    with warehouse.connection(path, read_only=True) as conn:
        return conn.execute(
            """SELECT endpoint, ingestion_date, modalidade, page, http_status, payload_sha256,
                      record_count, total_records
               FROM raw.api_requests ORDER BY ALL"""
        ).fetchall()


def _verify_payloads(path: warehouse.Target | Path) -> int:
    """Every request's body is in the store, whole, and hashes to its key."""
    with warehouse.connection(path, read_only=True) as conn:
        orphans = conn.execute(
            """SELECT count(*) FROM raw.api_requests r ANTI JOIN raw.payloads p
               USING (payload_sha256) WHERE r.payload_sha256 IS NOT NULL"""
        ).fetchone()[0]
        assert orphans == 0
        digests = [r[0] for r in conn.execute("SELECT payload_sha256 FROM raw.payloads").fetchall()]
        root = payload_store.root_for(conn)
    for digest in digests:
        assert hashlib.sha256(payload_store.read(root, digest)).hexdigest() == digest
    return len(digests)


@pytest.fixture(scope="module")
def small_month_baseline(tmp_path_factory: pytest.TempPathFactory) -> list[tuple]:
    """An uninterrupted, fault-free month at SMALL scale: what every other run must equal."""
    path = tmp_path_factory.mktemp("baseline") / "warehouse.duckdb"
    with PncpSimulator(SimulatorConfig(scale=SMALL)) as sim:
        outcomes = _extract(path, _client(sim.base_url), CONTRACTS_AND_PROCUREMENTS, MONTH)
    assert all(o.status == "complete" for o in outcomes)
    return _archive_content(path)


@pytest.mark.slow
def test_a_month_at_default_volume_extracts_completely(warehouse_path: Path) -> None:
    warehouse_target = warehouse_path  # a volume test: the file backend is enough
    config = SimulatorConfig(scale=1.0)
    with PncpSimulator(config) as sim:
        outcomes = _extract(
            warehouse_target,
            _client(sim.base_url, max_concurrency=24),
            CONTRACTS_AND_PROCUREMENTS,
            MONTH,
        )
    with warehouse.connection(warehouse_target, read_only=True) as conn:
        archived = dict(
            ((e, d), n)
            for e, d, n in conn.execute(
                """SELECT endpoint, ingestion_date, sum(record_count)
                   FROM raw.api_requests GROUP BY ALL"""
            ).fetchall()
        )
    for outcome in outcomes:
        report = outcome.report
        expected = expected_total(config, report.endpoint, report.day)
        assert outcome.status == "complete", (report.endpoint, report.day)
        assert archived[(report.endpoint, report.day)] == expected == report.records_total
    total = sum(archived.values())
    assert total > 250_000, f"default volume should be a realistic month, got {total}"


def test_rerunning_a_month_is_idempotent(
    warehouse_target: warehouse.Target, small_month_baseline
) -> None:
    with PncpSimulator(SimulatorConfig(scale=SMALL)) as sim:
        settings = _client(sim.base_url)
        _extract(warehouse_target, settings, CONTRACTS_AND_PROCUREMENTS, MONTH)
        again = _extract(warehouse_target, settings, CONTRACTS_AND_PROCUREMENTS, MONTH)
    assert all(o.report.pages_fetched == 0 for o in again), "a re-run fetched pages again"
    assert _archive_content(warehouse_target) == small_month_baseline


def test_with_ten_percent_faults_the_month_equals_a_fault_free_run(
    warehouse_target: warehouse.Target, small_month_baseline
) -> None:
    # slow answers (6 s) outlast the client's 4 s timeout: they are retried as timeouts
    faults = FaultConfig(fault_rate=0.10, slow_s=6.0, retry_after_s=0)
    with PncpSimulator(SimulatorConfig(scale=SMALL, faults=faults)) as sim:
        settings = _client(sim.base_url, timeout_s=4.0)
        outcomes = _extract(warehouse_target, settings, CONTRACTS_AND_PROCUREMENTS, MONTH)
        stats = sim.stats()
    assert all(o.status == "complete" for o in outcomes)
    retries = sum(o.report.retries for o in outcomes)
    assert retries > 50, "the faults did not bite"
    assert set(stats["by_fault"]) == {k.value for k in FaultKind}, stats["by_fault"]
    assert _archive_content(warehouse_target) == small_month_baseline
    _verify_payloads(warehouse_target)


def test_unrecoverable_pages_are_bookkept_and_a_later_run_retries_them(
    warehouse_target: warehouse.Target, small_month_baseline
) -> None:
    day = MONTH[3]
    broken = frozenset(
        {
            PageRef(path="contratos", day=day, page=1),
            PageRef(path="contratacoes_publicacao", day=day, page=2, modalidade=6),
        }
    )
    with PncpSimulator(
        SimulatorConfig(scale=SMALL, faults=FaultConfig(permanent_failures=broken))
    ) as sim:
        settings = _client(sim.base_url, max_retries=2)
        first = _extract(warehouse_target, settings, CONTRACTS_AND_PROCUREMENTS, MONTH)
        incomplete = {(o.report.endpoint, o.report.day) for o in first if o.status != "complete"}
        assert incomplete == {("contratos", day), ("contratacoes_publicacao", day)}
        with warehouse.connection(warehouse_target, read_only=True) as conn:
            failures = open_failures(conn)
        assert {(f["endpoint"], f["page"], f["modalidade"]) for f in failures} == {
            ("contratos", 1, 0),
            ("contratacoes_publicacao", 2, 6),
        }
        assert all(f["http_status"] == 500 and f["retry_count"] == 3 for f in failures)
        assert all(f["body"] for f in failures), "the failed body is kept for inspection"

        sim.configure(permanent_failures=frozenset())
        second = _extract(warehouse_target, settings, CONTRACTS_AND_PROCUREMENTS, MONTH)
    assert all(o.status == "complete" for o in second)
    with warehouse.connection(warehouse_target, read_only=True) as conn:
        assert open_failures(conn) == []
        resolved = conn.execute(
            "SELECT count(*) FROM meta.failed_requests WHERE resolved"
        ).fetchone()
    assert resolved == (2,)
    assert _archive_content(warehouse_target) == small_month_baseline


def test_kill_9_mid_month_then_rerun_ends_identical_to_an_uninterrupted_run(
    warehouse_target: warehouse.Target, small_month_baseline
) -> None:
    faults = FaultConfig(latency_ms=15)
    with PncpSimulator(SimulatorConfig(scale=SMALL, faults=faults)) as sim:
        command = [
            sys.executable, "-m", "project.lib.pncp.runner",
            "--base-url", sim.base_url,  # the warehouse: the settings' (file or lake)
            "--start", str(MONTH[0]), "--end", str(MONTH[-1]),
            "--endpoint", "contratos", "--endpoint", "contratacoes_publicacao",
        ]  # fmt: skip
        victim = subprocess.Popen(command, stdout=subprocess.PIPE, text=True)
        for _ in range(9):  # a few endpoint-days done, the next one under way
            assert victim.stdout.readline()
        victim.send_signal(signal.SIGKILL)
        victim.wait(timeout=30)
        partial = _archive_content(warehouse_target)
        assert 0 < len(partial) < len(small_month_baseline)
        _verify_payloads(warehouse_target)  # no half-written page survived the kill
        finish = subprocess.run(command, capture_output=True, text=True, timeout=600, check=False)
    assert finish.returncode == 0, finish.stdout[-2000:] + finish.stderr[-2000:]
    assert _archive_content(warehouse_target) == small_month_baseline
    _verify_payloads(warehouse_target)


def test_a_drifted_schema_is_detected_with_the_differing_fields(
    warehouse_target: warehouse.Target,
) -> None:
    since = MONTH[2]
    drift = (
        SchemaDrift(
            endpoint="contratos", since=since, change=DriftChange.RETYPE, field="valorGlobal"
        ),
        SchemaDrift(endpoint="contratos", since=since, change=DriftChange.ADD, field="novoCampo"),
    )
    config = SimulatorConfig(scale=SMALL, faults=FaultConfig(schema_drift=drift))
    with PncpSimulator(config) as sim:
        outcomes = _extract(warehouse_target, _client(sim.base_url), ["contratos"], MONTH[:4])
    checks = {o.report.day: o.schema for o in outcomes}
    assert not checks[MONTH[0]].drift
    assert not checks[MONTH[1]].drift
    for day in MONTH[2:4]:
        drift_found = checks[day].drift
        assert drift_found.added == ("novoCampo",)
        assert drift_found.changed == ("valorGlobal: number -> string",)
    with warehouse.connection(warehouse_target, read_only=True) as conn:
        versions = conn.execute(
            """SELECT first_partition FROM meta.schema_versions
               WHERE endpoint = 'contratos' ORDER BY 1"""
        ).fetchall()
    assert versions == [(MONTH[0],), (since,)]


def test_no_credential_reaches_logs_or_the_archive(
    warehouse_target: warehouse.Target, caplog: pytest.LogCaptureFixture
) -> None:
    token = "s3cr3t-token-value"
    faults = FaultConfig(fault_rate=0.3, kinds=["server_error", "rate_limited"], retry_after_s=0)
    with PncpSimulator(SimulatorConfig(scale=SMALL, faults=faults)) as sim:
        base = sim.base_url.replace("http://", "http://operator:p4ssw0rd@")
        settings = _client(base, api_token=token)
        with caplog.at_level(logging.DEBUG):
            _extract(warehouse_target, settings, ["contratos"], MONTH[:2])
    text = caplog.text + repr([r.__dict__ for r in caplog.records])
    assert caplog.records, "expected retry logs"
    for secret in (token, "p4ssw0rd", "operator:"):
        assert secret not in text
    with warehouse.connection(warehouse_target, read_only=True) as conn:
        dump = str(conn.execute("SELECT * FROM raw.api_requests").fetchall())
        dump += str(conn.execute("SELECT * FROM meta.execution_log").fetchall())
    assert token not in dump
    assert "p4ssw0rd" not in dump


def test_every_modalidade_is_requested_for_procurements(warehouse_target: warehouse.Target) -> None:
    with PncpSimulator(SimulatorConfig(scale=SMALL)) as sim:
        (outcome,) = _extract(
            warehouse_target, _client(sim.base_url), ["contratacoes_publicacao"], MONTH[:1]
        )
    assert outcome.completeness.slices == len(MODALIDADES)
    with warehouse.connection(warehouse_target, read_only=True) as conn:
        empty = conn.execute(
            "SELECT count(*) FROM raw.api_requests WHERE http_status = 204"
        ).fetchone()[0]
        without_etag = conn.execute(
            "SELECT count(*) FROM raw.api_requests WHERE http_status = 200 AND etag IS NULL"
        ).fetchone()[0]
    assert empty >= 1, "modalidades without records answer 204 and are archived as such"
    assert without_etag == 0, "the response's ETag is archived with the page"
