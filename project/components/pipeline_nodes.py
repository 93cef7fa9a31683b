"""Nodes of YAML pipelines (`project.lib.datasets.pipelines`) as software-defined assets.

A node is one op: one asset per output (a node with several outputs is one multi-asset),
in the pipeline's group, tagged with the pipeline's and the node's tags (`tag:staging`
selects them), described by the function's docstring, with code references to the function
and to the node's line in the YAML. Inputs and outputs go through the `catalog` IO manager,
so the function sees frames and never a path.

Parameters are read when the step runs (`conf/base` under `CATALOG_ENV`, like the
catalog); a run may override them in its config, which the launchpad shows and
`pncp run --pipeline ... --params k=v` fills:

```yaml
ops:
  inventory__reorders:
    config:
      params: {reorder.safety_days: 10}
```

The values a node used are in its materializations' metadata (`parameters`).
"""

import inspect
import json
import re
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import dagster as dg

from project.lib.datasets import Catalog
from project.lib.datasets.pipelines import (
    Node,
    is_parameter,
    load_parameters,
    parameter,
    with_overrides,
)

NODE_METADATA = "pipeline_node"


def op_name(node: Node) -> str:
    return f"{node.pipeline}__{node.name}"


def asset_key(dataset: str) -> dg.AssetKey:
    return dg.AssetKey(dataset.split("."))


def argument(dataset: str) -> str:
    """A dataset name as an op input/output name (a Python identifier)."""
    return re.sub(r"\W", "_", dataset.replace(".", "__"))


def code_references(node: Node) -> dg.CodeReferencesMetadataValue:
    references = [
        dg.LocalFileCodeReference(file_path=str(node.file), line_number=node.line, label="node")
    ]
    try:
        source = inspect.getsourcefile(node.func)
        _, line = inspect.getsourcelines(node.func)
    except (TypeError, OSError):
        source = None
    if source:
        references.append(
            dg.LocalFileCodeReference(file_path=source, line_number=line, label="function")
        )
    return dg.CodeReferencesMetadataValue(code_references=references)


def node_assets(
    node: Node,
    *,
    catalog: Catalog,
    conf_dir: Path,
    env: str | None,
    io_manager_key: str,
    kinds: Any,
) -> dg.AssetsDefinition:
    """The node as a multi-asset; `kinds(dataset)` gives each output's UI badges."""
    tags = {tag: "" for tag in node.tags}
    metadata = {
        NODE_METADATA: f"{node.pipeline}.{node.name}",
        "function": node.func_path,
        "dagster/code_references": code_references(node),
    }
    outs = {
        argument(output): dg.AssetOut(
            key=asset_key(output),
            io_manager_key=io_manager_key,
            group_name=node.pipeline,
            description=node.description or None,
            tags=tags,
            kinds=kinds(catalog.get(output)),
            metadata=metadata,
        )
        for output in node.outputs
    }
    ins = {argument(name): dg.AssetIn(key=asset_key(name)) for name in node.datasets}
    config_schema = (
        {
            "params": dg.Field(
                dg.Permissive(),
                default_value={},
                description="Parameter overrides for this run: dotted key → value.",
            )
        }
        if node.uses_parameters
        else None
    )

    def compute(context: dg.AssetExecutionContext, **loaded: Any) -> Iterator[dg.Output]:
        parameters = load_parameters(conf_dir, env)
        overrides = (context.op_execution_context.op_config or {}).get("params") or {}
        if overrides:
            parameters = with_overrides(parameters, overrides)
            context.log.info(f"parameters overridden for this run: {sorted(overrides)}")
        values = {name: loaded[argument(name)] for name in node.datasets}
        used = {name: parameter(parameters, name) for name in node.inputs if is_parameter(name)}
        results = node.run(values, parameters)
        extra = {"parameters": dg.MetadataValue.json(_plain(used))} if used else {}
        for dataset, value in results.items():
            yield dg.Output(value, output_name=argument(dataset), metadata=extra)

    return dg.multi_asset(
        name=op_name(node),
        outs=outs,
        ins=ins,
        config_schema=config_schema,
        description=node.description or None,
    )(compute)


def _plain(values: dict[str, Any]) -> Any:
    """Parameter values as JSON can hold them (dates and the like as text)."""
    return json.loads(json.dumps(values, default=str))
