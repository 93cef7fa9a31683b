"""`dagster dev` serves the UI with the code location loaded, no errors and no warning
about the code location's name at start-up."""

from __future__ import annotations

import os
import socket
import subprocess
import sys
import time
from collections.abc import Callable
from pathlib import Path

import dagster as dg
import httpx

from project.settings import PROJECT_ROOT

LOCATION_QUERY = """
{ workspaceOrError { ... on Workspace { locationEntries {
    name
    locationOrLoadError {
      __typename
      ... on RepositoryLocation { repositories { name assetNodes { assetKey { path } } } }
      ... on PythonError { message }
    } } } } }
"""


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def _wait_for_location(url: str, deadline: float) -> dict:
    last_error = "no answer"
    while time.monotonic() < deadline:
        try:
            answer = httpx.post(url, json={"query": LOCATION_QUERY}, timeout=10).json()
            entries = answer["data"]["workspaceOrError"]["locationEntries"]
            loaded = entries and entries[0]["locationOrLoadError"]
            if loaded:
                return entries[0]
            last_error = "location still loading"
        except (httpx.HTTPError, KeyError, TypeError, ValueError) as exc:
            last_error = repr(exc)
        time.sleep(1)
    raise AssertionError(f"dagster dev did not load the code location: {last_error}")


def test_dagster_dev_serves_the_ui_with_the_code_location_loaded(
    instance: dg.DagsterInstance, stop_process_group: Callable, tmp_path: Path
) -> None:
    port = _free_port()
    env = {**os.environ, "DAGSTER_HOME": str(instance.root_directory)}
    log = tmp_path / "dagster-dev.log"  # a file: an unread pipe would block dagster dev
    with log.open("wb") as out:
        dev = subprocess.Popen(
            [str(Path(sys.executable).parent / "dagster"), "dev", "-w", "workspace.yaml",
             "-h", "127.0.0.1", "-p", str(port)],
            cwd=PROJECT_ROOT, env=env, stdout=out, stderr=subprocess.STDOUT,
            start_new_session=True,
        )  # fmt: skip
    try:
        entry = _wait_for_location(f"http://127.0.0.1:{port}/graphql", time.monotonic() + 180)
        assert httpx.get(f"http://127.0.0.1:{port}/", timeout=10).status_code == 200
    finally:
        stop_process_group(dev)
    # The component tree's location name ([tool.dg.project] code_location_name) is the
    # workspace's: without it, dg names the location after the checkout's folder (`main`
    # in /work/main) and warns once per load that the names differ.
    startup = log.read_text(errors="replace")
    assert "Launching Dagster services" in startup
    assert "code location name" not in startup.lower(), startup
    assert "does not match the name" not in startup, startup
    assert entry["name"] == "procurement_platform"
    location = entry["locationOrLoadError"]
    assert location["__typename"] == "RepositoryLocation", location.get("message")
    keys = {"/".join(n["assetKey"]["path"]) for n in location["repositories"][0]["assetNodes"]}
    assert {"pncp/raw/contratos", "pncp/marts/pncp_extraction_health"} <= keys
