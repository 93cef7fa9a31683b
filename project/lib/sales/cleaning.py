"""Cleaning the shop's orders and customers, and the per-customer summary.

Rows that cannot be trusted are not dropped silently: each goes to the rejected orders
with the field at fault and the reason, next to the order as it arrived, so nothing is lost
and a fixed export can be re-run.
"""

from __future__ import annotations

from decimal import Decimal, InvalidOperation

import pandas as pd
import pyarrow as pa

STATUSES = frozenset({"paid", "shipped", "cancelled"})
MONEY = pa.decimal128(12, 2)

ORDERS = pa.schema(
    [
        ("order_id", pa.int64()),
        ("customer_id", pa.int64()),
        ("ordered_at", pa.timestamp("us", tz="UTC")),
        ("amount", MONEY),
        ("status", pa.string()),
        ("items", pa.int64()),
    ]
)


# DECIMAL(12, 2): at most 10 digits before the point and 2 after.
MONEY_LIMIT = Decimal("1e10")


def _money(text: str) -> Decimal | None:
    """The amount, or None when it is not one that DECIMAL(12, 2) holds exactly: a value
    with more than two decimals is rejected, not rounded."""
    try:
        value = Decimal(text.strip())
    except (InvalidOperation, AttributeError):
        return None
    if not value.is_finite() or abs(value) >= MONEY_LIMIT:
        return None
    exponent = value.as_tuple().exponent
    if not isinstance(exponent, int) or exponent < -2:
        return None
    return value.quantize(Decimal("0.01"))


def _count(text: str) -> int | None:
    """A non-negative integer written in ASCII digits (`"²".isdigit()` is true in Python)."""
    text = text.strip()
    return int(text) if text.isascii() and text.isdecimal() else None


def clean_orders(raw: pd.DataFrame, customers: pd.DataFrame) -> tuple[pa.Table, pd.DataFrame]:
    """(clean orders, rejected orders with `field` and `reason`)."""
    known = set(customers["customer_id"].astype("int64"))
    good: list[dict] = []
    rejected: list[dict] = []
    seen: set[int] = set()
    for line, row in enumerate(raw.astype(str).to_dict("records"), start=2):
        problem = _problem(row, known, seen)
        if problem:
            rejected.append({**row, "source_line": line, "field": problem[0], "reason": problem[1]})
            continue
        order_id = int(row["order_id"])
        seen.add(order_id)
        good.append(
            {
                "order_id": order_id,
                "customer_id": int(row["customer_id"]),
                "ordered_at": pd.Timestamp(row["ordered_at"]).tz_convert("UTC").to_pydatetime(),
                "amount": _money(row["amount"]),
                "status": row["status"].strip().lower(),
                "items": int(row["items"]),
            }
        )
    columns = [*raw.columns, "source_line", "field", "reason"]
    return pa.Table.from_pylist(good, schema=ORDERS), pd.DataFrame(rejected, columns=columns)


def _problem(row: dict, known: set[int], seen: set[int]) -> tuple[str, str] | None:
    order_id, customer_id = _count(row["order_id"]), _count(row["customer_id"])
    if order_id is None:
        return "order_id", f"not an order number: {row['order_id']!r}"
    if order_id in seen:
        return "order_id", f"duplicate of order {row['order_id']}"
    if customer_id is None or customer_id not in known:
        return "customer_id", f"unknown customer {row['customer_id']!r}"
    amount = _money(row["amount"])
    if amount is None:
        return "amount", f"not an amount of at most 10 digits and 2 decimals: {row['amount']!r}"
    if amount < 0:
        return "amount", f"negative amount {amount}"
    if row["status"].strip().lower() not in STATUSES:
        return "status", f"unknown status {row['status']!r}"
    try:
        stamp = pd.Timestamp(row["ordered_at"])
    except ValueError:
        return "ordered_at", f"not a timestamp: {row['ordered_at']!r}"
    if stamp.tzinfo is None:
        return "ordered_at", f"no time zone: {row['ordered_at']!r}"
    if _count(row["items"]) is None:
        return "items", f"not a count: {row['items']!r}"
    return None


def clean_customers(raw: pd.DataFrame) -> pa.Table:
    frame = pd.DataFrame(
        {
            "customer_id": raw["customer_id"].astype("int64"),
            "name": raw["name"].astype(str).str.strip(),
            "city": raw["city"].astype(str).str.strip(),
            "email": raw["email"].where(raw["email"].notna(), None),
            "signed_up": pd.to_datetime(raw["signed_up"]).dt.date,
            "vip": raw["vip"].astype(bool),
        }
    ).drop_duplicates("customer_id", keep="last")
    return pa.Table.from_pandas(frame, preserve_index=False)


def customer_summary(orders: pd.DataFrame, customers: pd.DataFrame) -> pd.DataFrame:
    """Per customer: orders and revenue (cancelled orders excluded), first and last order."""
    kept = orders[orders["status"] != "cancelled"].copy()
    kept["amount"] = kept["amount"].astype(object)
    kept["day"] = pd.to_datetime(kept["ordered_at"].astype("datetime64[us, UTC]")).dt.date
    totals = kept.groupby("customer_id").agg(
        orders=("order_id", "count"),
        revenue=("amount", lambda s: sum(s, Decimal("0.00"))),
        first_order=("day", "min"),
        last_order=("day", "max"),
    )
    summary = customers.set_index("customer_id")[["name", "city", "vip"]].join(totals, how="inner")
    summary = summary.reset_index().sort_values(["revenue", "customer_id"], ascending=[False, True])
    table = pa.Table.from_pandas(summary, preserve_index=False)
    return table.set_column(
        table.schema.get_field_index("revenue"), "revenue", table["revenue"].cast(MONEY)
    ).to_pandas(types_mapper=pd.ArrowDtype)
