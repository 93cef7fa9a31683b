"""The landing layout: `<root>/<source>/part-<batch:05d>-<chunk:03d>.<ext>[.gz]`.

A `Sink` is one file, opened on first write and never reopened: a batch's files are new
(the generator refuses a batch whose files exist), so nothing already landed changes.
It counts lines so that faults can be recorded at the line a reader will see them
(1-based; a CSV header is line 1). Gzip members carry no name or time, so the same data
gives the same bytes.
"""

from __future__ import annotations

import gzip
from pathlib import Path
from typing import BinaryIO

MANIFEST_DIR = "_manifest"


def file_name(batch: int, index: int, ext: str, compressed: bool) -> str:
    return f"part-{batch:05d}-{index:03d}.{ext}" + (".gz" if compressed else "")


def batch_files(root: Path, source: str, batch: int) -> list[Path]:
    return sorted((root / source).glob(f"part-{batch:05d}-*"))


class Sink:
    def __init__(self, root: Path, relative: str, compressed: bool, header: bytes = b"") -> None:
        self.root = root
        self.relative = relative  # the path under the landing root, as manifests name it
        self.compressed = compressed
        self.header = header
        self.rows = 0
        self._file: BinaryIO | None = None

    @property
    def next_line(self) -> int:
        """The line number the next row written will have."""
        return self.rows + (1 if self.header else 0) + 1

    def write(self, data: bytes | memoryview, rows: int) -> None:
        if self._file is None:
            path = self.root / self.relative
            path.parent.mkdir(parents=True, exist_ok=True)
            raw = path.open("xb")
            if self.compressed:
                raw = gzip.GzipFile(filename="", mode="wb", fileobj=raw, mtime=0)  # type: ignore[assignment]
            self._file = raw
            if self.header:
                raw.write(self.header)
        self._file.write(data)
        self.rows += rows

    @property
    def opened(self) -> bool:
        return self._file is not None or self.rows > 0

    def close(self) -> None:
        if self._file is not None:
            inner = getattr(self._file, "fileobj", None)
            self._file.close()
            if inner is not None:
                inner.close()
            self._file = None
