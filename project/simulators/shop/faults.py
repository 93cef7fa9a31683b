"""Lands one source's frames into its files and injects the requested faults.

Each record takes at most one row fault (one uniform draw against the stacked rates),
so every fault the manifest lists can be seen in the file as described: a null stays a
null, not also truncated. Faults that change a CSV header (`extra_column`,
`renamed_column`) take whole files instead: each file with the fault's rate, the last
one if none was drawn. Every injection is recorded in the `FaultLog` at the file and line
a reader sees (duplicates with their original), which the manifest carries.
"""

from __future__ import annotations

from collections import defaultdict
from dataclasses import dataclass
from typing import Any

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc

from project.simulators.shop import render, text
from project.simulators.shop.draws import DAY, stream
from project.simulators.shop.landing import Landing, Sink, file_name
from project.simulators.shop.sources import Fault, Source
from project.simulators.shop.spec import ShopSpec

Frame = dict[str, pa.Array]
# Faults drawn per record, in the order their rate intervals are stacked.
ROW_FAULTS = (
    Fault.NULLS,
    Fault.NEGATIVE_PRICES,
    Fault.UNKNOWN_STATUS,
    Fault.LATE,
    Fault.MALFORMED_LINES,
    Fault.EXTRA_COLUMN,
    Fault.DUPLICATES,
    Fault.OUT_OF_ORDER,
)
NONE = -1  # a record without a row fault
_ABSENT = -2  # the code of a fault not requested: matches no record


class FaultLog:
    """What was injected: fault -> source -> {count, rows | files}."""

    def __init__(self) -> None:
        self.faults: dict[str, dict[str, dict[str, Any]]] = defaultdict(dict)

    def _entry(self, fault: Fault, source: str, **init: Any) -> dict[str, Any]:
        return self.faults[str(fault)].setdefault(source, {"count": 0, **init})

    def rows(self, fault: Fault, source: str, rows: list[dict[str, Any]]) -> None:
        if rows:
            entry = self._entry(fault, source, rows=[])
            entry["rows"].extend(rows)
            entry["count"] += len(rows)

    def file(self, fault: Fault, source: str, file: str, rows: int, **info: Any) -> None:
        entry = self._entry(fault, source, files=[], **info)
        entry["files"].append(file)
        entry["count"] += rows

    def to_json(self) -> dict[str, dict[str, dict[str, Any]]]:
        return {f: dict(sorted(s.items())) for f, s in sorted(self.faults.items())}


@dataclass
class _Pending:
    """Duplicates waiting for the file they land in: the rows and where they came from."""

    frame: Frame
    file: str
    lines: list[int]


class SourceWriter:
    """One source's files in this batch (one per time slice) and its faults."""

    def __init__(
        self,
        source: Source,
        spec: ShopSpec,
        landing: Landing,
        log: FaultLog,
        windows: list[tuple[int, int]],
    ) -> None:
        self.source = source
        self.spec = spec
        self.log = log
        self.windows = windows  # each file's time slice, for `late`
        self.row_faults = [
            f
            for f in ROW_FAULTS
            if spec.rate(f) > 0 and source.supports(f) and not source.per_file(f)
        ]
        self._cut = np.cumsum([spec.rate(f) for f in self.row_faults])
        # Unused unless the source supports the fault (`supports` checks these are set).
        self.extra = source.extra or ("", ())
        self.rename = source.rename or ("", "")
        self.file_faults = self._file_faults(len(windows))
        self.sinks = [
            landing.sink(
                f"{source.name}/{file_name(spec.batch, k, source.ext, spec.gzip)}",
                render.csv_header(self._columns(k)) if source.format == "csv" else b"",
            )
            for k in range(len(windows))
        ]
        self._pending: dict[int, list[_Pending]] = defaultdict(list)
        self._writes = 0

    def _file_faults(self, files: int) -> list[set[Fault]]:
        chosen: list[set[Fault]] = [set() for _ in range(files)]
        for fault in (Fault.EXTRA_COLUMN, Fault.RENAMED_COLUMN):
            rate = self.spec.rate(fault)
            if rate <= 0 or not (self.source.supports(fault) and self.source.per_file(fault)):
                continue
            rng = stream(self.spec.seed, self.spec.batch, "file-faults", self.source.name, fault)
            hits = np.flatnonzero(rng.random(files) < rate)
            for k in hits if len(hits) else [files - 1]:
                chosen[k].add(fault)
        return chosen

    def _columns(self, k: int) -> list[str]:
        """The header of file `k`: the contract's, renamed or extended by file faults."""
        columns = list(self.source.columns)
        if Fault.RENAMED_COLUMN in self.file_faults[k]:
            old, new = self.rename
            columns[columns.index(old)] = new
        if Fault.EXTRA_COLUMN in self.file_faults[k]:
            columns.append(self.extra[0])
        return columns

    @property
    def files(self) -> list[str]:
        return [s.relative for s in self.sinks if s.opened]

    @property
    def rows(self) -> int:
        return sum(s.rows for s in self.sinks)

    def assign(self, rng: np.random.Generator, n: int) -> np.ndarray:
        """Each record's row fault: an index into `row_faults`, or NONE."""
        if not self.row_faults:
            return np.full(n, NONE, np.int8)
        code = np.searchsorted(self._cut, rng.random(n), side="right")
        return np.where(code < len(self.row_faults), code, NONE).astype(np.int8)

    def code(self, fault: Fault) -> int:
        """The code `assign` gives records with `fault`."""
        return self.row_faults.index(fault) if fault in self.row_faults else _ABSENT

    def ids(self, frame: Frame, rows: np.ndarray) -> list[str]:
        """How the manifest names records: event_id, or `key:seq` in a change feed."""
        index = pa.array(rows, pa.int64())
        if not self.source.change_feed:
            return frame["event_id"].take(index).to_pylist()
        key, seq = frame[self.source.key].take(index), frame["seq"].take(index)
        return pc.binary_join_element_wise(key, seq, ":").to_pylist()

    def write(self, k: int, frame: Frame, codes: np.ndarray | None = None) -> None:
        """Appends `frame` to file `k`, faults drawn here unless `codes` are given."""
        n = len(frame[self.source.columns[0]])
        if not n:
            return
        rng = stream(self.spec.seed, self.spec.batch, "faults", self.source.name, self._writes)
        self._writes += 1
        codes = self.assign(rng, n) if codes is None else codes
        sink = self.sinks[k]
        first = sink.next_line
        frame = dict(frame)
        self._value_faults(rng, k, frame, codes, first)
        if Fault.EXTRA_COLUMN in self.file_faults[k]:
            frame[self.extra[0]] = self._extra_values(rng, self.extra[1], n)
        data = self._render(rng, k, frame, codes, first)
        sink.write(data, n)
        # Out-of-order changes were placed by the caller; only their lines are known here.
        late = np.flatnonzero(codes == self.code(Fault.OUT_OF_ORDER))
        self._log_rows(Fault.OUT_OF_ORDER, frame, late, first, sink)
        duplicated = np.flatnonzero(codes == self.code(Fault.DUPLICATES))
        if len(duplicated):
            targets = np.minimum(k + (rng.random(len(duplicated)) < 0.5), len(self.sinks) - 1)
            for target in np.unique(targets):
                rows = duplicated[targets == target]
                index = pa.array(rows, pa.int64())
                copy = {c: frame[c].take(index) for c in self.source.columns}
                lines = (first + rows).tolist()
                self._pending[int(target)].append(_Pending(copy, sink.relative, lines))

    def _log_rows(
        self, fault: Fault, frame: Frame, rows: np.ndarray, first: int, sink: Sink, **extra: Any
    ) -> None:
        if not len(rows):
            return
        ids = self.ids(frame, rows)
        entries = [
            {"file": sink.relative, "line": int(first + r), "id": i}
            for r, i in zip(rows, ids, strict=True)
        ]
        for key, values in extra.items():
            for entry, value in zip(entries, values, strict=True):
                entry[key] = value
        self.log.rows(fault, self.source.name, entries)

    @staticmethod
    def _extra_values(rng: np.random.Generator, samples: tuple[str, ...], n: int) -> pa.Array:
        """A new column's values: one of the samples on a third of the rows, else empty."""
        values = text.pick(pa.array(samples), rng.integers(0, len(samples), n))
        return pc.if_else(pa.array(rng.random(n) < 1 / 3), values, pa.nulls(n, pa.string()))

    def _value_faults(
        self, rng: np.random.Generator, k: int, frame: Frame, codes: np.ndarray, first: int
    ) -> None:
        source, sink = self.source, self.sinks[k]
        rows = np.flatnonzero(codes == self.code(Fault.NULLS))
        if len(rows):
            columns = np.array(source.required)[rng.integers(0, len(source.required), len(rows))]
            for column in source.required:
                mask = np.zeros(len(codes), bool)
                mask[rows[columns == column]] = True
                if mask.any():
                    frame[column] = pc.if_else(
                        pa.array(mask), pa.scalar(None, pa.string()), frame[column]
                    )
            self._log_rows(Fault.NULLS, frame, rows, first, sink, column=columns.tolist())
        rows = np.flatnonzero(codes == self.code(Fault.NEGATIVE_PRICES))
        if len(rows):
            column = source.price
            mask = pa.array(np.isin(np.arange(len(codes)), rows))
            negative = pc.binary_join_element_wise("-", frame[column], "")
            frame[column] = pc.if_else(mask, negative, frame[column])
            self._log_rows(
                Fault.NEGATIVE_PRICES, frame, rows, first, sink, column=[column] * len(rows)
            )
        rows = np.flatnonzero(codes == self.code(Fault.UNKNOWN_STATUS))
        if len(rows):
            values = np.array(source.unknown, object)[
                rng.integers(0, len(source.unknown), len(rows))
            ]
            frame[source.status] = _replace(frame[source.status], rows, values)
            self._log_rows(Fault.UNKNOWN_STATUS, frame, rows, first, sink, value=values.tolist())
        rows = np.flatnonzero(codes == self.code(Fault.LATE))
        if len(rows):
            day = self.windows[k][0] // DAY * DAY
            late = day - rng.integers(1, 4, len(rows)) * DAY + rng.integers(0, DAY, len(rows))
            values = text.iso(late)
            frame[source.time] = _replace(
                frame[source.time], rows, values.to_numpy(zero_copy_only=False)
            )
            self._log_rows(Fault.LATE, frame, rows, first, sink, value=values.to_pylist())

    def _render(
        self, rng: np.random.Generator, k: int, frame: Frame, codes: np.ndarray, first: int
    ) -> bytes | memoryview:
        source, sink = self.source, self.sinks[k]
        extra = np.flatnonzero(codes == self.code(Fault.EXTRA_COLUMN))
        malformed = np.flatnonzero(codes == self.code(Fault.MALFORMED_LINES))
        if source.format == "csv":
            data = render.csv_rows(frame)
            if not len(malformed):
                return data
            lines = data.split(b"\n")
            for r in malformed:
                row = lines[r]
                # Alternate: a field too few (the last cut off) or one too many.
                lines[r] = row[: row.rindex(b",")] if r % 2 else row + b",?"
            self._log_rows(Fault.MALFORMED_LINES, frame, malformed, first, sink)
            return b"\n".join(lines)
        lines = render.json_lines(frame, source.text, source.bare)
        if len(extra):
            name, samples = self.extra
            values = np.array(samples, object)[rng.integers(0, len(samples), len(extra))]
            selected = lines.take(pa.array(extra, pa.int64()))
            edited = pc.binary_join_element_wise(
                pc.utf8_slice_codeunits(selected, 0, -2),
                f',"{name}":"',
                pa.array(values, pa.string()),
                '"}\n',
                "",
            )
            lines = _replace(lines, extra, edited.to_numpy(zero_copy_only=False))
            self._log_rows(
                Fault.EXTRA_COLUMN, frame, extra, first, sink, column=[name] * len(extra)
            )
        if len(malformed):
            cut = [
                line[: len(line) // 2] + "\n"
                for line in lines.take(pa.array(malformed)).to_pylist()
            ]
            lines = _replace(lines, malformed, np.array(cut, object))
            self._log_rows(Fault.MALFORMED_LINES, frame, malformed, first, sink)
        return render.joined(lines)

    def close(self, k: int) -> None:
        """Lands the duplicates bound for file `k` at its end, then closes it."""
        sink = self.sinks[k]
        for pending in self._pending.pop(k, []):
            frame = dict(pending.frame)
            n = len(pending.lines)
            if Fault.EXTRA_COLUMN in self.file_faults[k]:
                frame[self.extra[0]] = pa.nulls(n, pa.string())
            first = sink.next_line
            if self.source.format == "csv":
                sink.write(render.csv_rows(frame), n)
            else:
                sink.write(
                    render.joined(render.json_lines(frame, self.source.text, self.source.bare)), n
                )
            rows = np.arange(n)
            self._log_rows(
                Fault.DUPLICATES,
                frame,
                rows,
                first,
                sink,
                original_file=[pending.file] * n,
                original_line=pending.lines,
            )
        if Fault.EXTRA_COLUMN in self.file_faults[k] and sink.rows:
            self.log.file(
                Fault.EXTRA_COLUMN,
                self.source.name,
                sink.relative,
                sink.rows,
                column=self.extra[0],
            )
        if Fault.RENAMED_COLUMN in self.file_faults[k] and sink.rows:
            old, new = self.rename
            self.log.file(
                Fault.RENAMED_COLUMN,
                self.source.name,
                sink.relative,
                sink.rows,
                column=old,
                landed_as=new,
            )
        sink.close()


def _replace(values: pa.Array, rows: np.ndarray, replacements: np.ndarray) -> pa.Array:
    """`values` with `values[rows] = replacements` (rows ascending)."""
    mask = np.zeros(len(values), bool)
    mask[rows] = True
    return pc.replace_with_mask(values, pa.array(mask), pa.array(replacements, pa.string()))
