"""A broken catalog fails when it loads, naming the file, the line and the entry; a dataset
that cannot be read or written fails naming itself, and never shows a credential."""

from __future__ import annotations

import traceback
from collections.abc import Callable
from pathlib import Path

import pyarrow as pa
import pytest

from project.lib.datasets import Catalog, CatalogError, DatasetError

PASSWORD = "S3cretPw"


@pytest.fixture
def catalog_yml(tmp_path: Path) -> Path:
    return (tmp_path / "conf" / "base" / "catalog.yml").resolve()


def load_error(catalog_from: Callable[..., Catalog], files: dict[str, str]) -> CatalogError:
    with pytest.raises(CatalogError) as error:
        catalog_from(files)
    return error.value


def test_a_yaml_syntax_error_names_the_file_and_line(
    catalog_from: Callable[..., Catalog], catalog_yml: Path
) -> None:
    error = load_error(
        catalog_from,
        {
            "base/catalog.yml": """
                sales:
                  type: pandas.CSVDataset
                  filepath: data/sales.csv: x
                orders:
                  type: pandas.CSVDataset
            """
        },
    )
    assert (error.file, error.line) == (catalog_yml, 3)
    assert str(error) == f"{catalog_yml}:3: YAML syntax error: mapping values are not allowed here"


def test_an_unknown_type_names_the_entry_and_the_known_types(
    catalog_from: Callable[..., Catalog], catalog_yml: Path
) -> None:
    error = load_error(
        catalog_from,
        {
            "base/catalog.yml": """
                sales:
                  type: pandas.CSVDataset
                  filepath: data/sales.csv
                orders:
                  type: pandas.CSVDatset
                  filepath: data/orders.csv
            """
        },
    )
    assert (error.file, error.line, error.entry) == (catalog_yml, 5, "orders")
    assert f"{catalog_yml}:5: dataset 'orders': unknown type 'pandas.CSVDatset'" in str(error)
    assert "pandas.CSVDataset" in str(error).split("known:")[1]


def test_a_missing_required_field_is_named(
    catalog_from: Callable[..., Catalog], catalog_yml: Path
) -> None:
    error = load_error(
        catalog_from,
        {
            "base/catalog.yml": "orders:\n  type: postgres.TableDataset\n  credentials: pg\n",
            "base/credentials.yml": "pg:\n  con: postgresql://u@h/db\n",
        },
    )
    assert (error.file, error.line, error.entry) == (catalog_yml, 1, "orders")
    assert str(error) == f"{catalog_yml}:1: dataset 'orders': missing required field 'table_name'"


def test_an_entry_without_a_type_is_an_error(
    catalog_from: Callable[..., Catalog], catalog_yml: Path
) -> None:
    error = load_error(catalog_from, {"base/catalog.yml": "orders:\n  filepath: data/o.csv\n"})
    assert str(error) == f"{catalog_yml}:1: dataset 'orders': missing required field 'type'"


def test_an_unknown_field_is_named_at_its_own_line(
    catalog_from: Callable[..., Catalog], catalog_yml: Path
) -> None:
    error = load_error(
        catalog_from,
        {
            "base/catalog.yml": """
                orders:
                  type: pandas.CSVDataset
                  filepath: data/orders.csv
                  save_arg:
                    index: false
            """
        },
    )
    assert (error.line, error.entry) == (4, "orders")
    assert str(error) == (
        f"{catalog_yml}:4: dataset 'orders': unknown field 'save_arg' for pandas.CSVDataset"
    )


def test_an_unknown_field_set_in_an_env_points_at_the_env_file(
    catalog_from: Callable[..., Catalog], tmp_path: Path
) -> None:
    with pytest.raises(CatalogError) as error:
        catalog_from(
            {
                "base/catalog.yml": "orders:\n  type: pandas.CSVDataset\n  filepath: o.csv\n",
                "local/catalog.yml": "# local\norders:\n  file_path: other.csv\n",
            }
        )
    local = (tmp_path / "conf" / "local" / "catalog.yml").resolve()
    assert (error.value.file, error.value.line) == (local, 3)
    assert "unknown field 'file_path'" in str(error.value)


def test_an_entry_that_is_not_a_mapping_is_an_error(
    catalog_from: Callable[..., Catalog], catalog_yml: Path
) -> None:
    error = load_error(catalog_from, {"base/catalog.yml": "orders: data/orders.csv\n"})
    assert (
        str(error) == f"{catalog_yml}:1: dataset 'orders': an entry must be a mapping with a `type`"
    )


def test_a_name_declared_twice_in_one_env_names_both_places(
    catalog_from: Callable[..., Catalog], tmp_path: Path
) -> None:
    entry = "orders:\n  type: pandas.CSVDataset\n  filepath: o.csv\n"
    with pytest.raises(CatalogError) as error:
        catalog_from({"base/catalog.yml": entry, "base/catalog_more.yml": "# more\n" + entry})
    base = (tmp_path / "conf" / "base").resolve()
    assert str(error.value) == (
        f"{base / 'catalog_more.yml'}:2: dataset 'orders': declared twice in one environment "
        f"(also {base / 'catalog.yml'}:1)"
    )


def test_a_missing_env_variable_in_an_entry_is_named(
    catalog_from: Callable[..., Catalog], catalog_yml: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.delenv("SALES_DIR", raising=False)
    error = load_error(
        catalog_from,
        {
            "base/catalog.yml": "orders:\n  type: pandas.CSVDataset\n"
            "  filepath: ${oc.env:SALES_DIR}/o.csv\n"
        },
    )
    assert (error.line, error.entry) == (1, "orders")
    assert "Environment variable 'SALES_DIR' not found" in str(error)


def test_an_undeclared_credential_is_named_at_its_line(
    catalog_from: Callable[..., Catalog], catalog_yml: Path
) -> None:
    error = load_error(
        catalog_from,
        {
            "base/catalog.yml": """
                orders:
                  type: postgres.TableDataset
                  table_name: orders
                  credentials: warehouse_pg
            """,
            "base/credentials.yml": "other_pg:\n  con: postgresql://u@h/db\n",
        },
    )
    assert str(error) == (
        f"{catalog_yml}:4: dataset 'orders': credentials 'warehouse_pg' are not declared"
    )


def test_a_factory_pattern_that_matches_no_needed_name_is_an_error(
    catalog_from: Callable[..., Catalog], catalog_yml: Path
) -> None:
    catalog = catalog_from(
        {
            "base/catalog.yml": """
                orders:
                  type: pandas.CSVDataset
                  filepath: data/orders.csv
                "{name}_raw":
                  type: pandas.CSVDataset
                  filepath: data/raw/{name}.csv
            """
        }
    )
    with pytest.raises(CatalogError) as error:
        catalog.check_names(["orders"])
    assert (error.value.file, error.value.line, error.value.entry) == (catalog_yml, 4, "{name}_raw")
    assert "this factory pattern matches no dataset" in str(error.value)


def test_check_names_reports_every_name_nothing_serves(
    catalog_from: Callable[..., Catalog],
) -> None:
    catalog = catalog_from(
        {"base/catalog.yml": '"{name}_raw":\n  type: pandas.CSVDataset\n  filepath: r/{name}.csv\n'}
    )
    with pytest.raises(CatalogError, match="no entry or factory serves customers, orders"):
        catalog.check_names(["sales_raw", "orders", "customers"])


def test_a_name_nothing_serves_is_an_error_naming_it(catalog_from: Callable[..., Catalog]) -> None:
    catalog = catalog_from(
        {"base/catalog.yml": '"{name}_raw":\n  type: pandas.CSVDataset\n  filepath: r/{name}.csv\n'}
    )
    assert "orders" not in catalog
    with pytest.raises(CatalogError) as error:
        catalog.get("orders")
    assert error.value.entry == "orders"
    assert "dataset 'orders': no entry and no factory pattern serves 'orders'" in str(error.value)


def test_an_env_without_a_folder_is_an_error(catalog_from: Callable[..., Catalog]) -> None:
    with pytest.raises(CatalogError, match=r"environment 'staging' \(CATALOG_ENV\) has no folder"):
        catalog_from({"base/catalog.yml": ""}, env="staging")


# At run time.


def test_loading_a_missing_file_names_the_dataset_and_the_file(
    catalog_from: Callable[..., Catalog], tmp_path: Path
) -> None:
    catalog = catalog_from(
        {"base/catalog.yml": "orders:\n  type: pandas.CSVDataset\n  filepath: data/orders.csv\n"}
    )
    with pytest.raises(DatasetError) as error:
        catalog.get("orders").load()
    assert str(error.value) == (
        f"dataset 'orders': file {tmp_path.resolve() / 'data' / 'orders.csv'} does not exist"
    )


def test_loading_a_missing_excel_sheet_names_the_dataset_and_the_sheet(
    catalog_from: Callable[..., Catalog],
) -> None:
    catalog = catalog_from(
        {
            "base/catalog.yml": """
                orders:
                  type: pandas.ExcelDataset
                  filepath: data/orders.xlsx
                  save_args:
                    sheet_name: Orders
                  load_args:
                    sheet_name: Pedidos
            """
        }
    )
    dataset = catalog.get("orders")
    dataset.save(pa.table({"id": [1, 2]}))
    with pytest.raises(DatasetError) as error:
        dataset.load()
    assert "dataset 'orders': cannot read" in str(error.value)
    assert "Pedidos" in str(error.value)  # DuckDB: Sheet "Pedidos" not found; openpyxl: Worksheet


UNREACHABLE = {
    "postgres": ("postgres.TableDataset", f"postgresql://postgres:{PASSWORD}@127.0.0.1:1/test"),
    "mysql": ("mysql.TableDataset", f"mysql://root:{PASSWORD}@127.0.0.1:1/test"),
    "sql": ("pandas.SQLTableDataset", f"postgresql://postgres:{PASSWORD}@127.0.0.1:1/test"),
}


@pytest.mark.parametrize("kind", list(UNREACHABLE))
@pytest.mark.parametrize("action", ["load", "save", "exists"])
def test_an_unreachable_database_names_the_dataset_and_never_the_password(
    kind: str, action: str, catalog_from: Callable[..., Catalog]
) -> None:
    kind_type, url = UNREACHABLE[kind]
    catalog = catalog_from(
        {
            "base/catalog.yml": f"orders:\n  type: {kind_type}\n  table_name: orders\n"
            "  credentials: db\n",
            "base/credentials.yml": f"db:\n  con: {url}\n",
        }
    )
    dataset = catalog.get("orders")
    act = {
        "load": dataset.load,
        "save": lambda: dataset.save(pa.table({"id": [1]})),
        "exists": dataset.exists,
    }[action]
    with pytest.raises(DatasetError) as error:
        act()
    message = str(error.value)
    assert message.startswith("dataset 'orders': ")
    assert "127.0.0.1" in message  # where it tried
    shown = "".join(traceback.format_exception(error.value))
    assert PASSWORD not in shown


def test_an_unreachable_ducklake_catalog_never_shows_the_password(
    catalog_from: Callable[..., Catalog], tmp_path: Path
) -> None:
    catalog = catalog_from(
        {
            "base/catalog.yml": "orders:\n  type: duckdb.TableDataset\n  table_name: orders\n"
            "  credentials: lake\n",
            "base/credentials.yml": f"lake:\n  catalog: postgresql://postgres:{PASSWORD}@127.0.0.1:1/"
            f"test\n  data_path: {tmp_path / 'lake'}\n",
        }
    )
    with pytest.raises(DatasetError) as error:
        catalog.get("orders").load()
    assert str(error.value).startswith("dataset 'orders': cannot read duckdb table main.orders")
    assert PASSWORD not in "".join(traceback.format_exception(error.value))


def test_a_missing_credentials_env_variable_is_named_when_the_dataset_connects(
    catalog_from: Callable[..., Catalog], monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.delenv("ORDERS_PG_URL", raising=False)
    catalog = catalog_from(
        {
            "base/catalog.yml": "orders:\n  type: postgres.TableDataset\n  table_name: orders\n"
            "  credentials: orders_pg\n",
            "base/credentials.yml": "orders_pg:\n  con: ${oc.env:ORDERS_PG_URL}\n",
        }
    )
    dataset = catalog.get("orders")  # the catalog loads: the variable is needed on use only
    with pytest.raises(DatasetError) as error:
        dataset.load()
    assert str(error.value).startswith(
        "dataset 'orders': credentials 'orders_pg' cannot be resolved:"
    )
    assert "Environment variable 'ORDERS_PG_URL' not found" in str(error.value)


def test_a_factory_entry_is_validated_for_each_name_it_serves_when_checked(
    catalog_from: Callable[..., Catalog],
) -> None:
    catalog = catalog_from(
        {"base/catalog.yml": '"{name}_raw":\n  type: pandas.CSVDataset\n  filepth: x.csv\n'}
    )
    with pytest.raises(CatalogError) as error:
        catalog.check_names(["orders_raw"])
    assert str(error.value).endswith(
        "catalog.yml:1: dataset '{name}_raw': missing required field 'filepath'"
    )


def test_a_remote_filepath_is_refused_when_the_catalog_loads(
    catalog_from: Callable[..., Catalog],
) -> None:
    with pytest.raises(CatalogError) as error:
        catalog_from(
            {"base/catalog.yml": "o:\n  type: pandas.CSVDataset\n  filepath: s3://b/o.csv\n"}
        )
    assert "dataset 'o': field 'filepath'" in str(error.value)
    assert "only local paths are supported" in str(error.value)
