"""The dimensions and gold on a small shop computed by hand: dim_customer (SCD type 2) and
dim_product (SCD type 1) against hand-computed tables, orders joined to the customer as
they were when they ordered, the KPIs, incremental runs against a full rebuild, and a
FAIL expectation blocking what is downstream in Dagster.

Batch 1 (customers): Ana (C1) changes e-mail (untracked: in place), moves from Recife to
São Paulo on the 4th (tracked: a new version) and is renamed (untracked again); Bia (C2)
becomes premium on the 5th, in a change whose predecessor (her move to Natal on the 3rd)
has not arrived; Caio (C3) is deleted on the 3rd; a change arrives twice; one change
fails each drop rule. Products: inserts, a delete, a delete before its insert, a change
before its predecessor. Orders, lines, payments and sessions of four orders (one
cancelled). Batch 2: Bia's late move, Caio's re-insert on the 6th, P3's insert, P4's
re-insert, a late order of the 2nd, batch 1's changes again. After each, an incremental
dbt run of silver and gold; then a `--full-refresh`, which must give the same tables.
Batch 3, in Dagster: batch 2's change files again (a replayed batch: nothing changes)
and an order of Caio's on the 4th, while he was deleted: no version of his is valid
then, the blocking check fails and what is downstream of fct_orders is not materialized.
"""

from __future__ import annotations

import json
import shutil
from datetime import UTC, date, datetime
from decimal import Decimal
from pathlib import Path
from types import SimpleNamespace
from typing import Any

import dagster as dg
import duckdb
import pytest

from project.lib.shop import bronze, quarantine, silver_rules
from project.lib.shop.sources import shop_sources
from project.settings import get_settings, load_settings
from tests.shop.conftest import (
    SHOP_SELECT,
    Dbt,
    item,
    land,
    order,
    payment,
    web_event,
)

pytestmark = [pytest.mark.slow, pytest.mark.xdist_group("shop_dbt")]

CHANGE_COLUMNS = {source: shop_sources().source(source).columns
                  for source in ("customers", "products")}  # fmt: skip
GOLD = (
    "dim_customer", "dim_product", "fct_orders", "fct_sessions", "daily_kpis",
    "daily_sales_by_segment", "product_daily_sales", "top_products", "customer_lifetime_value",
)  # fmt: skip
DOWNSTREAM_OF_FCT_ORDERS = {
    "daily_kpis", "daily_sales_by_segment", "product_daily_sales", "top_products",
    "customer_lifetime_value",
}  # fmt: skip


# --- landing ---------------------------------------------------------------------------


def customer(key: str | None, seq: Any, op: str | None, at: str | None, **image: Any) -> dict:
    """A customer change; insert and update carry the full image (defaults: Ana in Recife)."""
    row = {"customer_id": key, "op": op, "seq": seq, "changed_at": at}
    defaults = {
        "name": "Ana Lima", "email": "ana@example.com", "city": "Recife", "state": "PE",
        "segment": "consumer",
    }  # fmt: skip
    return row | defaults | image


def product(key: str | None, seq: Any, op: str | None, at: str | None, **image: Any) -> dict:
    row = {"product_id": key, "op": op, "seq": seq, "changed_at": at}
    defaults = {"name": "Caneca", "category": "Casa", "price": "19.90", "active": "true"}
    return row | defaults | image


def land_changes(
    conn: duckdb.DuckDBPyConnection, source: str, batch: int, rows: list[dict], file: str = ""
) -> None:
    """Rows of one landed change-feed file into `shop_bronze.<source>`, as the contract
    lands them (every column text, then the provenance columns)."""
    declared = CHANGE_COLUMNS[source]
    bronze.ensure_bronze(conn, shop_sources().source(source))
    names = [*declared, "_source_file", "_file_version", "_line", "_batch", "_run_id"]
    conn.executemany(
        f"INSERT INTO shop_bronze.{source} ({', '.join(names)}, _ingested_at) "
        f"VALUES ({', '.join('?' for _ in names)}, now())",
        [
            [None if row.get(c) is None else str(row[c]) for c in declared]
            + [file or f"{source}/part-{batch:05d}-000.jsonl", 1, line, batch, f"run-{batch}"]
            for line, row in enumerate(rows, start=1)
        ],
    )


def iso(day: int, hour: int = 10, minute: int = 0) -> str:
    return f"2026-11-{day:02d}T{hour:02d}:{minute:02d}:00Z"


def ts(day: int, hour: int = 10, minute: int = 0) -> datetime:
    return datetime(2026, 11, day, hour, minute, tzinfo=UTC)


def _order(n: int, customer_id: str, placed: str, batch: int, **changes: object) -> dict:
    return order(n, batch, customer_id=customer_id, order_ts=placed, **changes)


def _item(n: int, line_no: int, product_id: str, quantity: int, price: str) -> dict:
    return item(n, line_no, product_id=product_id, quantity=str(quantity), unit_price=price)


def _session(n: int, at: str, batch: int = 1) -> dict:
    return web_event(n, batch, event_ts=at)


# (source, rule, the change): a change failing each drop rule of the change feeds.
DROPPED = [
    ("customers", "customer_id_not_null", customer(None, 1, "insert", iso(1))),
    ("customers", "seq_parses", customer("C000008", "1.5", "insert", iso(1))),
    ("customers", "seq_not_null", customer("C000008", None, "insert", iso(1))),
    ("customers", "op_not_null", customer("C000009", 1, None, iso(1))),
    ("customers", "op_allowed", customer("C000009", 2, "upsert", iso(1))),
    ("customers", "changed_at_parses", customer("C000009", 3, "update", "yesterday")),
    ("customers", "changed_at_not_null", customer("C000009", 4, "delete", None)),
    ("products", "product_id_not_null", product(None, 1, "insert", iso(1))),
    ("products", "seq_parses", product("P00008", "x", "insert", iso(1))),
    ("products", "seq_not_null", product("P00008", None, "insert", iso(1))),
    ("products", "op_not_null", product("P00009", 1, None, iso(1))),
    ("products", "op_allowed", product("P00009", 2, "merge", iso(1))),
    ("products", "changed_at_parses", product("P00009", 3, "update", "03/11/2026")),
    ("products", "price_parses", product("P00009", 4, "update", iso(1), price="1,90")),
    ("products", "price_present_on_upsert", product("P00009", 5, "update", iso(1), price=None)),
    ("products", "price_not_negative_on_upsert",
     product("P00009", 6, "update", iso(1), price="-1.00")),
    ("products", "active_parses", product("P00009", 7, "update", iso(1), active="maybe")),
]  # fmt: skip

EMAIL = {"email": "ana.lima@example.com"}
SAO_PAULO = {"city": "São Paulo", "state": "SP"}
NATAL = {"city": "Natal", "state": "RN"}
CHANGES_1 = {
    "customers": [
        customer("C000001", 1, "insert", iso(1)),
        customer("C000001", 2, "update", iso(2), **EMAIL),  # untracked: in place
        customer("C000001", 3, "update", iso(4), **EMAIL, **SAO_PAULO),  # a move
        customer("C000001", 4, "update", iso(6), name="Ana Souza", **EMAIL, **SAO_PAULO),
        customer("C000002", 1, "insert", iso(1), name="Bia"),
        # seq 3 before seq 2: its image carries seq 2's move to Natal
        customer("C000002", 3, "update", iso(5), name="Bia", **NATAL, segment="premium"),
        customer("C000003", 1, "insert", iso(1), name="Caio"),
        customer("C000003", 2, "delete", iso(3), name="Caio"),
        customer("C000001", 2, "update", iso(2), **EMAIL),  # delivered twice
        customer("C000004", 1, "insert", iso(2), name="Duda", city="Manaus", state="AM"),
    ],
    "products": [
        product("P00001", 1, "insert", iso(1, 9), price="10.00"),
        product("P00002", 1, "insert", iso(1, 9), name="Prato", price="5.00"),
        product("P00003", 1, "insert", iso(1), name="Copo"),
        # seq 3 before seq 2 (a rename): its image carries the new name
        product("P00003", 3, "update", iso(3), name="Copo Azul", price="24.90"),
        product("P00004", 1, "insert", iso(1), name="Jarra"),
        product("P00004", 2, "delete", iso(2), name="Jarra"),
        product("P00005", 2, "delete", iso(2), name="Tigela"),  # before its insert
        product("P00006", 1, "insert", iso(1), name="Bule"),
        product("P00006", 2, "delete", iso(2), name="Bule"),
    ],
}
CHANGES_2 = {
    "customers": [
        customer("C000002", 2, "update", iso(3), name="Bia", **NATAL),  # late: the move
        customer("C000003", 3, "insert", iso(6), name="Caio", email="caio@example.com"),
        *CHANGES_1["customers"][:2],  # batch 1 delivered again
    ],
    "products": [
        product("P00003", 2, "update", iso(2), name="Copo Azul"),  # late: older than seq 3
        product("P00005", 1, "insert", iso(1), name="Tigela"),
        product("P00006", 3, "insert", iso(4), name="Bule", price="29.90"),  # re-insert
    ],
}  # fmt: skip


def land_batch_1(conn: duckdb.DuckDBPyConnection) -> None:
    dropped = {s: [change for src, _, change in DROPPED if src == s] for s in CHANGE_COLUMNS}
    land_changes(conn, "customers", 1, CHANGES_1["customers"] + dropped["customers"])
    land_changes(conn, "products", 2, CHANGES_1["products"] + dropped["products"])
    land(conn, "orders", 3, [
        _order(1, "C000001", iso(2, 12), 3),  # before the move
        _order(2, "C000001", iso(5, 12), 3),  # after it
        _order(3, "C000002", iso(4, 12), 3),
        _order(4, "C000001", iso(5, 13), 3),
        _order(4, "C000001", iso(5, 15), 3, event_id="oe-3-4b", status="cancelled"),
    ])  # fmt: skip
    land(conn, "order_items", 4, [
        _item(1, 1, "P00001", 2, "10.00"),
        _item(2, 1, "P00002", 1, "5.00"),
        _item(2, 2, "P00001", 1, "10.00"),
        _item(3, 1, "P00001", 3, "10.00"),
        _item(4, 1, "P00002", 4, "5.00"),
    ])  # fmt: skip
    land(conn, "payments", 5, [
        payment(1, amount="20.00", paid_ts=iso(2, 12, 5)),
        payment(3, amount="30.00", paid_ts=iso(4, 12, 5)),
    ])  # fmt: skip
    land(conn, "web_events", 6, [
        _session(1, iso(2, 11, 50)),
        _session(2, iso(5, 11, 55)),
        _session(3, iso(4, 11, 58)),
        _session(9, iso(4, 10)),  # no order
        _session(10, iso(5, 9)),  # no order
    ])  # fmt: skip


def land_batch_2(conn: duckdb.DuckDBPyConnection) -> None:
    land_changes(conn, "customers", 7, CHANGES_2["customers"])
    land_changes(conn, "products", 8, CHANGES_2["products"])
    land(conn, "orders", 9, [_order(5, "C000002", iso(2, 9), 9)])  # late: the 2nd
    land(conn, "order_items", 10, [_item(5, 1, "P00002", 2, "5.00")])
    land(conn, "web_events", 11, [_session(5, iso(2, 8, 55), batch=11)])


def land_batch_3(conn: duckdb.DuckDBPyConnection) -> None:
    for batch, source in ((12, "customers"), (13, "products")):  # batch 2's files again
        land_changes(conn, source, batch, CHANGES_2[source], file=f"{source}/replay.jsonl")
    # Caio was deleted on the 3rd and came back on the 6th: no version is valid on the 4th
    land(conn, "orders", 14, [_order(6, "C000003", iso(4, 12), 14)])
    land(conn, "order_items", 15, [_item(6, 1, "P00001", 1, "10.00")])


# --- the runs ----------------------------------------------------------------------------


def _materialize(instance: dg.DagsterInstance) -> dg.ExecuteInProcessResult:
    """Silver and gold, as the UI's Materialize or the automation launch them."""
    from project.definitions import defs

    definitions = defs()
    keys = dg.AssetSelection.groups("shop_silver", "shop_gold").resolve(
        definitions.resolve_asset_graph()
    )
    return definitions.resolve_implicit_global_asset_job_def().execute_in_process(
        instance=instance, asset_selection=list(keys), raise_on_error=False
    )


@pytest.fixture(scope="module")
def runs(shop_dbt: Dbt, tmp_path_factory: pytest.TempPathFactory) -> SimpleNamespace:
    """Copies of the warehouse after batch 1, batch 2 and a full rebuild of it; then the
    Dagster run of silver and gold after batch 3."""
    base = tmp_path_factory.mktemp("dims_and_gold")
    shop_dbt.fresh()
    copies = {}
    for name, land_batch in (("batch_1", land_batch_1), ("batch_2", land_batch_2)):
        with duckdb.connect(str(shop_dbt.warehouse)) as conn:
            land_batch(conn)
        # the dbt tests (every FAIL expectation among them) on the final state only
        shop_dbt("build" if name == "batch_2" else "run", "--select", SHOP_SELECT)
        copies[name] = base / f"{name}.duckdb"
        shutil.copy(shop_dbt.warehouse, copies[name])
    shop_dbt("run", "--select", SHOP_SELECT, "--full-refresh")
    copies["full"] = base / "full.duckdb"
    shutil.copy(shop_dbt.warehouse, copies["full"])

    with duckdb.connect(str(shop_dbt.warehouse)) as conn:
        land_batch_3(conn)
    with pytest.MonkeyPatch.context() as patch:
        patch.setenv("WAREHOUSE_PATH", str(shop_dbt.warehouse))
        patch.setenv("DAGSTER_HOME", str(base / "dagster_home"))
        from project.lib.instance import ensure_dagster_home

        get_settings.cache_clear()
        home = ensure_dagster_home(load_settings())
        with dg.DagsterInstance.from_config(str(home)) as instance:
            failing = _materialize(instance)
        get_settings.cache_clear()
    copies["batch_3"] = base / "batch_3.duckdb"
    shutil.copy(shop_dbt.warehouse, copies["batch_3"])
    return SimpleNamespace(**copies, failing=failing)


def _query(path: Path, sql: str, params: list | None = None) -> list[tuple]:
    with duckdb.connect(str(path), read_only=True) as conn:
        return conn.execute(sql, params or []).fetchall()


def _rows(path: Path, table: str, *, load_id: bool = False) -> list[tuple]:
    """Every row of a gold table; `_load_id` (the run that wrote a row) only if asked."""
    columns = [
        name
        for (name,) in _query(
            path,
            "SELECT column_name FROM information_schema.columns WHERE table_schema = "
            "'shop_gold' AND table_name = ? ORDER BY ordinal_position",
            [table],
        )
        if load_id or name != "_load_id"
    ]
    listed = ", ".join(f'"{c}"' for c in columns)
    return _query(path, f"SELECT {listed} FROM shop_gold.{table} ORDER BY ALL")


# --- silver: the change feeds ----------------------------------------------------------


def test_a_change_delivered_twice_is_one_row_in_silver(runs: SimpleNamespace) -> None:
    rows = _query(
        runs.batch_2,
        "SELECT seq, _batch, _line FROM shop_silver.customers_changes "
        "WHERE customer_id = 'C000001' ORDER BY seq",
    )
    assert rows == [(1, 1, 1), (2, 1, 2), (3, 1, 3), (4, 1, 4)]


def test_every_drop_rule_of_the_change_feeds_has_a_case_here() -> None:
    declared = {
        (e.source, e.name)
        for e in silver_rules.declared(quarantine.CHANGE_FEEDS_DIR)
        if e.action == "drop"
    }
    assert declared == {(source, rule) for source, rule, _ in DROPPED}


@pytest.mark.parametrize(("source", "rule", "change"), DROPPED)
def test_a_change_failing_a_drop_rule_is_quarantined_not_applied(
    runs: SimpleNamespace, source: str, rule: str, change: dict
) -> None:
    found = _query(
        runs.batch_1,
        "SELECT record, status FROM shop_silver.quarantine WHERE source = ? AND rule = ?",
        [source, rule],
    )
    assert [status for _, status in found] == ["quarantined"]
    landed = json.loads(found[0][0])
    assert landed["seq"] == (None if change["seq"] is None else str(change["seq"]))
    applied = _query(
        runs.batch_1,
        "SELECT customer_id FROM shop_gold.dim_customer WHERE customer_id IN "
        "('C000008', 'C000009') UNION ALL SELECT product_id FROM shop_gold.dim_product "
        "WHERE product_id IN ('P00008', 'P00009')",
    )
    assert applied == []


# --- the dimensions ----------------------------------------------------------------------

CUSTOMER_COLUMNS = (
    "customer_version_id, customer_id, version, name, email, city, state, segment, "
    "valid_from, valid_to, is_current, closed_by_delete, start_seq, end_seq"
)
ANA = ("Ana Lima", "ana.lima@example.com", "Recife", "PE", "consumer")
ANA_MOVED = ("Ana Souza", "ana.lima@example.com", "São Paulo", "SP", "consumer")
BIA = ("Bia", "ana@example.com")
CAIO = ("Caio", "ana@example.com", "Recife", "PE", "consumer")
DUDA = ("C000004@1", "C000004", 1, "Duda", "ana@example.com", "Manaus", "AM", "consumer",
        ts(2), None, True, False, 1, None)  # fmt: skip
# After batch 1: Ana's e-mail change updated her first version, her move opened a second,
# her rename updated that one; Bia's first version runs until her seq 3 (seq 2 has not
# arrived); Caio's delete closed his only version.
CUSTOMERS_1 = [
    ("C000001@1", "C000001", 1, *ANA, ts(1), ts(4), False, False, 1, 3),
    ("C000001@3", "C000001", 2, *ANA_MOVED, ts(4), None, True, False, 3, None),
    ("C000002@1", "C000002", 1, *BIA, "Recife", "PE", "consumer", ts(1), ts(5), False, False,
     1, 3),
    ("C000002@3", "C000002", 2, *BIA, "Natal", "RN", "premium", ts(5), None, True, False, 3,
     None),
    ("C000003@1", "C000003", 1, *CAIO, ts(1), ts(3), False, True, 1, 2),
    DUDA,
]  # fmt: skip
# After batch 2: Bia's late move lands between her insert and her seq 3; Caio's re-insert
# opens a version after the gap his delete left.
CUSTOMERS_2 = [
    *CUSTOMERS_1[:2],
    ("C000002@1", "C000002", 1, *BIA, "Recife", "PE", "consumer", ts(1), ts(3), False, False,
     1, 2),
    ("C000002@2", "C000002", 2, *BIA, "Natal", "RN", "consumer", ts(3), ts(5), False, False,
     2, 3),
    ("C000002@3", "C000002", 3, *BIA, "Natal", "RN", "premium", ts(5), None, True, False, 3,
     None),
    CUSTOMERS_1[4],
    ("C000003@3", "C000003", 2, "Caio", "caio@example.com", "Recife", "PE", "consumer", ts(6),
     None, True, False, 3, None),
    DUDA,
]  # fmt: skip
PRODUCT_COLUMNS = "product_id, name, price, is_deleted, deleted_at, seq"
# After batch 1 (P5 has only a delete: no row) and batch 2 (P3's late seq 2 is older than
# the seq 3 applied: it changes nothing).
PRODUCTS_1 = [
    ("P00001", "Caneca", Decimal("10.00"), False, None, 1),
    ("P00002", "Prato", Decimal("5.00"), False, None, 1),
    ("P00003", "Copo Azul", Decimal("24.90"), False, None, 3),
    ("P00004", "Jarra", Decimal("19.90"), True, ts(2), 2),
    ("P00006", "Bule", Decimal("19.90"), True, ts(2), 2),
]
PRODUCTS_2 = [
    *PRODUCTS_1[:4],
    ("P00005", "Tigela", Decimal("19.90"), True, ts(2), 2),
    ("P00006", "Bule", Decimal("29.90"), False, None, 3),
]


def test_dim_customer_after_the_first_batch(runs: SimpleNamespace) -> None:
    found = _query(runs.batch_1, f"SELECT {CUSTOMER_COLUMNS} FROM shop_gold.dim_customer")
    assert sorted(found) == CUSTOMERS_1


def test_late_and_out_of_order_changes_land_in_their_place_in_history(
    runs: SimpleNamespace,
) -> None:
    found = _query(runs.batch_2, f"SELECT {CUSTOMER_COLUMNS} FROM shop_gold.dim_customer")
    assert sorted(found) == CUSTOMERS_2


def test_dim_product_keeps_the_latest_change_by_seq(runs: SimpleNamespace) -> None:
    sql = f"SELECT {PRODUCT_COLUMNS} FROM shop_gold.dim_product ORDER BY product_id"
    assert _query(runs.batch_1, sql) == PRODUCTS_1
    assert _query(runs.batch_2, sql) == PRODUCTS_2


def test_replaying_a_batch_changes_nothing(runs: SimpleNamespace) -> None:
    """Batch 2's change files landed again: silver has every change already, so no key
    is recomputed (the rows even keep the run that wrote them)."""
    for table in ("dim_customer", "dim_product"):
        assert _rows(runs.batch_3, table, load_id=True) == _rows(runs.full, table, load_id=True)


# --- gold ------------------------------------------------------------------------------


def test_an_order_is_attributed_to_the_customer_version_valid_when_it_was_placed(
    runs: SimpleNamespace,
) -> None:
    """Ana moved from Recife to São Paulo on the 4th: her order of the 2nd counts in
    Recife, those of the 5th in São Paulo."""
    found = _query(
        runs.batch_2,
        "SELECT order_id, customer_version_id, customer_city, customer_state "
        "FROM shop_gold.fct_orders WHERE customer_id = 'C000001' ORDER BY order_id",
    )
    assert found == [
        ("O00000001", "C000001@1", "Recife", "PE"),
        ("O00000002", "C000001@3", "São Paulo", "SP"),
        ("O00000004", "C000001@3", "São Paulo", "SP"),
    ]


def test_a_late_customer_change_re_attributes_the_orders_it_covers(
    runs: SimpleNamespace,
) -> None:
    """Bia's move to Natal on the 3rd arrived after her order of the 4th was attributed to
    Recife: the next run attributes it to the new version, and the KPIs by state follow."""
    sql = (
        "SELECT order_id, customer_version_id, customer_city FROM shop_gold.fct_orders "
        "WHERE customer_id = 'C000002' ORDER BY order_id"
    )
    assert _query(runs.batch_1, sql) == [("O00000003", "C000002@1", "Recife")]
    assert _query(runs.batch_2, sql) == [
        ("O00000003", "C000002@2", "Natal"),
        ("O00000005", "C000002@1", "Recife"),  # the late order of the 2nd, before the move
    ]
    by_state = (
        "SELECT customer_state, orders, revenue FROM shop_gold.daily_sales_by_segment "
        "WHERE event_date = '2026-11-04'"
    )
    assert _query(runs.batch_1, by_state) == [("PE", 1, Decimal("30.00"))]
    assert _query(runs.batch_2, by_state) == [("RN", 1, Decimal("30.00"))]


def test_daily_kpis(runs: SimpleNamespace) -> None:
    found = _query(
        runs.batch_2,
        "SELECT event_date, orders, cancelled_orders, buyers, items, revenue, "
        "average_order_value, sessions, converted_sessions, conversion_rate "
        "FROM shop_gold.daily_kpis ORDER BY event_date",
    )
    assert found == [
        # O1 and the late O5; sessions S1 and S5, both with an order
        (date(2026, 11, 2), 2, 0, 2, 4, Decimal("30.00"), Decimal("15.00"), 2, 2, Decimal("1")),
        # O3; S3 ordered, S9 did not
        (date(2026, 11, 4), 1, 0, 1, 3, Decimal("30.00"), Decimal("30.00"), 2, 1, Decimal("0.5")),
        # O2 and O4 (cancelled: no revenue, not in the average); S2 ordered, S10 did not
        (date(2026, 11, 5), 2, 1, 1, 2, Decimal("15.00"), Decimal("15.00"), 2, 1, Decimal("0.5")),
    ]  # fmt: skip


def test_top_products_and_customer_lifetime_value(runs: SimpleNamespace) -> None:
    top = _query(
        runs.batch_2,
        "SELECT revenue_rank, product_id, name, orders, units, revenue FROM "
        "shop_gold.top_products ORDER BY revenue_rank",
    )
    assert top == [
        (1, "P00001", "Caneca", 3, 6, Decimal("60.00")),
        (2, "P00002", "Prato", 2, 3, Decimal("15.00")),  # O4's 4 units were cancelled
    ]
    value = _query(
        runs.batch_2,
        "SELECT customer_id, name, city, segment, is_deleted, versions, orders, "
        "cancelled_orders, revenue, average_order_value, paid_amount, first_order_at, "
        "last_order_at FROM shop_gold.customer_lifetime_value ORDER BY customer_id",
    )
    assert value == [
        ("C000001", "Ana Souza", "São Paulo", "consumer", False, 2, 3, 1, Decimal("35.00"),
         Decimal("17.50"), Decimal("20.00"), ts(2, 12), ts(5, 13)),
        ("C000002", "Bia", "Natal", "premium", False, 3, 2, 0, Decimal("40.00"),
         Decimal("20.00"), Decimal("30.00"), ts(2, 9), ts(4, 12)),
        ("C000003", "Caio", "Recife", "consumer", False, 2, 0, 0, Decimal("0.00"), None,
         Decimal("0.00"), None, None),
        ("C000004", "Duda", "Manaus", "consumer", False, 1, 0, 0, Decimal("0.00"), None,
         Decimal("0.00"), None, None),
    ]  # fmt: skip


@pytest.mark.parametrize("table", GOLD)
def test_incremental_runs_equal_a_full_rebuild(runs: SimpleNamespace, table: str) -> None:
    incremental = _rows(runs.batch_2, table)
    assert incremental, f"{table} has rows"
    assert incremental == _rows(runs.full, table)


def test_a_run_rewrites_only_what_changed_since_the_last(runs: SimpleNamespace) -> None:
    """Batch 2 touched Bia and Caio, P3, P5 and P6, Bia's orders and the 2nd and 4th:
    every other row keeps the run that wrote it."""
    sql = (
        "SELECT customer_version_id, _load_id FROM shop_gold.dim_customer UNION ALL "
        "SELECT product_id, _load_id FROM shop_gold.dim_product UNION ALL "
        "SELECT order_id, _load_id FROM shop_gold.fct_orders UNION ALL "
        "SELECT strftime(event_date, '%Y-%m-%d'), _load_id FROM shop_gold.daily_kpis"
    )
    before, after = (dict(_query(path, sql)) for path in (runs.batch_1, runs.batch_2))
    rewritten = {key for key, load in after.items() if load != before.get(key)}
    assert rewritten == {
        "C000002@1", "C000002@2", "C000002@3", "C000003@1", "C000003@3",
        "P00003", "P00005", "P00006",
        "O00000003", "O00000005",
        "2026-11-02", "2026-11-04",
    }  # fmt: skip


def test_a_failing_gold_expectation_blocks_what_is_downstream(runs: SimpleNamespace) -> None:
    from project.defs.shop.transformation import shop_dbt_models

    result = runs.failing
    assert not result.success
    checks = {(e.asset_key.path[-1], e.check_name): e for e in result.get_asset_check_evaluations()}
    check = checks[("fct_orders", "fct_orders_one_customer_version")]
    assert not check.passed
    assert check.severity == dg.AssetCheckSeverity.ERROR
    assert next(s for s in shop_dbt_models.check_specs if s.name == check.check_name).blocking
    materialized = {
        e.asset_key.path[-1]
        for e in result.all_events
        if e.event_type == dg.DagsterEventType.ASSET_MATERIALIZATION
    }
    assert {"customers_changes", "dim_customer", "fct_orders", "fct_sessions"} <= materialized
    assert not materialized & DOWNSTREAM_OF_FCT_ORDERS
    failed = _query(
        runs.batch_3,
        "SELECT order_id, versions FROM shop_audit.fct_orders_one_customer_version",
    )
    assert failed == [("O00000006", 0)]
    logged = _query(
        runs.batch_3,
        "SELECT rule, action, failed FROM shop_ops.expectation_log WHERE layer = 'gold' "
        "AND dataset = 'fct_orders' AND rule LIKE 'fct_orders_%customer%' ORDER BY rule",
    )
    assert logged == [
        ("fct_orders_customer_known", "warn", 0),
        ("fct_orders_one_customer_version", "fail", 1),
    ]


def test_gold_is_kept_fresh_by_the_platform_policy() -> None:
    """The layer policy (project/defs/ops/policy.py) gives every shop_gold asset, the
    dimensions and KPIs included, eager-or-stale automation and the daily freshness."""
    from project.definitions import defs
    from project.defs.ops.policy import DAILY_WINDOWS

    graph = defs().resolve_asset_graph()
    warn, fail = DAILY_WINDOWS
    for name in GOLD:
        node = graph.get(dg.AssetKey(["shop", "gold", name]))
        assert node.automation_condition.get_label() == "eager_or_stale", name
        assert node.freshness_policy == dg.FreshnessPolicy.time_window(
            fail_window=fail, warn_window=warn
        ), name
