"""End-to-end harness: `dagster dev` (webserver + daemon) as users start it, on a free port.

One `dagster dev` per test module, with its own DAGSTER_HOME, data directory and warehouse,
pointed at the session's PNCP simulator. Runs launched through GraphQL (or the UI) go
through the instance's run queue, which only the daemon drains, so the webserver alone
would leave them QUEUED: that is why the fixture starts `dagster dev`, not
`dagster-webserver`.
"""

from __future__ import annotations

import contextlib
import os
import signal
import socket
import subprocess
import sys
import time
from collections.abc import Callable, Iterator, Mapping
from dataclasses import dataclass
from datetime import date
from pathlib import Path

import httpx
import pytest

from project.settings import PROJECT_ROOT
from project.simulators.pncp import PncpSimulator, expected_total

IN_CI = os.environ.get("CI", "").lower() == "true"
BIN = Path(sys.executable).parent
LOCATION = "procurement_platform"  # workspace.yaml
FINISHED = {"SUCCESS", "FAILURE", "CANCELED"}

LOCATION_QUERY = """
{ workspaceOrError { ... on Workspace { locationEntries {
    name
    locationOrLoadError {
      __typename
      ... on RepositoryLocation { repositories { name } }
      ... on PythonError { message }
    } } } } }
"""

# What the UI's "Materialize" button sends (LaunchRunMutation in the Dagster UI).
LAUNCH_RUN = """
mutation LaunchRun($executionParams: ExecutionParams!) {
  launchPipelineExecution(executionParams: $executionParams) {
    __typename
    ... on LaunchRunSuccess { run { runId status } }
    ... on InvalidSubsetError { message }
    ... on RunConfigValidationInvalid { errors { message } }
    ... on PythonError { message }
  }
}
"""

RUN_STATUS = """
query RunStatus($runId: ID!) {
  runOrError(runId: $runId) { __typename ... on Run { status } ... on PythonError { message } }
}
"""

GROUP_ASSETS = """
query GroupAssets($group: AssetGroupSelector!) {
  assetNodes(group: $group) { assetKey { path } }
}
"""

COVERAGE_HOOKS = ("COVERAGE_PROCESS_CONFIG", "COVERAGE_PROCESS_START")


def untraced(env: Mapping[str, str]) -> dict[str, str]:
    """`env` without coverage's subprocess hook.

    `make test` measures Python subprocesses (pyproject: `patch = subprocess`), which
    doubles the CPU of Dagster and dbt processes; the code these tests run in children is
    measured by faster tests, so their children are left untraced.
    """
    return {k: v for k, v in env.items() if k not in COVERAGE_HOOKS}


@pytest.fixture
def child_environ() -> Callable[[], dict[str, str]]:
    """Call it for a copy of this process's environment, untraced, for a child process."""
    return lambda: untraced(os.environ)


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def _default_sigint() -> None:
    """Child setup: restore SIGINT's default before exec.

    `dagster dev` maps SIGTERM to its SIGINT handler; under a shell that ignores SIGINT
    (background jobs, some CI runners) it would inherit the "ignore" and never stop.
    """
    signal.signal(signal.SIGINT, signal.SIG_DFL)


@dataclass
class DagsterDev:
    """A running `dagster dev` and the places its runs write to."""

    url: str
    home: Path
    warehouse: Path
    log: Path
    simulator: PncpSimulator

    def graphql(self, query: str, variables: dict | None = None) -> dict:
        answer = httpx.post(
            f"{self.url}/graphql", json={"query": query, "variables": variables or {}}, timeout=30
        )
        answer.raise_for_status()
        body = answer.json()
        assert "errors" not in body, body["errors"]
        return body["data"]

    def launch(self, asset_path: list[str], partition: str) -> str:
        """Launch a materialization exactly as the UI does; returns the run id."""
        return self.launch_assets([asset_path], partition)

    def launch_assets(self, asset_paths: list[list[str]], partition: str) -> str:
        """Launch one run of several assets of one partition, as the UI's "Materialize
        all" of a selection does; returns the run id."""
        params = {
            "selector": {
                "repositoryLocationName": LOCATION,
                "repositoryName": "__repository__",
                "pipelineName": "__ASSET_JOB",
                "assetSelection": [{"path": path} for path in asset_paths],
            },
            "mode": "default",
            "executionMetadata": {"tags": [{"key": "dagster/partition", "value": partition}]},
        }
        launched = self.graphql(LAUNCH_RUN, {"executionParams": params})["launchPipelineExecution"]
        assert launched["__typename"] == "LaunchRunSuccess", launched
        return launched["run"]["runId"]

    def group_assets(self, *groups: str) -> list[list[str]]:
        """The asset keys (paths) of the code location's asset groups `groups`."""
        paths = []
        for group in groups:
            selector = {
                "groupName": group,
                "repositoryName": "__repository__",
                "repositoryLocationName": LOCATION,
            }
            nodes = self.graphql(GROUP_ASSETS, {"group": selector})["assetNodes"]
            assert nodes, f"no assets in group {group}"
            paths.extend(node["assetKey"]["path"] for node in nodes)
        return paths

    def wait_for_run(self, run_id: str, timeout_s: float = 300) -> str:
        """Poll the run's status until it finishes; returns the final status."""
        deadline = time.monotonic() + timeout_s
        status = "unknown"
        while time.monotonic() < deadline:
            run = self.graphql(RUN_STATUS, {"runId": run_id})["runOrError"]
            assert run["__typename"] == "Run", run
            status = run["status"]
            if status in FINISHED:
                return status
            time.sleep(1)
        raise AssertionError(f"run {run_id} still {status} after {timeout_s:.0f} s\n{self.tail()}")

    def expected_records(self, endpoint: str, day: str) -> int:
        return expected_total(self.simulator.config, endpoint, date.fromisoformat(day))

    def tail(self, chars: int = 4000) -> str:
        return self.log.read_text(errors="replace")[-chars:] if self.log.exists() else ""


def _wait_until_loaded(dev: DagsterDev, process: subprocess.Popen, timeout_s: float) -> None:
    deadline = time.monotonic() + timeout_s
    last = "no answer"
    while time.monotonic() < deadline:
        if process.poll() is not None:
            raise AssertionError(f"dagster dev exited with {process.returncode}\n{dev.tail()}")
        try:
            entries = dev.graphql(LOCATION_QUERY)["workspaceOrError"]["locationEntries"]
            loaded = entries[0]["locationOrLoadError"] if entries else None
            if loaded and loaded["__typename"] == "RepositoryLocation":
                return
            last = repr(loaded)
        except (httpx.HTTPError, AssertionError, KeyError, TypeError, ValueError) as exc:
            last = repr(exc)
        time.sleep(1)
    raise AssertionError(f"dagster dev did not load the code location: {last}\n{dev.tail()}")


def _stop(process: subprocess.Popen) -> None:
    """Ask `dagster dev` to shut down cleanly, then kill whatever is left of its group."""
    if process.poll() is None:
        process.send_signal(signal.SIGTERM)
        with contextlib.suppress(subprocess.TimeoutExpired):
            process.wait(timeout=90)  # it waits up to 60 s for the webserver and daemon
    with contextlib.suppress(ProcessLookupError):
        os.killpg(process.pid, signal.SIGKILL)  # run workers, code servers
    process.wait(timeout=30)


@pytest.fixture(scope="module")
def dagster_dev(
    tmp_path_factory: pytest.TempPathFactory, simulator: PncpSimulator
) -> Iterator[DagsterDev]:
    """`dagster dev` on a free port with an isolated instance, pointed at the simulator."""
    base = tmp_path_factory.mktemp("dagster_dev")
    env = {
        **{
            k: v
            for k, v in untraced(dict(os.environ)).items()
            if k not in ("DAGSTER_PG_URL", "LOG_FORMAT")
        },
        "PLATFORM_DATA_DIR": str(base / "data"),
        "WAREHOUSE_PATH": str(base / "data" / "warehouse.duckdb"),
        "EXPORTS_DIR": str(base / "data" / "exports"),
        "DAGSTER_HOME": str(base / "dagster_home"),
        "PNCP_BASE_URL": simulator.base_url,
        "PNCP_MAX_CONCURRENCY": "8",
        "PNCP_RATE_LIMIT_PER_S": "0",
    }
    subprocess.run(
        [sys.executable, "-m", "project.lib.instance"], cwd=PROJECT_ROOT, env=env, check=True
    )
    port = free_port()
    dev = DagsterDev(
        url=f"http://127.0.0.1:{port}",
        home=base / "dagster_home",
        warehouse=base / "data" / "warehouse.duckdb",
        log=base / "dagster_dev.log",
        simulator=simulator,
    )
    with dev.log.open("wb") as log:
        process = subprocess.Popen(
            [str(BIN / "dagster"), "dev", "-w", "workspace.yaml",
             "-h", "127.0.0.1", "-p", str(port)],
            cwd=PROJECT_ROOT, env=env, stdout=log, stderr=subprocess.STDOUT,
            start_new_session=True, preexec_fn=_default_sigint,
        )  # fmt: skip
    try:
        _wait_until_loaded(dev, process, timeout_s=240)
        yield dev
    finally:
        _stop(process)
