"""OpenLineage dataset names of catalog entries, as the naming spec has them: files by
absolute path, PostgreSQL and MySQL tables by host, port, database (schema) and table,
DuckDB files and DuckLake catalogs by their own namespaces; never a user or a password,
and a connection that cannot be resolved named `unresolved` instead of failing."""

from __future__ import annotations

from pathlib import Path

import pytest

from project.lib.datasets import Catalog
from project.lib.lineage import naming
from project.lib.lineage.model import DatasetName

PASSWORD = "S3cret-n4ming"

CATALOG = """
orders_csv:
  type: pandas.CSVDataset
  filepath: data/orders.csv
by_month:
  type: parquet.PartitionedDataset
  path: {root}/by_month
  partition_by: month
pg_orders:
  type: postgres.TableDataset
  table_name: orders
  schema: sales
  credentials: pg
pg_default_port:
  type: postgres.TableDataset
  table_name: orders
  credentials: pg_no_port
kedro_mysql:
  type: pandas.SQLTableDataset
  table_name: customers
  credentials: maria
mysql_other_db:
  type: mysql.TableDataset
  table_name: customers
  schema: crm
  credentials: maria
local_duckdb:
  type: duckdb.TableDataset
  table_name: totals
  schema: marts
  database: {root}/wh/shop.duckdb
lake_table:
  type: duckdb.TableDataset
  table_name: events
  credentials: lake
unset_pg:
  type: postgres.TableDataset
  table_name: orders
  credentials: unset
unset_kedro:
  type: pandas.SQLTableDataset
  table_name: orders
  credentials: unset
"""

CREDENTIALS = f"""
pg:
  con: postgresql://etl:{PASSWORD}@db.example:6543/warehouse
pg_no_port:
  con: postgresql://etl:{PASSWORD}@db.example/warehouse
maria:
  con: mysql://root:{PASSWORD}@maria.example:3307/shop
lake:
  catalog: postgresql://lake:{PASSWORD}@catalog.example:5432/lakecat
  data_path: /tmp/lake
unset:
  con: ${{oc.env:TEST_LINEAGE_UNSET_URL}}
"""


@pytest.fixture
def catalog(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Catalog:
    monkeypatch.delenv("TEST_LINEAGE_UNSET_URL", raising=False)
    conf = tmp_path / "conf"
    (conf / "base").mkdir(parents=True)
    (conf / "base" / "catalog.yml").write_text(CATALOG.format(root=tmp_path))
    (conf / "base" / "credentials.yml").write_text(CREDENTIALS)
    return Catalog.load(conf, env="base", root=tmp_path)


EXPECTED = {
    "pg_orders": ("postgres://db.example:6543", "warehouse.sales.orders"),
    "pg_default_port": ("postgres://db.example:5432", "warehouse.public.orders"),
    "kedro_mysql": ("mysql://maria.example:3307", "shop.customers"),
    "mysql_other_db": ("mysql://maria.example:3307", "crm.customers"),
    "lake_table": ("ducklake://catalog.example:5432/lakecat", "main.events"),
    "unset_pg": ("postgres://unresolved", "public.orders"),
    "unset_kedro": ("sql://unresolved", "orders"),
}


def test_catalog_entries_are_named_by_place_without_credentials(
    catalog: Catalog, tmp_path: Path
) -> None:
    named = {name: naming.catalog_dataset(catalog.get(name)) for name in EXPECTED}
    assert {k: (v.namespace, v.name) for k, v in named.items()} == EXPECTED
    assert naming.catalog_dataset(catalog.get("orders_csv")) == DatasetName(
        "file", str((tmp_path / "data" / "orders.csv").resolve())
    )
    assert naming.catalog_dataset(catalog.get("by_month")) == DatasetName(
        "file", str((tmp_path / "by_month").resolve())
    )
    database = (tmp_path / "wh" / "shop.duckdb").resolve()
    assert naming.catalog_dataset(catalog.get("local_duckdb")) == DatasetName(
        f"duckdb://{database}", "shop.marts.totals"
    )
    every = [naming.catalog_dataset(catalog.get(n)) for n in [*EXPECTED, "local_duckdb"]]
    for dataset in every:
        text = f"{dataset.namespace} {dataset.name}"
        assert PASSWORD not in text
        assert "etl" not in text
        assert "root" not in text


def test_urls_lose_user_and_password_and_get_default_ports() -> None:
    url = f"postgresql://etl:{PASSWORD}@10.0.0.5/sales"
    assert naming.table_dataset("postgres", url, None, "t") == DatasetName(
        "postgres://10.0.0.5:5432", "sales.public.t"
    )
    assert naming.table_dataset("mysql", f"mysql://u:{PASSWORD}@h/db", None, "t") == DatasetName(
        "mysql://h:3306", "db.t"
    )
    assert naming.table_dataset("mysql", None, "db", "t") == DatasetName(
        "mysql://unresolved", "db.t"
    )


def test_files_and_warehouses(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.chdir(tmp_path)
    assert naming.file_dataset("a/../b.csv") == DatasetName("file", str(tmp_path / "b.csv"))
    assert naming.warehouse_namespace("duckdb", Path("wh.duckdb")) == (
        f"duckdb://{tmp_path / 'wh.duckdb'}"
    )
    assert naming.warehouse_namespace("ducklake", Path("x"), "pg:5432/cat", "lake") == (
        "ducklake://pg:5432/cat/lake"
    )
    assert naming.warehouse_namespace("ducklake", Path("x")) == "ducklake://unresolved/ducklake"
    assert naming.asset_dataset("loc", "a/b") == DatasetName("dagster://loc", "a/b")
