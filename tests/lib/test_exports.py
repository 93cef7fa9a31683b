"""Hive-partitioned Parquet exports: layout, order, schema file, atomic replacement."""

import json
from datetime import date
from pathlib import Path

import duckdb
import pyarrow.parquet as pq
import pytest

from project.lib.exports import export_month, partition_dir, write_schema


@pytest.fixture
def conn() -> duckdb.DuckDBPyConnection:
    conn = duckdb.connect()
    conn.execute(
        """CREATE TABLE sales AS SELECT * FROM (VALUES
            (DATE '2024-07-01', 'b', 2), (DATE '2024-07-01', 'a', 1),
            (DATE '2024-08-01', 'c', 3)) AS t(month, name, amount)"""
    )
    return conn


def test_a_month_is_written_alone_ordered_under_year_and_month(
    conn: duckdb.DuckDBPyConnection, tmp_path: Path
) -> None:
    exported = export_month(conn, "sales", "month", date(2024, 7, 1), "name", tmp_path, "sales")
    assert exported.path == tmp_path / "sales" / "year=2024" / "month=7" / "data.parquet"
    assert exported.rows == 2
    assert pq.read_table(exported.path)["name"].to_pylist() == ["a", "b"]
    dataset = conn.execute(
        f"SELECT year, month, count(*) FROM read_parquet('{tmp_path}/sales/*/*/*.parquet', "
        "hive_partitioning = true) GROUP BY ALL"
    ).fetchall()
    assert dataset == [(2024, 7, 2)]


def test_a_failed_export_keeps_the_previous_file(
    conn: duckdb.DuckDBPyConnection, tmp_path: Path
) -> None:
    first = export_month(conn, "sales", "month", date(2024, 7, 1), "name", tmp_path, "sales")
    with pytest.raises(duckdb.Error):
        export_month(conn, "sales", "month", date(2024, 7, 1), "no_such_column", tmp_path, "sales")
    assert pq.read_table(first.path).num_rows == 2
    assert [p.name for p in first.path.parent.iterdir()] == ["data.parquet"], "no temp left"


def test_the_schema_file_lists_types_and_descriptions(
    conn: duckdb.DuckDBPyConnection, tmp_path: Path
) -> None:
    path = write_schema(conn, "sales", tmp_path, "sales", {"amount": "BRL"}, ["year", "month"])
    schema = json.loads(path.read_text())
    assert schema["columns"] == [
        {"name": "month", "type": "DATE", "description": ""},
        {"name": "name", "type": "VARCHAR", "description": ""},
        {"name": "amount", "type": "INTEGER", "description": "BRL"},
    ]
    assert partition_dir(tmp_path, "sales", date(2024, 8, 1)).name == "month=8"
