"""The inventory example, declared only in YAML (conf/base/pipelines/inventory.yml), runs as
Dagster assets: through `dagster asset materialize`, through `pncp run --pipeline` with
tags, from-nodes and parameter overrides, and with an `error` rule blocking what is
downstream of it in the same run.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import dagster as dg
import pandas as pd
import pytest
import yaml

from project.settings import PROJECT_ROOT
from tests.cli.conftest import run_pncp

SAMPLE = PROJECT_ROOT / "data" / "samples" / "inventory"
# The shipped sample: 1,139 movements, of which 6 are rejected (an unknown SKU, an unknown
# kind, an unreadable and a negative quantity, an unreadable time, a repeated id); 15
# products in 2 warehouses.
MOVEMENTS, REJECTED, LEVELS = 1139, 6, 30
NODE_ASSETS = {
    "movements_clean",
    "movements_rejected",
    "stock_levels",
    "reorders",
    "stock_report",
}

pytestmark = pytest.mark.slow


@pytest.fixture
def data_dir(catalog_conf: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    out = tmp_path / "inventory"
    monkeypatch.setenv("INVENTORY_DATA_DIR", str(out))
    monkeypatch.setenv("DAGSTER_HOME", str(tmp_path / "dagster_home"))
    (tmp_path / "dagster_home").mkdir()
    return out


def _definitions() -> dg.Definitions:
    from project.definitions import defs

    return defs()


def _materialized(instance: dg.DagsterInstance, run_id: str) -> dict[str, dict]:
    records = instance.get_records_for_run(
        run_id, of_type=dg.DagsterEventType.ASSET_MATERIALIZATION
    ).records
    found = {}
    for record in records:
        materialization = record.event_log_entry.asset_materialization
        found[materialization.asset_key.path[-1]] = {
            k: v.value for k, v in materialization.metadata.items()
        }
    return found


def test_nodes_are_assets_grouped_tagged_described_and_referenced() -> None:
    graph = _definitions().resolve_asset_graph()
    keys = {k for k in graph.get_all_asset_keys() if k.path[0] == "inventory"}
    nodes = {k.path[-1] for k in keys if graph.get(k).is_materializable}
    assert nodes == NODE_ASSETS
    assert {graph.get(k).group_name for k in keys if k.path[-1] in nodes} == {"inventory"}
    sources = {k.path[-1]: graph.get(k) for k in keys if not graph.get(k).is_materializable}
    assert set(sources) == {"movements_raw", "products_raw"}
    assert {s.group_name for s in sources.values()} == {"inventory_raw"}

    clean = graph.get(dg.AssetKey(["inventory", "movements_clean"]))
    assert clean.tags == {"inventory": "", "staging": "", "dagster/kind/parquet": ""}
    assert clean.description.startswith("Movements typed and checked against the product list")
    references = clean.metadata["dagster/code_references"].code_references
    # The component adds its defs.yaml; the node's own are its YAML line and its function.
    lines = {(Path(r.file_path).name, r.label): r.line_number for r in references}
    assert lines[("inventory.yml", "node")] == 9  # `- name: clean_movements`
    assert ("nodes.py", "function") in lines
    # One node, two outputs: one multi-asset (one op).
    rejected = graph.get(dg.AssetKey(["inventory", "movements_rejected"]))
    assert rejected.assets_def is clean.assets_def
    assert clean.assets_def.op.name == "inventory__clean_movements"
    # Dagster's selection syntax slices by tag.
    staged = dg.AssetSelection.from_string('tag:"staging"').resolve(graph)
    assert {k.path[-1] for k in staged} == {"movements_clean", "movements_rejected"}
    checks = {k.name for k in graph.asset_check_keys if k.asset_key.path[0] == "inventory"}
    assert {"unique_movement_id", "on_hand_not_negative", "range_order_qty"} <= checks


def test_dagster_asset_materialize_runs_the_pipeline_end_to_end(data_dir: Path) -> None:
    completed = subprocess.run(
        [
            str(Path(sys.executable).parent / "dagster"),
            "asset",
            "materialize",
            "-m",
            "project.definitions",
            "--select",
            "group:inventory",
        ],
        cwd=PROJECT_ROOT,
        env=os.environ,
        capture_output=True,
        text=True,
        check=False,
    )
    assert completed.returncode == 0, completed.stderr[-3000:]
    clean = pd.read_parquet(data_dir / "clean" / "movements.parquet")
    rejected = pd.read_csv(data_dir / "rejected" / "movements_rejected.csv")
    assert (len(clean), len(rejected)) == (MOVEMENTS - REJECTED, REJECTED)
    assert clean["movement_id"].is_unique
    assert sorted(rejected["field"]) == [
        "kind",
        "moved_at",
        "movement_id",
        "quantity",
        "quantity",
        "sku",
    ]
    levels = pd.read_parquet(data_dir / "marts" / "stock_levels.parquet")
    assert len(levels) == LEVELS
    signed = clean["quantity"].where(clean["kind"] != "shipment", -clean["quantity"])
    expected = clean.assign(signed=signed).groupby(["sku", "warehouse"])["signed"].sum()
    assert levels.set_index(["sku", "warehouse"])["on_hand"].to_dict() == expected.to_dict()
    reorders = pd.read_csv(data_dir / "exports" / "reorders.csv")
    assert len(reorders) > 0
    assert (reorders["on_hand"] <= reorders["reorder_point"]).all()
    assert (reorders["order_qty"] >= 10).all()  # params: inventory.reorder.min_order_qty
    report = (data_dir / "exports" / "reorders.md").read_text()
    assert f"{len(reorders)} rows" in report


def test_pncp_run_slices_the_pipeline_by_tags_from_nodes_and_params(data_dir: Path) -> None:
    env = dict(os.environ)
    staged = run_pncp("run", "--pipeline", "inventory", "--tags", "staging", env=env)
    assert staged.code == 0, staged.output[-3000:]
    assert '(group:"inventory" and (tag:"staging"))' in staged.stderr
    assert (data_dir / "clean" / "movements.parquet").exists()
    assert not (data_dir / "marts").exists()  # only the tagged node ran

    default = run_pncp("run", "--pipeline", "inventory", "--from-nodes", "stock_levels", env=env)
    assert default.code == 0, default.output[-3000:]
    baseline = pd.read_csv(data_dir / "exports" / "reorders.csv")

    safer = run_pncp(
        "run",
        "--pipeline",
        "inventory",
        "--from-nodes",
        "reorders",
        "--params",
        "inventory.reorder.safety_days=30",
        env=env,
    )
    assert safer.code == 0, safer.output[-3000:]
    assert "(3 assets)" not in safer.stdout
    assert "(2 assets)" in safer.stdout
    more = pd.read_csv(data_dir / "exports" / "reorders.csv")
    # A longer safety margin reorders everything it did before, and more.
    assert set(zip(baseline["sku"], baseline["warehouse"], strict=True)) < set(
        zip(more["sku"], more["warehouse"], strict=True)
    )
    instance = dg.DagsterInstance.get()
    run = instance.get_runs(limit=1)[0]
    assert run.run_config["ops"]["inventory__reorders"]["config"]["params"] == {
        "inventory.reorder.safety_days": 30
    }
    used = _materialized(instance, run.run_id)["reorders"]["parameters"]
    assert used["params:inventory.reorder"]["safety_days"] == 30
    instance.dispose()

    refused = run_pncp(
        "run", "--pipeline", "inventory", "--params", "inventory.reorder.safty_days=3", env=env
    )
    assert refused.code == 2
    assert "no parameter 'inventory.reorder.safty_days' to override" in refused.stderr


def test_an_error_rule_blocks_the_nodes_downstream_in_the_same_run(
    data_dir: Path, catalog_conf: Path, tmp_path: Path
) -> None:
    """A movement from an unknown warehouse passes cleaning but fails the blocking
    `allowed_values_warehouse` rule: stock levels, reorders and the report are not built."""
    lines = (SAMPLE / "movements.jsonl").read_text().splitlines()
    moved = json.loads(lines[10]) | {"warehouse": "BH", "movement_id": 99_999}
    (tmp_path / "movements.jsonl").write_text("\n".join([*lines, json.dumps(moved)]) + "\n")
    (catalog_conf / "local" / "catalog.yml").write_text(
        yaml.safe_dump({"inventory.movements_raw": {"filepath": str(tmp_path / "movements.jsonl")}})
    )
    definitions = _definitions()
    keys = dg.AssetSelection.from_string("group:inventory").resolve(
        definitions.resolve_asset_graph()
    )
    with dg.instance_for_test() as instance:
        result = definitions.resolve_implicit_global_asset_job_def().execute_in_process(
            instance=instance, asset_selection=list(keys), raise_on_error=False
        )
        assert not result.success
        checks = {e.check_name: e for e in result.get_asset_check_evaluations()}
        failed = checks["allowed_values_warehouse"]
        assert not failed.passed
        assert failed.metadata["failed_rows"].value == 1
        assert failed.metadata["sample"].value[0]["warehouse"] == "BH"
        built = set(_materialized(instance, result.run_id))
    assert built == {"movements_clean", "movements_rejected"}
    assert not (data_dir / "marts").exists()
