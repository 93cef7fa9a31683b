"""`pncp lineage export` as an operator runs it: the JSON names every asset of the code
location (the YAML-declared inventory pipeline's included), a second export of the same
state is byte-identical, and bad usage or an unwritable output is exit code 2 with one line
on stderr."""

from __future__ import annotations

import json
from pathlib import Path

from tests.cli.conftest import Pncp


def test_export_names_every_asset_and_is_byte_identical_when_repeated(
    pncp: Pncp, tmp_path: Path
) -> None:
    from project.definitions import defs

    first = pncp("lineage", "export", "--output", str(tmp_path / "first.json"))
    assert first.code == 0, first.output[-3000:]
    second = pncp("lineage", "export", "-o", str(tmp_path / "second.json"))
    assert second.code == 0, second.output[-3000:]
    assert (tmp_path / "first.json").read_bytes() == (tmp_path / "second.json").read_bytes()

    doc = json.loads((tmp_path / "first.json").read_text())
    keys = {k.to_user_string() for k in defs().resolve_asset_graph().get_all_asset_keys()}
    assert {d["asset"] for d in doc["datasets"]} == keys
    assert doc["summary"]["assets"] == len(keys)
    assert f"{len(keys)} assets" in first.stdout
    assert str(tmp_path / "first.json") in first.stdout

    datasets = {d["asset"]: d for d in doc["datasets"]}
    inventory = {k for k in keys if k.startswith("inventory/")}
    assert {"inventory/stock_levels", "inventory/movements_raw"} <= inventory
    assert all(datasets[k]["storage"] == "catalog" for k in inventory)
    assert datasets["inventory/products_raw"]["namespace"] == "file"
    assert datasets["inventory/products_raw"]["name"].endswith(
        "data/samples/inventory/products.csv"
    )
    steps = {t["asset"]: t for t in doc["transformations"]}
    assert steps["inventory/stock_levels"]["inputs"] == [
        {"asset": k, "namespace": datasets[k]["namespace"], "name": datasets[k]["name"]}
        for k in ("inventory/movements_clean", "inventory/products_raw")
    ]
    assert steps["inventory/stock_levels"]["checks"] == [
        "completeness_name",
        "on_hand_not_negative",
    ]


def test_bad_usage_and_an_unwritable_output_exit_2(pncp: Pncp, tmp_path: Path) -> None:
    unknown = pncp("lineage", "export", "--bogus")
    assert unknown.code == 2
    assert "No such option: --bogus" in unknown.stderr

    (tmp_path / "a_file").write_text("")
    unwritable = pncp("lineage", "export", "--output", str(tmp_path / "a_file" / "l.json"))
    assert unwritable.code == 2
    assert unwritable.stderr.strip().splitlines() == [
        f"error: cannot write {tmp_path / 'a_file' / 'l.json'}: File exists"
    ]
    assert not unwritable.stdout
