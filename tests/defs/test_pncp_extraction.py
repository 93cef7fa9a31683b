"""The extraction assets through Dagster: metadata, checks, failure and resume, no secrets;
what an operator sees of a failure (its headline, the failed requests, true counts)."""

import socket
from datetime import date

import dagster as dg
import pytest

from project.lib.pncp.endpoints import MODALIDADES
from project.settings import get_settings
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

CONTRATOS = dg.AssetKey(["pncp", "raw", "contratos"])


def _point_at(sim: PncpSimulator, monkeypatch: pytest.MonkeyPatch, **extra: str) -> None:
    monkeypatch.setenv("PNCP_BASE_URL", sim.base_url)
    monkeypatch.setenv("PNCP_MAX_CONCURRENCY", "8")
    monkeypatch.setenv("PNCP_RATE_LIMIT_PER_S", "0")
    monkeypatch.setenv("PNCP_MAX_RETRIES", "1")
    for name, value in extra.items():
        monkeypatch.setenv(name, value)
    get_settings.cache_clear()


def _run(instance: dg.DagsterInstance, partition: str, *, raise_on_error: bool = True):
    from project.definitions import defs

    job = defs().resolve_implicit_global_asset_job_def()
    return job.execute_in_process(
        instance=instance,
        partition_key=partition,
        asset_selection=[CONTRATOS],
        raise_on_error=raise_on_error,
    )


def _checks(result) -> dict[str, dg.AssetCheckEvaluation]:
    return {e.check_name: e for e in result.get_asset_check_evaluations()}


def test_a_materialization_reports_counts_and_passing_checks(
    warehouse_backend: str, instance: dg.DagsterInstance, monkeypatch: pytest.MonkeyPatch
) -> None:
    config = SimulatorConfig(scale=0.05)
    with PncpSimulator(config) as sim:
        _point_at(sim, monkeypatch)
        result = _run(instance, "2024-07-02")
    assert result.success
    (materialization,) = result.asset_materializations_for_node("pncp__raw__contratos")
    metadata = {k: v.value for k, v in materialization.metadata.items()}
    expected = expected_total(config, "contratos", date(2024, 7, 2))
    assert metadata["records_archived"] == metadata["records_expected"] == expected
    assert metadata["pages_fetched"] == -(-expected // 500)
    assert metadata["bytes_new"] > 0
    for key in ("retries", "throttled", "duration_s", "dedup_ratio", "failed_pages"):
        assert key in metadata
    assert metadata["compression_ratio"] > 3, "PNCP JSON compresses well with zstd"
    checks = _checks(result)
    assert checks["records_match_totals"].passed
    assert checks["schema_drift"].passed


def test_schema_drift_is_a_warn_check_listing_the_fields(
    instance: dg.DagsterInstance, monkeypatch: pytest.MonkeyPatch
) -> None:
    drift = SchemaDrift(
        endpoint="contratos", since=date(2024, 7, 3), change=DriftChange.RENAME,
        field="objetoContrato", new_name="objetoDoContrato",
    )  # fmt: skip
    config = SimulatorConfig(scale=0.05, faults=FaultConfig(schema_drift=(drift,)))
    with PncpSimulator(config) as sim:
        _point_at(sim, monkeypatch)
        assert _run(instance, "2024-07-02").success
        result = _run(instance, "2024-07-03")
    assert result.success, "drift warns, it does not fail the run"
    check = _checks(result)["schema_drift"]
    assert not check.passed
    assert check.severity == dg.AssetCheckSeverity.WARN
    assert check.metadata["added"].value == "objetoDoContrato"
    assert check.metadata["removed"].value == "objetoContrato"


def test_failed_pages_fail_the_run_and_a_rerun_resumes(
    warehouse_backend: str, instance: dg.DagsterInstance, monkeypatch: pytest.MonkeyPatch
) -> None:
    broken = frozenset({PageRef(path="contratos", day=date(2024, 7, 2), page=1)})
    config = SimulatorConfig(scale=0.05, faults=FaultConfig(permanent_failures=broken))
    with PncpSimulator(config) as sim:
        _point_at(sim, monkeypatch, PNCP_API_TOKEN="tok-must-not-leak")
        failed = _run(instance, "2024-07-02", raise_on_error=False)
        assert not failed.success
        failure = next(e for e in failed.all_events if e.is_step_failure).step_failure_data
        assert failure.user_failure_data.description.startswith("contratos 2024-07-02: 1 page")
        assert "meta.failed_requests" in failure.user_failure_data.metadata["see"].value
        assert failure.user_failure_data.metadata["failed_pages"].value == 1
        retries = [e for e in failed.all_events if e.event_type_value == "STEP_UP_FOR_RETRY"]
        assert len(retries) == 2, "the step retry policy re-ran the step (resuming) twice"
        sim.configure(permanent_failures=frozenset())
        resumed = _run(instance, "2024-07-02")
    assert resumed.success
    assert _checks(resumed)["records_match_totals"].passed
    texts = [str(e) for e in instance.all_logs(failed.run_id)] + [
        str(e) for e in instance.all_logs(resumed.run_id)
    ]
    assert not any("tok-must-not-leak" in t for t in texts)


def _closed_port() -> int:
    """A local port nothing listens on: connections to it are refused at once."""
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def _open_failures(reason_like: str = "%") -> list[tuple]:
    from project.lib import warehouse

    with warehouse.connection(get_settings().warehouse, read_only=True) as conn:
        return conn.execute(
            """SELECT endpoint, ingestion_date, modalidade, page, reason FROM meta.failed_requests
               WHERE NOT resolved AND reason LIKE ? ORDER BY modalidade, page""",
            [reason_like],
        ).fetchall()


def test_an_unreachable_api_fails_with_a_headline_naming_days_pages_cause_and_host(
    instance: dg.DagsterInstance, monkeypatch: pytest.MonkeyPatch
) -> None:
    port = _closed_port()
    monkeypatch.setenv("PNCP_BASE_URL", f"http://user:pw-must-not-leak@127.0.0.1:{port}/api")
    monkeypatch.setenv("PNCP_MAX_CONCURRENCY", "8")
    monkeypatch.setenv("PNCP_RATE_LIMIT_PER_S", "0")
    monkeypatch.setenv("PNCP_MAX_RETRIES", "1")
    get_settings.cache_clear()
    from project.definitions import defs

    key = dg.AssetKey(["pncp", "raw", "contratacoes_publicacao"])
    result = (
        defs()
        .resolve_implicit_global_asset_job_def()
        .execute_in_process(
            instance=instance,
            partition_key="2024-07-09",
            asset_selection=[key],
            raise_on_error=False,
        )
    )
    assert not result.success
    slices = len(MODALIDADES)  # one page 1 per modalidade, none of them reachable
    headline = (
        f"contratacoes_publicacao 2024-07-09: {slices} pages failed (ConnectError to "
        f"127.0.0.1:{port}); resume with pncp retry-failed --month 2024-07"
    )
    (failure,) = [e.step_failure_data for e in result.all_events if e.is_step_failure]
    assert failure.user_failure_data.description == headline
    assert headline in failure.error.message, "the step's own error, not Exceeded max_retries"
    assert "max_retries" not in failure.error.message
    retries = [e for e in result.all_events if e.event_type_value == "STEP_UP_FOR_RETRY"]
    assert len(retries) == 2, "the earlier attempts were retried (and resumed) as before"
    metadata = {k: v.value for k, v in failure.user_failure_data.metadata.items()}
    assert metadata["failed_pages"] == slices
    # At least the five refused requests that opened the circuit; each page is asked at most
    # once more (PNCP_MAX_RETRIES=1), and only while the circuit was still closed.
    assert 5 <= metadata["requests"] <= slices + metadata["retries"]
    assert metadata["retries"] <= 4
    # Every page is recorded with its reason: a refused connection, or the circuit that
    # opened after five of them, for the pages it kept from being requested (again).
    rows = _open_failures()
    assert [(r[0], str(r[1]), r[2], r[3]) for r in rows] == [
        ("contratacoes_publicacao", "2024-07-09", m, 1) for m in sorted(MODALIDADES)
    ]
    assert all("ConnectError" in r[4] for r in rows), [r[4] for r in rows]
    assert any("circuit open (opened by ConnectError)" in r[4] for r in rows)
    logs = [e.message for e in instance.all_logs(result.run_id)]
    assert any(f"calling the PNCP API at 127.0.0.1:{port}" in m for m in logs)
    assert not any("pw-must-not-leak" in str(e) for e in instance.all_logs(result.run_id))


def test_run_metadata_counts_match_the_simulators_statistics_under_faults(
    instance: dg.DagsterInstance, monkeypatch: pytest.MonkeyPatch
) -> None:
    faults = FaultConfig(
        fault_rate=0.3, kinds=[FaultKind.RATE_LIMITED, FaultKind.SERVER_ERROR], retry_after_s=0
    )
    with PncpSimulator(SimulatorConfig(scale=0.05, faults=faults)) as sim:
        _point_at(sim, monkeypatch, PNCP_MAX_RETRIES="10")
        from project.definitions import defs

        key = dg.AssetKey(["pncp", "raw", "contratacoes_publicacao"])
        result = (
            defs()
            .resolve_implicit_global_asset_job_def()
            .execute_in_process(
                instance=instance, partition_key="2024-07-02", asset_selection=[key]
            )
        )
        stats = sim.stats()
    (materialization,) = result.asset_materializations_for_node(
        "pncp__raw__contratacoes_publicacao"
    )
    metadata = {k: v.value for k, v in materialization.metadata.items()}
    faulted = sum(stats["by_fault"].values())
    assert faulted > 0, "the simulator injected faults"
    assert metadata["requests"] == stats["requests"]
    assert metadata["throttled"] == stats["by_status"]["429"]
    # Every page ended archived, so each injected fault cost exactly one request again.
    assert metadata["retries"] == faulted == metadata["requests"] - metadata["pages_fetched"]
    assert metadata["failed_pages"] == 0
    assert metadata["dagster/row_count"] == metadata["records_archived"] > 0


def test_each_day_of_a_range_run_gets_its_own_partition_metadata(
    instance: dg.DagsterInstance, monkeypatch: pytest.MonkeyPatch
) -> None:
    config = SimulatorConfig(scale=0.05)
    days = (date(2024, 7, 2), date(2024, 7, 3))
    with PncpSimulator(config) as sim:
        _point_at(sim, monkeypatch)
        from project.definitions import defs

        result = (
            defs()
            .resolve_implicit_global_asset_job_def()
            .execute_in_process(
                instance=instance,
                asset_selection=[CONTRATOS],
                tags={
                    "dagster/asset_partition_range_start": str(days[0]),
                    "dagster/asset_partition_range_end": str(days[1]),
                },
            )
        )
    assert result.success
    by_day = {
        m.partition: {k: v.value for k, v in m.metadata.items()}
        for m in result.asset_materializations_for_node("pncp__raw__contratos")
    }
    for day in days:
        expected = expected_total(config, "contratos", day)
        assert by_day[str(day)]["dagster/row_count"] == expected
        assert by_day[str(day)]["records_archived"] == expected
    assert by_day[str(days[0])]["dagster/row_count"] != by_day[str(days[1])]["dagster/row_count"]
