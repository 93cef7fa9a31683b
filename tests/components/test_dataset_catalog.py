"""The DatasetCatalog component: what it builds from the catalog, and a malformed catalog
failing when the definitions load (before any run), naming file, line and entry."""

from __future__ import annotations

from pathlib import Path

import dagster as dg
import pytest
import yaml

from project.components.dataset_catalog import DatasetCatalog
from project.lib.datasets import CatalogError


@pytest.fixture
def conf(catalog_conf: Path) -> Path:
    return catalog_conf


def build(namespace: str = "sales") -> dg.Definitions:
    component = DatasetCatalog(namespace=namespace, asset_modules=["project.defs.sales.assets"])
    return component.build_defs(None)  # type: ignore[arg-type]  # the context is not used


def test_builds_nodes_sources_checks_and_the_io_manager(conf: Path) -> None:
    defs = build()
    graph = defs.resolve_asset_graph()
    sources = {
        k.to_user_string() for k in graph.get_all_asset_keys() if not graph.get(k).is_materializable
    }
    assert sources == {"sales/orders_raw", "sales/customers_raw"}
    assert graph.get(dg.AssetKey(["sales", "orders_raw"])).kinds == {"csv"}
    checks = {(c.asset_key.path[-1], c.name) for c in graph.asset_check_keys}
    assert {c for c in checks if c[1] == "available"} == {
        ("orders_raw", "available"),
        ("customers_raw", "available"),
    }
    # Quality rules from the catalog's metadata, on sources and produced datasets alike.
    assert {("customers_raw", "unique_customer_id"), ("orders_clean", "unique_order_id"),
            ("customer_summary", "row_count")} <= checks  # fmt: skip

    assert set(defs.resources or {}) == {"catalog"}
    assert defs.resources["catalog"].env is None  # chosen by CATALOG_ENV at run time


def _append(conf: Path, text: str) -> Path:
    path = conf / "base" / "catalog" / "sales.yml"
    path.write_text(path.read_text() + text)
    return path


def test_an_unknown_type_fails_naming_file_line_and_entry(conf: Path) -> None:
    path = _append(conf, "\nsales.extra:\n  type: pandas.CSVDatset\n  filepath: x.csv\n")
    line = len(path.read_text().splitlines()) - 1  # the `type:` line
    with pytest.raises(CatalogError) as error:
        build()
    assert str(error.value).startswith(f"{path}:{line}: dataset 'sales.extra': unknown type")


def test_a_factory_pattern_matching_no_dataset_fails(conf: Path) -> None:
    (conf / "local" / "catalog.yml").write_text(
        yaml.safe_dump(
            {"sales.{name}_archive": {"type": "pandas.CSVDataset", "filepath": "a/{name}.csv"}}
        )
    )
    with pytest.raises(CatalogError) as error:
        build()
    assert str(error.value) == (
        f"{conf / 'local' / 'catalog.yml'}:1: dataset 'sales.{{name}}_archive': "
        "this factory pattern matches no dataset"
    )


def test_an_undeclared_credential_fails_before_any_run(conf: Path) -> None:
    path = _append(
        conf,
        "\nsales.mirror:\n  type: postgres.TableDataset\n  table_name: m\n  credentials: nope\n",
    )
    line = len(path.read_text().splitlines())
    with pytest.raises(CatalogError) as error:
        build()
    assert (
        str(error.value)
        == f"{path}:{line}: dataset 'sales.mirror': credentials 'nope' are not declared"
    )


def test_a_yaml_syntax_error_names_file_and_line(conf: Path) -> None:
    path = _append(conf, "\nsales.broken: {type: pandas.CSVDataset, filepath: [x.csv}\n")
    with pytest.raises(CatalogError) as error:
        build()
    assert str(error.value).startswith(
        f"{path}:{len(path.read_text().splitlines())}: YAML syntax error"
    )


def test_a_dependency_outside_the_namespace_is_not_made_a_source(
    conf: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    (tmp_path / "sales_extra_nodes.py").write_text(
        "import dagster as dg\n\n"
        "@dg.asset(key=['sales', 'orders_raw_copy'], deps=[dg.AssetKey(['marts', 'x'])],\n"
        "          io_manager_key='catalog')\n"
        "def copy():\n    return None\n"
    )
    monkeypatch.syspath_prepend(str(tmp_path))
    (conf / "local" / "catalog.yml").write_text(
        yaml.safe_dump(
            {"sales.orders_raw_copy": {"type": "pandas.CSVDataset", "filepath": "c.csv"}}
        )
    )
    modules = ["project.defs.sales.assets", "sales_extra_nodes"]
    defs = DatasetCatalog(namespace="sales", asset_modules=modules).build_defs(None)  # type: ignore[arg-type]
    sources = {a.key.to_user_string() for a in defs.assets or [] if isinstance(a, dg.AssetSpec)}
    assert sources == {"sales/orders_raw", "sales/customers_raw"}  # not marts/x
