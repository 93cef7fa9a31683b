"""`pncp backup`, `rollback` and `reset`: consistent copies, restores, and nothing partial."""

from __future__ import annotations

import json
from pathlib import Path

import duckdb
import zstandard

from project.lib.pncp import payload_store

COUNTS = "SELECT (SELECT count(*) FROM raw.api_requests), (SELECT count(*) FROM raw.payloads)"


def _counts(path: Path) -> tuple[int, int]:
    with duckdb.connect(str(path), read_only=True) as conn:
        return conn.execute(COUNTS).fetchone()


def _bodies(store: Path) -> dict[str, bytes]:
    return {p.name: p.read_bytes() for p in store.rglob(f"*{payload_store.SUFFIX}")}


def _backups(archive: Path) -> list[Path]:
    return sorted((archive.parent / "backups").iterdir())


def test_backup_copies_the_warehouse_and_its_payload_store(pncp, archive: Path) -> None:
    result = pncp("backup")
    assert result.code == 0, result.output
    (backup,) = _backups(archive)
    assert result.stdout.startswith(f"backup {backup.name}: {backup}")
    assert _counts(backup / "warehouse.duckdb") == _counts(archive)
    live = archive.parent / "payloads"
    assert _bodies(backup / "stores" / payload_store.STORE.name) == _bodies(live)
    manifest = json.loads((backup / "backup.json").read_text())
    assert manifest["source"] == str(archive)
    assert manifest["stores"] == [payload_store.STORE.name]
    assert manifest["store_files"] == sum(1 for p in live.rglob("*") if p.is_file())

    listed = pncp("backup", "--list")
    assert backup.name in listed.stdout


def test_rollback_restores_rows_and_bodies_and_keeps_the_state_it_replaced(
    pncp, archive: Path
) -> None:
    assert pncp("backup").code == 0
    (taken,) = _backups(archive)
    before, bodies = _counts(archive), _bodies(archive.parent / "payloads")
    with duckdb.connect(str(archive)) as conn:
        conn.execute("DELETE FROM raw.api_requests WHERE endpoint = 'contratos'")
    damaged = next(
        p for p in (archive.parent / "payloads").rglob("*.json.zst") if "_" not in p.parts
    )
    damaged.write_bytes(zstandard.ZstdCompressor().compress(b"{}"))

    result = pncp("rollback", "--to", taken.name)
    assert result.code == 0, result.output
    assert _counts(archive) == before
    assert _bodies(archive.parent / "payloads") == bodies
    pre = [b for b in _backups(archive) if b.name.endswith("-pre-rollback")]
    assert len(pre) == 1
    assert _counts(pre[0] / "warehouse.duckdb")[0] < before[0]
    assert f"restored {taken.name}" in result.stdout
    assert pncp("verify", "--range", "2024-07").code == 0


def test_reset_refuses_without_force_and_leaves_everything(pncp, archive: Path) -> None:
    before = _counts(archive)
    result = pncp("reset")
    assert result.code == 2
    assert result.stderr.startswith("error: reset deletes the warehouse")
    assert _counts(archive) == before
    assert not (archive.parent / "backups").exists()


def test_reset_backs_up_first_then_deletes_and_rollback_undoes_it(pncp, archive: Path) -> None:
    before, bodies = _counts(archive), _bodies(archive.parent / "payloads")
    result = pncp("reset", "--force")
    assert result.code == 0, result.output
    assert not archive.exists()
    assert not (archive.parent / "payloads").exists()
    (backup,) = _backups(archive)
    assert backup.name.endswith("-pre-reset")
    assert pncp("query", "SELECT 1").code == 2

    restored = pncp("rollback", "--to", "latest")
    assert restored.code == 0, restored.output
    assert _counts(archive) == before
    assert _bodies(archive.parent / "payloads") == bodies
    assert len(_backups(archive)) == 1, "nothing to back up before restoring into no warehouse"


def test_a_damaged_backup_is_refused_before_anything_is_replaced(pncp, archive: Path) -> None:
    assert pncp("backup").code == 0
    (taken,) = _backups(archive)
    with (taken / "warehouse.duckdb").open("r+b") as handle:
        handle.seek(10_000)
        handle.write(b"\0garbage\0")
    before = archive.read_bytes()
    result = pncp("rollback", "--to", taken.name, "--no-backup")
    assert result.code == 2
    assert result.stderr == (
        f"error: backup {taken.name} is damaged: warehouse.duckdb fails its sha256\n"
    )
    assert archive.read_bytes() == before


def test_snapshots_and_times_are_for_a_lake_and_one_target_is_needed(pncp) -> None:
    for option in (["--snapshot", "3"], ["--at", "2026-11-29T10:00:00"]):
        result = pncp("rollback", *option)
        assert result.code == 2, result.output
        assert "--snapshot and --at need a DuckLake warehouse" in result.stderr
    for options in ([], ["--to", "latest", "--snapshot", "3"]):
        result = pncp("rollback", *options)
        assert result.code == 2
        assert (
            result.stderr == "error: give exactly one of --to BACKUP, --snapshot ID or --at TIME\n"
        )
