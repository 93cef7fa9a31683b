"""Partition keys are data, not paths or SQL: folder names are percent-encoded as DuckDB
writes them, staging never happens inside the dataset, a table keeps its partition column
on a whole save and refuses partitions it has no column for."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

import pyarrow as pa
import pyarrow.parquet as pq
import pytest

from project.lib.datasets import Catalog, DatasetError

PARQUET = """
    cities:
      type: parquet.PartitionedDataset
      path: data/cities
      partition_by: city
"""


def test_keys_with_spaces_and_slashes_stay_inside_the_dataset_and_match_duckdbs_names(
    catalog_from: Callable[..., Catalog], tmp_path: Path
) -> None:
    dataset = catalog_from({"base/catalog.yml": PARQUET}).get("cities")
    whole = pa.table({"city": ["New York", "a/../../x", "Recife"], "n": [1, 2, 3]})
    dataset.save(whole)
    assert sorted(dataset.partitions()) == ["New York", "Recife", "a/../../x"]

    dataset.save(pa.table({"n": [10]}), partition="New York")  # replaces DuckDB's folder
    assert dataset.exists("New York")
    loaded = dataset.load()
    assert sorted(zip(loaded["city"], loaded["n"], strict=True)) == [
        ("New York", 10),
        ("Recife", 3),
        ("a/../../x", 2),
    ]
    dataset.save(pa.table({"n": [20]}), partition="a/../../x")
    assert not (tmp_path / "x").exists()
    assert sorted(p.name for p in (tmp_path / "data" / "cities").iterdir()) == [
        "city=New%20York",
        "city=Recife",
        "city=a%2F..%2F..%2Fx",
    ]


def test_date_like_keys_load_as_the_text_they_were_keyed_with(
    catalog_from: Callable[..., Catalog],
) -> None:
    dataset = catalog_from({"base/catalog.yml": PARQUET}).get("cities")
    dataset.save(pa.table({"n": [1]}), partition="2024-01-01")
    assert dataset.load_arrow().schema.field("city").type in (pa.string(), pa.large_string())
    assert dataset.load()["city"].tolist() == ["2024-01-01"]


def test_a_leftover_staging_folder_does_not_break_reads(
    catalog_from: Callable[..., Catalog], tmp_path: Path
) -> None:
    """A killed save leaves its staging folder behind: beside the dataset, never in it."""
    dataset = catalog_from({"base/catalog.yml": PARQUET}).get("cities")
    dataset.save(pa.table({"n": [1, 2]}), partition="Natal")
    assert [p.name for p in (tmp_path / "data" / "cities").iterdir()] == ["city=Natal"]
    stray = tmp_path / "data" / "cities" / ".city=Natal.dead.tmp"
    stray.mkdir()
    pq.write_table(pa.table({"x": ["junk"]}), stray / "part-0.parquet")
    assert dataset.load()["n"].tolist() == [1, 2]


TABLE = """
    sales:
      type: duckdb.TableDataset
      database: data/sales.duckdb
      table_name: sales
      {extra}
"""


def test_a_whole_save_keeps_the_partition_column_of_the_data(
    catalog_from: Callable[..., Catalog],
) -> None:
    dataset = catalog_from({"base/catalog.yml": TABLE.format(extra="partition_by: day")}).get(
        "sales"
    )
    dataset.save(pa.table({"v": [1, 2], "day": ["d1", "d2"]}))
    assert dataset.load()["day"].tolist() == ["d1", "d2"]
    dataset.save(pa.table({"v": [3]}), partition="d1")
    assert sorted(zip(*dataset.load().to_dict("list").values(), strict=True)) == [
        (2, "d2"),
        (3, "d1"),
    ]


def test_a_table_without_partition_by_refuses_partitions(
    catalog_from: Callable[..., Catalog],
) -> None:
    dataset = catalog_from({"base/catalog.yml": TABLE.format(extra="")}).get("sales")
    with pytest.raises(DatasetError, match="no `partition_by` column; set `partition_by`"):
        dataset.save(pa.table({"v": [1]}), partition="a")
    dataset.save(pa.table({"v": [1]}))
    with pytest.raises(DatasetError, match="partition a asked of a table"):
        dataset.load(["a"])
