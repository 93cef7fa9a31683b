"""A write that fails midway leaves the target as it was: the table keeps exactly its old
rows (whole-table and partition saves), a file stays whole."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from pathlib import Path

import pyarrow as pa
import pytest

from project.lib.datasets import Catalog, Dataset, DatasetError

SCHEMA = pa.schema([("id", pa.int64()), ("item", pa.string())])
OLD = pa.table({"id": [1, 2, 3], "item": ["a", "b", "c"]}, schema=SCHEMA)

TABLES = {
    "duckdb": "type: duckdb.TableDataset\n  database: data/sales.duckdb\n  table_name: '{table}'",
    "postgres": "type: postgres.TableDataset\n  credentials: pg\n  table_name: '{table}'",
    "mysql": "type: mysql.TableDataset\n  credentials: mysql\n  table_name: '{table}'",
}
FILES = {
    "csv": "type: pandas.CSVDataset\n  filepath: data/sales.csv",
    "parquet": "type: pandas.ParquetDataset\n  filepath: data/sales.parquet",
}


def breaking_stream() -> pa.RecordBatchReader:
    """One good batch, then the source fails."""

    def batches() -> Iterator[pa.RecordBatch]:
        yield pa.record_batch({"id": [10, 11], "item": ["new", "new"]}, schema=SCHEMA)
        raise ConnectionError("the source went away after the first batch")

    return pa.RecordBatchReader.from_batches(SCHEMA, batches())


def load_rows(dataset: Dataset) -> list[tuple]:
    frame = dataset.load()
    columns = [frame[name].astype(object).tolist() for name in frame.columns]
    return sorted(zip(*columns, strict=True))


@pytest.fixture
def dataset_of(
    request: pytest.FixtureRequest,
    table_name: str,
    write_conf: Callable[[dict[str, str]], Path],
) -> Callable[..., Dataset]:
    """`dataset_of(entry, extra="")`: the catalog entry `sales`, with the services it names."""

    def build(entry: str, extra: str = "") -> Dataset:
        credentials = ""
        if "credentials: pg" in entry:
            credentials = f"pg:\n  con: {request.getfixturevalue('postgres_database')}\n"
        if "credentials: mysql" in entry:
            credentials = f"mysql:\n  con: {request.getfixturevalue('mysql_url')}\n"
        conf = write_conf(
            {
                "base/catalog.yml": f"sales:\n  {entry.format(table=table_name)}\n{extra}",
                "base/credentials.yml": credentials,
            }
        )
        return Catalog.load(conf, env="base").get("sales")

    return build


@pytest.mark.parametrize("kind", list(TABLES))
def test_a_table_save_that_fails_midway_keeps_the_old_rows(
    kind: str, dataset_of: Callable[..., Dataset]
) -> None:
    dataset = dataset_of(TABLES[kind])
    dataset.save(OLD)

    with pytest.raises(DatasetError) as error:
        dataset.save(breaking_stream())

    assert "dataset 'sales'" in str(error.value)
    assert "the source went away" in str(error.value)
    assert load_rows(dataset) == [(1, "a"), (2, "b"), (3, "c")]


@pytest.mark.parametrize("kind", list(TABLES))
def test_a_partition_save_that_fails_midway_keeps_every_partition(
    kind: str, dataset_of: Callable[..., Dataset]
) -> None:
    dataset = dataset_of(TABLES[kind], extra="  partition_by: month\n")
    dataset.save(OLD, partition="2024-01")
    dataset.save(OLD.slice(0, 1), partition="2024-02")

    with pytest.raises(DatasetError, match="dataset 'sales'"):
        dataset.save(breaking_stream(), partition="2024-01")

    assert load_rows(dataset) == [
        (1, "a", "2024-01"),
        (1, "a", "2024-02"),
        (2, "b", "2024-01"),
        (3, "c", "2024-01"),
    ]


@pytest.mark.parametrize("kind", list(TABLES))
def test_a_save_whose_values_cannot_be_inserted_keeps_the_partition(
    kind: str, dataset_of: Callable[..., Dataset]
) -> None:
    """The table's `id` is an integer; the second save's `id` is text that is no number."""
    dataset = dataset_of(TABLES[kind], extra="  partition_by: month\n")
    dataset.save(OLD, partition="2024-01")
    wrong = pa.table({"id": ["4", "not a number"], "item": ["d", "e"]})

    with pytest.raises(DatasetError, match="dataset 'sales'"):
        dataset.save(wrong, partition="2024-01")

    assert load_rows(dataset) == [(1, "a", "2024-01"), (2, "b", "2024-01"), (3, "c", "2024-01")]


def test_a_mysql_replace_that_fails_leaves_no_half_written_table(
    dataset_of: Callable[..., Dataset], mysql_database: dict, table_name: str
) -> None:
    import pymysql

    dataset = dataset_of(TABLES["mysql"])
    dataset.save(OLD)
    with pytest.raises(DatasetError):
        dataset.save(breaking_stream())

    with pymysql.connect(**mysql_database) as conn, conn.cursor() as cur:
        cur.execute("SHOW TABLES LIKE %s", (f"{table_name}%",))
        assert [row[0] for row in cur.fetchall()] == [table_name]


def test_a_partitioned_parquet_save_that_fails_midway_keeps_the_partition(
    dataset_of: Callable[..., Dataset], tmp_path: Path
) -> None:
    dataset = dataset_of(
        "type: parquet.PartitionedDataset\n  path: data/sales\n  partition_by: month"
    )
    dataset.save(OLD, partition="2024-01")

    with pytest.raises(DatasetError, match="dataset 'sales'"):
        dataset.save(breaking_stream(), partition="2024-01")

    assert load_rows(dataset) == [(1, "a", "2024-01"), (2, "b", "2024-01"), (3, "c", "2024-01")]
    assert [p.name for p in (tmp_path / "data" / "sales").iterdir()] == ["month=2024-01"]


@pytest.mark.parametrize("kind", list(FILES))
def test_a_file_save_that_fails_midway_keeps_the_previous_file(
    kind: str, dataset_of: Callable[..., Dataset], tmp_path: Path
) -> None:
    dataset = dataset_of(FILES[kind])
    dataset.save(OLD)
    path = tmp_path / "data" / f"sales.{kind}"
    before = path.read_bytes()

    with pytest.raises(DatasetError, match="dataset 'sales'"):
        dataset.save(breaking_stream())

    assert path.read_bytes() == before
    assert load_rows(dataset) == [(1, "a"), (2, "b"), (3, "c")]
    assert sorted(p.name for p in path.parent.iterdir() if p.name.startswith(".")) == []


def many_batches(fail_at: int | None = None) -> pa.RecordBatchReader:
    """Five batches of two rows; the source fails before batch `fail_at` when given."""

    def batches() -> Iterator[pa.RecordBatch]:
        for n in range(5):
            if n == fail_at:
                raise ConnectionError(f"the source went away before batch {n}")
            ids = [100 + 2 * n, 101 + 2 * n]
            yield pa.record_batch({"id": ids, "item": [f"b{n}"] * 2}, schema=SCHEMA)

    return pa.RecordBatchReader.from_batches(SCHEMA, batches())


@pytest.fixture
def one_batch_chunks(monkeypatch: pytest.MonkeyPatch) -> None:
    """Writers take the stream one batch at a time (as they do ~64 MB at a time)."""
    from project.lib.datasets import files

    monkeypatch.setattr(files, "CHUNK_BYTES", 1)


@pytest.mark.usefixtures("one_batch_chunks")
@pytest.mark.parametrize("kind", list(TABLES))
def test_a_stream_is_written_chunk_by_chunk_in_one_transaction(
    kind: str, dataset_of: Callable[..., Dataset]
) -> None:
    dataset = dataset_of(TABLES[kind])
    dataset.save(OLD)
    assert dataset.save(many_batches())["rows"] == 10
    assert [row[0] for row in load_rows(dataset)] == list(range(100, 110))

    with pytest.raises(DatasetError) as error:
        dataset.save(many_batches(fail_at=3))  # three chunks already inserted, uncommitted
    assert "before batch 3" in str(error.value)
    assert [row[0] for row in load_rows(dataset)] == list(range(100, 110))


@pytest.mark.usefixtures("one_batch_chunks")
def test_a_partitioned_parquet_stream_is_written_chunk_by_chunk(
    dataset_of: Callable[..., Dataset],
) -> None:
    dataset = dataset_of("type: parquet.PartitionedDataset\n  path: data/p\n  partition_by: month")
    assert dataset.save(many_batches(), partition="2024-01")["rows"] == 10
    assert len(list(dataset.path.glob("month=2024-01/*.parquet"))) == 5
    with pytest.raises(DatasetError):
        dataset.save(many_batches(fail_at=2), partition="2024-01")
    assert sorted(dataset.load()["id"].tolist()) == list(range(100, 110))
