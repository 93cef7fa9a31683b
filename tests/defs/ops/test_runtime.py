"""The code location's default executor: multiprocess steps forked from a per-run server
that has the code location preloaded, and `in_process` when a run's config asks for it.

A real run of a two-step job, reconstructed from this module as a run worker would do it;
each step reports its process and its parent's command line. (multiprocessing keeps one
fork server per process, started with the environment of its first run: no other test
runs a multiprocess job inside the test process, where that would leak between tests.)
"""

import json
import os
from pathlib import Path

import dagster as dg
import pytest
from dagster._core.definitions.reconstruct import ReconstructableJob

from project.defs.ops.runtime import forkserver_executor, preloaded_modules


def _parent_command() -> str:
    return Path(f"/proc/{os.getppid()}/cmdline").read_bytes().replace(b"\0", b" ").decode()


class Report(dg.Config):
    folder: str


def _report(name: str, config: Report) -> None:
    """Where the step ran, in a file: the steps' processes share nothing else with the test."""
    found = {"pid": os.getpid(), "parent": _parent_command()}
    (Path(config.folder) / f"{name}.json").write_text(json.dumps(found))


@dg.asset
def first_step(config: Report) -> None:
    _report("first_step", config)


@dg.asset(deps=[first_step])
def second_step(config: Report) -> None:
    _report("second_step", config)


def two_steps() -> dg.JobDefinition:
    defs = dg.Definitions(
        assets=[first_step, second_step],
        jobs=[dg.define_asset_job("two_steps")],
        executor=forkserver_executor(),
    )
    return defs.resolve_job_def("two_steps")


def _steps(instance: dg.DagsterInstance, folder: Path, execution: dict | None = None) -> list:
    report = {"config": {"folder": str(folder)}}
    run_config = {"ops": {"first_step": report, "second_step": report}, **(execution or {})}
    job = ReconstructableJob.for_file(__file__, "two_steps")
    with dg.execute_job(job, instance=instance, run_config=run_config) as result:
        assert result.success
    return [json.loads((folder / f"{n}.json").read_text()) for n in ("first_step", "second_step")]


def test_each_step_is_forked_from_the_runs_preloaded_server(
    instance: dg.DagsterInstance, tmp_path: Path
) -> None:
    steps = _steps(instance, tmp_path)
    assert all("forkserver" in step["parent"] for step in steps), steps
    assert len({step["pid"] for step in steps}) == 2  # a process per step
    assert os.getpid() not in {step["pid"] for step in steps}
    preloaded = preloaded_modules()
    assert {"project.definitions", "project.defs.pncp.transformation"} <= set(preloaded)


def test_a_run_config_asking_for_in_process_runs_every_step_in_the_run(
    instance: dg.DagsterInstance, tmp_path: Path
) -> None:
    steps = _steps(instance, tmp_path, {"execution": {"config": {"in_process": {}}}})
    assert {step["pid"] for step in steps} == {os.getpid()}


def test_a_run_config_can_choose_another_start_method(
    instance: dg.DagsterInstance, tmp_path: Path
) -> None:
    spawn = {"execution": {"config": {"multiprocess": {"start_method": {"spawn": {}}}}}}
    steps = _steps(instance, tmp_path, spawn)
    assert not any("forkserver" in step["parent"] for step in steps), steps


def test_a_misspelt_executor_key_is_refused_not_ignored(
    instance: dg.DagsterInstance, tmp_path: Path
) -> None:
    with pytest.raises(dg.DagsterConfigMappingFunctionError) as raised:
        _steps(instance, tmp_path, {"execution": {"config": {"multiproces": {}}}})
    assert "unknown key(s) ['multiproces']" in str(raised.value.__cause__)
    assert not (tmp_path / "first_step.json").exists()
