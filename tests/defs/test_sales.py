"""The sales example runs on the dataset catalog: files by default, PostgreSQL and MariaDB
with `CATALOG_ENV=services`, the same assets and no code changed; a dataset that cannot be
read fails its step naming it and writes nothing; no credential leaks into events.
"""

from __future__ import annotations

from pathlib import Path

import dagster as dg
import pandas as pd
import pyarrow.parquet as pq
import pymysql
import pytest
import yaml
from dagster._serdes import serialize_value

from project.defs import sales
from project.lib.datasets import Catalog
from project.settings import PROJECT_ROOT
from tests.conftest import with_password

# The shipped sample: 301 order lines, of which 5 fail validation (2 unknown customers, a
# negative and an unreadable amount, a duplicate); 40 customers.
ORDERS_KEPT, ORDERS_REJECTED, CUSTOMERS = 296, 5, 40
SECRET = "Sekr3t-catalog-pw"


def run_sales(instance: dg.DagsterInstance) -> dg.ExecuteInProcessResult:
    from project.definitions import defs

    definitions = defs()
    keys = dg.AssetSelection.from_string(sales.SELECTION).resolve(definitions.resolve_asset_graph())
    return definitions.resolve_implicit_global_asset_job_def().execute_in_process(
        instance=instance, asset_selection=list(keys), raise_on_error=False
    )


@pytest.fixture
def conf_copy(catalog_conf: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """The catalog's conf copied (tests/conftest.py), the sales data under tmp_path."""
    monkeypatch.setenv("SALES_DATA_DIR", str(tmp_path / "sales"))
    return catalog_conf


def _metadata(result: dg.ExecuteInProcessResult) -> dict[str, dict]:
    events = [
        e for e in result.all_events if e.event_type == dg.DagsterEventType.ASSET_MATERIALIZATION
    ]
    return {
        e.asset_key.path[-1]: {
            k: v.value for k, v in e.step_materialization_data.materialization.metadata.items()
        }
        for e in events
    }


def test_sales_example_runs_on_files(
    conf_copy: Path, tmp_path: Path, instance: dg.DagsterInstance
) -> None:
    result = run_sales(instance)
    assert result.success
    meta = _metadata(result)
    assert meta["orders_clean"]["dagster/row_count"] == ORDERS_KEPT
    assert meta["orders_rejected"]["dagster/row_count"] == ORDERS_REJECTED
    assert meta["customers_clean"]["dagster/row_count"] == CUSTOMERS
    assert meta["orders_clean"]["catalog_env"] == "local"

    out = tmp_path / "sales"
    orders = pd.read_parquet(out / "clean" / "orders.parquet")
    assert len(orders) == ORDERS_KEPT
    assert orders["order_id"].is_unique
    schema = pq.read_schema(out / "clean" / "orders.parquet")
    assert str(schema.field("amount").type) == "decimal128(12, 2)"
    rejected = pd.read_csv(out / "rejected" / "orders_rejected.csv")
    assert sorted(rejected["field"]) == [
        "amount",
        "amount",
        "customer_id",
        "customer_id",
        "order_id",
    ]
    assert "not an amount of at most 10 digits and 2 decimals: 'abc'" in set(rejected["reason"])

    workbooks = list((out / "reports" / "customer_summary.xlsx").glob("*/customer_summary.xlsx"))
    assert len(workbooks) == 1  # versioned: <file>/<version>/<file>
    summary = pd.read_excel(workbooks[0], sheet_name="customers")
    cancelled_free = orders[orders["status"] != "cancelled"]
    assert len(summary) == cancelled_free["customer_id"].nunique()
    assert summary["orders"].sum() == len(cancelled_free)
    report = (out / "reports" / "customer_report.html").read_text()
    assert "<h1>Customers by revenue</h1>" in report
    assert f"{len(summary)} rows" in report


def test_source_datasets_have_an_availability_check(
    conf_copy: Path, tmp_path: Path, instance: dg.DagsterInstance
) -> None:
    from project.definitions import defs

    (conf_copy / "local" / "catalog.yml").write_text(
        yaml.safe_dump({"sales.customers_raw": {"filepath": str(tmp_path / "gone.jsonl")}})
    )
    definitions = defs()
    checks = [
        key
        for key in definitions.resolve_asset_graph().asset_check_keys
        if key.asset_key.path[0] == "sales" and key.name == "available"
    ]
    assert {(c.asset_key.path[-1], c.name) for c in checks} == {
        ("orders_raw", "available"),
        ("customers_raw", "available"),
    }
    job = definitions.resolve_implicit_global_asset_job_def().get_subset(
        asset_selection=set(), asset_check_selection=set(checks)
    )
    result = job.execute_in_process(instance=instance, raise_on_error=False)
    outcome = {e.asset_key.path[-1]: e.passed for e in result.get_asset_check_evaluations()}
    assert outcome == {"orders_raw": True, "customers_raw": False}


def test_a_field_overridden_in_local_keeps_the_base_entry_fields(
    conf_copy: Path, tmp_path: Path, instance: dg.DagsterInstance
) -> None:
    """conf/local changes `filepath` only; the base `load_args` (`sep: ";"`) still apply."""
    lines = (PROJECT_ROOT / "data/samples/sales/orders.csv").read_text().splitlines()
    fewer = tmp_path / "orders_first_100.csv"
    fewer.write_text("\n".join(lines[:101]) + "\n")
    (conf_copy / "local" / "catalog.yml").write_text(
        yaml.safe_dump({"sales.orders_raw": {"filepath": str(fewer)}})
    )
    entry = Catalog.load(conf_copy, root=PROJECT_ROOT).get("sales.orders_raw")
    assert entry.load_args["sep"] == ";"
    assert entry.filepath == fewer

    result = run_sales(instance)
    assert result.success
    orders = pd.read_parquet(tmp_path / "sales" / "clean" / "orders.parquet")
    assert set(orders["order_id"]) <= set(range(1, 101))
    assert len(orders) == 100 - 1  # order 57 has an unknown customer


def test_an_unreadable_source_fails_its_step_naming_the_dataset_and_writes_nothing(
    conf_copy: Path, tmp_path: Path, instance: dg.DagsterInstance
) -> None:
    (conf_copy / "local" / "catalog.yml").write_text(
        yaml.safe_dump({"sales.orders_raw": {"filepath": str(tmp_path / "gone.csv")}})
    )
    result = run_sales(instance)
    assert not result.success
    failures = [e for e in result.all_events if e.event_type == dg.DagsterEventType.STEP_FAILURE]
    message = failures[0].step_failure_data.error.to_string()
    assert "dataset 'sales.orders_raw'" in message
    assert "gone.csv does not exist" in message
    assert not (tmp_path / "sales" / "clean" / "orders.parquet").exists()
    assert not (tmp_path / "sales" / "reports").exists()


@pytest.mark.postgres
@pytest.mark.mysql
def test_services_environment_moves_the_same_assets_to_postgres_and_mariadb(
    conf_copy: Path,
    tmp_path: Path,
    instance: dg.DagsterInstance,
    postgres_database: str,
    mysql_database: dict,
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
) -> None:
    """CATALOG_ENV=services: orders_clean is a PostgreSQL table, customers_clean a MariaDB
    one; the PostgreSQL URL carries a password (trust auth ignores it), which must appear
    in no event, metadata, run config or `catalog describe` output."""
    monkeypatch.setenv("CATALOG_ENV", "services")
    monkeypatch.setenv("SALES_PG_URL", with_password(postgres_database, SECRET))
    mysql_url = f"mysql://root@{mysql_database['host']}:3306/{mysql_database['database']}"
    monkeypatch.setenv("SALES_MYSQL_URL", mysql_url)

    result = run_sales(instance)
    assert result.success
    meta = _metadata(result)
    assert meta["orders_clean"]["catalog_env"] == "services"
    assert meta["orders_clean"]["location"] == "postgres table public.sales_orders_clean"

    import psycopg2

    with psycopg2.connect(postgres_database) as pg, pg.cursor() as cur:
        cur.execute(
            "SELECT count(*), count(DISTINCT order_id), sum(amount) FROM sales_orders_clean"
        )
        rows, distinct, total = cur.fetchone()
    assert rows == distinct == ORDERS_KEPT
    with pymysql.connect(**mysql_database) as my, my.cursor() as cur:
        cur.execute("SELECT count(*) FROM sales_customers_clean")
        assert cur.fetchone()[0] == CUSTOMERS
    # Files were not written: the same datasets now live in the databases.
    assert not (tmp_path / "sales" / "clean").exists()
    summary = (
        Catalog.load(conf_copy, "services", root=PROJECT_ROOT).get("sales.orders_clean").load()
    )
    assert summary["amount"].sum() == total

    from project.cli import app

    with pytest.raises(SystemExit):
        app(["catalog", "describe", "sales.orders_clean"])
    described = capsys.readouterr().out
    assert '"credentials": "sales_pg"' in described

    run = instance.get_run_by_id(result.run_id)
    texts = [serialize_value(entry) for entry in instance.all_logs(result.run_id)]
    texts += [str(run.run_config), described]
    assert texts
    assert not [t for t in texts if SECRET in t]


def test_an_error_rule_blocks_what_is_downstream_and_keeps_the_failing_rows(
    conf_copy: Path, tmp_path: Path, instance: dg.DagsterInstance
) -> None:
    """conf/local makes `sales.orders_clean` allow only `paid`: the blocking check fails,
    the workbook and report are not built; the rejected orders (same step) still are."""
    catalog = yaml.safe_load((conf_copy / "base" / "catalog" / "sales.yml").read_text())
    rules = catalog["sales.orders_clean"]["metadata"]["quality"]
    status = next(r for r in rules if r["rule"] == "allowed_values")
    status["values"] = ["paid"]
    (conf_copy / "local" / "catalog.yml").write_text(
        yaml.safe_dump({"sales.orders_clean": {"metadata": {"quality": rules}}})
    )
    result = run_sales(instance)
    assert not result.success
    checks = {e.check_name: e for e in result.get_asset_check_evaluations()}
    failed = checks["allowed_values_status"]
    assert not failed.passed
    assert failed.severity == dg.AssetCheckSeverity.ERROR
    orders = pd.read_parquet(tmp_path / "sales" / "clean" / "orders.parquet")
    unpaid = int((orders["status"] != "paid").sum())
    assert failed.metadata["failed_rows"].value == unpaid > 0
    audit = Path(failed.metadata["failing_rows_file"].value)
    assert audit == tmp_path / "data" / "audit" / "sales.orders_clean" / "allowed_values_status.csv"
    assert len(pd.read_csv(audit)) == unpaid
    assert len(failed.metadata["sample"].value) == 5
    assert checks["unique_order_id"].passed
    materialized = set(_metadata(result))
    assert {"orders_clean", "orders_rejected", "customers_clean"} <= materialized
    assert not materialized & {"customer_summary", "customer_report"}
