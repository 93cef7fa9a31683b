"""The sales example: raw orders and customers → cleaned Parquet → an Excel workbook and an
HTML report, every dataset declared in `conf/base/catalog/sales.yml` and none in code.

Nodes only transform frames; the `catalog` IO manager reads and writes them wherever the
catalog environment (`CATALOG_ENV`) says: files by default, PostgreSQL and MariaDB tables
with `CATALOG_ENV=services`.
"""

import dagster as dg
import pandas as pd
import pyarrow as pa

from project.lib.sales import cleaning

CATALOG = "catalog"


def _key(name: str) -> dg.AssetKey:
    return dg.AssetKey(["sales", name])


@dg.multi_asset(
    outs={
        "orders_clean": dg.AssetOut(
            key=_key("orders_clean"),
            io_manager_key=CATALOG,
            group_name="sales_staging",
            description="Orders typed and validated: amounts as decimals, times in UTC.",
            kinds={"pandas"},
        ),
        "orders_rejected": dg.AssetOut(
            key=_key("orders_rejected"),
            io_manager_key=CATALOG,
            group_name="sales_staging",
            description="Orders that failed validation, as they arrived, with field and reason.",
            kinds={"pandas"},
        ),
    },
    ins={
        "orders_raw": dg.AssetIn(_key("orders_raw")),
        "customers_raw": dg.AssetIn(_key("customers_raw")),
    },
)
def orders_clean(
    context: dg.AssetExecutionContext, orders_raw: pd.DataFrame, customers_raw: pd.DataFrame
):
    clean, rejected = cleaning.clean_orders(orders_raw, customers_raw)
    if len(rejected):
        reasons = rejected.groupby("field").size().to_dict()
        context.log.warning(f"{len(rejected)} orders rejected, by field: {reasons}")
    yield dg.Output(clean, output_name="orders_clean")
    yield dg.Output(rejected, output_name="orders_rejected")


@dg.asset(
    key=_key("customers_clean"),
    ins={"customers_raw": dg.AssetIn(_key("customers_raw"))},
    io_manager_key=CATALOG,
    group_name="sales_staging",
    kinds={"pandas"},
)
def customers_clean(customers_raw: pd.DataFrame) -> pa.Table:
    """Customers typed, one row per customer (the last record of each wins)."""
    return cleaning.clean_customers(customers_raw)


@dg.asset(
    key=_key("customer_summary"),
    ins={
        "orders": dg.AssetIn(_key("orders_clean")),
        "customers": dg.AssetIn(_key("customers_clean")),
    },
    io_manager_key=CATALOG,
    group_name="sales_exports",
    kinds={"pandas"},
)
def customer_summary(orders: pd.DataFrame, customers: pd.DataFrame) -> pd.DataFrame:
    """Orders and revenue per customer (cancelled orders excluded), best customers first."""
    return cleaning.customer_summary(orders, customers)


@dg.asset(
    key=_key("customer_report"),
    ins={"summary": dg.AssetIn(_key("customer_summary"))},
    io_manager_key=CATALOG,
    group_name="sales_exports",
    kinds={"pandas"},
)
def customer_report(summary: pd.DataFrame) -> pd.DataFrame:
    """The summary as a readable HTML page."""
    return summary
