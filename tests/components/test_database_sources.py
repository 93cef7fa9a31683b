"""The catalog's database sources as Dagster assets: the CRM example copied from its SQLite
file, twice with a day of changes between, with the metadata and checks operators read;
the same tables from PostgreSQL with `CATALOG_ENV=services`; a failing table named while
the others are still copied, and no password in the run's events."""

from __future__ import annotations

from pathlib import Path

import dagster as dg
import duckdb
import pytest
import yaml
from dagster._serdes import serialize_value

from project.lib.crm import seed
from project.settings import get_settings
from tests.conftest import with_password

SECRET = "Sekr3t-crm-pw"


@pytest.fixture
def crm(catalog_conf: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """The CRM database seeded under tmp_path, a warehouse of the test's own."""
    database = tmp_path / "crm.sqlite"
    seed.create(database)
    monkeypatch.setenv("CRM_SQLITE", str(database))
    monkeypatch.setenv("WAREHOUSE_PATH", str(tmp_path / "warehouse.duckdb"))
    get_settings.cache_clear()
    return database


def _materialize(instance: dg.DagsterInstance) -> dg.ExecuteInProcessResult:
    from project.definitions import defs

    definitions = defs()
    keys = dg.AssetSelection.groups("crm_source").resolve(definitions.resolve_asset_graph())
    return definitions.resolve_implicit_global_asset_job_def().execute_in_process(
        instance=instance, asset_selection=list(keys), raise_on_error=False
    )


def _metadata(result: dg.ExecuteInProcessResult) -> dict[str, dict]:
    found = {}
    for event in result.get_asset_materialization_events():
        materialization = event.step_materialization_data.materialization
        found[materialization.asset_key.path[-1]] = {
            k: v.value for k, v in materialization.metadata.items()
        }
    return found


def _warehouse_rows(sql: str) -> list[tuple]:
    with duckdb.connect(str(get_settings().warehouse), read_only=True) as conn:
        return conn.execute(sql).fetchall()


def test_crm_tables_are_assets_grouped_by_source_with_checks_and_a_cron() -> None:
    from project.definitions import defs

    graph = defs().resolve_asset_graph()
    keys = {k for k in graph.get_all_asset_keys() if k.path[0] == "crm"}
    assert {k.path[-1] for k in keys} == {"customers", "orders", "order_events", "countries"}
    orders = graph.get(dg.AssetKey(["crm", "orders"]))
    assert orders.group_name == "crm_source"
    assert orders.metadata["mode"] == "merge"
    assert orders.metadata["dagster/table_name"] == "crm.orders"
    assert "copied as merge: upserted by order_id" in orders.description
    assert orders.automation_condition is not None  # refresh_cron
    checks = {c.asset_key.path[-1] for c in graph.asset_check_keys if c.asset_key.path[0] == "crm"}
    assert checks == {"customers", "orders", "countries"}  # append tables only grow


def test_the_crm_example_copies_changes_incrementally(
    crm: Path, instance: dg.DagsterInstance
) -> None:
    first = _materialize(instance)
    assert first.success
    meta = _metadata(first)
    assert meta["orders"]["rows_inserted"] == 1000
    assert meta["customers"]["dagster/row_count"] == 200
    changed = seed.change(crm)
    second = _materialize(instance)
    assert second.success
    meta = _metadata(second)
    orders = meta["orders"]
    assert (orders["rows_inserted"], orders["rows_updated"], orders["rows_deleted"]) == (
        changed["orders_inserted"],
        changed["orders_updated"],
        changed["orders_deleted"],
    )
    assert orders["cursor"] == "2024-07-02 08:00:00"
    assert orders["dagster/row_count"] == orders["source_rows"] == 1000 + 21 - 5
    assert meta["customers"]["rows_updated"] == changed["customers_updated"]
    assert meta["order_events"]["rows_inserted"] == changed["events_inserted"]
    assert (meta["countries"]["rows_inserted"], meta["countries"]["rows_updated"]) == (1, 1)
    checks = second.get_asset_check_evaluations()
    assert len(checks) == 3
    assert all(c.passed for c in checks)
    versions = _warehouse_rows("SELECT count(*), count(*) FILTER (_is_current) FROM crm.customers")
    assert versions == [(205 + changed["customers_updated"], 205)]


@pytest.mark.postgres
def test_services_reads_the_same_tables_from_postgres_and_a_failing_table_is_named(
    crm: Path,
    catalog_conf: Path,
    postgres_database: str,
    instance: dg.DagsterInstance,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    import psycopg2

    with psycopg2.connect(postgres_database) as conn, conn.cursor() as cur:
        cur.execute("CREATE SCHEMA crm")
        cur.execute(
            "CREATE TABLE crm.orders (order_id int PRIMARY KEY, status text, "
            "updated_at timestamptz NOT NULL)"
        )
        cur.execute(
            "INSERT INTO crm.orders SELECT g, 'paid', '2024-07-01'::timestamptz + g * "
            "interval '1 minute' FROM generate_series(1, 300) g"
        )
        cur.execute("CREATE TABLE crm.countries (code text PRIMARY KEY, name text)")
        cur.execute("INSERT INTO crm.countries VALUES ('BR', 'Brazil')")
        # customers without its cursor column; order_events missing altogether
        cur.execute("CREATE TABLE crm.customers (customer_id int PRIMARY KEY, name text)")
    # The trust-authenticated server ignores the password: it only has to stay secret.
    url = with_password(postgres_database, SECRET)
    monkeypatch.setenv("CATALOG_ENV", "services")
    monkeypatch.setenv("CRM_PG_URL", url)
    result = _materialize(instance)
    assert not result.success
    meta = _metadata(result)
    assert set(meta) == {"orders", "countries"}
    assert meta["orders"]["dagster/row_count"] == 300
    [failure] = result.get_step_failure_events()
    reason = failure.step_failure_data.user_failure_data.description
    assert "table 'customers': no column 'updated_at' (declared as its cursor)" in reason
    assert "table 'order_events': no such table in postgres://127.0.0.1:5432/" in reason
    texts = [serialize_value(entry) for entry in instance.all_logs(result.run_id)]
    assert texts
    assert not [t for t in texts if SECRET in t]
    assert (
        yaml.safe_load((catalog_conf / "services" / "catalog.yml").read_text())["crm.source"][
            "credentials"
        ]
        == "crm_pg"
    )


def test_the_row_count_check_allows_deletes_awaiting_their_check_but_never_missing_rows() -> None:
    from project.components.database_sources import _row_count_check
    from project.lib.cdc.sync import TableSync

    key = dg.AssetKey(["crm", "orders"])

    def check(source: int, target: int, deletes_checked: bool) -> dg.AssetCheckResult:
        result = TableSync("crm.source", "orders", "merge", "crm.orders")
        result.source_rows, result.target_rows = source, target
        result.deletes_checked = deletes_checked
        return _row_count_check(key, result)

    assert check(100, 100, True).passed
    assert not check(100, 103, True).passed
    waiting = check(100, 103, False)
    assert waiting.passed
    assert waiting.description == "3 rows deleted in the source await the next delete check"
    assert not check(100, 97, False).passed  # rows missing from the copy: never fine
