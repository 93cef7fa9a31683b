"""The lineage export as a document: deterministic (two writes are byte-identical, sorted
whatever the input order), and scrubbed: a known secret never reaches the file, whichever
field carries it; short values are never scrubbed (they would garble the document)."""

from __future__ import annotations

import json
from pathlib import Path

from project.lib.lineage import export
from project.lib.lineage.model import AssetLineage, Column, DatasetName
from project.lib.lineage.transport import scrub

SECRET = "pa55word-for-export"


def assets() -> list[AssetLineage]:
    raw = AssetLineage(
        key="shop/raw",
        dataset=DatasetName("file", "/data/raw.csv"),
        storage="catalog",
        columns=[Column("id", "int64"), Column("note", "large_string")],
    )
    clean = AssetLineage(
        key="shop/clean",
        dataset=DatasetName("postgres://db:5432", "shop.public.clean"),
        storage="catalog",
        group="shop",
        kinds=["postgres", "python"],
        description=f"cleaned; loaded with postgresql://etl:{SECRET}@db/shop",
        node="shop__clean",
        code=["/src/nodes.py#L3"],
        deps=["shop/raw"],
        columns=[Column("id", "int64")],
        column_lineage={"id": [("shop/raw", "id")]},
        row_count=3,
        checks=["unique_id"],
    )
    summary = AssetLineage(
        key="shop/summary",
        dataset=DatasetName("dagster://loc", "shop/summary"),
        storage="asset",
        node="shop__summary",
        deps=["shop/clean"],
    )
    return [summary, raw, clean]


def test_the_document_is_deterministic_and_sorted(tmp_path: Path) -> None:
    first = export.write(export.document("loc", assets()), tmp_path / "a.json", [SECRET])
    second = export.write(
        export.document("loc", list(reversed(assets()))), tmp_path / "b.json", [SECRET]
    )
    assert first.read_bytes() == second.read_bytes()
    assert first.read_text().endswith("}\n")
    doc = json.loads(first.read_text())
    assert doc["summary"] == {
        "assets": 3,
        "datasets": 3,
        "transformations": 2,
        "with_column_lineage": 1,
    }
    assert [d["asset"] for d in doc["datasets"]] == ["shop/clean", "shop/raw", "shop/summary"]
    by_asset = {t["asset"]: t for t in doc["transformations"]}
    assert by_asset["shop/clean"]["column_lineage"] == {
        "level": "column",
        "fields": {
            "id": [
                {
                    "asset": "shop/raw",
                    "namespace": "file",
                    "name": "/data/raw.csv",
                    "column": "id",
                }
            ]
        },
    }
    assert by_asset["shop/summary"]["column_lineage"] == {
        "level": "dataset",
        "inputs": ["shop/clean"],
    }
    assert not list(tmp_path.glob(".*.tmp"))


def test_known_secrets_are_scrubbed_from_the_file(tmp_path: Path) -> None:
    path = export.write(export.document("loc", assets()), tmp_path / "l.json", [SECRET, "", "pw"])
    text = path.read_text()
    assert SECRET not in text
    assert "postgresql://etl:***@db/shop" in text
    json.loads(text)  # still a document


def test_scrub_replaces_longer_secrets_first_and_ignores_short_ones() -> None:
    assert scrub("a token abcdef and abcdefgh", ["abcdef", "abcdefgh"]) == "a token *** and ***"
    assert scrub("id and key", ["id", "", "key"]) == "id and key"
