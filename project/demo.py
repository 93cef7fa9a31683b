"""`make demo`: the PNCP pipeline end to end on a laptop, against the local simulator.

Starts the PNCP simulator on a free local port, points the platform at it, materializes
a week of every raw endpoint and then the dbt models through `dagster asset materialize`
(the same command CI and operators use), then the two examples of the dataset catalog in
one run — sales (`conf/base/catalog/sales.yml`: CSV and JSON in, Parquet, Excel and HTML
out) and inventory (a pipeline declared only in YAML, `conf/base/pipelines/inventory.yml`,
with parameters, tags, a two-output node and rules of both severities) — and the CRM
example: a SQLite database copied into the warehouse, then changed and copied again
incrementally (`conf/base/catalog/crm.yml`); the shop medallion: the generator lands a
day of files, bronze ingests them through the file ledger, silver and gold are built (bad
rows quarantined), then a second day with customers and products changing, taken
incrementally (dimensions with history, KPIs); and prints where the results are. Runs land
in the project's Dagster instance, so `make dev` shows them in the UI afterwards.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import time
from datetime import date, timedelta
from pathlib import Path

from project.defs import sales
from project.defs.pncp import selections
from project.defs.pncp.partitions import month_key
from project.lib import warehouse
from project.lib.crm import seed as crm_seed
from project.lib.datasets import Catalog
from project.lib.instance import ensure_dagster_home
from project.settings import PROJECT_ROOT, settings_or_exit
from project.simulators.pncp import PncpSimulator, SimulatorConfig

DEMO_START = date(2024, 7, 1)
INVENTORY = "group:inventory"
CRM = "group:crm_source"
SHOP = "group:shop_bronze or group:shop_silver or group:shop_gold"
# A small shop's day, with a little of every kind of bad input the medallion handles.
SHOP_BATCH = {
    "shop__landing__generated_batch": {
        "config": {
            "orders": 2000,
            "faults": {
                "nulls": 0.005,
                "negative_prices": 0.005,
                "unknown_status": 0.005,
                "malformed_lines": 0.002,
                "duplicates": 0.01,
                "late": 0.01,
                "extra_column": 0.5,
            },
        }
    }
}


def seed_crm() -> Path:
    """A fresh CRM database where the catalog's `crm.source` reads it (`CRM_SQLITE`)."""
    path = Path(Catalog.load(PROJECT_ROOT / "conf").get("crm.source").database)
    crm_seed.create(path)
    return path


def _crm_summary(target: warehouse.Target) -> list[tuple]:
    with warehouse.connection(target, read_only=True) as conn:
        return conn.execute(
            """SELECT source_table, mode, cursor_value, loaded_at FROM meta.cdc_state
               WHERE source = 'crm.source' ORDER BY source_table"""
        ).fetchall(), conn.execute(
            """SELECT (SELECT count(*) FROM crm.customers),
                      (SELECT count(*) FROM crm.customers WHERE _is_current),
                      (SELECT count(*) FROM crm.orders), (SELECT count(*) FROM crm.order_events),
                      (SELECT count(*) FROM crm.countries)"""
        ).fetchone()


DEMO_DAYS = int(os.environ.get("DEMO_DAYS", "7"))
DEMO_SCALE = float(os.environ.get("DEMO_SCALE", "0.1"))


def _materialize(
    selection: str,
    env: dict[str, str],
    partition_range: str | None,
    ops: dict[str, object] | None = None,
) -> None:
    command = [
        str(Path(sys.executable).parent / "dagster"),
        "asset",
        "materialize",
        "-m",
        "project.definitions",
        "--select",
        selection,
    ]
    if partition_range:
        command += ["--partition-range", partition_range]
    # Running the steps in the run's own process saves loading the code location once per
    # step (a fresh subprocess each); on a laptop's two cores that is most of the time.
    config: dict[str, object] = {"execution": {"config": {"in_process": {}}}}
    if ops:
        config["ops"] = ops
    command += ["--config-json", json.dumps(config)]
    print(f"\n$ {' '.join(command[1:])}", flush=True)
    started = time.monotonic()
    subprocess.run(command, cwd=PROJECT_ROOT, env=env, check=True)
    print(f"  done in {time.monotonic() - started:.0f} s", flush=True)


def _summary(target: warehouse.Target) -> tuple[list[tuple], list[tuple]]:
    with warehouse.connection(target, read_only=True) as conn:
        archived = conn.execute(
            """SELECT endpoint, count(DISTINCT ingestion_date) AS days, sum(requests) AS pages,
                      sum(records) AS records, sum(retries) AS retries
               FROM marts.pncp_extraction_health GROUP BY endpoint ORDER BY endpoint"""
        ).fetchall()
        marts = conn.execute(
            """SELECT table_name, estimated_size FROM duckdb_tables()
               WHERE database_name = current_database() AND schema_name = 'marts'
               ORDER BY table_name"""
        ).fetchall()
    return archived, marts


def _generate_shop_day(env: dict[str, str]) -> None:
    command = [sys.executable, "-m", "project.simulators.shop", "generate", "--orders", "1500"]
    print("\n$ python -m project.simulators.shop generate --orders 1500", flush=True)
    subprocess.run(command, cwd=PROJECT_ROOT, env=env, check=True, stdout=subprocess.DEVNULL)


def _print_shop_gold(conn) -> None:
    versions, customers, current, changed = conn.execute(
        """SELECT count(*), count(DISTINCT customer_id), count(*) FILTER (WHERE is_current),
                  count(DISTINCT customer_id) FILTER (WHERE version > 1)
           FROM shop_gold.dim_customer"""
    ).fetchone()
    products = conn.execute("SELECT count(*) FROM shop_gold.dim_product").fetchone()[0]
    print(
        f"  shop_gold.dim_customer (SCD2)  {versions} versions of {customers} customers "
        f"({current} current; {changed} with history)"
    )
    print(f"  shop_gold.dim_product (SCD1)   {products} products")
    print("  shop_gold.daily_kpis:")
    print(f"    {'day':<12}{'orders':>7}{'revenue':>12}{'avg order':>11}{'conversion':>12}")
    for day, orders, revenue, aov, conversion in conn.execute(
        """SELECT event_date, orders, revenue, average_order_value, conversion_rate
           FROM shop_gold.daily_kpis WHERE orders > 0 ORDER BY event_date DESC LIMIT 4"""
    ).fetchall():
        print(
            f"    {day!s:<12}{orders:>7}{revenue or 0:>12,.2f}{aov or 0:>11,.2f}"
            f"{conversion or 0:>12.1%}"
        )
    top = conn.execute(
        "SELECT name, revenue FROM shop_gold.top_products ORDER BY revenue_rank LIMIT 3"
    ).fetchall()
    print("  top products: " + "; ".join(f"{name} ({revenue:,.2f})" for name, revenue in top))


def _print_shop(target: warehouse.Target, landing: Path) -> None:
    with warehouse.connection(target, read_only=True) as conn:
        files = conn.execute(
            "SELECT status, count(*), sum(rows) FROM shop_landing.files GROUP BY ALL ORDER BY 1"
        ).fetchall()
        layers = conn.execute(
            """SELECT schema_name || '.' || table_name, estimated_size FROM duckdb_tables()
               WHERE database_name = current_database()
                 AND schema_name IN ('shop_bronze', 'shop_silver', 'shop_gold')
                 AND table_name NOT LIKE '%_checked'
               ORDER BY schema_name, table_name"""
        ).fetchall()
        quarantined = conn.execute(
            """SELECT source, rule, count(*) FROM shop_silver.quarantine
               WHERE status = 'quarantined' GROUP BY ALL ORDER BY 3 DESC LIMIT 5"""
        ).fetchall()
    print(f"\nShop medallion (landing files in {landing}):")
    print(
        "  ledger shop_landing.files: "
        + ", ".join(f"{n} {status} ({rows or 0} rows)" for status, n, rows in files)
    )
    for table, rows in layers:
        print(f"  {table:<36}{rows:>8} rows")
    with warehouse.connection(target, read_only=True) as conn:
        _print_shop_gold(conn)
    print(
        "  quarantined at silver (top rules): "
        + ", ".join(f"{source}.{rule} {n}" for source, rule, n in quarantined)
    )
    print(
        "  more: .venv/bin/pncp landing status | .venv/bin/pncp quarantine list | "
        "shop_ops.expectation_log"
    )


def main() -> int:
    settings = settings_or_exit()
    home = ensure_dagster_home(settings)
    last = DEMO_START + timedelta(days=DEMO_DAYS - 1)
    with PncpSimulator(SimulatorConfig(scale=DEMO_SCALE)) as simulator:
        print(f"PNCP simulator at {simulator.base_url} (scale {DEMO_SCALE})")
        env = {
            **os.environ,
            "DAGSTER_HOME": str(home),
            "PNCP_BASE_URL": simulator.base_url,
            "PNCP_MAX_CONCURRENCY": "16",
            "PNCP_RATE_LIMIT_PER_S": "0",
        }
        _materialize(selections.EXTRACTION, env, f"{DEMO_START}...{last}")
        month = month_key(DEMO_START.strftime("%Y-%m"))
        _materialize(selections.TRANSFORMATION, env, f"{month}...{month}")
    # The dataset-catalog examples in one run: sales (nodes in Python), inventory (a
    # pipeline declared only in YAML) and the CRM database's first copy; then a day of
    # changes in the CRM and the incremental copy that picks them up.
    crm_database = seed_crm()
    _materialize(f"{sales.SELECTION} or {INVENTORY} or {CRM}", env, None)
    changed = crm_seed.change(crm_database)
    print(f"\nCRM changed (a day of work): {changed}", flush=True)
    _materialize(CRM, env, None)
    # The shop: the generator lands a day of files; bronze ingests them (what the landing
    # sensor does under the daemon), then silver and gold.
    _materialize('key:"shop/landing/generated_batch"', env, None, SHOP_BATCH)
    _materialize(SHOP, env, None)
    # The next day: more orders, and customers and products changing (new addresses,
    # segments, prices). Every layer takes only what is new; the dimensions keep history.
    _generate_shop_day(env)
    _materialize(SHOP, env, None)
    print("\nArchived from the simulator, per endpoint:")
    print(f"  {'endpoint':<26}{'days':>6}{'pages':>8}{'records':>10}{'retries':>9}")
    target = warehouse.target_from(settings)
    archived, marts = _summary(target)
    for endpoint, days, pages, records, retries in archived:
        print(f"  {endpoint:<26}{days:>6}{pages:>8}{records:>10}{retries:>9}")
    print("\nMarts (rows):")
    for table, rows in marts:
        print(f"  marts.{table:<34}{rows:>10}")
    catalog = Catalog.load(PROJECT_ROOT / "conf")
    print(f"\nSales example (dataset catalog, environment {catalog.env}):")
    for name in ("sales.orders_clean", "sales.orders_rejected", "sales.customers_clean"):
        dataset = catalog.get(name)
        print(f"  {name:<24}{len(dataset.load()):>6} rows  {dataset.location()}")
    for name in ("sales.customer_summary", "sales.customer_report"):
        print(f"  {name:<30}{catalog.get(name).location()}")
    print("\nInventory example (a pipeline declared in YAML, conf/base/pipelines/inventory.yml):")
    for name in (
        "inventory.movements_clean",
        "inventory.movements_rejected",
        "inventory.stock_levels",
        "inventory.reorders",
    ):
        dataset = catalog.get(name)
        print(f"  {name:<30}{len(dataset.load()):>6} rows  {dataset.location()}")
    print(f"  {'inventory.stock_report':<36}{catalog.get('inventory.stock_report').location()}")
    states, counts = _crm_summary(target)
    print(
        "\nCRM database copied incrementally (conf/base/catalog/crm.yml -> warehouse schema crm):"
    )
    for table, mode, cursor, _ in states:
        print(f"  crm.{table:<14}{mode:<10}cursor {cursor or '-'}")
    customers, current, orders, events, countries = counts
    print(
        f"  rows: customers {customers} versions ({current} current), orders {orders}, "
        f"order_events {events}, countries {countries}"
    )
    _print_shop(target, settings.shop_landing)
    audits = sorted((PROJECT_ROOT / "data" / "audit").glob("*/*.csv"))
    if audits:
        print("  failing rows of quality checks (warn rules report, error rules block):")
        for path in audits:
            print(f"    {path.relative_to(PROJECT_ROOT)}")
    print(
        f"\nResults\n"
        f"  warehouse       {target.describe()}  (raw, meta, staging, intermediate, marts,"
        " audit)\n"
        f"  Parquet marts   {settings.exports / 'pncp'}  (<mart>/year=YYYY/month=M)\n"
        f"  raw bodies      {target.anchor.parent / 'payloads' / 'pncp'}  (zstd, by sha256)\n"
        f"  Dagster runs    {home}\n"
        f"  look around     make dev  ->  http://127.0.0.1:3000\n"
        "  query           .venv/bin/pncp query 'FROM marts.contratos_mes LIMIT 5'  (read-only)\n"
        "  datasets        .venv/bin/pncp catalog list   (conf/base under conf/$CATALOG_ENV)\n"
        "  YAML pipeline   .venv/bin/pncp run --pipeline inventory --from-nodes reorders"
        " --params inventory.reorder.safety_days=10\n"
        "  lineage         .venv/bin/pncp lineage export   (run events: data/lineage/events)\n"
        "  shop            .venv/bin/pncp landing status; .venv/bin/pncp quarantine list"
    )
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
