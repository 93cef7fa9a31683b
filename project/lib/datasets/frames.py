"""What flows between datasets: pandas frames for users, Arrow underneath.

Every save accepts a pandas DataFrame, an Arrow table or record-batch reader, or a DuckDB
relation; every load gives a pandas DataFrame backed by Arrow types (`pd.ArrowDtype`), so
integers with nulls stay integers, decimals stay decimals and dates stay dates. Streaming
consumers ask for a `pa.RecordBatchReader` instead and never hold the whole table.

Text formats (CSV, JSON) cannot say what a column's type is, so the layer writes the Arrow
schema beside the file (`<file>.schema.json`) and casts to it on load: a frame saved as CSV
loads back with the types it had. A file without one (written by someone else) loads with
the reader's own inference, as Kedro would.
"""

from __future__ import annotations

import base64
import json
from pathlib import Path
from typing import Any

import duckdb
import pandas as pd
import pyarrow as pa
import pyarrow.compute as pc

Data = pd.DataFrame | pa.Table | pa.RecordBatchReader | duckdb.DuckDBPyRelation


def to_table(data: Any, *, dataset: str) -> pa.Table:
    """`data` as one Arrow table (for writers that need it all, like Excel)."""
    if isinstance(data, pa.Table):
        return data
    if isinstance(data, pa.RecordBatchReader):
        return data.read_all()
    if isinstance(data, duckdb.DuckDBPyRelation):
        return data.to_arrow_table()
    if isinstance(data, pd.DataFrame):
        return pa.Table.from_pandas(data, preserve_index=False)
    raise TypeError(
        f"dataset {dataset!r}: cannot save a {type(data).__name__}; give a pandas DataFrame, "
        "an Arrow table or reader, or a DuckDB relation"
    )


def to_reader(data: Any, *, dataset: str) -> pa.RecordBatchReader:
    """`data` as a stream of record batches (what database and Parquet writers consume)."""
    if isinstance(data, pa.RecordBatchReader):
        return data
    if isinstance(data, duckdb.DuckDBPyRelation):
        return data.to_arrow_reader(1_000_000)
    return to_table(data, dataset=dataset).to_reader()


def from_inferred(frame: pd.DataFrame) -> pa.Table:
    """A frame a reader inferred (no schema beside the file) as Arrow: a column whose values
    mix types (`3` in one record, `"two"` in the next) becomes text, so the bad value reaches
    the code that checks it instead of failing the whole read."""
    try:
        return pa.Table.from_pandas(frame, preserve_index=False)
    except (pa.ArrowInvalid, pa.ArrowTypeError):
        pass
    fixed = frame.copy()
    for column in fixed.select_dtypes(include="object").columns:
        try:
            pa.array(fixed[column], from_pandas=True)
        except (pa.ArrowInvalid, pa.ArrowTypeError):
            fixed[column] = fixed[column].map(lambda v: None if _missing(v) else str(v))
    return pa.Table.from_pandas(fixed, preserve_index=False)


def _missing(value: Any) -> bool:
    return value is None or (isinstance(value, float) and value != value)


def to_frame(table: pa.Table) -> pd.DataFrame:
    return table.to_pandas(types_mapper=pd.ArrowDtype)


def schema_path(path: Path) -> Path:
    return path.with_name(path.name + ".schema.json")


def write_schema(path: Path, schema: pa.Schema) -> None:
    """The Arrow schema of what was saved at `path`, as IPC bytes in JSON."""
    plain = schema.remove_metadata()
    encoded = base64.b64encode(plain.serialize().to_pybytes()).decode()
    columns = {field.name: str(field.type) for field in plain}
    schema_path(path).write_text(json.dumps({"columns": columns, "arrow": encoded}, indent=1))


def read_schema(path: Path) -> pa.Schema | None:
    sidecar = schema_path(path)
    if not sidecar.exists():
        return None
    payload = json.loads(sidecar.read_text())
    return pa.ipc.read_schema(pa.py_buffer(base64.b64decode(payload["arrow"])))


def cast_to(table: pa.Table, schema: pa.Schema, *, dataset: str) -> pa.Table:
    """`table` (as read from text) cast column by column to the schema it was saved with."""
    columns = []
    for field in schema:
        if field.name not in table.column_names:
            raise ValueError(f"dataset {dataset!r}: column {field.name!r} is missing from the file")
        column = table[field.name]
        if pa.types.is_timestamp(field.type) and pa.types.is_timestamp(column.type):
            column = column.cast(pa.timestamp(field.type.unit, tz=column.type.tz or "UTC"))
        try:
            columns.append(_cast(column, field.type))
        except (pa.ArrowInvalid, pa.ArrowNotImplementedError) as exc:
            raise ValueError(
                f"dataset {dataset!r}: column {field.name!r} does not read as {field.type}: {exc}"
            ) from None
    return pa.Table.from_arrays(columns, schema=schema)


def _cast(column: pa.ChunkedArray, kind: pa.DataType) -> pa.ChunkedArray:
    """A cast that also reads dates written as midnight timestamps (Excel's way), and a
    column of nulls (read from text as empty strings) as the null type it was saved with."""
    if pa.types.is_null(kind) and column.null_count == len(column):
        return pa.chunked_array([pa.nulls(len(column))], pa.null())
    try:
        return pc.cast(column, kind)
    except pa.ArrowInvalid:
        textual = pa.types.is_string(column.type) or pa.types.is_large_string(column.type)
        if not (pa.types.is_date(kind) and textual):
            raise
        return pc.cast(pc.cast(column, pa.timestamp("us")), kind)


def as_text(table: pa.Table) -> pa.Table:
    """Columns JSON cannot carry (decimals, dates, timestamps) as ISO strings."""
    columns = []
    for column in table.columns:
        kind = column.type
        if pa.types.is_decimal(kind) or pa.types.is_temporal(kind):
            column = pc.cast(column, pa.string())
        columns.append(column)
    return pa.Table.from_arrays(columns, names=table.column_names)
