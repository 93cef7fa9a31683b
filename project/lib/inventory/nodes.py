"""The inventory pipeline's nodes: plain functions of frames and parameters.

The pipeline itself — which dataset feeds which function, tags, parameters — is declared in
`conf/base/pipelines/inventory.yml`, and every dataset in `conf/base/catalog/inventory.yml`;
nothing here knows about Dagster, files or tables.

Movements are signed by kind: a receipt adds stock, a shipment removes it, an adjustment
(a stock count's correction) carries its own sign.
"""

from __future__ import annotations

from datetime import timedelta
from typing import Any

import pandas as pd

KINDS = ("receipt", "shipment", "adjustment")
MOVEMENT_COLUMNS = ["movement_id", "sku", "warehouse", "kind", "quantity", "moved_at"]


def _reject(rows: pd.DataFrame, field: str, reason: str) -> pd.DataFrame:
    return rows.assign(field=field, reason=reason)


def clean_movements(
    movements: pd.DataFrame, products: pd.DataFrame
) -> tuple[pd.DataFrame, pd.DataFrame]:
    """Movements typed and checked against the product list; the rest kept with the reason.

    A movement is rejected (not dropped) when its SKU is not a product, its kind is unknown,
    its quantity is not a whole number (or is not positive for a receipt or shipment), its
    time cannot be read, or its id repeats an earlier movement's.
    """
    raw = movements.astype({c: "string" for c in movements.columns}).reset_index(drop=True)
    quantity = pd.to_numeric(raw["quantity"], errors="coerce")
    moved_at = pd.to_datetime(raw["moved_at"], errors="coerce", utc=True, format="ISO8601")
    checks = [
        ("sku", ~raw["sku"].isin(set(products["sku"].astype("string"))), "unknown SKU"),
        ("kind", ~raw["kind"].isin(KINDS), f"kind is not one of {', '.join(KINDS)}"),
        ("quantity", quantity.isna() | (quantity % 1 != 0), "quantity is not a whole number"),
        (
            "quantity",
            raw["kind"].isin(("receipt", "shipment")) & ~(quantity > 0),
            "receipts and shipments move a positive quantity",
        ),
        ("moved_at", moved_at.isna(), "moved_at is not an ISO 8601 time"),
        ("movement_id", raw["movement_id"].duplicated(), "repeats an earlier movement_id"),
    ]
    rejected_parts: list[pd.DataFrame] = []
    bad = pd.Series(False, index=raw.index)
    for field, failing, reason in checks:
        first_fault = failing.fillna(True) & ~bad
        rejected_parts.append(_reject(raw[first_fault], field, reason))
        bad |= first_fault
    good = raw[~bad]
    clean = pd.DataFrame(
        {
            "movement_id": good["movement_id"].astype("int64"),
            "sku": good["sku"],
            "warehouse": good["warehouse"],
            "kind": good["kind"],
            "quantity": quantity[~bad].astype("int64"),
            "moved_at": moved_at[~bad],
        }
    ).sort_values("movement_id", ignore_index=True)
    rejected = pd.concat(rejected_parts, ignore_index=True)
    return clean, rejected.sort_values("movement_id", ignore_index=True)


def stock_levels(
    movements: pd.DataFrame, products: pd.DataFrame, demand_window_days: int
) -> pd.DataFrame:
    """Stock on hand per SKU and warehouse, and the average daily demand (shipments) over
    the last `demand_window_days` days before the latest movement."""
    signed = movements["quantity"].where(movements["kind"] != "shipment", -movements["quantity"])
    moves = movements.assign(signed=signed)
    on_hand = moves.groupby(["sku", "warehouse"], as_index=False)["signed"].sum()
    end = moves["moved_at"].max()
    recent = moves[
        (moves["kind"] == "shipment")
        & (moves["moved_at"] > end - timedelta(days=demand_window_days))
    ]
    demand = recent.groupby(["sku", "warehouse"], as_index=False)["quantity"].sum()
    levels = on_hand.merge(demand, on=["sku", "warehouse"], how="left")
    levels = levels.merge(products[["sku", "name", "lead_days"]], on="sku", how="left")
    return pd.DataFrame(
        {
            "sku": levels["sku"],
            "warehouse": levels["warehouse"],
            "name": levels["name"],
            "on_hand": levels["signed"].astype("int64"),
            "daily_demand": (levels["quantity"].fillna(0) / demand_window_days).round(3),
            "lead_days": levels["lead_days"].astype("int64"),
            "as_of": end,
        }
    ).sort_values(["sku", "warehouse"], ignore_index=True)


def reorders(stock: pd.DataFrame, policy: dict[str, Any]) -> pd.DataFrame:
    """What to order now: stock that will not last the supplier's lead time plus
    `policy['safety_days']`, ordered up to `policy['cover_days']` of demand, in multiples
    of at least `policy['min_order_qty']`."""
    need_days = stock["lead_days"] + int(policy["safety_days"])
    reorder_point = (stock["daily_demand"] * need_days).round().astype("int64")
    low = stock[stock["on_hand"] <= reorder_point].copy()
    target = (low["daily_demand"] * (need_days[low.index] + int(policy["cover_days"]))).round()
    quantity = (target - low["on_hand"]).clip(lower=int(policy["min_order_qty"]))
    low["reorder_point"] = reorder_point[low.index]
    low["order_qty"] = quantity.astype("int64")
    columns = ["sku", "warehouse", "name", "on_hand", "reorder_point", "order_qty"]
    return low[columns].sort_values(["warehouse", "sku"], ignore_index=True)


def stock_report(stock: pd.DataFrame, orders: pd.DataFrame) -> pd.DataFrame:
    """The reorder list with each line's stock cover in days, for the buyers' page."""
    merged = orders.merge(stock[["sku", "warehouse", "daily_demand"]], on=["sku", "warehouse"])
    cover = (merged["on_hand"] / merged["daily_demand"].where(merged["daily_demand"] > 0)).round(1)
    return merged.assign(cover_days=cover).drop(columns="daily_demand")
