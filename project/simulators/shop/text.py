"""Landed text from NumPy columns, without a Python object per value.

Ids and timestamps are fixed-width, so they are written as rows of a byte matrix and
handed to Arrow as a string array's data buffer (~30 ns a value; `str.format` takes
~300 ns). Everything the contract lands is text, so faults later edit strings only.
"""

from __future__ import annotations

from functools import cache

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc

from project.simulators.shop.draws import DAY


def _fixed(matrix: np.ndarray) -> pa.StringArray:
    n, width = matrix.shape
    offsets = np.arange(0, (n + 1) * width, width, dtype=np.int32)
    return pa.StringArray.from_buffers(
        n, pa.py_buffer(offsets), pa.py_buffer(np.ascontiguousarray(matrix))
    )


def _digits(matrix: np.ndarray, column: int, width: int, values: np.ndarray) -> None:
    """Writes `values` zero-padded into `matrix[:, column:column + width]`."""
    rest = values.astype(np.int64, copy=True)
    for k in range(column + width - 1, column - 1, -1):
        matrix[:, k] = rest % 10 + 48
        rest //= 10


def ids(prefix: str, numbers: np.ndarray, width: int) -> pa.StringArray:
    """`prefix` + zero-padded numbers, e.g. `ids("O", [1], 8)` -> `O00000001`."""
    if len(numbers):
        width = max(width, len(str(int(numbers.max()))))
    head = np.frombuffer(prefix.encode(), np.uint8)
    matrix = np.empty((len(numbers), len(head) + width), np.uint8)
    matrix[:, : len(head)] = head
    _digits(matrix, len(head), width, numbers)
    return _fixed(matrix)


def counters(prefix: str, numbers: np.ndarray) -> pa.StringArray:
    """`prefix` + unpadded numbers, e.g. event ids `oe-3-17`."""
    return pc.binary_join_element_wise(prefix, integers(numbers), "")


def integers(numbers: np.ndarray) -> pa.StringArray:
    return pc.cast(pa.array(numbers, pa.int64()), pa.string())


@cache
def _times_of_day() -> np.ndarray:
    """`THH:MM:SSZ` for every second of a day, as a (86400, 10) byte matrix."""
    seconds = np.arange(DAY)
    matrix = np.empty((DAY, 10), np.uint8)
    matrix[:] = np.frombuffer(b"T00:00:00Z", np.uint8)
    for column, value in ((1, seconds // 3600), (4, seconds // 60 % 60), (7, seconds % 60)):
        _digits(matrix, column, 2, value)
    return matrix


def iso(seconds: np.ndarray) -> pa.StringArray:
    """ISO-8601 UTC with `Z` (`2026-11-03T14:05:09Z`) from epoch seconds."""
    seconds = np.asarray(seconds, np.int64)
    days = seconds // DAY
    matrix = np.empty((len(seconds), 20), np.uint8)
    if len(seconds):
        first = int(days.min())
        dates = np.arange(first, int(days.max()) + 1).astype("datetime64[D]").astype("S10")
        matrix[:, :10] = dates.view(np.uint8).reshape(-1, 10)[days - first]
        matrix[:, 10:] = _times_of_day()[seconds - days * DAY]
    return _fixed(matrix)


def money(cents: np.ndarray) -> pa.StringArray:
    """Decimal strings with two places (`1234.50`, `-3.05`) from integer cents."""
    cents = np.asarray(cents, np.int64)
    magnitude = np.abs(cents)
    fraction = np.empty((len(cents), 3), np.uint8)
    fraction[:, 0] = ord(".")
    _digits(fraction, 1, 2, magnitude % 100)
    text = pc.binary_join_element_wise(integers(magnitude // 100), _fixed(fraction), "")
    negative = cents < 0
    if negative.any():
        text = pc.if_else(pa.array(negative), pc.binary_join_element_wise("-", text, ""), text)
    return text


def pick(values: pa.Array, index: np.ndarray) -> pa.Array:
    """`values[index]` (a pool lookup) as an Arrow array."""
    return values.take(pa.array(index, pa.int64()))
