"""The code location's lineage as one JSON document: datasets and transformations.

Deterministic: everything is sorted and nothing depends on the clock, so two exports of
the same definitions and instance are byte-identical and a diff shows what changed.

- `datasets`: every asset as the dataset it is (OpenLineage namespace and name, how its
  place was found, its columns and types when known, its last row count);
- `transformations`: every materializable asset with its node (op), group, kinds, code
  reference, inputs and outputs (asset keys and datasets), and its column lineage:
  per column where known (dbt models), at dataset level for other nodes (catalog and YAML
  pipeline nodes: every input may affect the whole output).
"""

from __future__ import annotations

import json
from collections.abc import Iterable, Sequence
from pathlib import Path
from typing import Any

from project.lib.lineage.model import AssetLineage
from project.lib.lineage.transport import scrub

FORMAT = "procurement-platform/lineage/1"


def _dataset(asset: AssetLineage) -> dict[str, Any]:
    found: dict[str, Any] = {
        "asset": asset.key,
        "namespace": asset.dataset.namespace,
        "name": asset.dataset.name,
        "storage": asset.storage,
        "columns": [
            {
                k: v
                for k, v in (("name", c.name), ("type", c.type), ("description", c.description))
                if v not in (None, "", "?")
            }
            for c in asset.columns
        ],
    }
    if asset.dataset_type:
        found["dataset_type"] = asset.dataset_type
    if asset.row_count is not None:
        found["row_count"] = asset.row_count
    return found


def _transformation(asset: AssetLineage, by_key: dict[str, AssetLineage]) -> dict[str, Any]:
    def ref(key: str) -> dict[str, str]:
        other = by_key.get(key)
        if other is None:
            return {"asset": key}
        return {"asset": key, "namespace": other.dataset.namespace, "name": other.dataset.name}

    if asset.column_lineage:
        lineage: dict[str, Any] = {
            "level": "column",
            "fields": {
                column: [{**ref(key), "column": upstream} for key, upstream in sorted(set(deps))]
                for column, deps in sorted(asset.column_lineage.items())
            },
        }
    elif asset.deps:
        lineage = {"level": "dataset", "inputs": sorted(asset.deps)}
    else:
        lineage = {"level": "none"}
    return {
        "asset": asset.key,
        "node": asset.node,
        "group": asset.group,
        "kinds": sorted(asset.kinds),
        "description": asset.description,
        "code": sorted(asset.code),
        "inputs": [ref(k) for k in sorted(asset.deps)],
        "outputs": [ref(asset.key)],
        "checks": sorted(asset.checks),
        "column_lineage": lineage,
    }


def document(code_location: str, assets: Sequence[AssetLineage]) -> dict[str, Any]:
    ordered = sorted(assets, key=lambda a: a.key)
    by_key = {a.key: a for a in ordered}
    transformations = [_transformation(a, by_key) for a in ordered if a.node is not None]
    return {
        "format": FORMAT,
        "code_location": code_location,
        "summary": {
            "assets": len(ordered),
            "datasets": len({(a.dataset.namespace, a.dataset.name) for a in ordered}),
            "transformations": len(transformations),
            "with_column_lineage": sum(
                1 for t in transformations if t["column_lineage"]["level"] == "column"
            ),
        },
        "datasets": [_dataset(a) for a in ordered],
        "transformations": transformations,
    }


def write(doc: dict[str, Any], path: Path, secrets: Iterable[str] = ()) -> Path:
    """Write the document (sorted keys, a final newline), with any known secret scrubbed:
    none should be there, this is the last guard."""
    text = scrub(json.dumps(doc, indent=2, sort_keys=True, ensure_ascii=False), secrets)
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(f".{path.name}.tmp")
    tmp.write_text(text + "\n")
    tmp.replace(path)
    return path
