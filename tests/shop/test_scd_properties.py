"""The dimensions, as properties: for any change feed, delivered in any order, with any
duplicates, in any number of batches (some of its rows replayed from the quarantine with
an old batch), dim_customer and dim_product equal the feed applied once in sequence
order by the reference implementations here (plain Python, written from the rules, not
from the SQL).

The SQL under test is dbt's own: the two models are compiled once, incrementally (as a
run with the tables already there compiles them), and each batch is applied as dbt's
delete+insert applies it, followed by the watermark the models' post-hook records. No
dbt run per example: an in-memory DuckDB runs the compiled SQL, a few milliseconds per
batch.
"""

from __future__ import annotations

import itertools
import json
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from decimal import Decimal
from typing import Any

import duckdb
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from project.lib.shop import ops
from tests.shop.conftest import Dbt

pytestmark = pytest.mark.xdist_group("shop_dbt")

BASE = datetime(2026, 11, 1, tzinfo=UTC)
MINUS_INFINITY = datetime(1, 1, 1)  # DuckDB's -infinity, as Python reads it
PROPERTIES = settings(
    max_examples=40,
    deadline=None,
    suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow],
)


@dataclass(frozen=True)
class Spec:
    """One dimension as its YAML declares it (models/gold/shop/_shop__gold.yml)."""

    model: str
    changes: str  # the silver change table
    source: str  # its shop source (the quarantine's `source`)
    key: str
    columns: dict[str, list[Any]]  # column_list, with the values a change may carry
    types: dict[str, str]
    tracked: tuple[str, ...] = ()


CUSTOMERS = Spec(
    model="dim_customer",
    changes="customers_changes",
    source="customers",
    key="customer_id",
    columns={
        "name": ["Ana", "Bia"],
        "email": ["a@x.com", "b@x.com", None],
        "city": ["Recife", "Olinda"],
        "state": ["PE"],
        "segment": ["consumer", "premium", None],
    },
    types=dict.fromkeys(("name", "email", "city", "state", "segment"), "VARCHAR"),
    tracked=("city", "state", "segment"),
)
PRODUCTS = Spec(
    model="dim_product",
    changes="products_changes",
    source="products",
    key="product_id",
    columns={
        "name": ["Caneca", "Prato"],
        "category": ["Casa", "Moda"],
        "price": [Decimal("1.90"), Decimal("2.50")],
        "active": [True, False],
    },
    types={"name": "VARCHAR", "category": "VARCHAR", "price": "DECIMAL(12,2)", "active": "BOOLEAN"},
)


@dataclass(frozen=True)
class Change:
    key: str
    seq: int
    op: str
    at: datetime | None
    values: tuple  # in the order of Spec.columns


# --- the reference implementations -------------------------------------------------


def _unique(feed: list[Change]) -> dict[str, list[Change]]:
    """Each key's changes, each (key, seq) once, in seq order."""
    seen: dict[tuple[str, int], Change] = {}
    for change in feed:
        seen.setdefault((change.key, change.seq), change)
    by_key: dict[str, list[Change]] = {}
    for (key, _), change in sorted(seen.items()):
        by_key.setdefault(key, []).append(change)
    return by_key


def scd2(feed: list[Change], spec: Spec) -> list[tuple]:
    """SCD type 2 by the rules: an upsert opens a version after nothing, after a delete,
    or when a tracked column differs from the open version's; otherwise it overwrites the
    open version's columns in place. A delete closes the open version. A version runs
    from its first change's time to its closing change's, times being the running
    maximum of changed_at in seq order (-infinity before any)."""
    names = list(spec.columns)
    tracked = [names.index(c) for c in spec.tracked]
    rows = []
    for key, changes in _unique(feed).items():
        latest: datetime | None = None
        versions: list[dict] = []
        current: dict | None = None
        for change in changes:
            if change.at is not None:
                latest = change.at if latest is None else max(latest, change.at)
            now = latest or MINUS_INFINITY
            if change.op == "delete":
                if current is not None:
                    current.update(valid_to=now, end_seq=change.seq, deleted=True)
                    current = None
                continue
            same = current is not None and all(
                current["values"][i] == change.values[i] for i in tracked
            )
            if same:
                current["values"] = change.values
                continue
            if current is not None:
                current.update(valid_to=now, end_seq=change.seq)
            current = {"start": change.seq, "valid_from": now, "values": change.values,
                       "valid_to": None, "end_seq": None, "deleted": False}  # fmt: skip
            versions.append(current)
        for number, v in enumerate(versions, start=1):
            rows.append((
                f"{key}@{v['start']}", key, number, *v["values"], v["valid_from"],
                v["valid_to"], v["end_seq"] is None, v["deleted"], v["start"], v["end_seq"],
            ))  # fmt: skip
    return sorted(rows)


def scd1(feed: list[Change], deletes: str) -> list[tuple]:
    """SCD type 1 by the rules: a key's latest change by seq decides; a delete removes
    the row (`remove`) or marks it with the last upsert's values (`mark`); a key never
    upserted has no row."""
    rows = []
    for key, changes in _unique(feed).items():
        latest = changes[-1]
        upserts = [c for c in changes if c.op != "delete"]
        if not upserts or (latest.op == "delete" and deletes == "remove"):
            continue
        deleted = latest.op == "delete"
        rows.append((
            key, *upserts[-1].values, deleted, latest.at if deleted else None, latest.at,
            latest.seq,
        ))  # fmt: skip
    return sorted(rows)


# --- the compiled models, applied batch by batch -----------------------------------


@pytest.fixture(scope="module")
def compiled(shop_dbt: Dbt) -> dict[str, str]:
    """The dimensions' SQL as dbt compiles it for an incremental run."""
    shop_dbt.fresh()
    with duckdb.connect(str(shop_dbt.warehouse)) as conn:
        conn.execute("CREATE SCHEMA shop_gold")
        for spec in (CUSTOMERS, PRODUCTS):
            conn.execute(f"CREATE TABLE shop_gold.{spec.model} (stub INTEGER)")  # exists
    shop_dbt("compile", "--select", "dim_customer dim_product")
    folder = shop_dbt.target / "compiled" / "procurement" / "models" / "gold" / "shop"
    return {
        spec.model: (folder / f"{spec.model}.sql").read_text() for spec in (CUSTOMERS, PRODUCTS)
    }


class Warehouse:
    """An in-memory warehouse named as the compiled SQL names it (the file's stem)."""

    def __init__(self, database: str, sql: dict[str, str]) -> None:
        self.conn = duckdb.connect()
        self.conn.execute(f"ATTACH ':memory:' AS {database}")
        self.conn.execute(f"USE {database}")
        self.sql = sql
        for schema in ("shop_silver", "shop_gold"):
            self.conn.execute(f"CREATE SCHEMA {schema}")
        ops.ensure_tables(self.conn)
        self.conn.execute(
            "CREATE TABLE shop_silver.quarantine (source VARCHAR, status VARCHAR, "
            "replayed_at TIMESTAMPTZ, record VARCHAR)"
        )
        for spec in (CUSTOMERS, PRODUCTS):
            columns = ", ".join(f'"{c}" {t}' for c, t in spec.types.items())
            self.conn.execute(
                f"CREATE TABLE shop_silver.{spec.changes} ({spec.key} VARCHAR, op VARCHAR, "
                f"seq BIGINT, changed_at TIMESTAMPTZ, {columns}, _batch BIGINT, _line BIGINT)"
            )
            # the model's own columns, from its SQL over empty inputs
            self.conn.execute(f"CREATE TABLE shop_gold.{spec.model} (_load_id BIGINT)")
            self.conn.execute(f"CREATE OR REPLACE TEMP TABLE _shape AS {sql[spec.model]}")
            self.conn.execute(f"DROP TABLE shop_gold.{spec.model}")
            self.conn.execute(f"CREATE TABLE shop_gold.{spec.model} AS FROM _shape")
        self.conn.execute(
            "CREATE TABLE shop_gold.dim_product_removed AS FROM shop_gold.dim_product"
        )

    def reset(self) -> None:
        for table in ("shop_silver.quarantine", "shop_ops.cdc_watermarks",
                      "shop_silver.customers_changes", "shop_silver.products_changes",
                      "shop_gold.dim_customer", "shop_gold.dim_product",
                      "shop_gold.dim_product_removed"):  # fmt: skip
            self.conn.execute(f"DELETE FROM {table}")

    def land(self, spec: Spec, batch: int, rows: list[tuple[Change, bool]]) -> None:
        """A batch into silver; a replayed row keeps an old batch (0) and is marked
        replayed in the quarantine, as silver's replay leaves it."""
        for line, (change, replayed) in enumerate(rows, start=1):
            self.conn.execute(
                f"INSERT INTO shop_silver.{spec.changes} VALUES "
                f"(?, ?, ?, ?, {', '.join('?' for _ in spec.columns)}, ?, ?)",
                [change.key, change.op, change.seq, change.at, *change.values,
                 0 if replayed else batch, line],
            )  # fmt: skip
            if replayed:
                self.conn.execute(
                    "INSERT INTO shop_silver.quarantine VALUES (?, 'replayed', ?, ?)",
                    [spec.source, BASE + timedelta(seconds=batch),
                     json.dumps({spec.key: change.key, "seq": str(change.seq)})],
                )  # fmt: skip

    def run(self, spec: Spec) -> None:
        """One dbt run of the model: delete+insert by key, then its post-hooks."""
        self.conn.execute(f"CREATE OR REPLACE TEMP TABLE _new AS {self.sql[spec.model]}")
        targets = [spec.model] + (["dim_product_removed"] if spec is PRODUCTS else [])
        for target in targets:
            self.conn.execute(
                f"DELETE FROM shop_gold.{target} WHERE {spec.key} IN (SELECT {spec.key} FROM _new)"
            )
            self.conn.execute(f"INSERT INTO shop_gold.{target} FROM _new")
        self.conn.execute("DELETE FROM shop_gold.dim_product_removed WHERE is_deleted")
        self.conn.execute(
            "INSERT INTO shop_ops.cdc_watermarks (consumer, upstream, mark) "
            f"SELECT ?, ?, max(_batch) FROM shop_silver.{spec.changes} HAVING max(_batch) "
            "IS NOT NULL UNION ALL SELECT ?, ?, max(epoch_us(replayed_at)) FROM "
            "shop_silver.quarantine WHERE source = ? HAVING max(replayed_at) IS NOT NULL",
            [spec.model, spec.changes, spec.model, f"quarantine:{spec.source}", spec.source],
        )

    def rows(self, table: str, columns: str) -> list[tuple]:
        return self.conn.execute(f"SELECT {columns} FROM shop_gold.{table} ORDER BY ALL").fetchall()


@pytest.fixture(scope="module")
def warehouse(compiled: dict[str, str], shop_dbt: Dbt):
    found = Warehouse(shop_dbt.warehouse.stem, compiled)
    yield found
    found.conn.close()


# --- the feeds -----------------------------------------------------------------------


@st.composite
def feeds(draw: st.DrawFn, spec: Spec) -> list[Change]:
    """Changes of a few keys: ops in any order (an update before any insert, deletes
    twice, re-inserts), seqs increasing with gaps, times that may repeat, go back, or
    be missing."""
    changes = []
    keys = draw(st.lists(st.sampled_from(["K1", "K2", "K3"]), min_size=1, max_size=3, unique=True))
    for key in keys:
        seq, at = 0, BASE
        for _ in range(draw(st.integers(1, 6))):
            seq += draw(st.integers(1, 2))
            at += timedelta(hours=draw(st.sampled_from([0, 1, 24, -1])))
            missing = draw(st.integers(0, 9)) == 0
            op = draw(st.sampled_from(["insert", "update", "update", "delete"]))
            values = tuple(draw(st.sampled_from(v)) for v in spec.columns.values())
            changes.append(Change(key, seq, op, None if missing else at, values))
    return changes


@st.composite
def deliveries(draw: st.DrawFn, feed: list[Change]) -> list[list[tuple[Change, bool]]]:
    """The feed with some changes repeated, shuffled, cut into 1-5 batches; some rows
    come back as replays of quarantined rows."""
    repeated = draw(st.lists(st.sampled_from(feed), max_size=len(feed)))
    rows = draw(st.permutations(feed + repeated))
    replayed = draw(st.lists(st.booleans(), min_size=len(rows), max_size=len(rows)))
    cuts = sorted(draw(st.lists(st.integers(0, len(rows)), max_size=4)))
    bounds = [0, *cuts, len(rows)]
    flagged = [
        (row, replay and draw(st.integers(0, 4)) == 0)
        for row, replay in zip(rows, replayed, strict=True)
    ]
    return [flagged[a:b] for a, b in itertools.pairwise(bounds)]


def _apply(warehouse: Warehouse, spec: Spec, batches: list[list[tuple[Change, bool]]]) -> None:
    warehouse.reset()
    for number, batch in enumerate(batches, start=1):
        warehouse.land(spec, number, batch)
        warehouse.run(spec)


CUSTOMER_COLUMNS = (
    "customer_version_id, customer_id, version, name, email, city, state, segment, "
    "valid_from, valid_to, is_current, closed_by_delete, start_seq, end_seq"
)
PRODUCT_COLUMNS = (
    "product_id, name, category, price, active, is_deleted, deleted_at, changed_at, seq"
)


@PROPERTIES
@given(data=st.data())
def test_dim_customer_equals_the_feed_applied_once_in_seq_order(
    warehouse: Warehouse, data: st.DataObject
) -> None:
    feed = data.draw(feeds(CUSTOMERS))
    _apply(warehouse, CUSTOMERS, data.draw(deliveries(feed)))
    assert warehouse.rows("dim_customer", CUSTOMER_COLUMNS) == scd2(feed, CUSTOMERS)


@PROPERTIES
@given(data=st.data())
def test_dim_product_equals_the_feed_applied_once_in_seq_order(
    warehouse: Warehouse, data: st.DataObject
) -> None:
    feed = data.draw(feeds(PRODUCTS))
    _apply(warehouse, PRODUCTS, data.draw(deliveries(feed)))
    assert warehouse.rows("dim_product", PRODUCT_COLUMNS) == scd1(feed, deletes="mark")
    assert warehouse.rows("dim_product_removed", PRODUCT_COLUMNS) == scd1(feed, deletes="remove")


@settings(PROPERTIES, max_examples=20)
@given(data=st.data())
def test_applying_a_feed_again_changes_nothing(warehouse: Warehouse, data: st.DataObject) -> None:
    feed = data.draw(feeds(CUSTOMERS))
    batches = data.draw(deliveries(feed))
    _apply(warehouse, CUSTOMERS, batches)
    before = warehouse.rows("dim_customer", CUSTOMER_COLUMNS)
    for number, batch in enumerate(batches, start=len(batches) + 1):  # every batch again
        warehouse.land(CUSTOMERS, number, batch)
        warehouse.run(CUSTOMERS)
    assert warehouse.rows("dim_customer", CUSTOMER_COLUMNS) == before


def test_the_reference_follows_the_rules_on_a_known_history() -> None:
    """The reference itself, on a history computed by hand: a tracked change, an
    untracked one folded in place, a delete and a re-insert."""
    t = [BASE + timedelta(days=d) for d in range(5)]
    feed = [
        Change("K1", 1, "insert", t[0], ("Ana", "a@x.com", "Recife", "PE", "consumer")),
        Change("K1", 2, "update", t[1], ("Ana", "b@x.com", "Recife", "PE", "consumer")),
        Change("K1", 3, "update", t[2], ("Ana", "b@x.com", "Olinda", "PE", "consumer")),
        Change("K1", 4, "delete", t[3], ("Ana", "b@x.com", "Olinda", "PE", "consumer")),
        Change("K1", 5, "insert", t[4], ("Ana", "b@x.com", "Olinda", "PE", "consumer")),
    ]
    ana = ("Ana", "b@x.com")
    assert scd2(list(reversed(feed)), CUSTOMERS) == [
        ("K1@1", "K1", 1, *ana, "Recife", "PE", "consumer", t[0], t[2], False, False, 1, 3),
        ("K1@3", "K1", 2, *ana, "Olinda", "PE", "consumer", t[2], t[3], False, True, 3, 4),
        ("K1@5", "K1", 3, *ana, "Olinda", "PE", "consumer", t[4], None, True, False, 5, None),
    ]
