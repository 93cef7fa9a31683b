"""Frames (columns of text) to landed bytes: JSON lines by string joins, CSV by pyarrow.

A JSON line is built column-wise, `{"k":"v",...}` joined across whole arrays, so a line
costs no Python call; free text gets its quotes and backslashes escaped first. CSV
values are ids, codes, numbers and timestamps, so they are written unquoted (pyarrow
refuses, rather than writes a broken row, if a value ever needed quotes).
"""

from __future__ import annotations

import json

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.csv as pacsv

Frame = dict[str, pa.Array]
_CSV = pacsv.WriteOptions(include_header=False, quoting_style="none")


def _escaped(values: pa.Array) -> pa.Array:
    values = pc.replace_substring(values, "\\", "\\\\")
    return pc.replace_substring(values, '"', '\\"')


def json_lines(frame: Frame, text: tuple[str, ...] = (), bare: tuple[str, ...] = ()) -> pa.Array:
    """One JSON object per row, each ending in a newline; nulls as `null`.

    `text` columns are escaped; `bare` columns (numbers, booleans) are not quoted.
    """
    parts: list[pa.Array | str] = []
    for i, (name, values) in enumerate(frame.items()):
        parts.append(("{" if i == 0 else ",") + json.dumps(name) + ":")
        if name in text:
            values = _escaped(values)
        if name not in bare:
            values = pc.binary_join_element_wise('"', values, '"', "")
        parts.append(pc.fill_null(values, "null") if values.null_count else values)
    parts.append("}\n")
    return pc.binary_join_element_wise(*parts, "")


def csv_header(columns: list[str]) -> bytes:
    return (",".join(columns) + "\n").encode()


def csv_rows(frame: Frame) -> bytes:
    """The rows without a header; nulls as empty fields."""
    sink = pa.BufferOutputStream()
    pacsv.write_csv(pa.table(frame), sink, _CSV)
    return sink.getvalue().to_pybytes()


def joined(lines: pa.Array) -> memoryview:
    """The bytes of a string array's values, back to back (lines carry their newline)."""
    if not len(lines):
        return memoryview(b"")
    offsets = np.frombuffer(lines.buffers()[1], np.int32)
    first, last = offsets[lines.offset], offsets[lines.offset + len(lines)]
    return memoryview(lines.buffers()[2])[first:last]
