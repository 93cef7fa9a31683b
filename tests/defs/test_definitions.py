"""The code location loads, validates, and its asset graph matches the reviewed snapshot.

Regenerate the snapshot after an intended change with
`UPDATE_SNAPSHOTS=1 make test` (or pytest on this file) and review the diff.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import dagster as dg
import pytest

from project.definitions import defs
from project.settings import PROJECT_ROOT

SNAPSHOT = Path(__file__).parent.parent / "snapshots" / "asset_graph.json"


def _graph_snapshot(definitions: dg.Definitions) -> dict:
    graph = definitions.resolve_asset_graph()
    assets = {}
    for key in sorted(graph.get_all_asset_keys(), key=lambda k: k.to_user_string()):
        node = graph.get(key)
        partitions = node.partitions_def
        condition = node.automation_condition
        assets[key.to_user_string()] = {
            "group": node.group_name,
            "deps": sorted(k.to_user_string() for k in node.parent_keys),
            "kinds": sorted(node.kinds),
            "partitions": type(partitions).__name__ if partitions else None,
            "automation_condition": condition.get_label() or type(condition).__name__
            if condition
            else None,
            "pools": sorted(node.pools or []),
            "checks": sorted(c.name for c in node.check_keys),
            "materializable": node.is_materializable,
        }
    return {
        "assets": assets,
        "schedules": sorted(s.name for s in definitions.schedules or []),
        "sensors": sorted(s.name for s in definitions.sensors or []),
        "jobs": sorted(j.name for j in definitions.jobs or [] if not j.name.startswith("__")),
    }


def test_definitions_load_with_resources_for_every_asset() -> None:
    definitions = defs()
    definitions.validate_loadable(definitions)
    keys = {k.to_user_string() for k in definitions.resolve_asset_graph().get_all_asset_keys()}
    assert "pncp/raw/contratos" in keys
    assert "pncp/marts/pncp_extraction_health" in keys


def test_asset_graph_matches_the_reviewed_snapshot() -> None:
    current = _graph_snapshot(defs())
    if os.environ.get("UPDATE_SNAPSHOTS") == "1" or not SNAPSHOT.exists():
        SNAPSHOT.write_text(json.dumps(current, indent=2, sort_keys=True) + "\n")
        if os.environ.get("CI", "").lower() == "true":
            pytest.fail("snapshot was missing in CI; commit tests/snapshots/asset_graph.json")
    assert current == json.loads(SNAPSHOT.read_text())


def test_every_warehouse_writer_holds_the_warehouse_lease_not_an_op_pool() -> None:
    """Writers take the lease in their code (`WarehouseResource`), for as long as they write;
    an op-level pool would hold the warehouse for the whole step and hide dead holders.
    Assets saved through the dataset catalog (`catalog` IO manager) write catalog datasets,
    and the shop's generator writes landing files (`landing` only): not the warehouse."""
    graph = defs().resolve_asset_graph()
    nodes = [graph.get(k) for k in graph.materializable_asset_keys]

    def files_only(keys: set[str]) -> bool:
        return "catalog" in keys or ("landing" in keys and "warehouse" not in keys)

    writers = [n for n in nodes if not files_only(n.assets_def.required_resource_keys)]
    assert writers
    assert len(writers) < len(nodes)
    for node in writers:
        assert "warehouse" in node.assets_def.required_resource_keys, node.key
        assert not node.pools, node.key


def test_dagster_definitions_validate_passes(instance: dg.DagsterInstance) -> None:
    result = subprocess.run(
        [
            str(Path(sys.executable).parent / "dagster"),
            "definitions",
            "validate",
            "-w",
            "workspace.yaml",
        ],
        cwd=PROJECT_ROOT,
        capture_output=True,
        text=True,
        timeout=300,
        check=False,
    )
    assert result.returncode == 0, result.stderr[-3000:]
    assert "Validation successful" in result.stdout + result.stderr
