"""Consistent backups of the warehouse and its side stores; restore; reset.

Side stores are the directories of files that capabilities keep with the warehouse
(PNCP's payload store, ...); they register themselves in `project.lib.stores`, so this
module handles every one without knowing which capabilities exist.

Consistency comes from DuckDB's own file lock, the one every writer takes: a backup,
restore or reset first opens the warehouse read-write (waiting like any writer while a
run holds it) and checkpoints it, so the file alone holds every committed row and no
writer can start while it is copied or replaced. A side store needs no lock to be copied
consistently as long as it keeps the rule PNCP's payload store keeps: files are
immutable and written before the rows naming them.

A backup is a directory `backups/<UTC time>[-<reason>]/` with `warehouse.duckdb`,
`stores/<store name>/` and `backup.json` (sizes, counts, the database's sha256). It is
assembled under a hidden name and renamed when complete, so a half-written backup never
shows up. A restore copies the backup beside the live files first and swaps them in with
renames; the database copy is checked against its sha256 before anything live is
touched. Backups of the earlier layout (one `payloads/` copy of the `payloads/`
directory beside the warehouse) still restore: a store under that directory is found at
the same place in the backup.

A DuckLake warehouse keeps every committed state as a snapshot (`project.lib.lake`), so
its backup copies nothing: `record_snapshot` writes a directory holding only
`backup.json`, with the id of the lake's current snapshot, and a restore rolls the lake
back to it. Its side stores are left in place, then and on restore: they are
content-addressed and append-only, so the files any snapshot's rows name are all there.
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

from project.lib import lake, stores, warehouse

MANIFEST = "backup.json"
DATABASE = "warehouse.duckdb"
STORES = "stores"
# The earlier layout: a copy of the `payloads/` directory beside the warehouse.
LEGACY_PAYLOADS = "payloads"


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
    store_files: int
    store_bytes: int
    tables: int
    stores: tuple[str, ...] = ()  # names of the side stores copied; () in legacy backups
    backend: str = "file"  # `ducklake`: a record of `snapshot_id`, no copy
    snapshot_id: int | None = None

    def as_dict(self) -> dict[str, object]:
        return {**asdict(self), "path": str(self.path), "stores": list(self.stores)}

    @property
    def legacy(self) -> bool:
        """Taken with the earlier `payloads/` layout."""
        return not (self.path / STORES).is_dir() and (self.path / LEGACY_PAYLOADS).is_dir()

    @property
    def is_snapshot(self) -> bool:
        """A DuckLake backup: the record of a snapshot id."""
        return self.snapshot_id is not None


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
    """A backup whose database is copied; its side stores and manifest are still to come."""

    created: datetime
    final: Path
    partial: Path
    source: Path
    stores: dict[str, Path]
    reason: str


def _stage_database(
    conn: duckdb.DuckDBPyConnection, path: Path, backups: Path, reason: str
) -> _Staged:
    """Copy the (checkpointed, locked) database file into a hidden backup directory."""
    created = datetime.now(UTC)
    final, partial = _backup_dir(backups, created, reason)
    staged = _Staged(created, final, partial, path, stores.store_paths(path), reason)
    try:
        staged.partial.mkdir()
        shutil.copy2(path, staged.partial / DATABASE)
    except BaseException:
        shutil.rmtree(staged.partial, ignore_errors=True)
        raise
    return staged


def _backup_dir(backups: Path, created: datetime, reason: str) -> tuple[Path, Path]:
    """A new backup's final directory and the hidden one it is assembled in."""
    stamp = created.strftime("%Y%m%dT%H%M%SZ")
    backups.mkdir(parents=True, exist_ok=True)
    final = _unique_dir(backups, f"{stamp}-{reason}" if reason else stamp)
    return final, backups / f".{final.name}.partial"


def _complete(staged: _Staged) -> Backup:
    """Copy the side stores, write the manifest, and make the backup visible."""
    partial = staged.partial
    try:
        (partial / STORES).mkdir()
        for name, live in staged.stores.items():
            if live.exists():
                # `.*.tmp`: a file being written, renamed into place only when complete.
                shutil.copytree(
                    live, partial / STORES / name, ignore=shutil.ignore_patterns(".*.tmp")
                )
            else:
                (partial / STORES / name).mkdir()
        with duckdb.connect(str(partial / DATABASE), read_only=True) as copy:
            tables = copy.execute("SELECT count(*) FROM duckdb_tables()").fetchone()[0]
        files, size = _tree_size(partial / STORES)
        backup = Backup(
            name=staged.final.name,
            path=staged.final,
            created_at=staged.created.isoformat(timespec="seconds"),
            reason=staged.reason or "manual",
            source=str(staged.source),
            warehouse_bytes=(partial / DATABASE).stat().st_size,
            warehouse_sha256=_file_sha256(partial / DATABASE),
            store_files=files,
            store_bytes=size,
            tables=int(tables),
            stores=tuple(staged.stores),
        )
        return _write(backup, partial)
    except BaseException:
        shutil.rmtree(partial, ignore_errors=True)
        raise


def backup_locked(
    conn: duckdb.DuckDBPyConnection, path: Path, backups: Path, reason: str = ""
) -> Backup:
    """Back up entirely while the caller holds `exclusive(path)` (restore and reset do)."""
    return _complete(_stage_database(conn, path, backups, reason))


def create_backup(path: Path, backups: Path, *, wait_s: float, reason: str = "") -> Backup:
    """A consistent copy of the warehouse at `path` and its side stores under `backups`.

    Writers are locked out only while the database file is copied: the side stores are
    copied after, because their files are immutable and stored before the rows that
    name them, so every file the copied database refers to is already there (a file a
    later writer adds is merely unreferenced in the backup).
    """
    if not path.exists():
        raise BackupError(f"nothing to back up: warehouse {path} does not exist")
    with exclusive(path, wait_s=wait_s) as conn:
        staged = _stage_database(conn, path, backups, reason)
    return _complete(staged)


def _write(backup: Backup, partial: Path) -> Backup:
    """Write the manifest into the hidden directory and make the backup visible."""
    manifest = {k: v for k, v in backup.as_dict().items() if k not in ("name", "path")}
    if not backup.is_snapshot:  # file backups keep the manifest layout older code reads
        del manifest["backend"], manifest["snapshot_id"]
    (partial / MANIFEST).write_text(json.dumps(manifest, indent=2) + "\n")
    partial.rename(backup.path)
    return backup


def lake_source(target: warehouse.Target) -> str:
    """How a lake backup names its lake: catalog (no secret), its schema, data path."""
    return f"{target.describe()}, catalog schema {target.catalog_schema}"


def record_snapshot(
    conn: duckdb.DuckDBPyConnection, target: warehouse.Target, backups: Path, reason: str = ""
) -> Backup:
    """Back up a DuckLake: record its current snapshot under `backups` (nothing is copied).

    The caller holds the whole warehouse pool, so the snapshot falls between runs, never
    between two commits of one.
    """
    created = datetime.now(UTC)
    current = lake.current_snapshot(conn)
    tables, size = lake.size(conn)
    final, partial = _backup_dir(backups, created, reason)
    backup = Backup(
        name=final.name,
        path=final,
        created_at=created.isoformat(timespec="seconds"),
        reason=reason or "manual",
        source=lake_source(target),
        warehouse_bytes=size,
        warehouse_sha256="",
        store_files=0,
        store_bytes=0,
        tables=tables,
        backend="ducklake",
        snapshot_id=current.id,
    )
    try:
        partial.mkdir()
        return _write(backup, partial)
    except BaseException:
        shutil.rmtree(partial, ignore_errors=True)
        raise


def check_snapshot_backup(backup: Backup, target: warehouse.Target) -> int:
    """The snapshot id a DuckLake backup recorded of the lake `target`, or BackupError."""
    if not backup.is_snapshot:
        raise BackupError(
            f"backup {backup.name} is a copy of the DuckDB file {backup.source}; "
            "restore it with WAREHOUSE_BACKEND=file"
        )
    if backup.source != lake_source(target):
        raise BackupError(
            f"backup {backup.name} records snapshot {backup.snapshot_id} of another lake "
            f"({backup.source}), not of {lake_source(target)}"
        )
    return int(backup.snapshot_id)


def restore_snapshot_locked(
    conn: duckdb.DuckDBPyConnection, backup: Backup, target: warehouse.Target
) -> lake.RollbackReport:
    """Roll the lake back to the snapshot `backup` recorded (the caller holds the pool)."""
    snapshot_id = check_snapshot_backup(backup, target)
    try:
        return lake.rollback(conn, target, snapshot_id, message=f"rollback to backup {backup.name}")
    except lake.SnapshotError as exc:
        raise BackupError(f"backup {backup.name}: {exc}") from None


def _load(directory: Path) -> Backup:
    data = json.loads((directory / MANIFEST).read_text())
    # Manifests of the earlier layout counted `payload_*`, and had no store names.
    data.setdefault("store_files", data.pop("payload_files", 0))
    data.setdefault("store_bytes", data.pop("payload_bytes", 0))
    data["stores"] = tuple(data.get("stores", ()))
    return Backup(name=directory.name, path=directory, **data)


def list_backups(backups: Path) -> list[Backup]:
    """Complete backups, oldest first."""
    if not backups.exists():
        return []
    found = [d for d in backups.iterdir() if (d / MANIFEST).is_file() and d.name[0] != "."]
    return [_load(d) for d in sorted(found, key=lambda d: d.name)]


def find_backup(backups: Path, ref: str, *, snapshots: bool | None = None) -> Backup:
    """A backup by name (`20240801T020000Z`), `latest`, or a directory path.

    With `snapshots`, `latest` is the latest DuckLake record (True) or file copy (False).
    """
    available = list_backups(backups)
    if ref == "latest":
        kind = [b for b in available if snapshots is None or b.is_snapshot == snapshots]
        if not kind:
            raise BackupError(f"no backups under {backups}; take one with `pncp backup`")
        return kind[-1]
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
    if backup.is_snapshot:
        raise BackupError(
            f"backup {backup.name} records snapshot {backup.snapshot_id} of a DuckLake "
            f"({backup.source}); roll it back with WAREHOUSE_BACKEND=ducklake"
        )
    source_db = backup.path / DATABASE
    if not source_db.is_file() or _file_sha256(source_db) != backup.warehouse_sha256:
        raise BackupError(f"backup {backup.name} is damaged: {DATABASE} fails its sha256")
    if backup.legacy:
        return
    for name in ("", *backup.stores):
        if not (backup.path / STORES / name).is_dir():
            missing = f"{STORES}/{name}/" if name else f"{STORES}/"
            raise BackupError(f"backup {backup.name} is damaged: {missing} is missing")


def _backed_up_copy(backup: Backup, name: str, live: Path, path: Path) -> Path | None:
    """Where the backup holds the store `name` (live at `live`); None if it has none."""
    if not backup.legacy:
        copy = backup.path / STORES / name
        return copy if name in backup.stores and copy.is_dir() else None
    legacy_root = path.resolve().parent / LEGACY_PAYLOADS
    if not live.is_relative_to(legacy_root):
        return None
    copy = backup.path / LEGACY_PAYLOADS / live.relative_to(legacy_root)
    return copy if copy.is_dir() else None


def unclaimed_stores(backup: Backup) -> tuple[str, ...]:
    """Stores in `backup` that no registered capability claims: a restore leaves them out."""
    registered = {s.name for s in stores.registered_stores()}
    return tuple(name for name in backup.stores if name not in registered)


def restore_locked(conn: duckdb.DuckDBPyConnection, backup: Backup, path: Path) -> None:
    """Swap the backup in while the caller holds `exclusive(path)` (its `conn`).

    Every registered side store becomes the backup's copy of it, or empty when the
    backup has none (it was taken before the store existed: its files would name rows
    the restored database does not have). The replaced state is not kept here: callers
    back it up first.
    """
    check_backup(backup)
    source_db = backup.path / DATABASE
    live_stores = stores.store_paths(path)
    token = uuid.uuid4().hex[:8]
    staged_db = path.with_name(f".{path.name}.restore-{token}")
    staged = {
        name: live.with_name(f".{live.name}.restore-{token}") for name, live in live_stores.items()
    }
    retired = {
        name: live.with_name(f".{live.name}.old-{token}") for name, live in live_stores.items()
    }
    try:
        shutil.copy2(source_db, staged_db)
        for name, live in live_stores.items():
            live.parent.mkdir(parents=True, exist_ok=True)
            copy = _backed_up_copy(backup, name, live, path)
            if copy is None:
                staged[name].mkdir()
            else:
                shutil.copytree(copy, staged[name])
    except BaseException:
        staged_db.unlink(missing_ok=True)
        for directory in staged.values():
            shutil.rmtree(directory, ignore_errors=True)
        raise
    # Renames on one file system: each step is atomic, and the lock we hold keeps every
    # writer out until the database file is back in place.
    for name, live in live_stores.items():
        if live.exists():
            live.rename(retired[name])
        staged[name].rename(live)
    os.replace(staged_db, path)
    _wal(path).unlink(missing_ok=True)
    for directory in retired.values():
        shutil.rmtree(directory, ignore_errors=True)


def _prune_empty_parents(directory: Path, stop: Path) -> None:
    """Remove `directory`'s empty ancestors below `stop` (a store's `payloads/`, say)."""
    for parent in directory.parents:
        if parent == stop or not parent.is_relative_to(stop):
            return
        try:
            parent.rmdir()
        except OSError:  # not empty: another store, or someone's files
            return


def delete_locked(conn: duckdb.DuckDBPyConnection, path: Path) -> None:
    """Remove the warehouse file and its side stores while holding `exclusive(path)`."""
    home = path.resolve().parent
    for live in stores.store_paths(path).values():
        if live.exists():
            retired = live.with_name(f".{live.name}.deleted-{uuid.uuid4().hex[:8]}")
            live.rename(retired)
            shutil.rmtree(retired)
        _prune_empty_parents(live, home)
    path.unlink(missing_ok=True)
    _wal(path).unlink(missing_ok=True)
