"""The operator's commands on a DuckLake warehouse: backup, rollback, reset, query, doctor.

Each test runs `pncp` as a subprocess against a lake of its own (a catalog schema in the
local PostgreSQL) holding a day of contratos extracted from the simulator.
"""

from __future__ import annotations

import hashlib
import json
import socket
import time
from datetime import UTC, timedelta
from pathlib import Path

import dagster as dg
import pytest
from dagster._core.test_utils import create_run_for_test

from project.cli.doctor import check_warehouse_pool
from project.lib import backup as backups
from project.lib import lake, warehouse
from project.lib.pncp import payload_store
from project.resources.warehouse_lease import WarehouseLease
from project.settings import load_settings

on_lake = pytest.mark.parametrize("warehouse_backend", ["ducklake"], indirect=True)

STATE = (
    "SELECT (SELECT count(*) FROM raw.api_requests), (SELECT sum(stored_size) FROM raw.payloads), "
    "(SELECT list(schema_name || '.' || table_name ORDER BY schema_name, table_name) "
    "FROM duckdb_tables() WHERE database_name = current_database())"
)


def _state(target: warehouse.Target) -> tuple:
    with warehouse.connection(target, read_only=True) as conn:
        return conn.execute(STATE).fetchone()


def _tables(target: warehouse.Target) -> list[tuple]:
    with warehouse.connection(target, read_only=True) as conn:
        return conn.execute(
            "SELECT schema_name, table_name FROM duckdb_tables() "
            "WHERE database_name = current_database()"
        ).fetchall()


def _change(target: warehouse.Target) -> tuple:
    """Rows deleted and updated, a table added; the state it leaves."""
    with warehouse.connection(target) as conn:
        conn.execute("DELETE FROM raw.api_requests WHERE page = 1")
        conn.execute("UPDATE raw.payloads SET stored_size = 0")
        conn.execute("CREATE TABLE raw.stray AS SELECT 1 AS x")
        return conn.execute(STATE).fetchone()


def _bodies(target: warehouse.Target) -> set[str]:
    """The sha256 of every stored body."""
    root = payload_store.root_beside(target.anchor)
    found = root.glob(f"[0-9a-f][0-9a-f]/*{payload_store.SUFFIX}")
    return {p.name.removesuffix(payload_store.SUFFIX) for p in found}


def _records() -> list[backups.Backup]:
    return backups.list_backups(load_settings().data_path / "backups")


@on_lake
def test_backup_records_the_snapshot_and_rollback_puts_the_lake_back(
    pncp, lake_archive: warehouse.Target
) -> None:
    before, bodies = _state(lake_archive), _bodies(lake_archive)
    taken = pncp("backup")
    assert taken.code == 0, taken.output
    (record,) = _records()
    assert record.is_snapshot
    assert taken.stdout.startswith(f"backup {record.name}: snapshot {record.snapshot_id} of ")
    assert f"pncp rollback --snapshot {record.snapshot_id}" in taken.stdout
    assert "side stores kept" in taken.stdout
    changed = _change(lake_archive)

    listed = pncp("backup", "--list")
    assert listed.code == 0, listed.output
    (line,) = [row for row in listed.stdout.splitlines() if record.name in row]
    assert line.split("|")[0].strip() == str(record.snapshot_id)

    restored = pncp("rollback", "--to", record.name)
    assert restored.code == 0, restored.output
    assert f"back to snapshot {record.snapshot_id}" in restored.stdout
    assert _state(lake_archive) == before
    assert _bodies(lake_archive) == bodies, "the payload store is kept as it is"

    undone = pncp("rollback", "--to", "latest")  # the state recorded before the rollback
    assert undone.code == 0, undone.output
    assert _state(lake_archive) == changed
    assert [r.reason for r in _records()] == ["manual", "pre-rollback", "pre-rollback"]


@on_lake
def test_rollback_at_a_time_restores_the_lake_as_it_was_then(
    pncp, lake_archive: warehouse.Target
) -> None:
    before = _state(lake_archive)
    with warehouse.connection(lake_archive, read_only=True) as conn:
        then = lake.current_snapshot(conn)
    time.sleep(0.05)
    _change(lake_archive)
    naive_utc = (then.time + timedelta(milliseconds=20)).astimezone(UTC).replace(tzinfo=None)

    result = pncp("rollback", "--at", naive_utc.isoformat(), "--no-backup")
    assert result.code == 0, result.output
    assert f"back to snapshot {then.id} " in result.stdout
    assert _state(lake_archive) == before
    assert _records() == []


@on_lake
def test_rollback_to_a_snapshot_that_does_not_exist_changes_nothing(
    pncp, lake_archive: warehouse.Target
) -> None:
    before = _state(lake_archive)
    result = pncp("rollback", "--snapshot", "99999")
    assert result.code == 2
    last = result.stderr.splitlines()[-1]
    assert last.startswith("error: the lake has no snapshot 99999 (it keeps 0 to "), result.stderr
    assert _state(lake_archive) == before
    assert _records() == []


@on_lake
def test_reset_empties_the_lake_keeps_the_stores_and_rollback_undoes_it(
    pncp, lake_archive: warehouse.Target
) -> None:
    before, bodies = _state(lake_archive), _bodies(lake_archive)
    refused = pncp("reset")
    assert refused.code == 2
    assert _state(lake_archive) == before

    result = pncp("reset", "--force")
    assert result.code == 0, result.output
    (record,) = _records()
    assert record.reason == "pre-reset"
    assert f"undo with: pncp rollback --snapshot {record.snapshot_id}" in result.stdout
    assert _tables(lake_archive) == []
    assert _bodies(lake_archive) == bodies

    restored = pncp("rollback", "--snapshot", str(record.snapshot_id))
    assert restored.code == 0, restored.output
    assert _state(lake_archive) == before


@on_lake
def test_query_reads_the_lake_its_past_its_parquet_files_and_its_stores(
    pncp, lake_archive: warehouse.Target
) -> None:
    pages, _, _ = _state(lake_archive)
    with warehouse.connection(lake_archive) as conn:
        extracted = lake.current_snapshot(conn).id
        # More rows than DuckLake keeps inline in its catalog: they go to Parquet files.
        conn.execute("CREATE TABLE raw.big AS SELECT range AS n FROM range(5000)")
    _change(lake_archive)
    sql = (
        f"SELECT (SELECT count(*) FROM raw.api_requests AT (VERSION => {extracted})) AS then, "
        "(SELECT count(*) FROM raw.big) AS parquet_rows, "
        "(SELECT count(*) FROM raw.payload_json) > 0 AS bodies"
    )
    result = pncp("query", sql, "--format", "csv")
    assert result.code == 0, result.output
    assert result.stdout.splitlines() == ["then,parquet_rows,bodies", f"{pages},5000,True"]
    assert list(lake_archive.path.rglob("*.parquet")), "raw.big was read from Parquet"


REFUSED = {
    "insert": "INSERT INTO raw.api_requests SELECT * FROM raw.api_requests",
    "create": "CREATE TABLE raw.t AS SELECT 1",
    "a file outside": "SELECT * FROM read_text('/etc/hostname')",
    "another database": "SELECT * FROM postgres_scan('postgresql://127.0.0.1/test', 'public', 't')",
    "lake maintenance": "SELECT * FROM ducklake_expire_snapshots('warehouse', older_than => now())",
}


@on_lake
def test_query_on_the_lake_refuses_writes_and_reaching_out(
    pncp, lake_archive: warehouse.Target
) -> None:
    before = _state(lake_archive)
    for case, sql in REFUSED.items():
        result = pncp("query", sql)
        assert result.code == 2, (case, result.output)
        assert result.stderr.startswith("error: "), case
        assert "Traceback" not in result.output
    assert _state(lake_archive) == before


PASSWORD = "s3cret-pw"  # the local PostgreSQL trusts local connections: any password works


def _closed_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


@on_lake
def test_doctor_checks_the_catalog_data_path_and_pool_of_the_lake(
    pncp, lake_archive: warehouse.Target, monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    url = load_settings().warehouse_catalog_url.get_secret_value()
    monkeypatch.setenv("WAREHOUSE_CATALOG_URL", url.replace("postgres@", f"postgres:{PASSWORD}@"))
    monkeypatch.setenv("WAREHOUSE_WRITERS", "3")
    init = pncp("init", "--env-file", str(tmp_path / ".env"))
    assert init.code == 0, init.output
    assert "warehouse  ducklake (catalog 127.0.0.1:5432/test, data " in init.stdout
    assert "ready (schemas: main, meta, raw)" in init.stdout
    result = pncp("doctor")
    assert result.code == 0, result.output
    lines = {line.split(":")[0]: line for line in result.stdout.splitlines() if ":" in line}
    assert (
        f"ducklake (catalog 127.0.0.1:5432/test, data {lake_archive.path})"
        in (lines["OK    warehouse"])
    )
    assert f"catalog schema {lake_archive.catalog_schema} attached" in lines["OK    warehouse"]
    assert lines["OK    lake data"].endswith(f"{lake_archive.path} exists and is writable")
    assert "3 slots (WAREHOUSE_WRITERS on ducklake)" in lines["OK    warehouse pool"]
    assert "OK    failed requests" in lines
    assert PASSWORD not in result.output

    port = _closed_port()
    monkeypatch.setenv(
        "WAREHOUSE_CATALOG_URL", f"postgresql://postgres:{PASSWORD}@127.0.0.1:{port}/test"
    )
    down = pncp("doctor")
    assert down.code == 1
    (failed,) = [line for line in down.stdout.splitlines() if line.startswith("FAIL  warehouse")]
    assert f"catalog 127.0.0.1:{port}/test" in failed
    assert "(fix: start PostgreSQL, or correct WAREHOUSE_CATALOG_URL" in failed
    assert PASSWORD not in down.output


@on_lake
def test_backup_takes_every_slot_of_the_lake_pool(
    pncp, lake_archive: warehouse.Target, instance: dg.DagsterInstance, monkeypatch
) -> None:
    monkeypatch.setenv("WAREHOUSE_WRITERS", "2")
    config = load_settings()
    writer = create_run_for_test(instance, job_name="writer", status=dg.DagsterRunStatus.STARTED)
    lease = WarehouseLease(instance, config.warehouse_pool, writer.run_id, "extract", slots=2)
    with lease.hold():
        refused = pncp("--lock-wait", "2", "backup")
    assert refused.code == 2, refused.output
    assert f"the warehouse is held by run {writer.run_id} (extract" in refused.output
    assert _records() == []
    taken = pncp("--lock-wait", "2", "backup")
    assert taken.code == 0, taken.output
    info = instance.event_log_storage.get_concurrency_info(config.warehouse_pool)
    assert info.claimed_slots == [], "every slot the backup claimed is free again"

    monkeypatch.setenv("WAREHOUSE_WRITERS", "4")  # changed since the pool was last set
    pool = check_warehouse_pool(load_settings())
    assert pool.level == "WARN"
    assert "admits 2 writer(s); the warehouse expects 4 slots (WAREHOUSE_WRITERS" in pool.detail


@on_lake
def test_commands_that_read_the_warehouse_work_on_the_lake(
    pncp, lake_archive: warehouse.Target, tmp_path: Path
) -> None:
    catalog = pncp("dump-catalog", "--format", "json", "-o", str(tmp_path / "catalog.json"))
    assert catalog.code == 0, catalog.output
    tables = json.loads((tmp_path / "catalog.json").read_text())
    assert ("raw", "api_requests", "table") in {(t["schema"], t["name"], t["kind"]) for t in tables}
    status = pncp("recovery-status", "2024-07", "--endpoint", "contratos", "--format", "json")
    assert status.code == 0, status.output
    (first,) = [d for d in json.loads(status.stdout)["endpoint_days"] if d["day"] == "2024-07-01"]
    assert first["status"] == "complete"
    verify = pncp("verify", "--range", "2024-07-01", "--endpoint", "contratos")
    assert verify.code == 0, verify.output
    digest = min(_bodies(lake_archive))
    body = pncp("fetch-payload", digest)
    assert body.code == 0, body.output
    assert hashlib.sha256(body.raw_stdout).hexdigest() == digest
