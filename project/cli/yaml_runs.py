"""`pncp run --pipeline NAME`: a YAML pipeline (or a slice of it) as one Dagster run.

Kedro's slicing options map onto Dagster's selection syntax, and the run is an ordinary
run of the code location's asset job (in the UI, with its checks):

| option           | selection                                      |
| ---------------- | ---------------------------------------------- |
| `--pipeline P`   | `group:"P"` (the pipeline's outputs)            |
| `--tags T`       | and any of `tag:"T"` (node or pipeline tags)   |
| `--from-nodes N` | and `key:"<N's outputs>"+` (N and downstream)  |
| `--to-nodes N`   | and `+key:"<N's outputs>"` (N and upstream)    |
| `--params k=v`   | run config `ops.<P>__<node>.config.params`     |

`--env` picks the catalog environment (`CATALOG_ENV`) for the run. Everything is checked
before the run starts: the pipeline and nodes exist, the parameters overridden are
declared, the selection is not empty.
"""

from __future__ import annotations

import os
from collections.abc import Sequence
from dataclasses import dataclass, replace
from typing import Any

from project.cli.app import CliError

ENV_VAR = "CATALOG_ENV"


@dataclass(frozen=True)
class PipelineSlice:
    """What to run of a pipeline: the selection string and the run config."""

    pipeline: str
    selection: str
    run_config: dict[str, Any]
    label: str


def _either(terms: Sequence[str]) -> str:
    return "(" + " or ".join(terms) + ")"


def _key(dataset: str) -> str:
    return f'key:"{dataset.replace(".", "/")}"'


def plan_slice(
    name: str,
    *,
    tags: Sequence[str] = (),
    from_nodes: Sequence[str] = (),
    to_nodes: Sequence[str] = (),
    params: Sequence[str] = (),
) -> PipelineSlice:
    """The selection and run config for a slice of pipeline `name`, checked."""
    from project.lib.datasets.pipelines import (
        load_parameters,
        parse_overrides,
        pipeline_names,
        read_pipeline,
        with_overrides,
    )
    from project.resources.catalog_io import conf_folder
    from project.settings import PROJECT_ROOT

    conf = conf_folder("conf")
    known = pipeline_names(conf)
    if name not in known:
        folder = conf / "base" / "pipelines"
        shown = folder.relative_to(PROJECT_ROOT) if folder.is_relative_to(PROJECT_ROOT) else folder
        raise CliError(f"no pipeline {name!r} in {shown} (pipelines: {', '.join(known) or 'none'})")
    pipeline = read_pipeline(conf / "base" / "pipelines" / f"{name}.yml")
    parts = [f'group:"{name}"']
    if tags:
        declared = {tag for node in pipeline.nodes for tag in node.tags}
        unknown = [t for t in tags if t not in declared]
        if unknown:
            raise CliError(
                f"pipeline {name!r} has no node tagged {', '.join(map(repr, unknown))} "
                f"(tags: {', '.join(sorted(declared)) or 'none'})"
            )
        parts.append(_either([f'tag:"{t}"' for t in tags]))
    if from_nodes:
        outputs = [o for n in from_nodes for o in pipeline.node(n).outputs]
        parts.append(_either([f"{_key(o)}+" for o in outputs]))
    if to_nodes:
        outputs = [o for n in to_nodes for o in pipeline.node(n).outputs]
        parts.append(_either([f"+{_key(o)}" for o in outputs]))
    run_config: dict[str, Any] = {}
    try:
        overrides = parse_overrides(params)
        if overrides:
            with_overrides(load_parameters(conf), overrides)  # refuses undeclared keys
    except ValueError as exc:
        raise CliError(str(exc)) from None
    if overrides:
        ops = {
            f"{name}__{node.name}": {"config": {"params": overrides}}
            for node in pipeline.nodes
            if node.uses_parameters
        }
        run_config = {"ops": ops}
    label = " ".join(
        [f"pipeline {name}"]
        + [f"--tags {t}" for t in tags]
        + [f"--from-nodes {n}" for n in from_nodes]
        + [f"--to-nodes {n}" for n in to_nodes]
        + [f"--params {p}" for p in params]
    )
    return PipelineSlice(name, " and ".join(parts), run_config, label)


def run_pipeline(
    name: str,
    *,
    env: str | None,
    tags: Sequence[str],
    from_nodes: Sequence[str],
    to_nodes: Sequence[str],
    params: Sequence[str],
) -> None:
    """Plan the slice, run it through Dagster, print the outcome (exit 1 on failure)."""
    from project.cli.common import settings
    from project.cli.launch import Launcher
    from project.cli.pipeline_cmds import _execute

    if env:
        os.environ[ENV_VAR] = env
    planned = plan_slice(name, tags=tags, from_nodes=from_nodes, to_nodes=to_nodes, params=params)
    with Launcher(settings()) as launcher:
        run = launcher.plan(planned.label, planned.selection)
        _execute(launcher, [replace(run, run_config=planned.run_config)])
