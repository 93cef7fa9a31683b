"""Partitioned datasets: a save of one partition replaces that partition only; a load names
the partitions it wants, or takes them all."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

import pyarrow as pa
import pytest

from project.lib.datasets import Catalog, Dataset

ENTRIES = {
    "parquet": "type: parquet.PartitionedDataset\n  path: data/sales",
    "duckdb": "type: duckdb.TableDataset\n  database: data/sales.duckdb\n  table_name: '{table}'",
    "postgres": "type: postgres.TableDataset\n  credentials: pg\n  table_name: '{table}'",
    "mysql": "type: mysql.TableDataset\n  credentials: mysql\n  table_name: '{table}'",
}


def rows(*pairs: tuple[int, str]) -> pa.Table:
    return pa.table(
        {
            "id": pa.array([p[0] for p in pairs], pa.int64()),
            "item": pa.array([p[1] for p in pairs], pa.string()),
        }
    )


@pytest.fixture(params=list(ENTRIES))
def sales(
    request: pytest.FixtureRequest,
    table_name: str,
    write_conf: Callable[[dict[str, str]], Path],
) -> Dataset:
    """A dataset partitioned by `month`, with 2024-01 saved, then 2024-02, then 2024-01
    saved again with other rows."""
    credentials = ""
    if request.param == "postgres":
        credentials = f"pg:\n  con: {request.getfixturevalue('postgres_database')}\n"
    if request.param == "mysql":
        credentials = f"mysql:\n  con: {request.getfixturevalue('mysql_url')}\n"
    entry = ENTRIES[request.param].format(table=table_name)
    conf = write_conf(
        {
            "base/catalog.yml": f"sales:\n  {entry}\n  partition_by: month\n",
            "base/credentials.yml": credentials,
        }
    )
    dataset = Catalog.load(conf, env="base").get("sales")
    dataset.save(rows((1, "jan-a"), (2, "jan-b")), partition="2024-01")
    dataset.save(rows((3, "feb-a"), (4, "feb-b"), (5, "feb-c")), partition="2024-02")
    saved = dataset.save(rows((6, "jan-new")), partition="2024-01")
    assert saved["rows"] == 1
    return dataset


def content(dataset: Dataset, partitions: list[str] | None = None) -> list[tuple]:
    frame = dataset.load(partitions)
    return sorted(zip(frame["month"].astype(str), frame["id"].tolist(), frame["item"], strict=True))


def test_resaving_a_partition_replaces_only_that_partition(sales: Dataset) -> None:
    assert content(sales) == [
        ("2024-01", 6, "jan-new"),
        ("2024-02", 3, "feb-a"),
        ("2024-02", 4, "feb-b"),
        ("2024-02", 5, "feb-c"),
    ]


def test_loading_named_partitions_gives_only_those(sales: Dataset) -> None:
    assert content(sales, ["2024-02"]) == [
        ("2024-02", 3, "feb-a"),
        ("2024-02", 4, "feb-b"),
        ("2024-02", 5, "feb-c"),
    ]


def test_loading_without_partitions_gives_every_partition(sales: Dataset) -> None:
    frame = sales.load()
    assert len(frame) == 4
    assert sorted(set(frame["month"].astype(str))) == ["2024-01", "2024-02"]


def test_exists_answers_for_each_partition(sales: Dataset) -> None:
    assert [sales.exists(key) for key in ("2024-01", "2024-02", "2024-03")] == [True, True, False]


def test_an_empty_frame_saved_whole_writes_no_partition(tmp_path) -> None:
    import pyarrow as pa

    from project.lib.datasets.files import PartitionedParquetDataset

    dataset = PartitionedParquetDataset.model_validate(
        {"type": "parquet.PartitionedDataset", "path": str(tmp_path / "p"), "partition_by": "month"}
    ).bind("empty", None)
    empty = pa.table({"id": pa.array([], pa.int64()), "month": pa.array([], pa.string())})
    assert dataset.save(empty)["rows"] == 0
    assert dataset.partitions() == []
