"""Pipelines declared in YAML: plain Python functions wired to catalog datasets by name.

One pipeline per file, `conf/base/pipelines/<name>.yml`, keyed by its name (Kedro's node
fields, so a Kedro user reads it at once):

```yaml
inventory:
  description: Stock levels and reorders from the warehouse's movements.
  tags: [inventory]                       # every node of the pipeline gets these
  nodes:
    - name: clean_movements               # default: the function's name
      func: project.lib.inventory.nodes.clean_movements
      inputs: [inventory.movements_raw, inventory.products_raw]   # positional arguments
      outputs: [inventory.movements_clean, inventory.movements_rejected]  # a tuple back
      tags: [staging]
    - func: project.lib.inventory.nodes.reorders
      inputs: {stock: inventory.stock_levels, policy: "params:reorder"}  # keyword arguments
      outputs: inventory.reorders          # one value back
```

An input is a dataset name, `params:<key>` (a value, dotted keys reach into mappings, from
`parameters*.yml` of `conf/base` under `conf/<env>`, merged field by field like the
catalog) or `parameters` (all of them). Outputs are a name (the function returns one
value), a list (a tuple of that length) or a mapping (a dict with those keys).

Everything that can be checked before a run is checked when the pipelines load, with the
file, line, pipeline and node in the message: unknown fields, a function that does not
exist or whose signature does not take the inputs, a parameter that is not declared, an
input that no dataset or output provides, an output without a catalog entry, two nodes
writing one dataset, and cycles. Nothing here imports Dagster: the component
(`project.components.dataset_catalog`) turns nodes into assets.
"""

from __future__ import annotations

import graphlib
import importlib
import inspect
import re
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import yaml
from omegaconf import DictConfig, OmegaConf
from omegaconf.errors import OmegaConfBaseException
from pydantic import BaseModel, ConfigDict, ValidationError

from project.lib.datasets import config
from project.lib.datasets.errors import (
    CatalogError,
    DatasetError,
    PipelineError,
    validation_problem,
)

PIPELINES_FOLDER = "pipelines"
PARAMETERS_PATTERNS = (
    "parameters*.yml",
    "parameters*.yaml",
    "parameters/**/*.yml",
    "parameters/**/*.yaml",
)
PARAMS_PREFIX = "params:"
ALL_PARAMETERS = "parameters"
_NAME = re.compile(r"^[A-Za-z_][A-Za-z0-9_]*$")
# What Dagster accepts as a tag key (a tag is selected with `tag:<name>`).
_TAG = re.compile(r"^[A-Za-z0-9_.-]{1,63}$")
_MISSING = object()


class _NodeFields(BaseModel):
    model_config = ConfigDict(extra="forbid")
    func: str
    name: str | None = None
    inputs: str | list[str] | dict[str, str] | None = None
    outputs: str | list[str] | dict[str, str]
    tags: list[str] = []
    description: str | None = None


class _PipelineFields(BaseModel):
    model_config = ConfigDict(extra="forbid")
    description: str | None = None
    tags: list[str] = []
    nodes: list[Any]


@dataclass(frozen=True)
class Node:
    """One function call: which inputs it takes, which datasets its result is saved to."""

    pipeline: str
    name: str
    func_path: str
    func: Callable[..., Any] = field(repr=False, compare=False)
    args: tuple[str, ...]
    kwargs: tuple[tuple[str, str], ...]
    outputs: tuple[str, ...]
    # How the result maps to outputs: one value, a tuple (in order), a dict (these keys).
    returns: str
    output_keys: tuple[str, ...]
    tags: tuple[str, ...]
    description: str
    file: Path
    line: int

    @property
    def inputs(self) -> tuple[str, ...]:
        return self.args + tuple(value for _, value in self.kwargs)

    @property
    def datasets(self) -> tuple[str, ...]:
        """The dataset inputs, in order, without parameters."""
        return tuple(dict.fromkeys(i for i in self.inputs if not is_parameter(i)))

    @property
    def uses_parameters(self) -> bool:
        return any(is_parameter(i) for i in self.inputs)

    def error(self, message: str) -> PipelineError:
        return PipelineError(
            message, file=self.file, line=self.line, pipeline=self.pipeline, node=self.name
        )

    def failed(self, message: str) -> DatasetError:
        """A run-time error of this node (its result does not fit its outputs)."""
        return DatasetError(f"pipeline {self.pipeline!r}, node {self.name!r}: {message}")

    def run(self, loaded: Mapping[str, Any], parameters: DictConfig) -> dict[str, Any]:
        """Call the function with `loaded` datasets and `parameters`; its result by output."""

        def value(name: str) -> Any:
            return loaded[name] if not is_parameter(name) else parameter(parameters, name)

        result = self.func(*(value(a) for a in self.args), **{k: value(v) for k, v in self.kwargs})
        return self._split(result)

    def _split(self, result: Any) -> dict[str, Any]:
        where = f"{self.func_path} returned"
        if self.returns == "one":
            return {self.outputs[0]: result}
        if self.returns == "tuple":
            if not isinstance(result, list | tuple) or len(result) != len(self.outputs):
                got = f"{len(result)} values" if isinstance(result, list | tuple) else "one value"
                raise self.failed(f"{where} {got}; outputs declare {len(self.outputs)}")
            return dict(zip(self.outputs, result, strict=True))
        if not isinstance(result, Mapping) or set(result) != set(self.output_keys):
            got = sorted(result) if isinstance(result, Mapping) else type(result).__name__
            raise self.failed(f"{where} {got}; outputs declare {list(self.output_keys)}")
        return {
            dataset: result[key]
            for key, dataset in zip(self.output_keys, self.outputs, strict=True)
        }


@dataclass(frozen=True)
class Pipeline:
    name: str
    description: str
    tags: tuple[str, ...]
    nodes: tuple[Node, ...]
    file: Path
    line: int

    @property
    def outputs(self) -> list[str]:
        return [o for node in self.nodes for o in node.outputs]

    def node(self, name: str) -> Node:
        for node in self.nodes:
            if node.name == name:
                return node
        known = ", ".join(n.name for n in self.nodes)
        raise PipelineError(
            f"no node {name!r} (nodes: {known})", file=self.file, line=self.line, pipeline=self.name
        )


def is_parameter(name: str) -> bool:
    return name == ALL_PARAMETERS or name.startswith(PARAMS_PREFIX)


def parameter(parameters: DictConfig, name: str) -> Any:
    """The value of input `params:<key>` (or of `parameters`: all of them) as plain Python."""
    if name == ALL_PARAMETERS:
        return OmegaConf.to_container(parameters, resolve=True)
    found = OmegaConf.select(parameters, name[len(PARAMS_PREFIX) :], default=_MISSING)
    if found is _MISSING:
        raise KeyError(f"no parameter {name[len(PARAMS_PREFIX) :]!r}")
    return OmegaConf.to_container(found, resolve=True) if isinstance(found, DictConfig) else found


def pipeline_files(conf_dir: Path) -> list[Path]:
    folder = conf_dir / config.BASE_ENV / PIPELINES_FOLDER
    return sorted(p for p in folder.glob("*.y*ml") if p.suffix in (".yml", ".yaml"))


def pipeline_names(conf_dir: Path) -> list[str]:
    return [path.stem for path in pipeline_files(conf_dir)]


# --- parameters ------------------------------------------------------------------------


def load_parameters(conf_dir: Path, env: str | None = None) -> DictConfig:
    """`parameters*.yml` of `conf/base` under `conf/<env>`, merged field by field."""
    env = env or config.current_env()
    base, _, _ = config._layer(conf_dir / config.BASE_ENV, PARAMETERS_PATTERNS)
    layers = [base]
    if env != config.BASE_ENV and (conf_dir / env).is_dir():
        layers.append(config._layer(conf_dir / env, PARAMETERS_PATTERNS)[0])
    merged = OmegaConf.merge(*(OmegaConf.create(layer) for layer in layers))
    try:
        OmegaConf.resolve(merged)
    except OmegaConfBaseException as exc:
        raise CatalogError(
            f"parameters cannot be interpolated: {config._first_line(exc)}",
            file=conf_dir / config.BASE_ENV / "parameters.yml",
        ) from None
    return merged


def parse_overrides(pairs: Iterable[str]) -> dict[str, Any]:
    """`key=value` pairs (as `run --params` takes them), values typed as YAML types them
    (`5` is an int, `true` a bool, `[a, b]` a list); a dotted key reaches into a mapping."""
    overrides: dict[str, Any] = {}
    for pair in pairs:
        for item in (p for p in pair.split(",") if p.strip()) if "[" not in pair else [pair]:
            key, sep, raw = item.partition("=")
            if not sep or not key.strip():
                raise ValueError(f"parameter override {item!r} is not key=value")
            try:
                overrides[key.strip()] = yaml.safe_load(raw) if raw.strip() else ""
            except yaml.YAMLError:
                overrides[key.strip()] = raw
    return overrides


def with_overrides(parameters: DictConfig, overrides: Mapping[str, Any]) -> DictConfig:
    """`parameters` with `overrides` (dotted key → value) laid over them; an override of a
    key that is not declared is refused, since a typo would otherwise change nothing."""
    merged = parameters.copy()
    for key, value in overrides.items():
        if OmegaConf.select(parameters, key, default=_MISSING) is _MISSING:
            declared = ", ".join(sorted(_leaf_keys(parameters))) or "none"
            raise ValueError(f"no parameter {key!r} to override (declared: {declared})")
        OmegaConf.update(merged, key, value, merge=True)
    return merged


def _leaf_keys(values: DictConfig, prefix: str = "") -> list[str]:
    keys: list[str] = []
    for key, value in values.items_ex(resolve=False):
        name = f"{prefix}{key}"
        keys.extend(_leaf_keys(value, f"{name}.") if isinstance(value, DictConfig) else [name])
    return keys


# --- reading pipeline files ------------------------------------------------------------


def _compose(path: Path) -> tuple[Any, yaml.Node | None]:
    text = path.read_text(encoding="utf-8")
    try:
        return yaml.safe_load(text), yaml.compose(text, Loader=yaml.SafeLoader)
    except yaml.MarkedYAMLError as exc:
        mark = exc.problem_mark or exc.context_mark
        raise PipelineError(
            f"YAML syntax error: {exc.problem or exc}",
            file=path,
            line=mark.line + 1 if mark else None,
        ) from None


def _field_line(node: yaml.Node | None, name: str, default: int) -> int:
    if isinstance(node, yaml.MappingNode):
        for key, _ in node.value:
            if key.value == name:
                return key.start_mark.line + 1
    return default


def _value_node(node: yaml.Node | None, name: str) -> yaml.Node | None:
    if isinstance(node, yaml.MappingNode):
        for key, value in node.value:
            if key.value == name:
                return value
    return None


def _function(path: str, fail: Callable[[str], PipelineError]) -> Callable[..., Any]:
    module_name, _, attr = path.rpartition(".")
    if not module_name:
        raise fail(f"func {path!r} must be a dotted path (package.module.function)")
    try:
        module = importlib.import_module(module_name)
    except ImportError as exc:
        raise fail(f"function {path!r} does not exist: {exc}") from None
    func = getattr(module, attr, None)
    if func is None:
        raise fail(f"function {path!r} does not exist: module {module_name!r} has no {attr!r}")
    if not callable(func):
        raise fail(f"{path!r} is not a function")
    return func


def _bind(func: Callable[..., Any], args: Sequence[str], kwargs: Mapping[str, str], fail) -> None:
    try:
        signature = inspect.signature(func)
    except (TypeError, ValueError):  # a builtin without a signature: nothing to check
        return
    try:
        signature.bind(*args, **kwargs)
    except TypeError as exc:
        shown = [*args, *(f"{k}={v}" for k, v in kwargs.items())]
        names = ", ".join(
            f"*{p.name}"
            if p.kind is p.VAR_POSITIONAL
            else f"**{p.name}"
            if p.kind is p.VAR_KEYWORD
            else p.name
            for p in signature.parameters.values()
        )
        raise fail(
            f"function {func.__qualname__}({names}) does not match its inputs "
            f"[{', '.join(shown)}]: {exc}"
        ) from None


def _description(func: Callable[..., Any], given: str | None) -> str:
    if given:
        return given
    doc = inspect.getdoc(func) or ""
    return doc.split("\n\n")[0].replace("\n", " ").strip()


def _node(pipeline: str, file: Path, raw: Any, yaml_node: yaml.Node | None, line: int) -> Node:
    def fail(message: str, at: str | None = None, name: str = "") -> PipelineError:
        where = _field_line(yaml_node, at, line) if at else line
        return PipelineError(message, file=file, line=where, pipeline=pipeline, node=name)

    if not isinstance(raw, dict):
        raise fail("a node must be a mapping with `func`, `inputs` and `outputs`")
    try:
        fields = _NodeFields.model_validate(raw)
    except ValidationError as exc:
        message, at = validation_problem(exc.errors())
        raise fail(message, at, str(raw.get("name") or raw.get("func") or "")) from None
    func = _function(fields.func, lambda m: fail(m, "func", fields.name or fields.func))
    name = fields.name or getattr(func, "__name__", "")
    if not _NAME.match(name):
        raise fail(f"node name {name!r} must be a Python identifier", "name", name)
    for tag in fields.tags:
        if not _TAG.match(tag):
            raise fail(f"tag {tag!r}: letters, digits, '_', '-' and '.' only", "tags", name)
    inputs = fields.inputs
    args = (
        (inputs,)
        if isinstance(inputs, str)
        else tuple(inputs or ())
        if isinstance(inputs, list)
        else ()
    )
    kwargs = tuple((inputs or {}).items()) if isinstance(inputs, dict) else ()
    _bind(func, args, dict(kwargs), lambda m: fail(m, "inputs", name))
    outputs = fields.outputs
    if isinstance(outputs, str):
        returns, keys, datasets = "one", (), (outputs,)
    elif isinstance(outputs, list):
        returns, keys, datasets = "tuple", (), tuple(outputs)
    else:
        returns, keys, datasets = "dict", tuple(outputs), tuple(outputs.values())
    if not datasets:
        raise fail("a node needs at least one output", "outputs", name)
    if len(set(datasets)) != len(datasets):
        raise fail("an output is listed twice", "outputs", name)
    for output in datasets:
        if is_parameter(output):
            raise fail(f"output {output!r}: parameters are inputs only", "outputs", name)
    return Node(
        pipeline=pipeline,
        name=name,
        func_path=fields.func,
        func=func,
        args=args,
        kwargs=kwargs,
        outputs=datasets,
        returns=returns,
        output_keys=keys,
        tags=tuple(fields.tags),
        description=_description(func, fields.description),
        file=file,
        line=line,
    )


def read_pipeline(path: Path) -> Pipeline:
    """One pipeline file, its nodes checked on their own (functions, signatures, fields)."""
    data, root = _compose(path)
    if not isinstance(data, dict) or len(data) != 1 or not isinstance(root, yaml.MappingNode):
        raise PipelineError(
            "a pipeline file holds one mapping: the pipeline's name, then its fields",
            file=path,
            line=1,
        )
    [(name, raw)] = data.items()
    key_node, body = root.value[0]
    line = key_node.start_mark.line + 1
    name = str(name)
    if not _NAME.match(name):
        raise PipelineError(
            f"pipeline name {name!r} must be a Python identifier", file=path, line=line
        )
    if name != path.stem:
        raise PipelineError(
            f"pipeline {name!r} is in {path.name}: name the file {name}.yml",
            file=path,
            line=line,
        )
    if not isinstance(raw, dict):
        raise PipelineError(
            "expected the fields description, tags, nodes", file=path, line=line, pipeline=name
        )
    try:
        fields = _PipelineFields.model_validate(raw)
    except ValidationError as exc:
        message, at = validation_problem(exc.errors())
        raise PipelineError(
            message, file=path, line=_field_line(body, at or "", line), pipeline=name
        ) from None
    items = _value_node(body, "nodes")
    item_nodes = items.value if isinstance(items, yaml.SequenceNode) else []
    nodes = []
    for index, raw_node in enumerate(fields.nodes):
        yaml_node = item_nodes[index] if index < len(item_nodes) else None
        node_line = yaml_node.start_mark.line + 1 if yaml_node is not None else line
        nodes.append(_node(name, path, raw_node, yaml_node, node_line))
    seen: dict[str, Node] = {}
    for node in nodes:
        if node.name in seen:
            raise node.error(
                f"two nodes are named {node.name!r} (also line {seen[node.name].line})"
            )
        seen[node.name] = node
    shared = tuple(fields.tags)
    for tag in shared:
        if not _TAG.match(tag):
            raise PipelineError(
                f"tag {tag!r}: letters, digits, '_', '-' and '.' only",
                file=path,
                line=_field_line(body, "tags", line),
                pipeline=name,
            )
    nodes = [_with_tags(n, shared) for n in nodes]
    return Pipeline(name, fields.description or "", shared, tuple(nodes), path, line)


def _with_tags(node: Node, tags: tuple[str, ...]) -> Node:
    merged = tuple(dict.fromkeys((*tags, *node.tags)))
    return Node(**{**node.__dict__, "tags": merged})


def load_pipelines(
    conf_dir: Path,
    names: Iterable[str] | None = None,
    *,
    parameters: DictConfig,
    is_dataset: Callable[[str], bool],
) -> list[Pipeline]:
    """The pipelines `names` (default: every file), checked together: parameters declared,
    inputs provided, outputs in the catalog, one writer per dataset, no cycle."""
    files = {path.stem: path for path in pipeline_files(conf_dir)}
    wanted = list(files) if names is None else list(names)
    missing = [n for n in wanted if n not in files]
    if missing:
        folder = conf_dir / config.BASE_ENV / PIPELINES_FOLDER
        raise PipelineError(
            f"no pipeline file {', '.join(f'{n}.yml' for n in missing)}", file=folder
        )
    pipelines = [read_pipeline(files[name]) for name in wanted]
    nodes = [node for pipeline in pipelines for node in pipeline.nodes]
    writers: dict[str, Node] = {}
    for node in nodes:
        for output in node.outputs:
            if output in writers:
                other = writers[output]
                raise node.error(
                    f"output {output!r} is also written by node {other.name!r} of pipeline "
                    f"{other.pipeline!r} ({other.file.name}:{other.line}); a dataset has one writer"
                )
            if not is_dataset(output):
                raise node.error(
                    f"output {output!r} has no catalog entry (add one: pncp new dataset "
                    f"{output} --type pandas.ParquetDataset)"
                )
            writers[output] = node
    for node in nodes:
        for name in node.inputs:
            if is_parameter(name):
                try:
                    parameter(parameters, name)
                except KeyError:
                    raise node.error(
                        f"input {name!r}: no such parameter in parameters.yml"
                    ) from None
            elif name not in writers and not is_dataset(name):
                raise node.error(
                    f"input {name!r} is provided by no catalog dataset and no node's output"
                )
    _check_cycles(nodes, writers)
    return pipelines


def _check_cycles(nodes: list[Node], writers: Mapping[str, Node]) -> None:
    ids = {id(node): node for node in nodes}
    graph = {id(node): {id(writers[i]) for i in node.datasets if i in writers} for node in nodes}
    try:
        tuple(graphlib.TopologicalSorter(graph).static_order())
    except graphlib.CycleError as exc:
        cycle = [ids[i] for i in exc.args[1]]
        path = " -> ".join(n.name for n in cycle)
        raise cycle[0].error(f"the pipeline has a cycle: {path}") from None
