"""Hive-partitioned Parquet exports of warehouse tables, written atomically.

A month of a table becomes `<root>/<table>/year=YYYY/month=M/data.parquet` (zstd), so
any engine (DuckDB, Spark, pandas/pyarrow, Athena) reads the folder as one dataset with
`year`/`month` columns. DuckDB's own `COPY ... TO` streams the query into the file; the
file is written under a temporary name and renamed, so a reader never sees half a month
and a failed export leaves the previous file in place. `_schema.json` beside the
partitions records every column's type and description.
"""

from __future__ import annotations

import json
import os
from dataclasses import dataclass
from datetime import date
from pathlib import Path

import duckdb

FILE_NAME = "data.parquet"
SCHEMA_FILE = "_schema.json"


@dataclass(frozen=True)
class ExportedPartition:
    path: Path
    rows: int
    bytes: int


def partition_dir(root: Path, table: str, month: date) -> Path:
    return root / table / f"year={month.year:04d}" / f"month={month.month}"


def export_month(
    conn: duckdb.DuckDBPyConnection,
    relation: str,
    month_column: str,
    month: date,
    order_by: str,
    root: Path,
    table: str,
) -> ExportedPartition:
    """Write one month of `relation` (rows whose `month_column` = `month`), ordered."""
    target = partition_dir(root, table, month) / FILE_NAME
    target.parent.mkdir(parents=True, exist_ok=True)
    tmp = target.with_name(f".{FILE_NAME}.{os.getpid()}.tmp")
    query = (
        f"SELECT * FROM {relation} WHERE {month_column} = DATE '{month.isoformat()}' "
        f"ORDER BY {order_by}"
    )
    path_literal = str(tmp).replace("'", "''")
    try:
        conn.execute(
            f"COPY ({query}) TO '{path_literal}' (FORMAT parquet, COMPRESSION zstd, "
            "ROW_GROUP_SIZE 122880)"
        )
        os.replace(tmp, target)
    finally:
        tmp.unlink(missing_ok=True)
    rows = conn.execute(f"SELECT count(*) FROM read_parquet('{_literal(target)}')").fetchone()[0]
    return ExportedPartition(path=target, rows=rows, bytes=target.stat().st_size)


def write_schema(
    conn: duckdb.DuckDBPyConnection,
    relation: str,
    root: Path,
    table: str,
    descriptions: dict[str, str],
    partitioned_by: list[str],
) -> Path:
    """`_schema.json`: column names, types and descriptions of the exported table."""
    columns = conn.execute(f"DESCRIBE SELECT * FROM {relation}").fetchall()
    schema = {
        "table": table,
        "source": relation,
        "format": "parquet",
        "compression": "zstd",
        "partitioned_by": partitioned_by,
        "columns": [
            {"name": name, "type": kind, "description": descriptions.get(name, "")}
            for name, kind, *_ in columns
        ],
    }
    path = root / table / SCHEMA_FILE
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(f".{SCHEMA_FILE}.tmp")
    tmp.write_text(json.dumps(schema, indent=2, ensure_ascii=False) + "\n")
    os.replace(tmp, path)
    return path


def _literal(path: Path) -> str:
    return str(path).replace("'", "''")
