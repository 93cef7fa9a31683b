"""The CRM example's operational database: a SQLite file with countries, customers, orders
and order events, and one round of the changes a day brings (new customers and orders,
updates, deletes, an order committed late with an older timestamp).

`make demo` creates it, copies it into the warehouse (`conf/base/catalog/crm.yml`), changes
it and copies again, so the second copy shows what an incremental run does. Deterministic:
the same seed gives the same database.
"""

from __future__ import annotations

import random
import sqlite3
from datetime import datetime, timedelta
from pathlib import Path

COUNTRIES = [("BR", "Brazil"), ("AR", "Argentina"), ("CL", "Chile"), ("PT", "Portugal")]
STATUSES = ("placed", "paid", "shipped", "delivered", "cancelled")
START = datetime(2024, 7, 1, 8, 0)
SCHEMA = """
CREATE TABLE countries (code TEXT PRIMARY KEY, name TEXT NOT NULL);
CREATE TABLE customers (
    customer_id INTEGER PRIMARY KEY, name TEXT NOT NULL, email TEXT, country_code TEXT,
    updated_at TIMESTAMP NOT NULL);
CREATE TABLE orders (
    order_id INTEGER PRIMARY KEY, customer_id INTEGER NOT NULL, status TEXT NOT NULL,
    amount DECIMAL(12, 2) NOT NULL, updated_at TIMESTAMP NOT NULL);
CREATE TABLE order_events (
    event_id INTEGER PRIMARY KEY, order_id INTEGER NOT NULL, kind TEXT NOT NULL,
    at TIMESTAMP NOT NULL);
"""


def _stamp(moment: datetime) -> str:
    return moment.strftime("%Y-%m-%d %H:%M:%S")


def create(path: Path, customers: int = 200, orders: int = 1000, seed: int = 7) -> None:
    """A fresh database at `path` (replacing any)."""
    rng = random.Random(seed)
    path.parent.mkdir(parents=True, exist_ok=True)
    path.unlink(missing_ok=True)
    with sqlite3.connect(path) as db:
        db.executescript(SCHEMA)
        db.executemany("INSERT INTO countries VALUES (?, ?)", COUNTRIES)
        db.executemany(
            "INSERT INTO customers VALUES (?, ?, ?, ?, ?)",
            [
                (
                    i,
                    f"Customer {i}",
                    f"customer{i}@example.com",
                    rng.choice(COUNTRIES)[0],
                    _stamp(START + timedelta(minutes=i)),
                )
                for i in range(1, customers + 1)
            ],
        )
        db.executemany(
            "INSERT INTO orders VALUES (?, ?, ?, ?, ?)",
            [
                (
                    i,
                    rng.randint(1, customers),
                    rng.choice(STATUSES),
                    round(rng.uniform(10, 900), 2),
                    _stamp(START + timedelta(minutes=i)),
                )
                for i in range(1, orders + 1)
            ],
        )
        db.executemany(
            "INSERT INTO order_events VALUES (?, ?, ?, ?)",
            [(i, i, "placed", _stamp(START + timedelta(minutes=i))) for i in range(1, orders + 1)],
        )


def change(path: Path, day: int = 1, seed: int = 11) -> dict[str, int]:
    """One day of changes; returns how many rows each kind of change touched."""
    rng = random.Random(seed + day)
    now = START + timedelta(days=day)
    with sqlite3.connect(path) as db:
        customers = db.execute("SELECT max(customer_id) FROM customers").fetchone()[0]
        orders = db.execute("SELECT max(order_id) FROM orders").fetchone()[0]
        events = db.execute("SELECT max(event_id) FROM order_events").fetchone()[0]
        moved = rng.sample(range(1, customers + 1), 10)
        db.executemany(
            "UPDATE customers SET country_code = 'PT', updated_at = ? WHERE customer_id = ?",
            [(_stamp(now), c) for c in moved],
        )
        new_customers = [
            (customers + i, f"Customer {customers + i}", None, "BR", _stamp(now))
            for i in range(1, 6)
        ]
        db.executemany("INSERT INTO customers VALUES (?, ?, ?, ?, ?)", new_customers)
        paid = rng.sample(range(1, orders + 1), 50)
        db.executemany(
            "UPDATE orders SET status = 'delivered', updated_at = ? WHERE order_id = ?",
            [(_stamp(now), o) for o in paid],
        )
        gone = rng.sample(sorted(set(range(1, orders + 1)) - set(paid)), 5)
        db.executemany("DELETE FROM orders WHERE order_id = ?", [(o,) for o in gone])
        new_orders = [
            (orders + i, rng.randint(1, customers), "placed", 99.9, _stamp(now))
            for i in range(1, 21)
        ]
        # Committed last, stamped a minute before the others: inside the copy's lag.
        new_orders.append((orders + 21, 1, "placed", 12.5, _stamp(now - timedelta(minutes=1))))
        db.executemany("INSERT INTO orders VALUES (?, ?, ?, ?, ?)", new_orders)
        db.executemany(
            "INSERT INTO order_events VALUES (?, ?, ?, ?)",
            [(events + i, o, "delivered", _stamp(now)) for i, o in enumerate(paid, 1)],
        )
        db.execute("UPDATE countries SET name = 'Portuguese Republic' WHERE code = 'PT'")
        db.execute("INSERT INTO countries VALUES ('UY', 'Uruguay')")
    return {
        "customers_updated": len(moved),
        "customers_inserted": len(new_customers),
        "orders_updated": len(paid),
        "orders_deleted": len(gone),
        "orders_inserted": len(new_orders),
        "events_inserted": len(paid),
    }
