"""Consistent backups of the warehouse and its payload store; restore; reset.

Consistency comes from DuckDB's own file lock, the one every writer takes: a backup,
restore or reset first opens the warehouse read-write (waiting like any writer while a
run holds it) and checkpoints it, so the file alone holds every committed row and no
writer can start while it is copied or replaced. The payload store needs no lock to be
copied consistently: bodies are immutable and written before the rows naming them.

A backup is a directory `backups/<UTC time>[-<reason>]/` with `warehouse.duckdb`,
`payloads/` and `backup.json` (sizes, counts, the database's sha256). It is assembled
under a hidden name and renamed when complete, so a half-written backup never shows up.
A restore copies the backup beside the live files first and swaps them in with renames;
the database copy is checked against its sha256 before anything live is touched.
"""

from __future__ import annotations

import hashlib
import json
import os
import shutil
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import asdict, dataclass
from datetime import UTC, datetime
from pathlib import Path

import duckdb

from project.lib import warehouse
from project.lib.pncp import payload_store

MANIFEST = "backup.json"
DATABASE = "warehouse.duckdb"
PAYLOADS = "payloads"


class BackupError(RuntimeError):
    """A backup cannot be taken, found or restored; the message says why."""


@dataclass(frozen=True)
class Backup:
    name: str
    path: Path
    created_at: str
    reason: str
    source: str  # the warehouse it was taken from
    warehouse_bytes: int
    warehouse_sha256: str
    payload_files: int
    payload_bytes: int
    tables: int

    def as_dict(self) -> dict[str, object]:
        return {**asdict(self), "path": str(self.path)}


def _wal(path: Path) -> Path:
    return path.with_name(path.name + ".wal")


def _file_sha256(path: Path) -> str:
    digest = hashlib.sha256()
    with path.open("rb") as handle:
        while chunk := handle.read(2**20):
            digest.update(chunk)
    return digest.hexdigest()


def _tree_size(root: Path) -> tuple[int, int]:
    files = [p for p in root.rglob("*") if p.is_file()] if root.exists() else []
    return len(files), sum(p.stat().st_size for p in files)


def store_dir(conn: duckdb.DuckDBPyConnection) -> Path:
    """`payloads/` beside the warehouse: every store under it is backed up together."""
    return payload_store.root_for(conn).parent


@contextmanager
def exclusive(path: Path, *, wait_s: float) -> Iterator[duckdb.DuckDBPyConnection]:
    """Hold the warehouse's writer lock, checkpointed, for the duration of the block."""
    with warehouse.connection(path, wait_s=wait_s) as conn:
        conn.execute("CHECKPOINT")
        yield conn


def _unique_dir(root: Path, name: str) -> Path:
    candidate, n = root / name, 1
    while candidate.exists() or (root / f".{candidate.name}.partial").exists():
        n += 1
        candidate = root / f"{name}-{n}"
    return candidate


@dataclass(frozen=True)
class _Staged:
    """A backup whose database is copied; its payloads and manifest are still to come."""

    created: datetime
    final: Path
    partial: Path
    source: Path
    store: Path
    reason: str


def _stage_database(
    conn: duckdb.DuckDBPyConnection, path: Path, backups: Path, reason: str
) -> _Staged:
    """Copy the (checkpointed, locked) database file into a hidden backup directory."""
    created = datetime.now(UTC)
    stamp = created.strftime("%Y%m%dT%H%M%SZ")
    backups.mkdir(parents=True, exist_ok=True)
    final = _unique_dir(backups, f"{stamp}-{reason}" if reason else stamp)
    staged = _Staged(
        created, final, backups / f".{final.name}.partial", path, store_dir(conn), reason
    )
    try:
        staged.partial.mkdir()
        shutil.copy2(path, staged.partial / DATABASE)
    except BaseException:
        shutil.rmtree(staged.partial, ignore_errors=True)
        raise
    return staged


def _complete(staged: _Staged) -> Backup:
    """Copy the payload store, write the manifest, and make the backup visible."""
    partial = staged.partial
    try:
        if staged.store.exists():
            shutil.copytree(
                staged.store, partial / PAYLOADS, ignore=shutil.ignore_patterns(".*.tmp")
            )
        else:
            (partial / PAYLOADS).mkdir()
        with duckdb.connect(str(partial / DATABASE), read_only=True) as copy:
            tables = copy.execute("SELECT count(*) FROM duckdb_tables()").fetchone()[0]
        files, size = _tree_size(partial / PAYLOADS)
        backup = Backup(
            name=staged.final.name,
            path=staged.final,
            created_at=staged.created.isoformat(timespec="seconds"),
            reason=staged.reason or "manual",
            source=str(staged.source),
            warehouse_bytes=(partial / DATABASE).stat().st_size,
            warehouse_sha256=_file_sha256(partial / DATABASE),
            payload_files=files,
            payload_bytes=size,
            tables=int(tables),
        )
        manifest = {k: v for k, v in backup.as_dict().items() if k not in ("name", "path")}
        (partial / MANIFEST).write_text(json.dumps(manifest, indent=2) + "\n")
        partial.rename(staged.final)
    except BaseException:
        shutil.rmtree(partial, ignore_errors=True)
        raise
    return backup


def backup_locked(
    conn: duckdb.DuckDBPyConnection, path: Path, backups: Path, reason: str = ""
) -> Backup:
    """Back up entirely while the caller holds `exclusive(path)` (restore and reset do)."""
    return _complete(_stage_database(conn, path, backups, reason))


def create_backup(path: Path, backups: Path, *, wait_s: float, reason: str = "") -> Backup:
    """A consistent copy of the warehouse at `path` and its payload store under `backups`.

    Writers are locked out only while the database file is copied: the payload store is
    copied after, because bodies are immutable and stored before the rows that name
    them, so every body the copied database refers to is already there (a body a later
    writer adds is merely unreferenced in the backup).
    """
    if not path.exists():
        raise BackupError(f"nothing to back up: warehouse {path} does not exist")
    with exclusive(path, wait_s=wait_s) as conn:
        staged = _stage_database(conn, path, backups, reason)
    return _complete(staged)


def _load(directory: Path) -> Backup:
    data = json.loads((directory / MANIFEST).read_text())
    return Backup(name=directory.name, path=directory, **data)


def list_backups(backups: Path) -> list[Backup]:
    """Complete backups, oldest first."""
    if not backups.exists():
        return []
    found = [d for d in backups.iterdir() if (d / MANIFEST).is_file() and d.name[0] != "."]
    return [_load(d) for d in sorted(found, key=lambda d: d.name)]


def find_backup(backups: Path, ref: str) -> Backup:
    """A backup by name (`20240801T020000Z`), `latest`, or a directory path."""
    available = list_backups(backups)
    if ref == "latest":
        if not available:
            raise BackupError(f"no backups under {backups}; take one with `pncp backup`")
        return available[-1]
    for backup in available:
        if backup.name == ref:
            return backup
    directory = Path(ref)
    if directory.is_dir() and (directory / MANIFEST).is_file():
        return _load(directory.resolve())
    names = ", ".join(b.name for b in available[-5:]) or "none"
    raise BackupError(f"no backup named {ref!r} under {backups} (latest: {names})")


def check_backup(backup: Backup) -> None:
    """Raise BackupError unless the backup's database matches the sha256 it was taken with."""
    source_db = backup.path / DATABASE
    if not source_db.is_file() or _file_sha256(source_db) != backup.warehouse_sha256:
        raise BackupError(f"backup {backup.name} is damaged: {DATABASE} fails its sha256")
    if not (backup.path / PAYLOADS).is_dir():
        raise BackupError(f"backup {backup.name} is damaged: {PAYLOADS}/ is missing")


def restore_locked(conn: duckdb.DuckDBPyConnection, backup: Backup, path: Path) -> None:
    """Swap the backup in while the caller holds `exclusive(path)`."""
    check_backup(backup)
    source_db = backup.path / DATABASE
    live_store = store_dir(conn)
    token = uuid.uuid4().hex[:8]
    staged_db = path.with_name(f".{path.name}.restore-{token}")
    staged_store = live_store.with_name(f".{live_store.name}.restore-{token}")
    retired_store = live_store.with_name(f".{live_store.name}.old-{token}")
    try:
        shutil.copy2(source_db, staged_db)
        shutil.copytree(backup.path / PAYLOADS, staged_store)
    except BaseException:
        staged_db.unlink(missing_ok=True)
        shutil.rmtree(staged_store, ignore_errors=True)
        raise
    # Renames on one file system: each step is atomic, and the lock we hold keeps every
    # writer out until the database file is back in place.
    if live_store.exists():
        live_store.rename(retired_store)
    staged_store.rename(live_store)
    os.replace(staged_db, path)
    _wal(path).unlink(missing_ok=True)
    shutil.rmtree(retired_store, ignore_errors=True)


def delete_locked(conn: duckdb.DuckDBPyConnection, path: Path) -> None:
    """Remove the warehouse file and its payload store while holding `exclusive(path)`."""
    live_store = store_dir(conn)
    if live_store.exists():
        retired = live_store.with_name(f".{live_store.name}.deleted-{uuid.uuid4().hex[:8]}")
        live_store.rename(retired)
        shutil.rmtree(retired)
    path.unlink(missing_ok=True)
    _wal(path).unlink(missing_ok=True)
