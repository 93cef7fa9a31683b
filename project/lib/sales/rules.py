"""Custom quality rules of the sales datasets, named by dotted path in the catalog."""

from __future__ import annotations

from decimal import Decimal

import pandas as pd

# No single item costs more than this in the shop's range.
MAX_ITEM_PRICE = Decimal("20000")


def amount_per_item_is_plausible(orders: pd.DataFrame) -> pd.Series:
    """True per order whose amount divided by its items stays under MAX_ITEM_PRICE."""
    amounts = orders["amount"].astype(object)
    items = orders["items"].astype("int64").clip(lower=1)
    return pd.Series(
        [amount / count <= MAX_ITEM_PRICE for amount, count in zip(amounts, items, strict=True)],
        index=orders.index,
    )
