"""The catalog's YAML: environments merged field by field over base, interpolation from the
environment, shared values and globals, and dataset factories ranked as Kedro ranks them."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

import pyarrow as pa
import pytest

from project.lib.datasets import Catalog
from project.lib.datasets.databases import PostgresTableDataset
from project.lib.datasets.files import CSVDataset

BASE_SALES = """
sales:
  type: pandas.CSVDataset
  filepath: data/base/sales.csv
  load_args:
    sep: ";"
  save_args:
    sep: ";"
"""


def test_an_env_field_override_keeps_the_base_entrys_other_fields(
    catalog_from: Callable[..., Catalog], tmp_path: Path
) -> None:
    catalog = catalog_from(
        {
            "base/catalog.yml": BASE_SALES,
            "local/catalog.yml": "sales:\n  filepath: data/local/sales.csv\n",
        }
    )
    dataset = catalog.get("sales")

    assert isinstance(dataset, CSVDataset)
    assert dataset.filepath == tmp_path / "data" / "local" / "sales.csv"
    assert dataset.load_args == {"sep": ";"}
    dataset.save(pa.table({"a": [1], "b": ["x"]}))
    assert (tmp_path / "data" / "local" / "sales.csv").read_text().splitlines() == ["a;b", "1;x"]


def test_an_env_entry_of_another_type_replaces_the_base_entry(
    catalog_from: Callable[..., Catalog],
) -> None:
    catalog = catalog_from(
        {
            "base/catalog.yml": BASE_SALES,
            "services/catalog.yml": """
                sales:
                  type: postgres.TableDataset
                  table_name: sales
                  credentials: pg
            """,
            "services/credentials.yml": "pg:\n  con: postgresql://postgres@127.0.0.1:5432/test\n",
        },
        env="services",
    )
    dataset = catalog.get("sales")

    assert isinstance(dataset, PostgresTableDataset)
    assert dataset.table_name == "sales"
    assert dataset.load_args == {}  # nothing of the CSV entry is left
    assert "filepath" not in dataset.describe()


def test_an_entry_of_the_base_only_is_kept_in_the_env(
    catalog_from: Callable[..., Catalog], tmp_path: Path
) -> None:
    catalog = catalog_from(
        {
            "base/catalog.yml": BASE_SALES,
            "local/catalog.yml": "other:\n  type: pandas.ParquetDataset\n  filepath: o.parquet\n",
        }
    )
    assert catalog.names() == ["other", "sales"]
    assert catalog.get("sales").filepath == tmp_path / "data" / "base" / "sales.csv"


def test_oc_env_interpolates_environment_variables_into_entries(
    catalog_from: Callable[..., Catalog], monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    monkeypatch.setenv("SALES_DIR", "exports/2024")
    catalog = catalog_from(
        {
            "base/catalog.yml": """
                sales:
                  type: pandas.CSVDataset
                  filepath: ${oc.env:SALES_DIR}/sales.csv
            """
        }
    )
    assert catalog.get("sales").filepath == tmp_path / "exports" / "2024" / "sales.csv"


def test_credentials_take_their_values_from_the_environment_when_used(
    catalog_from: Callable[..., Catalog], monkeypatch: pytest.MonkeyPatch
) -> None:
    catalog = catalog_from(
        {
            "base/catalog.yml": "sales:\n  type: postgres.TableDataset\n  table_name: s\n"
            "  credentials: pg\n",
            "base/credentials.yml": "pg:\n  con: ${oc.env:SALES_PG_URL}\n",
        }
    )
    dataset = catalog.get("sales")  # built before the variable is set: resolved on use
    monkeypatch.setenv("SALES_PG_URL", "postgresql://reader:pw@db.example:5433/sales")

    assert dataset.credential_values() == {"con": "postgresql://reader:pw@db.example:5433/sales"}


def test_shared_values_interpolate_and_are_not_datasets(
    catalog_from: Callable[..., Catalog], tmp_path: Path
) -> None:
    catalog = catalog_from(
        {
            "base/catalog.yml": """
                _csv: &csv
                  type: pandas.CSVDataset
                  load_args:
                    sep: "|"
                _folder: data/shared
                orders:
                  <<: *csv
                  filepath: ${_folder}/orders.csv
                customers:
                  type: pandas.ParquetDataset
                  filepath: ${_folder}/customers.parquet
            """
        }
    )
    assert catalog.names() == ["customers", "orders"]
    assert catalog.get("orders").filepath == tmp_path / "data" / "shared" / "orders.csv"
    assert catalog.get("orders").load_args == {"sep": "|"}
    assert catalog.get("customers").filepath == tmp_path / "data" / "shared" / "customers.parquet"


def test_globals_interpolate_from_the_envs_globals_file(
    catalog_from: Callable[..., Catalog], tmp_path: Path
) -> None:
    catalog = catalog_from(
        {
            "base/globals.yml": "folders:\n  raw: data/01_raw\nformat: pandas.ParquetDataset\n",
            "local/globals.yml": "folders:\n  raw: data/local_raw\n",
            "base/catalog.yml": """
                sales:
                  type: ${globals:format}
                  filepath: ${globals:folders.raw}/sales.parquet
            """,
        }
    )
    dataset = catalog.get("sales")
    assert dataset.type == "pandas.ParquetDataset"
    assert dataset.filepath == tmp_path / "data" / "local_raw" / "sales.parquet"


FACTORIES = """
"{a}_{b}":
  type: pandas.CSVDataset
  filepath: data/two/{a}/{b}.csv
"{name}_raw":
  type: pandas.CSVDataset
  filepath: data/raw/{name}.csv
"{default}":
  type: pandas.ParquetDataset
  filepath: data/default/{default}.parquet
"""


@pytest.mark.parametrize(
    ("name", "pattern", "filepath"),
    [
        ("sales_raw", "{name}_raw", "data/raw/sales.csv"),
        ("sales_clean", "{a}_{b}", "data/two/sales/clean.csv"),
        ("sales", "{default}", "data/default/sales.parquet"),
    ],
)
def test_the_most_specific_factory_pattern_serves_a_name(
    name: str,
    pattern: str,
    filepath: str,
    catalog_from: Callable[..., Catalog],
    tmp_path: Path,
) -> None:
    catalog = catalog_from({"base/catalog.yml": FACTORIES})

    assert catalog.resolve(name) == pattern
    dataset = catalog.get(name)
    assert dataset.name == name
    assert dataset.filepath == tmp_path / filepath


def test_an_explicit_entry_wins_over_every_pattern(catalog_from: Callable[..., Catalog]) -> None:
    catalog = catalog_from(
        {
            "base/catalog.yml": FACTORIES
            + "sales_raw:\n  type: pandas.JSONDataset\n  filepath: s.json\n"
        }
    )
    assert catalog.resolve("sales_raw") == "sales_raw"
    assert catalog.get("sales_raw").type == "pandas.JSONDataset"


def test_equally_specific_patterns_prefer_more_placeholders_then_alphabetical_order(
    catalog_from: Callable[..., Catalog],
) -> None:
    """Kedro's tie-breaks: "{x}.{y}_{z}" and "{x}.{y}z" have two literal characters each;
    the one with more placeholders wins. "{p}-x" and "{q}-x" tie on both: "{p}-x" sorts first."""
    catalog = catalog_from(
        {
            "base/catalog.yml": """
                "{x}.{y}z":
                  type: pandas.CSVDataset
                  filepath: fewer.csv
                "{x}.{y}_{z}":
                  type: pandas.CSVDataset
                  filepath: more.csv
                "{q}-x":
                  type: pandas.CSVDataset
                  filepath: q.csv
                "{p}-x":
                  type: pandas.CSVDataset
                  filepath: p.csv
            """
        }
    )
    assert catalog.resolve("ns.a_z") == "{x}.{y}_{z}"
    assert catalog.resolve("n-x") == "{p}-x"


def test_a_factory_fills_placeholders_in_nested_fields_and_credentials(
    catalog_from: Callable[..., Catalog],
) -> None:
    catalog = catalog_from(
        {
            "base/catalog.yml": """
                "{db}.{table}":
                  type: postgres.TableDataset
                  table_name: "{table}"
                  credentials: "{db}_creds"
                  load_args:
                    schema: "{db}"
            """,
            "base/credentials.yml": "sales_creds:\n  con: postgresql://u@h/sales\n",
        }
    )
    dataset = catalog.get("sales.orders")
    assert (dataset.table_name, dataset.schema_name) == ("orders", "sales")
    assert dataset.credential_values() == {"con": "postgresql://u@h/sales"}


def test_describe_tells_where_a_name_is_served_from(
    catalog_from: Callable[..., Catalog], write_conf: Callable[[dict[str, str]], Path]
) -> None:
    catalog = catalog_from({"base/catalog.yml": FACTORIES})
    described = catalog.describe("orders_raw")
    conf = write_conf({})
    assert described["served_by"] == "{name}_raw"
    assert described["declared_at"] == f"{conf.resolve() / 'base' / 'catalog.yml'}:4"
    assert described["env"] == "local"
