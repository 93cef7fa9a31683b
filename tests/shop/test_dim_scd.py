"""The dimensions from the change feeds, by example: dim_customer (SCD type 2) and
dim_product (SCD type 1) after each of three batches, against tables computed by hand.

Batch 1 brings inserts, an update of an untracked column (an e-mail), a tracked change
whose predecessor has not arrived yet (C2's seq 3 before seq 2), deletes (C3, P2, P4),
a delete before its insert (P3), a change delivered twice and rows failing each drop
rule of the change feeds. Batch 2 brings the late changes (C2's seq 2, P1's seq 2, P3's
insert), a move (a tracked change), a re-insert after a delete (C3, P4), a rename
(untracked, in place) and batch 1's rows again. Batch 3 replays batch 2's files under
new names. Three dbt runs of silver and the dimensions for the module (the last a
`dbt build`, with the dbt tests).

The change feeds' landing helpers (`land_changes`, `customer`, `product`) are used by
the gold tests too.
"""

from __future__ import annotations

import json
import shutil
from datetime import UTC, datetime
from decimal import Decimal
from pathlib import Path
from typing import Any

import duckdb
import pytest

from project.lib.shop import quarantine
from tests.shop.conftest import PROVENANCE, Dbt

pytestmark = pytest.mark.xdist_group("shop_dbt")

CHANGE_COLUMNS = {
    "customers": [
        "customer_id", "op", "seq", "changed_at", "name", "email", "city", "state", "segment",
    ],
    "products": ["product_id", "op", "seq", "changed_at", "name", "category", "price", "active"],
}  # fmt: skip
DIMENSIONS = "+dim_customer +dim_product"


def customer(key: str, seq: Any, op: str, at: str | None, **image: Any) -> dict:
    """A customer change; insert and update carry the full image (defaults: Ana in Recife)."""
    row = {"customer_id": key, "op": op, "seq": seq, "changed_at": at}
    defaults = {
        "name": "Ana Lima", "email": "ana@example.com", "city": "Recife", "state": "PE",
        "segment": "consumer",
    }  # fmt: skip
    return row | defaults | image


def product(key: str, seq: Any, op: str, at: str | None, **image: Any) -> dict:
    row = {"product_id": key, "op": op, "seq": seq, "changed_at": at}
    defaults = {"name": "Caneca", "category": "Casa", "price": "19.90", "active": "true"}
    return row | defaults | image


def land_changes(
    conn: duckdb.DuckDBPyConnection,
    source: str,
    batch: int,
    rows: list[dict],
    *,
    file: str | None = None,
) -> str:
    """Rows of one landed change-feed file into `shop_bronze.<source>`, as the contract
    lands them (every column text, then the provenance columns)."""
    declared = CHANGE_COLUMNS[source]
    path = file or f"{source}/part-{batch:05d}-000.jsonl"
    conn.execute("CREATE SCHEMA IF NOT EXISTS shop_bronze")
    columns = ", ".join(f'"{c}" VARCHAR' for c in declared)
    conn.execute(f"CREATE TABLE IF NOT EXISTS shop_bronze.{source} ({columns}, {PROVENANCE})")
    names = [*declared, "_source_file", "_file_version", "_line", "_batch", "_run_id"]
    conn.executemany(
        f"INSERT INTO shop_bronze.{source} ({', '.join(names)}, _ingested_at) "
        f"VALUES ({', '.join('?' for _ in names)}, now())",
        [
            [None if row.get(c) is None else str(row[c]) for c in declared]
            + [path, 1, line, batch, f"bronze-run-{batch}"]
            for line, row in enumerate(rows, start=1)
        ],
    )
    return path


def at(day: int, hour: int = 10) -> datetime:
    return datetime(2026, 11, day, hour, tzinfo=UTC)


def iso(day: int, hour: int = 10) -> str:
    return at(day, hour).strftime("%Y-%m-%dT%H:%M:%SZ")


# (source, rule, the change): a change failing each drop rule of the change feeds.
DROPPED = [
    ("customers", "customer_id_not_null", customer(None, 1, "insert", iso(1))),
    ("customers", "seq_parses", customer("C8", "x", "insert", iso(1))),
    ("customers", "seq_not_null", customer("C8", None, "insert", iso(1))),
    ("customers", "op_not_null", customer("C9", 1, None, iso(1))),
    ("customers", "op_allowed", customer("C9", 2, "upsert", iso(1))),
    ("customers", "changed_at_parses", customer("C9", 3, "update", "yesterday")),
    ("products", "product_id_not_null", product(None, 1, "insert", iso(1))),
    ("products", "seq_parses", product("P8", "1.5", "insert", iso(1))),
    ("products", "seq_not_null", product("P8", None, "insert", iso(1))),
    ("products", "op_not_null", product("P9", 1, None, iso(1))),
    ("products", "op_allowed", product("P9", 2, "merge", iso(1))),
    ("products", "changed_at_parses", product("P9", 3, "update", "03/11/2026")),
    ("products", "price_parses", product("P9", 4, "update", iso(1), price="1,90")),
    ("products", "price_present_on_upsert", product("P9", 5, "update", iso(1), price=None)),
    ("products", "price_not_negative_on_upsert",
     product("P9", 6, "update", iso(1), price="-1.00")),
    ("products", "active_parses", product("P9", 7, "update", iso(1), active="maybe")),
]  # fmt: skip

MOVED = {"city": "São Paulo", "state": "SP"}
BATCH_1 = {
    "customers": [
        customer("C1", 1, "insert", iso(1)),
        customer("C1", 2, "update", iso(2), email="ana.lima@example.com"),  # untracked
        customer("C2", 1, "insert", iso(1), name="Bia"),
        # seq 3 before seq 2: its image carries seq 2's move to Olinda
        customer("C2", 3, "update", iso(5), name="Bia", city="Olinda", segment="premium"),
        customer("C3", 1, "insert", iso(1), name="Caio", city="Natal", state="RN"),
        customer("C3", 2, "delete", iso(3), name="Caio", city="Natal", state="RN"),
        customer("C1", 2, "update", iso(2), email="ana.lima@example.com"),  # twice
        customer("C4", 1, "insert", iso(2), name="Duda", city="Manaus", state="AM"),
    ],
    "products": [
        product("P1", 1, "insert", iso(1)),
        # seq 3 before seq 2 (a rename): its image carries the new name
        product("P1", 3, "update", iso(3), name="Caneca Azul", price="24.90"),
        product("P2", 1, "insert", iso(1), name="Prato"),
        product("P2", 2, "delete", iso(2), name="Prato"),
        product("P3", 2, "delete", iso(2), name="Copo"),  # the delete before its insert
        product("P4", 1, "insert", iso(1), name="Jarra"),
        product("P4", 2, "delete", iso(2), name="Jarra"),
    ],
}
BATCH_2 = {
    "customers": [
        customer("C2", 2, "update", iso(3), name="Bia", city="Olinda"),  # late: a move
        customer("C1", 3, "update", iso(4), email="ana.lima@example.com", **MOVED),
        customer("C1", 4, "update", iso(6), name="Ana Lima Souza",  # untracked, in place
                 email="ana.lima@example.com", **MOVED),
        customer("C3", 3, "insert", iso(6), name="Caio", email="caio@example.com",
                 city="Natal", state="RN"),  # re-insert after the delete
        *BATCH_1["customers"][:2],  # batch 1 delivered again
    ],
    "products": [
        product("P1", 2, "update", iso(2), name="Caneca Azul"),  # late: older than seq 3
        product("P3", 1, "insert", iso(1), name="Copo"),
        product("P4", 3, "insert", iso(4), name="Jarra", price="29.90"),  # re-insert
    ],
}  # fmt: skip

CUSTOMER_COLUMNS = (
    "customer_version_id, customer_id, version, name, email, city, state, segment, "
    "valid_from, valid_to, is_current, closed_by_delete, start_seq, end_seq"
)
PRODUCT_COLUMNS = "product_id, name, category, price, active, is_deleted, deleted_at, seq"

ANA = ("Ana Lima", "ana.lima@example.com")
RECIFE = ("Recife", "PE", "consumer")
DUDA = ("C4@1", "C4", 1, "Duda", "ana@example.com", "Manaus", "AM", "consumer", at(2), None,
        True, False, 1, None)  # fmt: skip
# dim_customer after batch 1: C2's seq 2 has not arrived, so its first version runs until
# seq 3; C1's e-mail change updated its only version; C3's delete closed its version.
CUSTOMERS_1 = [
    ("C1@1", "C1", 1, *ANA, *RECIFE, at(1), None, True, False, 1, None),
    ("C2@1", "C2", 1, "Bia", "ana@example.com", *RECIFE, at(1), at(5), False, False, 1, 3),
    ("C2@3", "C2", 2, "Bia", "ana@example.com", "Olinda", "PE", "premium", at(5), None,
     True, False, 3, None),
    ("C3@1", "C3", 1, "Caio", "ana@example.com", "Natal", "RN", "consumer", at(1), at(3),
     False, True, 1, 2),
    DUDA,
]  # fmt: skip
# After batch 2: C2's late move lands between its insert and seq 3; C1 moved (a new
# version) and was renamed (in place); C3 came back (a new version after the gap).
CUSTOMERS_2 = [
    ("C1@1", "C1", 1, *ANA, *RECIFE, at(1), at(4), False, False, 1, 3),
    ("C1@3", "C1", 2, "Ana Lima Souza", "ana.lima@example.com", "São Paulo", "SP", "consumer",
     at(4), None, True, False, 3, None),
    ("C2@1", "C2", 1, "Bia", "ana@example.com", *RECIFE, at(1), at(3), False, False, 1, 2),
    ("C2@2", "C2", 2, "Bia", "ana@example.com", "Olinda", "PE", "consumer", at(3), at(5),
     False, False, 2, 3),
    ("C2@3", "C2", 3, "Bia", "ana@example.com", "Olinda", "PE", "premium", at(5), None,
     True, False, 3, None),
    ("C3@1", "C3", 1, "Caio", "ana@example.com", "Natal", "RN", "consumer", at(1), at(3),
     False, True, 1, 2),
    ("C3@3", "C3", 2, "Caio", "caio@example.com", "Natal", "RN", "consumer", at(6), None,
     True, False, 3, None),
    DUDA,
]  # fmt: skip
PRICE = Decimal("19.90")
# dim_product after batch 1 (P3 has only a delete: no row) and after batch 2 (P1's late
# seq 2 is older than the seq 3 applied: it changes nothing).
PRODUCTS_1 = [
    ("P1", "Caneca Azul", "Casa", Decimal("24.90"), True, False, None, 3),
    ("P2", "Prato", "Casa", PRICE, True, True, at(2), 2),
    ("P4", "Jarra", "Casa", PRICE, True, True, at(2), 2),
]
PRODUCTS_2 = [
    ("P1", "Caneca Azul", "Casa", Decimal("24.90"), True, False, None, 3),
    ("P2", "Prato", "Casa", PRICE, True, True, at(2), 2),
    ("P3", "Copo", "Casa", PRICE, True, True, at(2), 2),
    ("P4", "Jarra", "Casa", Decimal("29.90"), True, False, None, 3),
]


def _snapshot(path: Path) -> dict[str, list[tuple]]:
    with duckdb.connect(str(path), read_only=True) as conn:
        return {
            "customers": conn.execute(
                f"SELECT {CUSTOMER_COLUMNS} FROM shop_gold.dim_customer ORDER BY ALL"
            ).fetchall(),
            "products": conn.execute(
                f"SELECT {PRODUCT_COLUMNS} FROM shop_gold.dim_product ORDER BY ALL"
            ).fetchall(),
            "load_ids": conn.execute(
                "SELECT customer_version_id, _load_id FROM shop_gold.dim_customer "
                "UNION ALL SELECT product_id, _load_id FROM shop_gold.dim_product ORDER BY ALL"
            ).fetchall(),
        }


@pytest.fixture(scope="module")
def runs(shop_dbt: Dbt, tmp_path_factory: pytest.TempPathFactory) -> dict[str, Path]:
    """The warehouse after each batch (copies)."""
    base = tmp_path_factory.mktemp("dims")
    shop_dbt.fresh()
    copies = {}
    batches = {
        1: (BATCH_1, {s: [r for src, _, r in DROPPED if src == s] for s in CHANGE_COLUMNS}),
        2: (BATCH_2, {}),
        3: (BATCH_2, {}),
    }
    for n, (rows, dropped) in batches.items():
        with duckdb.connect(str(shop_dbt.warehouse)) as conn:
            for i, source in enumerate(CHANGE_COLUMNS):
                land_changes(
                    conn,
                    source,
                    10 * n + i,
                    rows[source] + dropped.get(source, []),
                    # batch 3: batch 2's files again, under new names
                    file=f"{source}/part-{10 * n + i:05d}-replay.jsonl" if n == 3 else None,
                )
        # the dbt tests (the history checks among them) once, at the end
        command = "build" if n == max(batches) else "run"
        shop_dbt(command, "--select", DIMENSIONS, "--indirect-selection", "cautious")
        copies[n] = base / f"batch-{n}.duckdb"
        shutil.copy(shop_dbt.warehouse, copies[n])
    return copies


def test_a_change_delivered_twice_is_one_row_in_silver(runs: dict[int, Path]) -> None:
    with duckdb.connect(str(runs[3]), read_only=True) as conn:
        rows = conn.execute(
            "SELECT seq, _batch, _line FROM shop_silver.customers_changes "
            "WHERE customer_id = 'C1' ORDER BY seq"
        ).fetchall()
        total = conn.execute("SELECT count(*) FROM shop_silver.customers_changes").fetchone()
    assert rows == [(1, 10, 1), (2, 10, 2), (3, 20, 2), (4, 20, 3)]
    assert total == (11,)


def test_every_drop_rule_of_the_change_feeds_has_a_case_here() -> None:
    declared = {
        (e.source, e.name)
        for e in quarantine.silver_rules.declared(quarantine.CHANGE_FEEDS_DIR)
        if e.action == "drop"
    }
    assert declared == {(source, rule) for source, rule, _ in DROPPED}


@pytest.mark.parametrize(("source", "rule", "change"), DROPPED)
def test_a_change_failing_a_drop_rule_is_quarantined_not_applied(
    runs: dict[int, Path], source: str, rule: str, change: dict
) -> None:
    key = "customer_id" if source == "customers" else "product_id"
    with duckdb.connect(str(runs[1]), read_only=True) as conn:
        found = conn.execute(
            "SELECT rule, record, status FROM shop_silver.quarantine WHERE source = ? AND rule = ?",
            [source, rule],
        ).fetchall()
        kept = conn.execute(
            f"SELECT count(*) FROM shop_gold.dim_{source[:-1]} WHERE {key} IN ('C8', 'C9', "
            "'P8', 'P9')"
        ).fetchone()
    assert [(r, s) for r, _, s in found] == [(rule, "quarantined")]
    assert json.loads(found[0][1])["seq"] == (None if change["seq"] is None else str(change["seq"]))
    assert kept == (0,)


def test_dim_customer_after_the_first_batch(runs: dict[int, Path]) -> None:
    assert _snapshot(runs[1])["customers"] == CUSTOMERS_1


def test_late_and_out_of_order_changes_land_in_their_place_in_history(
    runs: dict[int, Path],
) -> None:
    """C2's seq 2 came after seq 3 was applied: it splits C2's first version; C1's move
    opens a version and its rename updates that version in place; C3's re-insert opens
    a version after the gap its delete left."""
    assert _snapshot(runs[2])["customers"] == CUSTOMERS_2


def test_dim_product_keeps_the_latest_change_by_seq(runs: dict[int, Path]) -> None:
    assert _snapshot(runs[1])["products"] == PRODUCTS_1
    assert _snapshot(runs[2])["products"] == PRODUCTS_2


def test_replaying_a_batch_changes_nothing(runs: dict[int, Path]) -> None:
    """Batch 2's files landed again: silver has every change already, so no key is
    recomputed (not even rewritten: the rows keep the run that wrote them)."""
    assert _snapshot(runs[3]) == _snapshot(runs[2])


def test_only_the_keys_with_new_changes_are_rewritten(runs: dict[int, Path]) -> None:
    before, after = (dict(_snapshot(runs[n])["load_ids"]) for n in (1, 2))
    rewritten = {key for key, load in after.items() if load != before.get(key)}
    assert rewritten == {"C1@1", "C1@3", "C2@1", "C2@2", "C2@3", "C3@1", "C3@3",
                         "P1", "P3", "P4"}  # fmt: skip
    assert (after["C4@1"], after["P2"]) == (before["C4@1"], before["P2"])
