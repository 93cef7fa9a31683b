"""Order cleaning rejects what DECIMAL(12, 2) and integer columns cannot hold exactly,
with the field and the reason, instead of rounding it or failing the whole step."""

from __future__ import annotations

from decimal import Decimal

import pandas as pd

from project.lib.sales.cleaning import clean_orders

CUSTOMERS = pd.DataFrame({"customer_id": [1]})


def orders(**changes: str) -> pd.DataFrame:
    row = {
        "order_id": "1",
        "customer_id": "1",
        "ordered_at": "2025-01-02T10:00:00-03:00",
        "amount": "10.50",
        "status": "Paid",
        "items": "2",
    }
    return pd.DataFrame([row | changes])


def test_a_good_order_is_typed() -> None:
    clean, rejected = clean_orders(orders(), CUSTOMERS)
    assert rejected.empty
    row = clean.to_pylist()[0]
    assert row["amount"] == Decimal("10.50")
    assert row["status"] == "paid"
    assert row["ordered_at"].isoformat() == "2025-01-02T13:00:00+00:00"


def test_amounts_that_do_not_fit_are_rejected_not_rounded_or_fatal() -> None:
    for amount in ("12345678901.00", "1.005", "NaN", "1e400"):
        clean, rejected = clean_orders(orders(amount=amount), CUSTOMERS)
        assert clean.num_rows == 0, amount
        assert rejected["field"].tolist() == ["amount"], amount


def test_non_ascii_digits_are_rejected_not_fatal() -> None:
    clean, rejected = clean_orders(orders(items="²"), CUSTOMERS)
    assert clean.num_rows == 0
    assert rejected[["field", "reason"]].values.tolist() == [["items", "not a count: '²'"]]
    clean, rejected = clean_orders(orders(order_id="١٢"), CUSTOMERS)
    assert rejected["field"].tolist() == ["order_id"]
