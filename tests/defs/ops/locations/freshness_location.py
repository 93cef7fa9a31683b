"""Two assets under the project's layer policy: a raw table and the mart built from it."""

import dagster as dg

from project.defs.ops.policy import apply_policy


@dg.asset(group_name="demo_raw")
def raw_orders() -> dg.MaterializeResult:
    return dg.MaterializeResult(metadata={"records": 10})


@dg.asset(deps=[raw_orders], group_name="demo_marts")
def orders_by_day() -> dg.MaterializeResult:
    return dg.MaterializeResult(metadata={"records": 2})


defs = apply_policy(dg.Definitions(assets=[raw_orders, orders_by_day]))
