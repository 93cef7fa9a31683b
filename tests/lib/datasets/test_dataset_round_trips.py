"""Every dataset type gives back the frame it was given: integers with nulls, decimals,
dates, zoned timestamps, nulls, unicode text and booleans keep their types and values."""

from __future__ import annotations

import gzip
from collections.abc import Callable
from pathlib import Path

import pandas as pd
import pyarrow as pa
import pytest

from project.lib.datasets import Catalog

# id: (catalog entry, services it needs, whether it is a store that keeps instants in UTC
# and has no column type for nothing-but-nulls). `{table}` is a fresh table name.
CASES = {
    "csv": ("type: pandas.CSVDataset\nfilepath: data/frame.csv", (), False),
    "csv_gz": ("type: pandas.CSVDataset\nfilepath: data/frame.csv.gz", (), False),
    "json": ("type: pandas.JSONDataset\nfilepath: data/frame.json", (), False),
    "jsonl": ("type: pandas.JSONDataset\nfilepath: data/frame.jsonl", (), False),
    "parquet": ("type: pandas.ParquetDataset\nfilepath: data/frame.parquet", (), False),
    "excel": ("type: pandas.ExcelDataset\nfilepath: data/frame.xlsx", (), False),
    "partitioned_parquet": (
        "type: parquet.PartitionedDataset\npath: data/frames\npartition_by: month",
        (),
        True,
    ),
    "duckdb_file": (
        "type: duckdb.TableDataset\ndatabase: data/frames.duckdb\ntable_name: '{table}'",
        (),
        True,
    ),
    "ducklake": (
        "type: duckdb.TableDataset\ncredentials: lake\ntable_name: '{table}'",
        ("lake",),
        True,
    ),
    "postgres": (
        "type: postgres.TableDataset\ncredentials: pg\ntable_name: '{table}'",
        ("pg",),
        True,
    ),
    "mysql": (
        "type: mysql.TableDataset\ncredentials: mysql\ntable_name: '{table}'",
        ("mysql",),
        True,
    ),
    "sql_postgresql": (
        "type: pandas.SQLTableDataset\ncredentials: pg\ntable_name: '{table}'",
        ("pg",),
        True,
    ),
    "sql_mysql": (
        "type: pandas.SQLTableDataset\ncredentials: mysql\ntable_name: '{table}'",
        ("mysql",),
        True,
    ),
}


def credentials_for(needs: tuple[str, ...], request: pytest.FixtureRequest) -> str:
    """credentials.yml text for the services a case needs (each fixture only when needed)."""
    text = ""
    if "pg" in needs:
        text += f"pg:\n  con: {request.getfixturevalue('postgres_database')}\n"
    if "mysql" in needs:
        text += f"mysql:\n  con: {request.getfixturevalue('mysql_url')}\n"
    if "lake" in needs:
        text += request.getfixturevalue("lake_credentials")
    return text


def indented(entry: str) -> str:
    return "\n".join(f"  {line}" for line in entry.splitlines())


def assert_same_data(loaded: pa.Table, original: pa.Table, *, store: bool) -> None:
    """Column by column: same type and same values. A store (a database, or Parquet written
    by DuckDB) may give a zoned timestamp back in UTC (the same instants are compared) and
    has no type for a column of nothing but nulls (its values are compared)."""
    assert loaded.column_names == original.column_names
    assert loaded.num_rows == original.num_rows
    loaded, original = loaded.sort_by("day"), original.sort_by("day")
    for field in original.schema:
        column = loaded[field.name]
        if store and pa.types.is_timestamp(field.type) and field.type.tz:
            assert pa.types.is_timestamp(column.type), column.type
            assert column.type.unit == field.type.unit
            assert column.type.tz in ("UTC", "Etc/UTC"), column.type
            column = column.cast(field.type)
        if store and pa.types.is_null(field.type):
            assert column.null_count == len(column), f"{field.name}: {column.to_pylist()}"
            continue
        assert column.type == field.type, field.name
        assert column.to_pylist() == original[field.name].to_pylist(), field.name


@pytest.mark.parametrize("case", list(CASES))
def test_every_type_round_trips_a_frame_of_every_column_type(
    case: str,
    frame: pa.Table,
    table_name: str,
    write_conf: Callable[[dict[str, str]], Path],
    request: pytest.FixtureRequest,
) -> None:
    entry, needs, store = CASES[case]
    conf = write_conf(
        {
            "base/catalog.yml": f"frame:\n{indented(entry.format(table=table_name))}\n",
            "base/credentials.yml": credentials_for(needs, request),
        }
    )
    dataset = Catalog.load(conf, env="base").get("frame")
    partition = "2024-01" if dataset.partitioned and "partition_by" in entry else None

    saved = dataset.save(frame.to_pandas(types_mapper=pd.ArrowDtype), partition=partition)
    loaded = dataset.load()

    assert saved["rows"] == 3
    # the schema a save reports (the materialization's column schema) names what loads back
    assert saved["schema"].names == list(loaded.columns)
    assert all(isinstance(dtype, pd.ArrowDtype) for dtype in loaded.dtypes)
    table = pa.Table.from_pandas(loaded, preserve_index=False)
    if partition:
        assert table["month"].to_pylist() == [partition] * 3
        table = table.drop_columns(["month"])
    assert_same_data(table, frame, store=store)


def test_a_csv_gz_file_is_written_gzip_compressed(
    frame: pa.Table, catalog_from: Callable[..., Catalog], tmp_path: Path
) -> None:
    catalog = catalog_from(
        {"base/catalog.yml": "sales:\n  type: pandas.CSVDataset\n  filepath: data/s.csv.gz\n"}
    )
    catalog.get("sales").save(frame)

    text = gzip.decompress((tmp_path / "data" / "s.csv.gz").read_bytes()).decode("utf-8")
    assert text.splitlines()[0] == "id,amount,day,at,nothing,text,flag"
    assert "ação" in text
    assert "日本" in text
