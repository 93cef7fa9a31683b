"""Content-addressed store of raw response bodies: one zstd file per distinct sha256.

Why files and not a DuckDB column: a month of PNCP pages is ~1 GB of JSON. Stored as a
VARCHAR column, every checkpoint recompresses the table's open row group (which holds
the whole month), so extraction time and memory grew with the archive (measured >1 GB
RSS). Compressed once here, in the writer thread, the bodies take ~1/10 of the space,
the warehouse holds only their metadata, and DuckDB still reads them natively:
`read_json_objects('<root>/*/*.json.zst', compression = 'zstd')` (the `raw.payload_json`
view). A file is written under a temporary name and renamed, so a reader or a killed
process never sees half a body; identical bodies share one file.
"""

from __future__ import annotations

import os
import uuid
from pathlib import Path

import duckdb
import zstandard

from project.lib import stores, warehouse

LEVEL = 3
SUFFIX = ".json.zst"


def root_for(conn: duckdb.DuckDBPyConnection) -> Path:
    """The store of the warehouse `conn` uses: `payloads/` beside its file (or its lake)."""
    return root_beside(warehouse.anchor_of(conn))


def root_beside(warehouse_path: Path) -> Path:
    """The store of the warehouse file at `warehouse_path` (no connection needed)."""
    return warehouse_path.resolve().parent / "payloads" / "pncp"


# Registered at import: backup, rollback, reset and the read-only query sandbox then
# treat the store as part of the warehouse without importing this module themselves.
STORE = stores.register_store(
    stores.SideStore("pncp_payloads", root_beside, "PNCP response bodies, zstd, by sha256")
)


def path_for(root: Path, sha256: str) -> Path:
    return root / sha256[:2] / f"{sha256}{SUFFIX}"


class PayloadStore:
    """Writes bodies once each; not thread-safe (the archive writer thread owns one)."""

    def __init__(self, root: Path) -> None:
        self.root = root
        self._compressor = zstandard.ZstdCompressor(level=LEVEL)

    def put(self, sha256: str, body: bytes) -> int:
        """Store `body` unless present (a killed run may have left it); return its size."""
        target = path_for(self.root, sha256)
        if target.exists():
            return target.stat().st_size
        target.parent.mkdir(parents=True, exist_ok=True)
        compressed = self._compressor.compress(body)
        partial = target.with_name(f".{target.name}.{uuid.uuid4().hex}.tmp")
        with partial.open("wb") as handle:
            handle.write(compressed)
            handle.flush()
            os.fsync(handle.fileno())
        os.replace(partial, target)
        return len(compressed)


def read(root: Path, sha256: str) -> bytes:
    """The original body of `sha256` (raises FileNotFoundError when absent)."""
    return zstandard.ZstdDecompressor().decompress(path_for(root, sha256).read_bytes())


PLACEHOLDER = f"_/empty{SUFFIX}"  # keeps the view's glob matching in a new store


def ensure_root(root: Path) -> None:
    """Create the store with its placeholder (DuckDB refuses a glob that matches nothing)."""
    placeholder = root / PLACEHOLDER
    if not placeholder.exists():
        placeholder.parent.mkdir(parents=True, exist_ok=True)
        placeholder.write_bytes(zstandard.ZstdCompressor(level=LEVEL).compress(b"{}"))


def json_view_sql(root: Path) -> str:
    """`raw.payload_json`: every stored body as JSON with its sha256, readable from any SQL."""
    glob = str(root / "*" / f"*{SUFFIX}").replace("'", "''")
    return f"""
        CREATE OR REPLACE VIEW raw.payload_json AS
        SELECT * FROM (
            SELECT regexp_extract(filename, '([0-9a-f]{{64}})\\.json\\.zst$', 1)
                       AS payload_sha256,
                   json AS payload
            FROM read_json_objects('{glob}', compression = 'zstd', filename = true)
        ) WHERE payload_sha256 <> ''
    """
