"""File datasets: CSV, JSON, Parquet and Excel (Kedro's `pandas.*` types), and Parquet
partitioned hive-style by the asset's partition key (ours).

`load_args` and `save_args` go to pandas as in Kedro, so Kedro catalogs keep working. Every
write goes to a temporary file renamed into place: a save that fails leaves the previous
file whole. Excel goes through DuckDB's `excel` extension when pandas' arguments are not
needed, and through pandas and openpyxl otherwise (see `ExcelDataset`).
"""

from __future__ import annotations

import os
import re
import shutil
import uuid
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from pathlib import Path
from typing import Any, ClassVar, Literal
from urllib.parse import quote, unquote

import duckdb
import pandas as pd
import pyarrow as pa
import pyarrow.parquet as pq
from pydantic import Field, field_validator

from project.lib.datasets.base import Dataset, DatasetError, Versioned, register
from project.lib.datasets.frames import (
    Data,
    as_text,
    cast_to,
    from_inferred,
    read_schema,
    schema_path,
    to_frame,
    to_reader,
    to_table,
    write_schema,
)
from project.lib.extensions import connection_config
from project.lib.warehouse import quote_literal


@contextmanager
def replacing(path: Path, staging: Path | None = None) -> Iterator[Path]:
    """A temporary path in `staging` (default: beside `path`), put in place of `path` when
    the block succeeds. A file is renamed over the old one; a folder's old version is moved
    aside first and deleted last, so a crash never leaves neither."""
    path.parent.mkdir(parents=True, exist_ok=True)
    folder = staging or path.parent
    folder.mkdir(parents=True, exist_ok=True)
    tmp = folder / f".{path.name}.{uuid.uuid4().hex}.tmp"
    aside = folder / f".{path.name}.{uuid.uuid4().hex}.old"
    try:
        yield tmp
        if path.is_dir():
            os.replace(path, aside)
        os.replace(tmp, path)
    finally:
        for leftover in (tmp, aside):
            if leftover.is_dir():
                shutil.rmtree(leftover, ignore_errors=True)
            else:
                leftover.unlink(missing_ok=True)


class FileDataset(Dataset):
    """A single file, optionally versioned the way Kedro versions files."""

    filepath: Path
    load_args: dict[str, Any] = Field(default_factory=dict)
    save_args: dict[str, Any] = Field(default_factory=dict)
    fs_args: dict[str, Any] | None = None
    credentials: str | None = None
    versioned: bool = False
    # Ours: how many versions to keep (older ones are pruned after a save), and which to load.
    versions_kept: int | None = None
    load_version: str | None = None

    @field_validator("filepath")
    @classmethod
    def _local(cls, path: Path) -> Path:
        if re.match(r"^[a-z][a-z0-9+.-]*:/", str(path)):
            raise ValueError(f"{path}: only local paths are supported, not remote filesystems")
        return path

    def _versions(self) -> Versioned:
        return Versioned(self.filepath, self.versions_kept, self.load_version)

    def read_path(self) -> Path:
        path = self._versions().load_path(self.name) if self.versioned else self.filepath
        if not path.exists():
            raise DatasetError(f"dataset {self.name!r}: file {path} does not exist")
        return path

    def location(self) -> str:
        return str(self.filepath)

    def exists(self, partition: str | None = None) -> bool:
        if self.versioned:
            return bool(self._versions().versions())
        return self.filepath.exists()

    def load_arrow(self, partitions: Sequence[str] | None = None) -> pa.Table:
        path = self.read_path()
        try:
            return self.read(path)
        except DatasetError:
            raise
        except Exception as exc:
            raise self.fail("read", exc) from exc

    def load(self, partitions: Sequence[str] | None = None) -> pd.DataFrame:
        return to_frame(self.load_arrow(partitions))

    def save(self, data: Data, partition: str | None = None) -> dict[str, Any]:
        try:
            table = to_table(data, dataset=self.name)
        except TypeError:
            raise
        except Exception as exc:  # a stream that fails while it is read: nothing written
            raise self.fail("write", exc) from exc
        target = self._versions().save_path() if self.versioned else self.filepath
        try:
            with replacing(target) as tmp:
                self.write(table, tmp)
                if self.keeps_schema:
                    write_schema(target, table.schema)
        except Exception as exc:
            raise self.fail("write", exc) from exc
        meta: dict[str, Any] = {"rows": table.num_rows, "path": str(target), "schema": table.schema}
        if self.versioned:
            meta["version"] = target.parent.name
            meta["pruned_versions"] = self._versions().prune()
        return meta

    keeps_schema: ClassVar[bool] = False

    def read(self, path: Path) -> pa.Table:
        raise NotImplementedError

    def write(self, table: pa.Table, path: Path) -> None:
        raise NotImplementedError


class TextFileDataset(FileDataset):
    """CSV and JSON: the Arrow schema is kept beside the file so types survive."""

    keeps_schema: ClassVar[bool] = True

    def read(self, path: Path) -> pa.Table:
        schema = read_schema(path)
        if schema is None:
            return from_inferred(self.read_frame(path, typed=False))
        frame = self.read_frame(path, typed=True)
        return cast_to(pa.Table.from_pandas(frame, preserve_index=False), schema, dataset=self.name)

    def read_frame(self, path: Path, *, typed: bool) -> pd.DataFrame:
        raise NotImplementedError


@register("pandas.CSVDataset")
class CSVDataset(TextFileDataset):
    def read_frame(self, path: Path, *, typed: bool) -> pd.DataFrame:
        args = dict(self.load_args)
        if typed:  # read text as text; the schema decides each column's type
            args = {"dtype": str, "keep_default_na": False, "na_values": [""]} | args
        return pd.read_csv(path, **args)

    def write(self, table: pa.Table, path: Path) -> None:
        args = {"index": False} | self.save_args
        if "compression" not in args and self.filepath.suffix == ".gz":
            args["compression"] = "gzip"
        to_frame(table).to_csv(path, **args)


@register("pandas.JSONDataset")
class JSONDataset(TextFileDataset):
    """JSON records, or JSON lines when the file ends in `.jsonl` (or `lines: true`)."""

    def _lines(self) -> dict[str, Any]:
        lines = self.filepath.suffix in (".jsonl", ".ndjson")
        return {"orient": "records", "lines": lines}

    def read_frame(self, path: Path, *, typed: bool) -> pd.DataFrame:
        args = self._lines() | ({"dtype": False} if typed else {}) | self.load_args
        return pd.read_json(path, **args)

    def write(self, table: pa.Table, path: Path) -> None:
        args = self._lines() | {"force_ascii": False} | self.save_args
        as_text(table).to_pandas(types_mapper=pd.ArrowDtype).to_json(path, **args)


@register("pandas.ParquetDataset")
class ParquetDataset(FileDataset):
    """Arrow reads and writes it; with `load_args`/`save_args`, pandas does, as in Kedro."""

    def read(self, path: Path) -> pa.Table:
        if not self.load_args:
            return pq.read_table(path)
        frame = pd.read_parquet(path, **self.load_args)
        return pa.Table.from_pandas(frame, preserve_index=False)

    def write(self, table: pa.Table, path: Path) -> None:
        if not self.save_args:
            pq.write_table(table, path, compression="zstd")
            return
        to_frame(table).to_parquet(path, **({"index": False} | self.save_args))


@register("pandas.ExcelDataset")
class ExcelDataset(FileDataset):
    """One sheet (`sheet_name`), or several when a dict of frames is saved.

    Two engines. Through this type, on 50,000 rows of five types, DuckDB's `excel`
    extension wrote 18x and read 15x faster than pandas with openpyxl (same run, load 3.3),
    but it takes none of pandas' arguments and writes one sheet. So DuckDB writes a single
    frame whose `save_args` are at most `sheet_name` (and `index: false`), and reads back
    files this
    layer wrote (their schema is beside them) with at most `sheet_name`; anything else
    (Kedro's other arguments, several sheets, workbooks from elsewhere) goes to openpyxl.
    `engine: openpyxl` forces it.
    """

    keeps_schema: ClassVar[bool] = True
    engine: Literal["auto", "openpyxl"] = "auto"

    def _fast(self, args: dict[str, Any], allowed: dict[str, Any]) -> bool:
        return self.engine == "auto" and all(
            (key == "sheet_name" and isinstance(value, str)) or allowed.get(key, object()) == value
            for key, value in args.items()
        )

    def load_arrow(self, partitions: Sequence[str] | None = None) -> pa.Table:
        path = self.read_path()
        schema = read_schema(path)
        try:
            if schema is not None and self._fast(self.load_args, {}):
                table = _duckdb_read_xlsx(path, self.load_args.get("sheet_name"))
            else:
                args = ({"dtype": str} if schema is not None else {}) | self.load_args
                frame = pd.read_excel(path, **args)
                if isinstance(frame, dict):
                    raise DatasetError(
                        f"dataset {self.name!r}: load_args select several sheets; load one "
                        f"(sheets: {', '.join(map(str, frame))})"
                    )
                table = pa.Table.from_pandas(frame, preserve_index=False)
        except DatasetError:
            raise
        except Exception as exc:
            raise self.fail("read", exc) from exc
        return cast_to(table, schema, dataset=self.name) if schema is not None else table

    def save(self, data: Any, partition: str | None = None) -> dict[str, Any]:
        if isinstance(data, dict):
            sheets = {str(k): to_table(v, dataset=self.name) for k, v in data.items()}
            self._write_sheets(sheets)
            return {"rows": sum(t.num_rows for t in sheets.values()), "sheets": list(sheets)}
        return super().save(data, partition)

    def _write_sheets(self, sheets: dict[str, pa.Table]) -> None:
        target = self._versions().save_path() if self.versioned else self.filepath
        try:
            with replacing(target) as tmp, pd.ExcelWriter(tmp, engine="openpyxl") as out:
                for sheet, table in sheets.items():
                    _excel_frame(table).to_excel(out, sheet_name=sheet, index=False)
        except Exception as exc:
            raise self.fail("write", exc) from exc
        schema_path(target).unlink(missing_ok=True)
        if self.versioned:
            self._versions().prune()

    def write(self, table: pa.Table, path: Path) -> None:
        if self._fast(self.save_args, {"index": False}):
            _duckdb_write_xlsx(table, path, self.save_args.get("sheet_name", "Sheet1"))
            return
        args = {"index": False, "engine": "openpyxl"} | self.save_args
        with pd.ExcelWriter(path, engine=args.pop("engine")) as out:
            _excel_frame(table).to_excel(out, **args)


def _duckdb_write_xlsx(table: pa.Table, path: Path, sheet: str) -> None:
    conn = duckdb.connect(config=connection_config())
    try:
        conn.execute("LOAD excel")
        conn.register("sheet_rows", pa.Table.from_pandas(_excel_frame(table), preserve_index=False))
        conn.execute(
            f"COPY sheet_rows TO {_literal(path)} (FORMAT xlsx, HEADER true, "
            f"SHEET {_literal(sheet)})"
        )
    finally:
        conn.close()


def _duckdb_read_xlsx(path: Path, sheet: str | None) -> pa.Table:
    conn = duckdb.connect(config=connection_config())
    try:
        conn.execute("LOAD excel")
        options = f", sheet = {_literal(sheet)}" if sheet else ""
        return conn.sql(
            f"SELECT * FROM read_xlsx({_literal(path)}, header = true, stop_at_empty = false"
            f"{options})"
        ).to_arrow_table()
    finally:
        conn.close()


def _excel_frame(table: pa.Table) -> pd.DataFrame:
    """Excel has no time zones nor decimals: those columns are written as ISO text."""
    text = as_text(table)
    keep = [
        name
        for name, column in zip(table.column_names, table.columns, strict=True)
        if pa.types.is_date(column.type)
        or (pa.types.is_timestamp(column.type) and not column.type.tz)
    ]
    frame = text.to_pandas()
    for name in keep:
        frame[name] = table[name].to_pandas()
    return frame


def _literal(text: Path | str) -> str:
    """A quoted SQL string literal (a path, a sheet or column name)."""
    return f"'{quote_literal(str(text))}'"


def _ident(name: str) -> str:
    return '"' + name.replace('"', '""') + '"'


@register("parquet.PartitionedDataset")
class PartitionedParquetDataset(Dataset):
    """Hive-partitioned Parquet: `<path>/<partition_by>=<key>/part-*.parquet`.

    A save with a partition key replaces that partition only; a save without one replaces
    the whole dataset, partitioned by the `partition_by` column of the data. Keys are
    percent-encoded in folder names as DuckDB writes them (`city=New%20York`, and a `/` can
    never leave the dataset's folder). Saves are staged in a hidden folder beside the
    dataset, never inside it, and swapped in at the end. DuckDB writes the stream a bounded
    chunk at a time (one file per chunk and partition: `part-<chunk>-<i>.parquet`), so
    memory stays flat as tables grow. The partition column loads as text, as it was keyed.
    """

    partitioned = True

    path: Path
    partition_by: str = "partition"
    compression: Literal["zstd", "snappy", "gzip", "lz4", "brotli", "uncompressed"] = "zstd"

    def location(self) -> str:
        return str(self.path)

    def _dir(self, key: str) -> Path:
        return self.path / f"{self.partition_by}={quote(str(key), safe='')}"

    def _files(self, folder: Path) -> list[Path]:
        return sorted(folder.glob("*.parquet"))

    def exists(self, partition: str | None = None) -> bool:
        if partition is not None:
            return bool(self._files(self._dir(partition)))
        return any(self._files(self._dir(key)) for key in self.partitions())

    def partitions(self) -> list[str]:
        prefix = f"{self.partition_by}="
        if not self.path.is_dir():
            return []
        return sorted(
            unquote(p.name[len(prefix) :]) for p in self.path.glob(f"{prefix}*") if p.is_dir()
        )

    def scan(self, partitions: Sequence[str] | None = None) -> pa.RecordBatchReader:
        keys = list(partitions) if partitions else self.partitions()
        missing = [key for key in keys if not self.exists(key)]
        if partitions and missing:
            raise DatasetError(
                f"dataset {self.name!r}: no partition {', '.join(missing)} under {self.path}"
            )
        files = [str(f) for key in keys for f in self._files(self._dir(key))]
        if not files:
            raise DatasetError(f"dataset {self.name!r}: nothing written under {self.path}")
        conn = duckdb.connect(config=connection_config())
        try:
            relation = conn.sql(
                "SELECT * FROM read_parquet(?, hive_partitioning = true, union_by_name = true, "
                f"hive_types = {{{_literal(self.partition_by)}: VARCHAR}})",
                params=[files],
            )
            reader = relation.to_arrow_reader(batch_rows(relation.columns))
        except Exception as exc:
            conn.close()
            raise self.fail("read", exc) from exc
        return _closing(reader, conn, self)

    def save(self, data: Data, partition: str | None = None) -> dict[str, Any]:
        reader = to_reader(data, dataset=self.name)
        if partition is None and self.partition_by not in reader.schema.names:
            raise DatasetError(
                f"dataset {self.name!r}: no partition key given and no column "
                f"{self.partition_by!r} to partition by"
            )
        conn = duckdb.connect(config=connection_config() | {"memory_limit": "512MB"})
        columns = [_ident(c) for c in reader.schema.names if c != self.partition_by]
        target = self._dir(partition) if partition is not None else self.path
        staging = self.path.parent
        codec = f"COMPRESSION {self.compression}"
        if self.compression == "zstd":
            codec += f", COMPRESSION_LEVEL {ZSTD_LEVEL}"
        try:
            with replacing(target, staging) as tmp:
                tmp.mkdir(parents=True)
                chunks = _chunks(reader)
                if partition is not None:  # an empty stream still writes a file: the schema
                    chunks = _first_or_empty(chunks, reader.schema)
                for n, chunk in enumerate(chunks):
                    conn.register("incoming", chunk)
                    if partition is not None:
                        select = f"SELECT {', '.join(columns)} FROM incoming"
                        conn.execute(
                            f"COPY ({select}) TO {_literal(tmp / f'part-{n}.parquet')} "
                            f"(FORMAT parquet, {codec})"
                        )
                    else:
                        conn.execute(
                            f"COPY incoming TO {_literal(tmp)} (FORMAT parquet, {codec}, "
                            f"PARTITION_BY ({_ident(self.partition_by)}), "
                            f"FILENAME_PATTERN 'part-{n}-{{i}}', OVERWRITE_OR_IGNORE)"
                        )
                    conn.unregister("incoming")
            written = [str(f) for f in target.rglob("*.parquet")]
            rows = (
                conn.sql("SELECT count(*) FROM read_parquet(?)", params=[written]).fetchone()
                if written
                else (0,)  # an empty stream, saved whole: no partition to write
            )
        except DatasetError:
            raise
        except Exception as exc:
            raise self.fail("write", exc) from exc
        finally:
            conn.close()
        # The schema as a load gives it back: the stream's own (known before any batch is
        # read), its partition column a hive key, so text.
        key = pa.field(self.partition_by, pa.string())
        fields = [f for f in reader.schema if f.name != self.partition_by]
        schema = pa.schema([*fields, key])
        return {"rows": rows[0] if rows else 0, "path": str(target), "schema": schema}


# How much of a stream a save hands DuckDB at once. DuckDB reads a registered stream
# through pyarrow's `Scanner.from_batches`, which drains it ahead of the writer (up to its
# ~1 GiB back-pressure threshold, whatever `batch_readahead` says): one COPY of a whole
# stream held more memory the larger the table (bench/datasets.py).
CHUNK_BYTES = 64 << 20
# zstd at level 1 rather than DuckDB's 3: the same size on the benchmark's table, written
# 30% faster.
ZSTD_LEVEL = 1


def _chunks(reader: pa.RecordBatchReader, target_bytes: int | None = None) -> Iterator[pa.Table]:
    """The stream as tables of about `target_bytes` (default CHUNK_BYTES; whole batches),
    read as they are needed."""
    target_bytes = target_bytes or CHUNK_BYTES
    batches: list[pa.RecordBatch] = []
    size = 0
    for batch in reader:
        batches.append(batch)
        size += batch.nbytes
        if size >= target_bytes:
            yield pa.Table.from_batches(batches, schema=reader.schema)
            batches, size = [], 0
    if batches:
        yield pa.Table.from_batches(batches, schema=reader.schema)


def _first_or_empty(chunks: Iterator[pa.Table], schema: pa.Schema) -> Iterator[pa.Table]:
    """`chunks`, or one empty table of `schema` when there are none."""
    empty = True
    for chunk in chunks:
        empty = False
        yield chunk
    if empty:
        yield schema.empty_table()


def batch_rows(columns: Sequence[str], target_bytes: int = 64 << 20, width: int = 0) -> int:
    """Rows per batch so a batch is about `target_bytes`: wide rows, fewer of them."""
    per_row = width or max(len(columns), 1) * 16
    return max(2048, min(1_000_000, target_bytes // per_row // 2048 * 2048))


def _closing(
    reader: pa.RecordBatchReader, conn: duckdb.DuckDBPyConnection, dataset: Dataset
) -> pa.RecordBatchReader:
    """`reader`, closing `conn` once it is drained or dropped (the stream needs it open till
    then); an error while reading names the dataset."""

    def batches() -> Iterator[pa.RecordBatch]:
        try:
            yield from reader
        except (duckdb.Error, pa.ArrowException) as exc:
            raise dataset.fail("read", exc) from None
        finally:
            conn.close()

    return pa.RecordBatchReader.from_batches(reader.schema, batches())
