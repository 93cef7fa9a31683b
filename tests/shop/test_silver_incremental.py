"""Silver across runs: a second batch is read alone, deduplicated against the first, its
late events placed in their own day, and the result equals a full rebuild row by row.

Three dbt builds for the module: batch 1, batches 2-3 (incremental), `--full-refresh`.
"""

import shutil
from datetime import date
from pathlib import Path

import duckdb
import pytest

from tests.shop.conftest import Dbt, item, land, order, payment, web_event

pytestmark = pytest.mark.xdist_group("shop_dbt")

SILVER = ("orders", "order_items", "payments", "web_events")
GOLD = ("daily_sales", "sales_summary")
# Columns that name the run or its clock: the only ones a rebuild may change.
RUN_COLUMNS = ("quarantined_run_id", "quarantined_at", "replayed_at", "replayed_run_id")


@pytest.fixture(scope="module")
def runs(shop_dbt: Dbt, tmp_path_factory: pytest.TempPathFactory) -> dict[str, Path]:
    """The warehouse after the incremental run (copy) and after a full rebuild (copy)."""
    base = tmp_path_factory.mktemp("incremental")
    shop_dbt.fresh()
    with duckdb.connect(str(shop_dbt.warehouse)) as conn:
        land(conn, "orders", 1, [order(1), order(2), order(3), order(4, status="lost")])
        land(conn, "order_items", 2, [item(1), item(2), item(3, quantity="3")])
        land(conn, "payments", 3, [payment(1), payment(2)])
        land(conn, "web_events", 4, [web_event(1), web_event(2)])
    shop_dbt.build()
    with duckdb.connect(str(shop_dbt.warehouse)) as conn:
        land(
            conn,
            "orders",
            5,
            [
                order(1, status="paid"),  # same event_id as batch 1's: a duplicate
                order(10, batch=5, order_ts="2026-10-28T22:00:00Z"),  # late
                order(11, batch=5, order_ts="2026-11-03T23:30:00-03:00"),  # next day in UTC
                order(12, batch=5, status="shipped"),
                order(13, batch=5, status="lost"),
            ],
        )
        # the same event again in another file
        land(conn, "orders", 6, [order(12, batch=5, status="delivered")])
        land(conn, "order_items", 7, [item(1), item(10, batch=7), item(11, batch=7)])
        land(conn, "payments", 8, [payment(10, batch=8, amount="-5.00"), payment(11, batch=8)])
        land(conn, "web_events", 9, [web_event(1), web_event(10, batch=9)])
    shop_dbt.build()
    incremental = base / "incremental.duckdb"
    shutil.copy(shop_dbt.warehouse, incremental)
    shop_dbt.build("--full-refresh")
    full = base / "full.duckdb"
    shutil.copy(shop_dbt.warehouse, full)
    return {"incremental": incremental, "full": full}


def _rows(path: Path, table: str, exclude: tuple[str, ...] = ()) -> list[tuple]:
    with duckdb.connect(str(path), read_only=True) as conn:
        columns = [
            name
            for (name,) in conn.execute(
                "SELECT column_name FROM information_schema.columns WHERE table_schema || '.' "
                "|| table_name = ? ORDER BY ordinal_position",
                [table],
            ).fetchall()
            if name not in exclude
        ]
        listed = ", ".join(f'"{c}"' for c in columns)
        return conn.execute(f"SELECT {listed} FROM {table} ORDER BY ALL").fetchall()


def test_an_incremental_run_reads_only_the_new_batches(runs: dict[str, Path]) -> None:
    read = {}
    with duckdb.connect(str(runs["incremental"]), read_only=True) as conn:
        for source in SILVER:
            read[source] = sorted(
                batch
                for (batch,) in conn.execute(
                    f"SELECT DISTINCT _batch FROM shop_silver.{source}_checked"
                ).fetchall()
            )
    assert read == {"orders": [5, 6], "order_items": [7], "payments": [8], "web_events": [9]}


def test_a_duplicate_event_keeps_its_first_occurrence_across_batches_and_files(
    runs: dict[str, Path],
) -> None:
    with duckdb.connect(str(runs["incremental"]), read_only=True) as conn:
        first = conn.execute(
            "SELECT status, _batch, _line FROM shop_silver.orders WHERE event_id = 'oe-1-1'"
        ).fetchall()
        again = conn.execute(
            "SELECT status, _batch, _source_file FROM shop_silver.orders WHERE event_id = 'oe-5-12'"
        ).fetchall()
        item_once = conn.execute(
            "SELECT count(*), min(_batch) FROM shop_silver.order_items WHERE event_id = ?",
            [item(1)["event_id"]],
        ).fetchone()
        events = conn.execute("SELECT count(*), count(DISTINCT event_id) FROM shop_silver.orders")
        assert events.fetchone() == (6, 6)
    assert first == [("placed", 1, 1)]
    assert again == [("shipped", 5, "orders/part-00005-000.jsonl")]
    assert item_once == (1, 2)


def test_a_late_event_lands_in_its_own_day(runs: dict[str, Path]) -> None:
    with duckdb.connect(str(runs["incremental"]), read_only=True) as conn:
        days = dict(
            conn.execute(
                "SELECT event_id, event_date FROM shop_silver.orders WHERE event_id IN "
                "('oe-5-10', 'oe-5-11')"
            ).fetchall()
        )
        sales = dict(
            conn.execute("SELECT event_date, orders FROM shop_gold.daily_sales").fetchall()
        )
    assert days == {"oe-5-10": date(2026, 10, 28), "oe-5-11": date(2026, 11, 4)}
    assert sales[date(2026, 10, 28)] == 1
    assert sales[date(2026, 11, 4)] == 1


@pytest.mark.parametrize(
    "table",
    [f"shop_silver.{t}" for t in SILVER] + ["shop_silver.quarantine"]
    + [f"shop_gold.{t}" for t in GOLD],
)  # fmt: skip
def test_two_incremental_runs_equal_a_full_rebuild_row_by_row(
    runs: dict[str, Path], table: str
) -> None:
    incremental = _rows(runs["incremental"], table, exclude=RUN_COLUMNS)
    assert incremental, f"{table} has rows"
    assert incremental == _rows(runs["full"], table, exclude=RUN_COLUMNS)
