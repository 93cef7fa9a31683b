"""The pandas baseline of the shop benchmark's gold variant: silver frames to gold, written
the straightforward way (`bench.shop_pandas.run(..., gold=True)` calls `build_gold`).

What it builds, from the silver frames `bench.shop_pandas` keeps in memory and the change
feeds' landed rows:
- the change feeds' silver (`customers_changes`, `products_changes`): typed and checked by
  the DROP rules of dbt_project/models/silver/shop/changes/_shop__changes.yml, one row
  per (key, seq), the first by file order, then line;
- `dim_customer`, SCD type 2 as `config.meta.auto_cdc` of the gold YAML declares it
  (keys, sequence_by, track_history_column_list, valid_time): changes in seq order; a
  version opens on an upsert after nothing, after a delete, or with tracked values unlike
  the previous change's; a delete closes it; valid_from/valid_to from the running maximum
  of the change time (a change without one takes the time before it);
- `dim_product`, SCD type 1 (deletes marked): each product's latest change decides;
- `fct_orders`: an order's first event's customer and time, its latest event's status,
  its lines' amount (revenue unless cancelled), and the customer version valid at the
  order's time (`pd.merge_asof` by customer; an order before the first version gets the
  first version);
- `fct_sessions`, `daily_kpis` (orders, revenue, average order value, buyers, sessions
  with an order / sessions), `top_products` and `customer_lifetime_value`.

Money is summed in integer cents, as DuckDB's decimals are exact. Written as Parquet under
`<out>/gold/`. Returns the counts `bench.shop.GOLD_COUNTS` reads from the warehouse.
Not reproduced: incremental runs, the `_load_id` marks, gold's dbt tests, payments in
the facts (`paid_amount`), product_daily_sales as a table of its own.
"""

from __future__ import annotations

from pathlib import Path

import pandas as pd
import yaml

from bench.shop_pandas import SILVER_DIR, _write, load_silver, silver_of

GOLD_YAML = SILVER_DIR.parent.parent / "gold" / "shop" / "_shop__gold.yml"
CHANGE_KEYS = {"customers": "customer_id", "products": "product_id"}
NEVER = pd.Timestamp.min.tz_localize("UTC")  # -infinity: before any change with a time


def auto_cdc(model: str) -> dict:
    for entry in yaml.safe_load(GOLD_YAML.read_text())["models"]:
        if entry["name"] == model:
            return entry["config"]["meta"]["auto_cdc"]
    raise KeyError(model)


def _cents(amount: pd.Series) -> pd.Series:
    return (amount * 100).round().astype("Int64")


def _changes(rows: pd.DataFrame, spec: dict) -> pd.DataFrame:
    """A change feed's changes in the order to apply them: by key, then seq."""
    (key,), seq = spec["keys"], spec["sequence_by"]
    changes = rows.dropna(subset=[key, seq]).sort_values([key, seq], kind="stable")
    changes = changes.reset_index(drop=True)
    changes["_is_delete"] = (changes["op"] == "delete").fillna(False).astype(bool)
    return changes


def scd2(rows: pd.DataFrame, spec: dict) -> pd.DataFrame:
    """One row per version: the version's last change's values, valid_from, valid_to."""
    (key,), seq = spec["keys"], spec["sequence_by"]
    c = _changes(rows, spec)
    by_key = c.groupby(key, sort=False)
    at = c[spec["valid_time"]]
    c["_at"] = at.groupby(c[key]).cummax().groupby(c[key]).ffill().fillna(NEVER)
    first = c[key] != c[key].shift()
    same = pd.Series(True, index=c.index)
    for column in spec.get("track_history_column_list", spec["column_list"]):
        before = by_key[column].shift()
        same &= (c[column] == before).fillna(False).astype(bool) | (
            c[column].isna() & before.isna()
        )
    after_delete = by_key["_is_delete"].shift().fillna(False).astype(bool)
    c["_starts"] = ~c["_is_delete"] & (first | after_delete | ~same)
    c["version"] = c.groupby(key)["_starts"].cumsum()
    by_key = c.groupby(key, sort=False)
    for column in (seq, "_at", "_is_delete", "_starts"):
        c[f"_next{column}"] = by_key[column].shift(-1)
    upserts = c[~c["_is_delete"] & (c["version"] > 0)].copy()
    by_version = upserts.groupby([key, "version"], sort=False)
    upserts["start_seq"] = by_version[seq].transform("first")
    upserts["valid_from"] = by_version["_at"].transform("first")
    last = upserts[
        upserts[f"_next{seq}"].isna()
        | upserts["_next_is_delete"].fillna(False).astype(bool)
        | upserts["_next_starts"].fillna(False).astype(bool)
    ]
    versions = last[[key, "version", *spec["column_list"], "valid_from", "start_seq"]].copy()
    versions.insert(0, spec["version_key"], last[key] + "@" + last["start_seq"].astype(str))
    versions["valid_to"] = last["_next_at"].where(last[f"_next{seq}"].notna())
    versions["is_current"] = last[f"_next{seq}"].isna()
    return versions.reset_index(drop=True)


def scd1(rows: pd.DataFrame, spec: dict) -> pd.DataFrame:
    """One row per key with an upsert: its last upsert's values, marked when deleted."""
    (key,) = spec["keys"]
    c = _changes(rows, spec)
    latest = c.groupby(key, sort=False).tail(1).set_index(key)
    last_upsert = c[~c["_is_delete"]].groupby(key, sort=False).tail(1).set_index(key)
    dim = last_upsert[spec["column_list"]].copy()
    dim["is_deleted"] = latest["_is_delete"].reindex(dim.index)
    return dim.reset_index()


def fct_orders(orders: pd.DataFrame, items: pd.DataFrame, customers: pd.DataFrame) -> pd.DataFrame:
    events = orders.sort_values(["order_id", "order_ts", "_batch", "_line"], kind="stable")
    by_order = events.groupby("order_id", sort=False)
    facts = by_order[["customer_id", "session_id", "channel", "currency"]].first()
    facts["placed_at"] = by_order["order_ts"].min()
    facts["status"] = by_order["status"].last()  # the latest event's (non-null) status
    facts["order_date"] = facts["placed_at"].dt.date
    facts["is_cancelled"] = (facts["status"] == "cancelled").fillna(False).astype(bool)
    line_cents = _cents(items["unit_price"]) * items["quantity"]
    lines = line_cents.groupby(items["order_id"]).sum(min_count=1)
    facts["amount_cents"] = lines.reindex(facts.index).fillna(0).astype("int64")
    sold = facts["status"].notna() & ~facts["is_cancelled"]
    facts["revenue_cents"] = facts["amount_cents"].where(sold, 0)
    items_per_order = items.groupby("order_id")["quantity"].sum()
    facts["items"] = items_per_order.reindex(facts.index).fillna(0).astype("int64")
    facts = facts.reset_index()
    return facts.join(customer_at_order(facts, customers))


def customer_at_order(facts: pd.DataFrame, customers: pd.DataFrame) -> pd.DataFrame:
    """Per order: the customer version valid at its time (the first version when the
    order comes before it), or nothing (no such customer, or deleted then)."""
    orders = facts[["customer_id", "placed_at"]].reset_index()
    orders = orders.dropna(subset=["customer_id"]).sort_values("placed_at", kind="stable")
    versions = customers.sort_values(["valid_from", "version"], kind="stable")
    # one resolution on both sides (NEVER, -infinity, is in nanoseconds)
    orders["placed_at"] = orders["placed_at"].astype("datetime64[ns, UTC]")
    versions = versions.astype({"valid_from": orders["placed_at"].dtype})
    columns = ["customer_version_id", "city", "state", "segment", "valid_to"]
    found = pd.merge_asof(
        orders,
        versions[["customer_id", "valid_from", *columns]],
        left_on="placed_at",
        right_on="valid_from",
        by="customer_id",
        direction="backward",
    )
    valid = found["customer_version_id"].notna() & (
        found["valid_to"].isna() | (found["placed_at"] < found["valid_to"])
    )
    first = versions[versions["version"] == 1].set_index("customer_id")
    early = first.reindex(found["customer_id"]).set_axis(found.index)
    early_ok = early["customer_version_id"].notna() & (
        early["valid_to"].isna() | (found["placed_at"] < early["valid_to"])
    )
    picked = pd.DataFrame(index=found.index)
    for column in columns[:-1]:
        chosen = found[column].where(valid, early[column].where(early_ok))
        picked[column if column == "customer_version_id" else f"customer_{column}"] = chosen
    picked.index = found["index"].to_numpy()
    return picked.reindex(facts.index)


def fct_sessions(web_events: pd.DataFrame, orders: pd.DataFrame) -> pd.DataFrame:
    by_session = web_events.dropna(subset=["session_id"]).groupby("session_id")
    sessions = by_session["event_ts"].min().rename("started_at").to_frame()
    sessions["session_date"] = sessions["started_at"].dt.date
    sessions["events"] = by_session.size()
    sessions["converted"] = sessions.index.isin(orders["session_id"].dropna().unique())
    return sessions.reset_index()


def daily_kpis(facts: pd.DataFrame, sessions: pd.DataFrame) -> pd.DataFrame:
    by_day = facts.groupby("order_date")
    sold = facts[facts["status"].notna() & ~facts["is_cancelled"]]
    kpis = pd.DataFrame(
        {
            "orders": by_day.size(),
            "cancelled_orders": by_day["is_cancelled"].sum(),
            "buyers": by_day["customer_id"].nunique(),
            "items": sold.groupby("order_date")["items"].sum(),
            "revenue_cents": by_day["revenue_cents"].sum(),
        }
    )
    visits = sessions.groupby("session_date")
    kpis = kpis.join(
        pd.DataFrame({"sessions": visits.size(), "converted_sessions": visits["converted"].sum()}),
        how="outer",
    )
    kpis = kpis.fillna(0).astype("int64")
    paying = kpis["orders"] - kpis["cancelled_orders"]
    kpis["average_order_value"] = (kpis["revenue_cents"] / 100 / paying.where(paying > 0)).round(2)
    kpis["conversion_rate"] = (
        kpis["converted_sessions"] / kpis["sessions"].where(kpis["sessions"] > 0)
    ).round(4)
    return kpis.rename_axis("event_date").reset_index()


def top_products(facts: pd.DataFrame, items: pd.DataFrame, products: pd.DataFrame) -> pd.DataFrame:
    sold = facts.loc[facts["status"].notna() & ~facts["is_cancelled"], ["order_id"]]
    lines = items.merge(sold, on="order_id")
    lines["cents"] = _cents(lines["unit_price"]) * lines["quantity"]
    by_product = lines.groupby("product_id", dropna=False)
    ranked = pd.DataFrame(
        {
            "orders": by_product["order_id"].nunique(),
            "units": by_product["quantity"].sum(),
            "revenue_cents": by_product["cents"].sum(),
        }
    ).reset_index()
    ranked = ranked.sort_values(
        ["revenue_cents", "units", "product_id"], ascending=[False, False, True]
    )
    ranked.insert(0, "revenue_rank", range(1, len(ranked) + 1))
    columns = ["product_id", "name", "category", "is_deleted"]
    return ranked.merge(products[columns], on="product_id", how="left")


def customer_lifetime_value(facts: pd.DataFrame, customers: pd.DataFrame) -> pd.DataFrame:
    known = facts.dropna(subset=["customer_id"]).groupby("customer_id")
    totals = pd.DataFrame(
        {
            "orders": known.size(),
            "cancelled_orders": known["is_cancelled"].sum(),
            "revenue_cents": known["revenue_cents"].sum(),
            "first_order_at": known["placed_at"].min(),
            "last_order_at": known["placed_at"].max(),
        }
    )
    history = customers.groupby("customer_id").agg(
        customer_since=("valid_from", "min"), versions=("version", "size")
    )
    last = customers.sort_values("start_seq").groupby("customer_id").tail(1)
    last = last.set_index("customer_id")[["name", "city", "state", "segment", "is_current"]]
    value = totals.join(history, how="outer").join(last)
    value[["orders", "cancelled_orders", "revenue_cents", "versions"]] = (
        value[["orders", "cancelled_orders", "revenue_cents", "versions"]].fillna(0).astype("int64")
    )
    paying = value["orders"] - value["cancelled_orders"]
    value["average_order_value"] = (value["revenue_cents"] / 100 / paying.where(paying > 0)).round(
        2
    )
    return value.rename_axis("customer_id").reset_index()


def build_gold(kept: dict[str, pd.DataFrame], out: Path) -> dict[str, int | str]:
    """Gold from silver (`kept`: silver frames by model, change feeds' landed rows by
    source); written under `out/gold/`; the counts the benchmark compares."""
    specs = load_silver(SILVER_DIR / "changes")
    feeds = {}
    for source, key in CHANGE_KEYS.items():
        feeds[source], quarantine = silver_of(kept.pop(source), specs[source], [key, "seq"])
        _write(feeds[source], out / "silver" / f"{specs[source].model}.parquet")
        _write(quarantine, out / "quarantine" / f"{source}.parquet")
    dim_customer = scd2(feeds["customers"], auto_cdc("dim_customer"))
    dim_product = scd1(feeds["products"], auto_cdc("dim_product"))
    orders, items = kept["orders"], kept["order_items"]
    facts = fct_orders(orders, items, dim_customer)
    sessions = fct_sessions(kept["web_events"], orders)
    kpis = daily_kpis(facts, sessions)
    products = top_products(facts, items, dim_product)
    value = customer_lifetime_value(facts, dim_customer)
    tables = {
        "dim_customer": dim_customer,
        "dim_product": dim_product,
        "fct_orders": facts,
        "fct_sessions": sessions,
        "daily_kpis": kpis,
        "top_products": products,
        "customer_lifetime_value": value,
    }
    for name, frame in tables.items():
        _write(frame, out / "gold" / f"{name}.parquet")
    return {
        "customers_changes silver": len(feeds["customers"]),
        "products_changes silver": len(feeds["products"]),
        "dim_customer rows": len(dim_customer),
        "dim_customer current": int(dim_customer["is_current"].sum()),
        "dim_product rows": len(dim_product),
        "dim_product deleted": int(dim_product["is_deleted"].sum()),
        "fct_orders rows": len(facts),
        "fct_orders with a customer version": int(facts["customer_version_id"].notna().sum()),
        "fct_orders revenue cents": int(facts["revenue_cents"].sum()),
        "fct_sessions rows": len(sessions),
        "daily_kpis rows": len(kpis),
        "daily_kpis orders": int(kpis["orders"].sum()),
        "daily_kpis revenue cents": int(kpis["revenue_cents"].sum()),
        "daily_kpis converted sessions": int(kpis["converted_sessions"].sum()),
        "top_products rows": len(products),
        "top_products best seller": str(products["product_id"].iloc[0]) if len(products) else "",
        "customer_lifetime_value rows": len(value),
        "customer_lifetime_value revenue cents": int(value["revenue_cents"].sum()),
    }
