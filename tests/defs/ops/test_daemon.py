"""A real `dagster-daemon` and code server run the platform's operations end to end.

One session (module fixture, a minute or two): a temporary SQLite instance rendered
from the project's template with JSON logs, a code server
(`tests/defs/ops/locations/daemon_location.py`, built from the project's ops pieces)
and the daemon, as in production, plus a local webhook receiver. The schedule is started
as an operator would start the project's (stopped) schedules. The session waits until
a schedule tick has launched a run, the automation sensor has re-materialized the
downstream mart, the alert sensors have posted, and the metrics sensor has written the
warehouse; each test then checks one of those outcomes.
"""

from __future__ import annotations

import importlib.util
import json
import os
import socket
import subprocess
import sys
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import dagster as dg
import duckdb
import pytest
import yaml
from dagster._core.errors import DagsterUserCodeUnreachableError
from dagster._core.scheduler.instigation import ScheduleInstigatorData
from dagster._core.workspace.context import WorkspaceProcessContext
from dagster._core.workspace.load_target import WorkspaceFileTarget
from dagster._grpc.client import DagsterGrpcClient

from project.lib.instance import ensure_dagster_home
from project.settings import PROJECT_ROOT, get_settings, load_settings

LOCATION = Path(__file__).parent / "locations" / "daemon_location.py"
LOCATION_NAME = "ops_daemon_test"
SECRET_TOKEN = "tok-never-logged-5d1e"
UI_URL = "http://dagster.test:3000"
SCHEDULE = "extract_daily_schedule"
DEADLINE_S = 170
BIN = Path(sys.executable).parent

pytestmark = pytest.mark.slow


@dataclass
class Session:
    home: Path
    warehouse: Path
    json_log: Path
    runs: list[dg.DagsterRun]
    run_end: dict[str, float]
    run_start: dict[str, float]
    alerts: list[dict]
    webhook_secret: str
    outputs: dict[str, str]
    observations: list[dg.EventLogRecord]


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def _load_location() -> object:
    spec = importlib.util.spec_from_file_location("ops_daemon_location", LOCATION)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def _metric_rows(warehouse: Path) -> list[tuple]:
    if not warehouse.exists():
        return []
    try:
        with duckdb.connect(str(warehouse), read_only=True) as conn:
            return conn.execute(
                """SELECT run_id, asset, metric, value FROM meta.pipeline_metrics
                   WHERE metric LIKE 'run_%' ORDER BY ALL"""
            ).fetchall()
    except (duckdb.IOException, duckdb.CatalogException):
        return []  # the sensor is writing, or has not created the table yet


def _done(instance: dg.DagsterInstance, webhook: Any, warehouse: Path) -> bool:
    runs = instance.get_runs()
    scheduled = [
        r for r in runs if r.tags.get("dagster/schedule_name") == SCHEDULE and r.is_finished
    ]
    automated = [
        r
        for r in runs
        if r.tags.get("dagster/sensor_name") == "automation_python"
        and r.status == dg.DagsterRunStatus.SUCCESS
    ]
    titles = [a.get("text", "") for a in webhook.received()]
    return (
        bool(scheduled and automated)
        and any(t.startswith("Run failed") for t in titles)
        and any("downstream totals_reconcile" in t for t in titles)
        and {row[1] for row in _metric_rows(warehouse)} >= {"upstream", "downstream"}
    )


def _wait_until_serving(port: int, process: subprocess.Popen, deadline: float) -> None:
    """The daemon starts once the code server answers, as a supervisor would order them."""
    client = DagsterGrpcClient(port=port, host="127.0.0.1")
    while True:
        try:
            client.ping("ready?")
            return
        except DagsterUserCodeUnreachableError:
            assert process.poll() is None, "the code server exited"
            assert time.monotonic() < deadline, "the code server did not start"
            time.sleep(0.5)


def _start_schedule(instance: dg.DagsterInstance, workspace: Path) -> None:
    """Start the (stopped) daily schedule as an operator would, dated back to before today's tick.

    The scheduler then catches up the tick it missed (00:00 UTC today) at its first
    iteration: one real run now, instead of waiting for tomorrow's.
    """
    with WorkspaceProcessContext(instance, WorkspaceFileTarget([str(workspace)])) as context:
        location = context.create_request_context().get_code_location(LOCATION_NAME)
        (repository,) = location.get_repositories().values()
        schedule = repository.get_schedule(SCHEDULE)
        state = instance.start_schedule(schedule)
        midnight = datetime.now(UTC).replace(hour=0, minute=0, second=0, microsecond=0)
        backdated = ScheduleInstigatorData(
            schedule.cron_schedule, start_timestamp=midnight.timestamp() - 1
        )
        instance.update_instigator_state(state.with_data(backdated))


@pytest.fixture(scope="module")
def session(
    tmp_path_factory: pytest.TempPathFactory, webhook: Any, stop_process_group: Callable
) -> Iterator[Session]:
    base = tmp_path_factory.mktemp("ops_daemon")
    env = {
        "DAGSTER_HOME": str(base / "dagster_home"),
        "PLATFORM_DATA_DIR": str(base / "data"),
        "LOG_FORMAT": "json",
        "ALERT_WEBHOOK_URL": webhook.url,
        "PNCP_API_TOKEN": SECRET_TOKEN,
        "DAGSTER_UI_URL": UI_URL,
    }
    with pytest.MonkeyPatch.context() as mp:
        for name, value in env.items():
            mp.setenv(name, value)
        for name in ("WAREHOUSE_PATH", "DAGSTER_PG_URL", "DAGSTER_EXECUTOR"):
            mp.delenv(name, raising=False)
        get_settings.cache_clear()
        settings = load_settings()
        home = ensure_dagster_home(settings)

        with dg.DagsterInstance.from_config(str(home)) as instance:
            # The mart exists before the daemon starts: what follows is a re-materialization.
            location = _load_location()
            job = location.defs.resolve_implicit_global_asset_job_def()
            seeded = job.execute_in_process(
                instance=instance,
                asset_selection=[dg.AssetKey("upstream"), dg.AssetKey("downstream")],
            )
            assert seeded.success

            port = _free_port()
            workspace = base / "workspace.yaml"
            workspace.write_text(
                yaml.safe_dump(
                    {
                        "load_from": [
                            {
                                "grpc_server": {
                                    "host": "127.0.0.1",
                                    "port": port,
                                    "location_name": LOCATION_NAME,
                                }
                            }
                        ]
                    }
                )
            )
            logs = {name: base / f"{name}.log" for name in ("code_server", "daemon")}
            commands = {
                "code_server": [
                    str(BIN / "dagster"), "code-server", "start", "-f", str(LOCATION),
                    "-a", "defs", "-d", str(PROJECT_ROOT), "-h", "127.0.0.1",
                    "-p", str(port), "--location-name", LOCATION_NAME, "--log-format", "json",
                ],
                "daemon": [
                    str(BIN / "dagster-daemon"), "run", "-w", str(workspace),
                    "--log-format", "json",
                ],
            }  # fmt: skip
            processes = {}
            deadline = time.monotonic() + DEADLINE_S
            try:
                for name, command in commands.items():
                    processes[name] = subprocess.Popen(
                        command,
                        cwd=PROJECT_ROOT,
                        env={**os.environ, **env},
                        stdout=logs[name].open("w"),
                        stderr=subprocess.STDOUT,
                        start_new_session=True,
                    )
                    if name == "code_server":
                        _wait_until_serving(port, processes[name], deadline)
                        _start_schedule(instance, workspace)
                while not _done(instance, webhook, settings.warehouse):
                    for name, process in processes.items():
                        assert process.poll() is None, logs[name].read_text()[-3000:]
                    assert time.monotonic() < deadline, "daemon session did not finish in time"
                    time.sleep(2)
                # The session is judged as of now: stopping the processes interrupts runs
                # still in flight (which the instance then retries, as transient failures),
                # and shutdown chatter (click's "Aborted!") is not a log.
                runs = instance.get_runs()
                stats = {r.run_id: instance.get_run_stats(r.run_id) for r in runs}
                alerts = webhook.received()
                outputs = {name: path.read_text() for name, path in logs.items()}
            finally:
                for process in reversed(processes.values()):  # the daemon first
                    stop_process_group(process)

            yield Session(
                home=home,
                warehouse=settings.warehouse,
                json_log=settings.json_log_file,
                runs=runs,
                run_start={k: s.start_time or 0 for k, s in stats.items()},
                run_end={k: s.end_time or 0 for k, s in stats.items()},
                alerts=alerts,
                webhook_secret=webhook.secret,
                outputs=outputs,
                observations=list(
                    instance.fetch_observations(dg.AssetKey("downstream"), limit=20).records
                ),
            )
    get_settings.cache_clear()


def _scheduled(session: Session) -> list[dg.DagsterRun]:
    """Finished runs of the schedule, oldest first."""
    runs = [
        r for r in session.runs if r.tags.get("dagster/schedule_name") == SCHEDULE and r.is_finished
    ]
    return sorted(runs, key=lambda r: session.run_start[r.run_id])


def test_a_schedule_tick_launches_a_real_run(session: Session) -> None:
    scheduled = _scheduled(session)
    assert scheduled
    first = scheduled[0]
    assert first.tags.get(".dagster/scheduled_execution_time")
    # The run really executed: upstream materialized, broken failed the run.
    assert first.status == dg.DagsterRunStatus.FAILURE
    assert session.run_end[first.run_id] > session.run_start[first.run_id] > 0


def test_a_run_that_failed_in_a_step_is_not_retried_as_a_whole(session: Session) -> None:
    failed = [r for r in _scheduled(session) if r.status == dg.DagsterRunStatus.FAILURE]
    assert failed
    assert all(r.tags.get("dagster/will_retry") == "false" for r in failed)
    assert not [r for r in session.runs if r.tags.get("dagster/parent_run_id")]


def test_the_automation_sensor_rematerializes_the_mart_after_its_upstream_updated(
    session: Session,
) -> None:
    first_extract = min(session.run_end[r.run_id] for r in _scheduled(session))
    automated = [
        r
        for r in session.runs
        if r.tags.get("dagster/sensor_name") == "automation_python"
        and r.status == dg.DagsterRunStatus.SUCCESS
    ]
    assert automated
    assert all(r.asset_selection == {dg.AssetKey("downstream")} for r in automated)
    assert automated[0].tags["platform/automation"] == "python"
    assert min(session.run_start[r.run_id] for r in automated) >= first_extract


def test_a_failed_run_posts_one_alert_with_run_asset_error_and_link(session: Session) -> None:
    failures = [a for a in session.alerts if a["text"].startswith("Run failed")]
    assert len(failures) == 1, "the same failure must be posted once (dedup)"
    alert = json.dumps(failures[0])
    first = _scheduled(session)[0]
    assert first.run_id in alert
    assert f"{UI_URL}/runs/{first.run_id}" in alert
    assert "broken" in alert
    assert "upstream API refused token ***" in alert
    assert SECRET_TOKEN not in alert


def test_failing_error_checks_post_alerts_from_failed_and_successful_runs(
    session: Session,
) -> None:
    titles = {a["text"].split(" (run")[0] for a in session.alerts}
    assert "Check failed: upstream rows_expected" in titles  # in the failed scheduled run
    assert "Check failed: downstream totals_reconcile" in titles  # in the automation run
    check = next(a for a in session.alerts if "rows_expected" in a["text"])
    assert "3 rows, expected 4" in json.dumps(check)


def test_run_metrics_reach_the_warehouse_and_the_asset_events(session: Session) -> None:
    rows = _metric_rows(session.warehouse)
    by_asset: dict[str, dict[str, float]] = {}
    for _run_id, asset, metric, value in rows:
        by_asset.setdefault(asset, {})[metric] = value
    assert by_asset["upstream"]["run_records"] == 3
    assert by_asset["upstream"]["run_bytes"] == 512
    assert by_asset["downstream"]["run_peak_rss_mb"] > 10
    assert by_asset["downstream"]["run_duration_s"] >= 0
    plotted = [o.asset_observation.metadata for o in session.observations]
    assert any("run_peak_rss_mb" in m and "run_duration_s" in m for m in plotted)


def test_run_logs_are_json_lines_with_run_id_duration_and_records(session: Session) -> None:
    parsed = [json.loads(line) for line in session.json_log.read_text().splitlines()]
    assert all(line["run_id"] and line["timestamp"] for line in parsed)
    finished_runs = {r.run_id for r in session.runs if r.is_finished}
    assert finished_runs <= {line["run_id"] for line in parsed}
    steps = [line for line in parsed if "duration_s" in line and line.get("outcome")]
    assert {line["run_id"] for line in steps} == finished_runs
    upstream = next(line for line in steps if line["asset"] == "upstream")
    assert upstream["records"] == 3
    failure = next(line for line in parsed if line.get("event") == "STEP_FAILURE")
    assert failure["asset"] == "broken"
    assert failure["error"] == "RuntimeError: upstream API refused token ***"


def test_daemon_logs_are_json_lines(session: Session) -> None:
    lines = [line for line in session.outputs["daemon"].splitlines() if line.strip()]
    assert len(lines) > 10
    events = [json.loads(line) for line in lines]
    assert any(SCHEDULE in e["event"] for e in events)


def test_no_secret_reaches_the_logs(session: Session) -> None:
    platform_logs = session.json_log.read_text() + session.outputs["daemon"]
    assert SECRET_TOKEN not in platform_logs
    everything = platform_logs + session.outputs["code_server"]
    assert session.webhook_secret not in everything
