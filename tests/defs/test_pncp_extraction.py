"""The extraction assets through Dagster: metadata, checks, failure and resume, no secrets."""

from datetime import date

import dagster as dg
import pytest

from project.settings import get_settings
from project.simulators.pncp import (
    DriftChange,
    FaultConfig,
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
        assert "meta.failed_requests" in failure.user_failure_data.description
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
