"""Silver's expectations on one batch per source: every DROP rule quarantines the row that
fails it (rule, readable reason, file, line, the record as landed) and keeps it out of
silver; WARN rules count in the expectation log and keep the row; silver is typed.

One `dbt build` for the module (bronze written in SQL, see conftest.land).
"""

import json
import shutil
from datetime import date, datetime
from decimal import Decimal
from pathlib import Path

import duckdb
import pytest

from project.lib.shop import ops, silver_rules
from tests.shop.conftest import Dbt, item, land, order, payment, web_event

pytestmark = pytest.mark.xdist_group("shop_dbt")

SOURCES = ("orders", "order_items", "payments", "web_events")
MAKERS = {"orders": order, "order_items": item, "payments": payment, "web_events": web_event}
BATCHES = {"orders": 1, "order_items": 2, "payments": 4, "web_events": 5}

# (source, rule, changes to a valid row, the reason silver gives): a row failing each
# DROP rule of silver (a value that does not cast fails its parse rule first).
DROPPED = [
    ("orders", "event_id_not_null", {"event_id": None}, "event_id is null"),
    ("orders", "order_id_not_null", {"order_id": None}, "order_id is null"),
    ("orders", "order_ts_parses", {"order_ts": "2026-13-45T99:00:00Z"},
     "order_ts '2026-13-45T99:00:00Z' is not an ISO-8601 timestamp"),
    ("orders", "order_ts_not_null", {"order_ts": None}, "order_ts is null"),
    ("orders", "status_allowed", {"status": "lost"},
     "status 'lost' not in allowed values (placed, paid, shipped, delivered, cancelled)"),
    ("order_items", "event_id_not_null", {"event_id": None}, "event_id is null"),
    ("order_items", "order_id_not_null", {"order_id": ""}, "order_id is null"),
    ("order_items", "product_id_not_null", {"product_id": None}, "product_id is null"),
    ("order_items", "line_no_parses", {"line_no": "x"}, "line_no 'x' is not an integer"),
    ("order_items", "quantity_parses", {"quantity": "two"}, "quantity 'two' is not an integer"),
    ("order_items", "quantity_not_null", {"quantity": None}, "quantity is null"),
    ("order_items", "quantity_at_least_one", {"quantity": "0"}, "quantity 0 below min 1"),
    ("order_items", "unit_price_parses", {"unit_price": "abc"},
     "unit_price 'abc' is not an amount"),
    ("order_items", "unit_price_not_null", {"unit_price": None}, "unit_price is null"),
    ("order_items", "unit_price_not_negative", {"unit_price": "-3.00"},
     "unit_price -3.00 below min 0"),
    ("payments", "event_id_not_null", {"event_id": None}, "event_id is null"),
    ("payments", "payment_id_not_null", {"payment_id": None}, "payment_id is null"),
    ("payments", "order_id_not_null", {"order_id": None}, "order_id is null"),
    ("payments", "amount_parses", {"amount": "1,00"}, "amount '1,00' is not an amount"),
    ("payments", "amount_not_null", {"amount": None}, "amount is null"),
    ("payments", "amount_not_negative", {"amount": "-1.00"}, "amount -1.00 below min 0"),
    ("payments", "paid_ts_parses", {"paid_ts": "yesterday"},
     "paid_ts 'yesterday' is not an ISO-8601 timestamp"),
    ("payments", "paid_ts_not_null", {"paid_ts": None}, "paid_ts is null"),
    ("payments", "status_allowed", {"status": "chargeback"},
     "status 'chargeback' not in allowed values (approved, declined, refunded)"),
    ("web_events", "event_id_not_null", {"event_id": None}, "event_id is null"),
    ("web_events", "session_id_not_null", {"session_id": None}, "session_id is null"),
    ("web_events", "event_ts_parses", {"event_ts": "03/11/2026"},
     "event_ts '03/11/2026' is not an ISO-8601 timestamp"),
    ("web_events", "event_ts_not_null", {"event_ts": None}, "event_ts is null"),
    ("web_events", "event_type_allowed", {"event_type": "scroll"},
     "event_type 'scroll' not in allowed values (page_view, product_view, add_to_cart, "
     "checkout, purchase)"),
]  # fmt: skip

# (source, rule, changes): rows failing a WARN rule, kept in silver.
WARNED = [
    ("orders", "customer_id_not_null", {"customer_id": None}),
    ("orders", "order_id_format", {"order_id": "X-8"}),
    ("order_items", "quantity_plausible", {"quantity": "500"}),
    ("payments", "method_known", {"method": "crypto"}),
    ("web_events", "product_events_name_a_product",
     {"event_type": "product_view", "product_id": None}),
]  # fmt: skip

VALID_ROWS = 2  # valid rows first in each file: numbers 1 and 2


def _rows(source: str) -> list[tuple[dict, str | None]]:
    """The source's landed rows (valid, dropped, warned) and the rule each fails."""
    make = MAKERS[source]
    rows: list[tuple[dict, str | None]] = [(make(n), None) for n in range(1, VALID_ROWS + 1)]
    cases = [(r, c) for s, r, c, _ in DROPPED if s == source]
    cases += [(r, c) for s, r, c in WARNED if s == source]
    for n, (rule, changes) in enumerate(cases, start=VALID_ROWS + 1):
        rows.append((make(n, **changes), rule))
    return rows


@pytest.fixture(scope="module")
def built(shop_dbt: Dbt, tmp_path_factory: pytest.TempPathFactory) -> Path:
    """One batch per source built into silver; a copy of the warehouse to read."""
    shop_dbt.fresh()
    with duckdb.connect(str(shop_dbt.warehouse)) as conn:
        for source in SOURCES:
            land(conn, source, BATCHES[source], [row for row, _ in _rows(source)])
        # order_items' unit_price landed as `price`: in _rescued_data, or (schema
        # evolution) as a column of its own
        land(conn, "order_items", 3, [item(90, unit_price=None, price="9.99")])
        land(conn, "order_items", 6, [item(91, unit_price=None, price="5.00")], evolve=True)
    shop_dbt.build()
    copy = tmp_path_factory.mktemp("silver") / "built.duckdb"
    shutil.copy(shop_dbt.warehouse, copy)
    return copy


@pytest.fixture
def conn(built: Path):
    with duckdb.connect(str(built), read_only=True) as conn:
        yield conn


def _line(source: str, rule: str) -> int:
    rows = _rows(source)
    index = next(i for i, (_, failed) in enumerate(rows) if failed == rule)
    return index + (2 if source in ("order_items", "payments") else 1)


def test_every_drop_rule_of_silver_has_a_case_here() -> None:
    declared = {(e.source, e.name) for e in silver_rules.declared() if e.action == "drop"}
    assert declared == {(s, r) for s, r, _, _ in DROPPED}


@pytest.mark.parametrize(("source", "rule", "changes", "reason"), DROPPED)
def test_a_row_failing_a_drop_rule_is_quarantined_with_its_reason_file_line_and_record(
    conn: duckdb.DuckDBPyConnection, source: str, rule: str, changes: dict, reason: str
) -> None:
    line = _line(source, rule)
    found = conn.execute(
        "SELECT rule, reason, source_file, line, record, status, quarantine_id, failed_rules "
        "FROM shop_silver.quarantine WHERE source = ? AND line = ? AND _batch = ?",
        [source, line, BATCHES[source]],
    ).fetchall()
    assert len(found) == 1
    got_rule, got_reason, source_file, got_line, record, status, quarantine_id, rules = found[0]
    assert got_rule == rule
    assert got_reason.split("; ")[0] == reason
    assert rule in rules
    ext = "csv" if source in ("order_items", "payments") else "jsonl"
    assert source_file == f"{source}/part-{BATCHES[source]:05d}-000.{ext}"
    assert (got_line, status) == (line, "quarantined")
    assert quarantine_id == f"{source}:{BATCHES[source]}:{line}"
    landed = json.loads(record)
    assert {k: landed[k] for k in changes} == changes
    event_id = landed["event_id"]
    if event_id is not None:
        kept = conn.execute(
            f"SELECT count(*) FROM shop_silver.{source} WHERE event_id = ?", [event_id]
        ).fetchone()[0]
        assert kept == 0, "a quarantined row never reaches silver"


@pytest.mark.parametrize("batch", [3, 6], ids=["rescued_data", "evolved_column"])
def test_a_renamed_column_quarantines_its_rows_with_the_value_in_the_record(
    conn: duckdb.DuckDBPyConnection, batch: int
) -> None:
    rule, reason, record = conn.execute(
        "SELECT rule, reason, record FROM shop_silver.quarantine "
        "WHERE source = 'order_items' AND _batch = ?",
        [batch],
    ).fetchone()
    assert (rule, reason) == ("unit_price_not_null", "unit_price is null")
    landed = json.loads(record)
    assert landed["unit_price"] is None
    price = "9.99" if batch == 3 else "5.00"
    assert price in (landed.get("price"), (landed.get("_rescued_data") or {}).get("price"))


def test_warn_rules_keep_their_rows_and_count_in_the_expectation_log(
    conn: duckdb.DuckDBPyConnection,
) -> None:
    logged = {
        (dataset, rule): (action, passed, failed)
        for dataset, rule, action, passed, failed in conn.execute(
            "SELECT dataset, rule, action, passed, failed FROM shop_ops.expectation_log "
            "WHERE layer = 'silver'"
        ).fetchall()
    }
    for source, rule, changes in WARNED:
        rows = len(_rows(source)) + (2 if source == "order_items" else 0)
        assert logged[(source, rule)] == ("warn", rows - 1, 1), rule
        landed = MAKERS[source](_line_number(source, rule), **changes)
        kept = conn.execute(
            f"SELECT count(*) FROM shop_silver.{source} WHERE event_id = ?", [landed["event_id"]]
        ).fetchone()[0]
        assert kept == 1, f"{rule} warns and keeps the row"
    for source, rule, _, _ in DROPPED:
        action, _, failed = logged[(source, rule)]
        assert action == "drop"
        assert failed >= 1
    assert len({run for (run,) in conn.execute(
        "SELECT DISTINCT run_id FROM shop_ops.expectation_log").fetchall()}) == 1  # fmt: skip


def _line_number(source: str, rule: str) -> int:
    """The `n` the row failing `rule` was made with."""
    rows = _rows(source)
    return next(i for i, (_, failed) in enumerate(rows) if failed == rule) + 1


def test_silver_is_typed_and_dates_events_in_utc(conn: duckdb.DuckDBPyConnection) -> None:
    types = dict(
        conn.execute(
            "SELECT table_name || '.' || column_name, data_type FROM information_schema.columns "
            "WHERE table_schema = 'shop_silver'"
        ).fetchall()
    )
    assert types["orders.order_ts"] == "TIMESTAMP WITH TIME ZONE"
    assert types["orders.event_date"] == "DATE"
    assert types["order_items.unit_price"] == "DECIMAL(12,2)"
    assert types["order_items.quantity"] == "INTEGER"
    assert types["payments.amount"] == "DECIMAL(12,2)"
    assert types["web_events._batch"] == "BIGINT"
    valid = conn.execute(
        "SELECT unit_price, quantity, _source_file, _line, _batch FROM shop_silver.order_items "
        "WHERE event_id = ?",
        [item(1)["event_id"]],
    ).fetchone()
    assert valid == (Decimal("10.50"), 2, "order_items/part-00002-000.csv", 2, 2)
    stamp, day = conn.execute(
        "SELECT order_ts, event_date FROM shop_silver.orders WHERE event_id = ?",
        [order(1)["event_id"]],
    ).fetchone()
    assert stamp == datetime.fromisoformat("2026-11-03T14:05:09+00:00")
    assert day == date(2026, 11, 3)


def test_the_shop_ops_tables_dbt_creates_are_the_ones_python_creates(
    conn: duckdb.DuckDBPyConnection,
) -> None:
    query = (
        "SELECT table_name, column_name, data_type FROM information_schema.columns "
        "WHERE table_schema = 'shop_ops' ORDER BY table_name, ordinal_position"
    )
    with duckdb.connect() as memory:
        ops.ensure_tables(memory)
        from_python = memory.execute(query).fetchall()
    assert conn.execute(query).fetchall() == from_python
