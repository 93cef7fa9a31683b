"""Backups hold every registered side store, restore swaps each, reset deletes each.

The `pncp backup/rollback/reset` commands are tested end to end in
tests/cli/test_cli_backup.py; these tests drive the library with stores of their own,
so they show the behaviour for any capability's store, not only PNCP's.
"""

from __future__ import annotations

import json
import shutil
from dataclasses import replace
from pathlib import Path

import duckdb
import pytest

from project.lib import backup, lake, stores
from project.lib.warehouse import Target, connection


@pytest.fixture(autouse=True)
def only_test_stores(monkeypatch: pytest.MonkeyPatch) -> None:
    """A registry holding only what each test registers (PNCP's store is left out)."""
    monkeypatch.setattr(stores, "_registry", {})


@pytest.fixture
def warehouse(tmp_path: Path) -> Path:
    path = tmp_path / "data" / "warehouse.duckdb"
    path.parent.mkdir()
    with duckdb.connect(str(path)) as conn:
        conn.execute("CREATE TABLE files AS SELECT 'a.txt' AS name")
    return path


def _register(name: str, *parts: str) -> None:
    stores.register_store(
        stores.SideStore(name, lambda warehouse: warehouse.resolve().parent.joinpath(*parts))
    )


def _write(root: Path, files: dict[str, str]) -> None:
    for name, text in files.items():
        (root / name).parent.mkdir(parents=True, exist_ok=True)
        (root / name).write_text(text)


def _read(root: Path) -> dict[str, str]:
    return {str(p.relative_to(root)): p.read_text() for p in root.rglob("*") if p.is_file()}


def _restore(taken: backup.Backup, warehouse: Path) -> None:
    with backup.exclusive(warehouse, wait_s=5) as conn:
        backup.restore_locked(conn, taken, warehouse)


def test_every_registered_store_is_copied_under_its_name(warehouse: Path, tmp_path: Path) -> None:
    _register("demo_landing", "landing")
    _register("demo_images", "media", "images")
    _write(warehouse.parent / "landing", {"a.txt": "a", "day/b.txt": "b"})
    _write(warehouse.parent / "media" / "images", {"logo.svg": "<svg/>"})

    taken = backup.create_backup(warehouse, tmp_path / "backups", wait_s=5)

    assert taken.stores == ("demo_images", "demo_landing")
    assert _read(taken.path / "stores" / "demo_landing") == {"a.txt": "a", "day/b.txt": "b"}
    assert _read(taken.path / "stores" / "demo_images") == {"logo.svg": "<svg/>"}
    assert (taken.store_files, taken.store_bytes) == (3, len("ab<svg/>"))
    manifest = json.loads((taken.path / "backup.json").read_text())
    assert manifest["stores"] == ["demo_images", "demo_landing"]
    assert backup.find_backup(tmp_path / "backups", "latest") == taken


def test_restore_brings_each_store_back_as_it_was(warehouse: Path, tmp_path: Path) -> None:
    _register("demo_landing", "landing")
    landing = warehouse.parent / "landing"
    _write(landing, {"a.txt": "a"})
    taken = backup.create_backup(warehouse, tmp_path / "backups", wait_s=5)
    _write(landing, {"a.txt": "changed", "later.txt": "later"})

    _restore(taken, warehouse)

    assert _read(landing) == {"a.txt": "a"}


def test_a_store_the_backup_does_not_have_is_restored_empty(
    warehouse: Path, tmp_path: Path
) -> None:
    taken = backup.create_backup(warehouse, tmp_path / "backups", wait_s=5)
    _register("demo_landing", "landing")
    _write(warehouse.parent / "landing", {"after.txt": "names rows the backup lacks"})

    _restore(taken, warehouse)

    assert _read(warehouse.parent / "landing") == {}


def test_a_backup_of_the_payloads_layout_still_restores(warehouse: Path, tmp_path: Path) -> None:
    _register("demo_payloads", "payloads", "demo")
    live = warehouse.parent / "payloads" / "demo"
    _write(live, {"ab/body.json.zst": "body"})
    taken = backup.create_backup(warehouse, tmp_path / "backups", wait_s=5)
    # What the earlier layout held: a copy of `payloads/`, and `payload_*` counts.
    (taken.path / "payloads").mkdir()
    (taken.path / "stores" / "demo_payloads").rename(taken.path / "payloads" / "demo")
    shutil.rmtree(taken.path / "stores")
    manifest = json.loads((taken.path / "backup.json").read_text())
    manifest["payload_files"] = manifest.pop("store_files")
    manifest["payload_bytes"] = manifest.pop("store_bytes")
    del manifest["stores"]
    (taken.path / "backup.json").write_text(json.dumps(manifest))
    shutil.rmtree(live)

    old = backup.find_backup(tmp_path / "backups", taken.name)
    assert old.legacy
    assert old.store_files == 1
    _restore(old, warehouse)

    assert _read(live) == {"ab/body.json.zst": "body"}


def test_a_backup_missing_a_store_it_lists_is_refused(warehouse: Path, tmp_path: Path) -> None:
    _register("demo_landing", "landing")
    taken = backup.create_backup(warehouse, tmp_path / "backups", wait_s=5)
    shutil.rmtree(taken.path / "stores" / "demo_landing")
    with pytest.raises(backup.BackupError, match="stores/demo_landing/ is missing"):
        backup.check_backup(taken)


def test_a_backed_up_store_no_capability_claims_is_reported(
    warehouse: Path, tmp_path: Path
) -> None:
    _register("demo_landing", "landing")
    taken = backup.create_backup(warehouse, tmp_path / "backups", wait_s=5)
    stores.unregister_store("demo_landing")
    assert backup.unclaimed_stores(taken) == ("demo_landing",)


def test_reset_deletes_every_store_and_the_directories_they_leave_empty(
    warehouse: Path,
) -> None:
    _register("demo_payloads", "payloads", "demo")
    _register("demo_landing", "shared", "landing")
    _write(warehouse.parent / "payloads" / "demo", {"a.txt": "a"})
    _write(warehouse.parent / "shared", {"landing/b.txt": "b", "notes.txt": "not a store"})

    with backup.exclusive(warehouse, wait_s=5) as conn:
        backup.delete_locked(conn, warehouse)

    assert not warehouse.exists()
    assert not (warehouse.parent / "payloads").exists()
    assert _read(warehouse.parent / "shared") == {"notes.txt": "not a store"}


on_lake = pytest.mark.parametrize("warehouse_backend", ["ducklake"], indirect=True)


@on_lake
def test_a_lake_backup_records_its_snapshot_and_restores_by_rolling_back(
    warehouse_target: Target, tmp_path: Path
) -> None:
    _register("demo_landing", "landing")
    with connection(warehouse_target) as conn:
        conn.execute("CREATE TABLE files AS SELECT 'a.txt' AS name")
        taken = backup.record_snapshot(conn, warehouse_target, tmp_path / "backups")
        conn.execute("INSERT INTO files VALUES ('b.txt')")
        (found,) = backup.list_backups(tmp_path / "backups")
        assert found == taken
        assert found.snapshot_id == lake.current_snapshot(conn).id - 1
        assert sorted(p.name for p in found.path.iterdir()) == ["backup.json"], "nothing copied"

        report = backup.restore_snapshot_locked(conn, found, warehouse_target)
        assert report.tables_restored == ("main.files",)
        assert conn.execute("FROM files").fetchall() == [("a.txt",)]


@on_lake
def test_a_lake_backup_restores_only_into_its_own_lake(
    warehouse_target: Target, tmp_path: Path, warehouse: Path
) -> None:
    with connection(warehouse_target) as conn:
        taken = backup.record_snapshot(conn, warehouse_target, tmp_path / "backups")
        other = replace(warehouse_target, catalog_schema="another_lake")
        with pytest.raises(backup.BackupError, match="of another lake"):
            backup.restore_snapshot_locked(conn, taken, other)
        copy = backup.create_backup(warehouse, tmp_path / "file-backups", wait_s=5)
        with pytest.raises(backup.BackupError, match="restore it with WAREHOUSE_BACKEND=file"):
            backup.restore_snapshot_locked(conn, copy, warehouse_target)
    with pytest.raises(backup.BackupError, match="roll it back with WAREHOUSE_BACKEND=ducklake"):
        backup.check_backup(taken)
