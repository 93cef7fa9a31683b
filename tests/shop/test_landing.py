"""Landing files into bronze, Auto Loader style: every file exactly once (sensor restarts,
a file offered twice), rewrites by policy, each schema-evolution mode, provenance, WARN
counts, malformed lines quarantined with file and line, unreadable files failed alone.
"""

from __future__ import annotations

import gzip
import json
import os
from pathlib import Path

import dagster as dg
import duckdb
import pytest
import yaml

from project.defs.shop.bronze import build_bronze_asset
from project.defs.shop.sensors import landing_sensor
from project.lib.shop.sources import SOURCES_FILE, load_sources
from project.resources.landing import LandingResource
from project.resources.warehouse import WarehouseResource
from project.settings import get_settings


def order(n: int, **extra: object) -> dict[str, object]:
    row = {
        "event_id": f"oe-{n}",
        "order_id": f"O{n:08d}",
        "customer_id": f"C{n % 7:06d}",
        "session_id": f"S{n:07d}",
        "status": "paid",
        "order_ts": f"2026-11-0{1 + n % 5}T10:00:00Z",
        "currency": "BRL",
        "channel": "web",
    }
    row.update(extra)
    return row


def write_jsonl(path: Path, rows: list[dict | str], gz: bool = False) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    text = "".join((r if isinstance(r, str) else json.dumps(r)) + "\n" for r in rows)
    if gz:
        path.write_bytes(gzip.compress(text.encode()))
    else:
        path.write_text(text)
    return path


class Shop:
    """A landing folder, a sources file and a warehouse for one test."""

    def __init__(self, tmp: Path, instance: dg.DagsterInstance, **orders: object) -> None:
        self.root = tmp / "landing"
        self.root.mkdir(parents=True)
        self.instance = instance
        config = yaml.safe_load(SOURCES_FILE.read_text())
        config["sources"]["orders"].update(orders)
        self.sources_file = tmp / "sources.yml"
        self.sources_file.write_text(yaml.safe_dump(config))
        self.sources = load_sources(self.sources_file)
        self.landing = LandingResource(root=str(self.root), sources_file=str(self.sources_file))
        self.warehouse = WarehouseResource(database=str(get_settings().warehouse))
        self.asset = build_bronze_asset(self.sources.source("orders"))

    def orders_file(self, name: str, rows: list[dict | str], gz: bool = False) -> Path:
        return write_jsonl(self.root / "orders" / name, rows, gz)

    def ingest(self, run_config: dict | None = None) -> dg.ExecuteInProcessResult:
        return dg.materialize(
            [self.asset],
            instance=self.instance,
            resources={"landing": self.landing, "warehouse": self.warehouse},
            run_config=run_config,
            raise_on_error=False,
        )

    def tick(self, cursor: str | None) -> dg.SensorResult:
        sensor = landing_sensor([self.asset])
        context = dg.build_sensor_context(
            instance=self.instance, cursor=cursor, resources={"landing": self.landing}
        )
        return sensor(context)

    def query(self, sql: str) -> list[tuple]:
        with duckdb.connect(str(get_settings().warehouse), read_only=True) as conn:
            return conn.execute(sql).fetchall()


@pytest.fixture
def shop(tmp_path: Path, instance: dg.DagsterInstance) -> Shop:
    return Shop(tmp_path, instance, max_files_per_run=2)


def test_sensor_restarted_mid_batch_and_a_file_offered_twice_ingest_each_file_once(
    shop: Shop,
) -> None:
    for n in range(5):  # five files of 3 orders: three micro-batches of at most 2 files
        shop.orders_file(f"part-{n}.jsonl", [order(n * 10 + i) for i in range(3)])
    first = shop.tick(None)
    assert [
        len(r.run_config["ops"]["shop__bronze__orders"]["config"]["files"])
        for r in first.run_requests
    ] == [2, 2, 1]
    # The first batch runs; the daemon dies before the cursor is saved: the next tick
    # starts from nothing and offers all five files again, in the same batches (same keys).
    assert shop.ingest(first.run_requests[0].run_config).success
    again = shop.tick(None)
    assert [r.run_key for r in again.run_requests] == [r.run_key for r in first.run_requests]
    for request in again.run_requests:
        assert shop.ingest(request.run_config).success
    # One run offering the same file twice, then a run with no files (all not yet ingested).
    files = again.run_requests[0].run_config["ops"]["shop__bronze__orders"]["config"]["files"]
    assert shop.ingest({"ops": {"shop__bronze__orders": {"config": {"files": files * 2}}}}).success
    assert shop.ingest().success

    rows = shop.query("SELECT event_id, count(*) FROM shop_bronze.orders GROUP BY ALL")
    assert len(rows) == 15
    assert {count for _, count in rows} == {1}
    ledger = shop.query("SELECT path, version, status, rows FROM shop_landing.files ORDER BY path")
    assert ledger == [(f"orders/part-{n}.jsonl", 1, "ingested", 3) for n in range(5)]
    # The cursor now knows every file: nothing more is offered.
    assert shop.tick(again.cursor).run_requests == []


def test_a_rewritten_file_follows_its_policy(tmp_path: Path, instance) -> None:
    for policy, expected in (("new_version", 5), ("skip", 3)):
        shop = Shop(tmp_path / policy, instance, on_rewrite=policy)
        path = shop.orders_file("part-0.jsonl", [order(i) for i in range(3)])
        assert shop.ingest().success
        shop.orders_file("part-0.jsonl", [order(i) for i in range(3, 5)])  # same path
        os.utime(path, ns=(1, 2))
        result = shop.ingest()
        assert result.success
        assert shop.query("SELECT count(*) FROM shop_bronze.orders")[0][0] == expected
        ledger = shop.query("SELECT version, status, error FROM shop_landing.files ORDER BY 1")
        if policy == "new_version":
            assert [(v, s) for v, s, _ in ledger] == [(1, "ingested"), (2, "ingested")]
            assert shop.query(
                "SELECT DISTINCT _file_version FROM shop_bronze.orders WHERE event_id = 'oe-4'"
            ) == [(2,)]
        else:
            assert [(v, s) for v, s, _ in ledger] == [(1, "ingested"), (2, "skipped")]
            assert "rewritten in place" in ledger[1][2]
            assert "policy skip" in ledger[1][2]
        get_settings().warehouse.unlink()


EXTRA = [order(1, coupon_code="BLACKFRIDAY"), order(2)]
RENAMED = [{("order_status" if k == "status" else k): v for k, v in order(3).items()}]


@pytest.mark.parametrize("mode", ["addNewColumns", "rescue", "none", "failOnNewColumns"])
def test_schema_evolution_modes_on_an_extra_and_a_renamed_column(
    tmp_path: Path, instance, mode: str
) -> None:
    shop = Shop(tmp_path, instance, schema_evolution=mode)
    shop.orders_file("part-0.jsonl", EXTRA)
    shop.orders_file("part-1.jsonl", RENAMED)
    result = shop.ingest()
    columns = [
        c
        for (c,) in shop.query(
            "SELECT column_name FROM duckdb_columns() WHERE table_name = 'orders' "
            "AND schema_name = 'shop_bronze'"
        )
    ]
    statuses = dict(shop.query("SELECT path, status FROM shop_landing.files"))
    if mode == "failOnNewColumns":
        assert not result.success
        failure = result.failure_data_for_node("shop__bronze__orders").error.message
        assert "orders/part-0.jsonl: new columns coupon_code" in failure
        assert "orders/part-1.jsonl: new columns order_status" in failure
        assert statuses == {"orders/part-0.jsonl": "pending", "orders/part-1.jsonl": "pending"}
        assert shop.query("SELECT count(*) FROM shop_bronze.orders") == [(0,)]
        return
    assert result.success
    assert statuses == {"orders/part-0.jsonl": "ingested", "orders/part-1.jsonl": "ingested"}
    rows = shop.query(
        "SELECT event_id, status, _rescued_data, _source_file, _line FROM shop_bronze.orders "
        "ORDER BY event_id"
    )
    if mode == "addNewColumns":
        assert columns[-2:] == ["coupon_code", "order_status"]
        evolved = shop.query(
            "SELECT event_id, coupon_code, order_status FROM shop_bronze.orders ORDER BY event_id"
        )
        assert evolved == [
            ("oe-1", "BLACKFRIDAY", None),
            ("oe-2", None, None),
            ("oe-3", None, "paid"),
        ]
    else:
        assert "coupon_code" not in columns
        assert "order_status" not in columns
    rescued = {event: data for event, _, data, _, _ in rows}
    if mode == "rescue":
        assert json.loads(rescued["oe-1"]) == {"coupon_code": "BLACKFRIDAY"}
        assert json.loads(rescued["oe-3"]) == {"order_status": "paid"}
        assert rescued["oe-2"] is None
    else:
        assert set(rescued.values()) == {None}
    # The renamed column leaves `status` empty in every mode: silver's rules catch it.
    assert [(e, s, f, line) for e, s, _, f, line in rows] == [
        ("oe-1", "paid", "orders/part-0.jsonl", 1),
        ("oe-2", "paid", "orders/part-0.jsonl", 2),
        ("oe-3", None, "orders/part-1.jsonl", 1),
    ]


def test_malformed_lines_unreadable_files_and_warn_counts(shop: Shop) -> None:
    shop.orders_file(
        "part-0.jsonl.gz",
        [order(1), '{"event_id": "oe-x", "order', order(2), "[1, 2]", order(3, status="lost")],
        gz=True,
    )
    (shop.root / "orders" / "part-1.jsonl").write_bytes(os.urandom(200))  # garbage
    (shop.root / "orders" / "part-2.jsonl.gz").write_text('{"not": "gzip"}\n')  # wrong compression
    shop.orders_file("part-3.jsonl", [order(4, order_ts="yesterday")])
    result = shop.ingest()
    assert result.success  # unreadable files fail alone, the others are ingested

    ledger = dict(shop.query("SELECT path, status FROM shop_landing.files"))
    assert ledger == {
        "orders/part-0.jsonl.gz": "ingested",
        "orders/part-1.jsonl": "failed",
        "orders/part-2.jsonl.gz": "failed",
        "orders/part-3.jsonl": "ingested",
    }
    errors = dict(shop.query("SELECT path, error FROM shop_landing.files WHERE status = 'failed'"))
    assert "not utf-8" in errors["orders/part-1.jsonl"].lower()
    assert "gzip" in errors["orders/part-2.jsonl.gz"].lower()
    assert shop.query(
        "SELECT source_file, line, error FROM shop_bronze.malformed_lines ORDER BY line"
    ) == [
        ("orders/part-0.jsonl.gz", 2, "malformed JSON"),
        ("orders/part-0.jsonl.gz", 4, "not a JSON object"),
    ]
    assert shop.query("SELECT event_id, _line FROM shop_bronze.orders ORDER BY event_id") == [
        ("oe-1", 1),
        ("oe-2", 3),
        ("oe-3", 5),
        ("oe-4", 1),
    ]

    # WARN: counted and kept; in the event log and on the asset check.
    log = dict(
        shop.query(
            "SELECT rule, failed FROM shop_ops.expectation_log "
            "WHERE layer = 'bronze' AND dataset = 'orders'"
        )
    )
    assert log["allowed_values_status"] == 1
    assert log["order_ts_is_a_timestamp"] == 1
    assert log["completeness_event_id"] == 0
    checks = {c.check_name: c for c in result.get_asset_check_evaluations()}
    assert not checks["expectations"].passed
    assert checks["expectations"].severity == dg.AssetCheckSeverity.WARN
    assert checks["expectations"].metadata["allowed_values_status (passed/failed)"].value == "3/1"
    assert not checks["files_readable"].passed
    # A failed file is not read again until retried.
    assert shop.ingest().success
    assert shop.query("SELECT count(*) FROM shop_bronze.orders") == [(4,)]


def test_csv_lines_and_rejected_rows(tmp_path: Path, instance) -> None:
    shop = Shop(tmp_path, instance)
    shop.asset = build_bronze_asset(shop.sources.source("order_items"))
    folder = shop.root / "order_items"
    folder.mkdir()
    (folder / "part-0.csv").write_text(
        "event_id,order_id,line_no,product_id,quantity,unit_price\n"
        "ie-1,O1,1,P1,2,3.50\n"
        "ie-2,O1,2\n"
        'ie-3,O2,1,P2,1,"9.99"\n'
        "ie-4,O3,1,P3,1,-1.00,extra\n"
        "ie-5,O4,1,P4,1,-2.00\n"
    )
    assert shop.ingest().success
    assert shop.query(
        "SELECT event_id, unit_price, _line FROM shop_bronze.order_items ORDER BY _line"
    ) == [("ie-1", "3.50", 2), ("ie-3", "9.99", 4), ("ie-5", "-2.00", 6)]
    bad = shop.query("SELECT line, raw FROM shop_bronze.malformed_lines ORDER BY line")
    assert bad == [(3, "ie-2,O1,2"), (5, "ie-4,O3,1,P3,1,-1.00,extra")]


def test_landing_status_shows_the_ledger_and_what_needs_attention(shop: Shop) -> None:
    from tests.cli.conftest import run_pncp

    shop.orders_file("part-0.jsonl", [order(1), order(2)])
    (shop.root / "orders" / "part-1.jsonl").write_bytes(b"\x00\xff garbage")
    assert shop.ingest().success
    shop.orders_file("part-2.jsonl", [order(3)])  # landed after the run: not registered yet
    env = {"SHOP_LANDING_DIR": str(shop.root), "PLATFORM_DATA_DIR": os.environ["PLATFORM_DATA_DIR"]}
    result = run_pncp("landing", "status", "--source", "orders", env=env)
    assert result.code == 0, result.output
    lines = result.stdout.splitlines()
    summary = next(line for line in lines if line.startswith("orders "))
    # ingested | pending | failed | skipped | unregistered | rows
    assert [cell.strip() for cell in summary.split("|")[1:]] == ["1", "0", "1", "0", "1", "2"]
    failed = next(line for line in lines if line.startswith("orders/part-1.jsonl"))
    assert "failed" in failed
    assert "cannot read orders/part-1.jsonl" in failed
    assert "  orders/part-2.jsonl (" in result.stdout
    unknown = run_pncp("landing", "status", "--source", "nope", env=env)
    assert unknown.code == 2
    assert "unknown shop source 'nope'" in unknown.stderr

    with duckdb.connect(str(get_settings().warehouse)) as conn:
        from project.lib.shop import ledger

        assert ledger.retry_failed(conn, "orders") == 1
        assert conn.execute("SELECT status FROM shop_landing.files WHERE path = "
                            "'orders/part-1.jsonl'").fetchall() == [("pending",)]  # fmt: skip


def test_a_crash_while_ingesting_leaves_bronze_as_it_was_and_the_file_pending(
    shop: Shop, monkeypatch: pytest.MonkeyPatch
) -> None:
    from project.lib.shop import bronze, ledger
    from project.lib.shop.landing import LandingCursor, new_offers

    shop.orders_file("part-0.jsonl", [order(1), order(2)])
    shop.orders_file("part-1.jsonl", [order(3), "{broken"])
    first, second = new_offers(shop.root, shop.sources, LandingCursor({}))["orders"]
    source = shop.sources.source("orders")
    real_mark = ledger.mark
    get_settings().warehouse.parent.mkdir(parents=True, exist_ok=True)

    def crash_on_commit(conn, entry, status, *args, **kwargs):
        if status == "ingested" and entry.path == second.path:
            raise RuntimeError("power cut")  # after the rows are inserted, before commit
        return real_mark(conn, entry, status, *args, **kwargs)

    with duckdb.connect(str(get_settings().warehouse)) as conn:
        bronze.ensure_bronze(conn, source)
        assert bronze.ingest_file(conn, shop.root, source, first, "run-1").status == "ingested"
        monkeypatch.setattr(ledger, "mark", crash_on_commit)
        with pytest.raises(RuntimeError, match="power cut"):
            bronze.ingest_file(conn, shop.root, source, second, "run-1")
        monkeypatch.setattr(ledger, "mark", real_mark)
        kept = conn.execute("SELECT event_id FROM shop_bronze.orders ORDER BY 1").fetchall()
        assert kept == [("oe-1",), ("oe-2",)]
        assert conn.execute("SELECT count(*) FROM shop_bronze.malformed_lines").fetchone() == (0,)
        status = conn.execute("SELECT status FROM shop_landing.files WHERE path = ?", [second.path])
        assert status.fetchall() == [("pending",)]
        # The next run takes it from the start, once; the first file is not read again.
        assert bronze.ingest_file(conn, shop.root, source, second, "run-2").status == "ingested"
        assert bronze.ingest_file(conn, shop.root, source, first, "run-2").status == "already"
        rows = conn.execute("SELECT event_id, _run_id FROM shop_bronze.orders ORDER BY 1")
        assert rows.fetchall() == [("oe-1", "run-1"), ("oe-2", "run-1"), ("oe-3", "run-2")]
        assert conn.execute("SELECT line FROM shop_bronze.malformed_lines").fetchall() == [(2,)]
