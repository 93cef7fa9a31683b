"""`pncp catalog`: list, describe (credentials masked), resolve, export to every format.

Each test runs the console script against a small catalog of its own (`--conf`), whose
datasets were written through the dataset layer first.
"""

from __future__ import annotations

import gzip
import json
from pathlib import Path

import pandas as pd
import pyarrow.parquet as pq
import pytest
import yaml

from project.lib.datasets import Catalog
from project.settings import PROJECT_ROOT
from tests.cli.conftest import run_pncp

SECRET = "Sekr3t-in-credentials"


@pytest.fixture(scope="module")
def conf(tmp_path_factory: pytest.TempPathFactory) -> Path:
    root = tmp_path_factory.mktemp("catalog_cli")
    base = root / "conf" / "base"
    base.mkdir(parents=True)
    (root / "conf" / "local").mkdir()
    (base / "catalog.yml").write_text(
        yaml.safe_dump(
            {
                "orders": {"type": "pandas.ParquetDataset", "filepath": str(root / "orders.pq")},
                "{name}_raw": {"type": "pandas.CSVDataset", "filepath": str(root / "{name}.csv")},
                "warehouse_orders": {
                    "type": "pandas.SQLTableDataset",
                    "table_name": "orders",
                    "credentials": "warehouse_pg",
                },
            }
        )
    )
    (base / "credentials.yml").write_text(
        yaml.safe_dump({"warehouse_pg": {"con": f"postgresql://app:{SECRET}@db.internal/x"}})
    )
    frame = pd.DataFrame(
        {
            "order_id": range(1, 8),
            "month": ["2024-01"] * 4 + ["2024-02"] * 3,
            "city": ["São Paulo", "Recife", None, "Belém", "Natal", "Recife", "Salvador"],
        }
    )
    Catalog.load(root / "conf", root=PROJECT_ROOT).get("orders").save(frame)
    return root / "conf"


def test_list_shows_datasets_and_factories_in_ranking_order(conf: Path) -> None:
    result = run_pncp("catalog", "list", "--conf", str(conf))
    assert result.code == 0, result.output
    assert "catalog environment: local" in result.stdout
    assert "orders" in result.stdout
    assert "pandas.SQLTableDataset" in result.stdout
    assert "{name}_raw  (pandas.CSVDataset)" in result.stdout


def test_describe_masks_credentials(conf: Path) -> None:
    result = run_pncp("catalog", "describe", "warehouse_orders", "--conf", str(conf))
    assert result.code == 0, result.output
    described = json.loads(result.stdout)
    assert described["credentials"] == "warehouse_pg"
    assert described["declared_at"].endswith("base/catalog.yml:4")  # keys sorted by safe_dump
    assert SECRET not in result.output


def test_resolve_names_the_serving_entry_or_pattern(conf: Path) -> None:
    result = run_pncp(
        "catalog", "resolve", "orders", "customers_raw", "nowhere", "--conf", str(conf)
    )
    assert result.code == 0, result.output
    lines = {
        line.split("|")[0].strip(): line.split("|")[1].strip()
        for line in result.stdout.splitlines()[2:]
    }
    assert lines == {
        "orders": "orders",
        "customers_raw": "{name}_raw",
        "nowhere": "(nothing: not in the catalog)",
    }


def test_resolve_defaults_to_the_code_locations_catalog_assets() -> None:
    result = run_pncp("catalog", "resolve")
    assert result.code == 0, result.output
    served = {
        line.split("|")[0].strip(): line.split("|")[1].strip()
        for line in result.stdout.splitlines()[2:]
    }
    assert served["sales.orders_clean"] == "sales.orders_clean"
    assert served["sales.customers_clean"] == "sales.{name}_clean"
    assert served["sales.orders_raw"] == "sales.orders_raw"
    assert served["inventory.stock_levels"] == "inventory.stock_levels"
    # sales: 7 datasets; inventory (the YAML pipeline): 7.
    assert len(served) == 14


@pytest.mark.parametrize(
    ("fmt", "name"),
    [("csv.gz", "o.csv.gz"), ("json", "o.json"), ("jsonl", "o.jsonl"), ("xlsx", "o.xlsx"),
     ("html", "o.html"), ("md", "o.md"), ("parquet", "o.parquet")],
)  # fmt: skip
def test_export_writes_every_format(conf: Path, tmp_path: Path, fmt: str, name: str) -> None:
    out = tmp_path / name
    result = run_pncp("catalog", "export", "orders", "-o", str(out), "-f", fmt, "--conf", str(conf))
    assert result.code == 0, result.output
    assert f"orders → {out}: 7 rows ({fmt})" in result.stdout
    if fmt == "csv.gz":
        text = gzip.decompress(out.read_bytes()).decode()
        assert text.splitlines()[0] == "order_id,month,city"
        assert "São Paulo" in text
    elif fmt in ("json", "jsonl"):
        loaded = pd.read_json(out, lines=fmt == "jsonl", orient="records")
        assert list(loaded["order_id"]) == list(range(1, 8))
    elif fmt == "xlsx":
        assert len(pd.read_excel(out)) == 7
    elif fmt == "parquet":
        assert pq.read_table(out).num_rows == 7
    else:
        text = out.read_text()
        assert "7 rows, 3 columns" in text
        assert "Belém" in text


def test_export_partitioned_parquet_by_a_column(conf: Path, tmp_path: Path) -> None:
    out = tmp_path / "by_month"
    result = run_pncp(
        "catalog", "export", "orders", "-o", str(out), "-f", "parquet",
        "--partition-by", "month", "--conf", str(conf),
    )  # fmt: skip
    assert result.code == 0, result.output
    assert sorted(p.name for p in out.iterdir()) == ["month=2024-01", "month=2024-02"]
    assert pq.read_table(out / "month=2024-02").num_rows == 3


def test_export_report_respects_the_row_limit(conf: Path, tmp_path: Path) -> None:
    out = tmp_path / "o.md"
    result = run_pncp(
        "catalog", "export", "orders", "-o", str(out), "-f", "md", "--row-limit", "2",
        "--conf", str(conf),
    )  # fmt: skip
    assert result.code == 0, result.output
    text = out.read_text()
    assert "7 rows, 3 columns; first 2 shown" in text
    assert "Recife" in text.split("## Rows")[1]
    assert "Belém" not in text.split("## Rows")[1]


def test_errors_name_the_dataset_and_exit_2(conf: Path, tmp_path: Path) -> None:
    unknown = run_pncp("catalog", "describe", "nope", "--conf", str(conf))
    assert unknown.code == 2
    assert "dataset 'nope': no entry and no factory pattern serves 'nope'" in unknown.stderr
    missing = run_pncp(
        "catalog", "export", "customers_raw", "-o", str(tmp_path / "c.csv"), "-f", "csv",
        "--conf", str(conf),
    )  # fmt: skip
    assert missing.code == 2
    assert "dataset 'customers_raw': file" in missing.stderr
    assert "customers.csv does not exist" in missing.stderr
    assert not (tmp_path / "c.csv").exists()
    wrong = run_pncp(
        "catalog", "export", "orders", "-o", str(tmp_path / "x"), "-f", "csv",
        "--partition-by", "month", "--conf", str(conf),
    )  # fmt: skip
    assert wrong.code == 2
    assert "--partition-by applies to --format parquet only" in wrong.stderr


def test_export_refuses_an_existing_output_unless_forced(conf: Path, tmp_path: Path) -> None:
    out = tmp_path / "taken"
    out.mkdir()
    (out / "keep.txt").write_text("mine")
    refused = run_pncp(
        "catalog", "export", "orders", "-o", str(out), "-f", "parquet",
        "--partition-by", "month", "--conf", str(conf),
    )  # fmt: skip
    assert refused.code == 2
    assert f"{out} exists; choose another --output, or --force" in refused.stderr
    assert (out / "keep.txt").read_text() == "mine"


def test_new_dataset_adds_a_working_entry_with_its_types_fields(project_conf: Path) -> None:
    result = run_pncp(
        "new", "dataset", "sales.returns", "--type", "pandas.CSVDataset",
        "--conf", str(project_conf),
    )  # fmt: skip
    assert result.code == 0, result.output
    path = project_conf / "base" / "catalog" / "sales.yml"
    text = path.read_text()
    assert text.endswith(
        "sales.returns:\n  type: pandas.CSVDataset\n  filepath: data/sales/returns.csv\n"
        "  # load_args: {}\n  # save_args: {}\n  # credentials: null\n  # versioned: false\n"
        "  # versions_kept: null\n  # load_version: null\n"
    )
    catalog = Catalog.load(project_conf, "base", root=PROJECT_ROOT)
    assert catalog.get("sales.returns").filepath == PROJECT_ROOT / "data/sales/returns.csv"


def test_new_database_dataset_declares_its_credentials_from_the_environment(
    project_conf: Path,
) -> None:
    result = run_pncp(
        "new", "dataset", "sales.ledger", "--type", "postgres.TableDataset",
        "--conf", str(project_conf),
    )  # fmt: skip
    assert result.code == 0, result.output
    credentials = yaml.safe_load((project_conf / "base" / "credentials.yml").read_text())
    assert credentials == {"sales_db": {"con": "${oc.env:SALES_DB_URL}"}}
    entry = Catalog.load(project_conf, "base", root=PROJECT_ROOT).get("sales.ledger")
    assert (entry.table_name, entry.credentials) == ("sales_ledger", "sales_db")


def test_new_dataset_refuses_a_taken_name_or_an_unknown_type(project_conf: Path) -> None:
    before = (project_conf / "base" / "catalog" / "sales.yml").read_text()
    taken = run_pncp(
        "new", "dataset", "sales.orders_raw", "--type", "pandas.CSVDataset",
        "--conf", str(project_conf),
    )  # fmt: skip
    assert taken.code == 2
    assert "dataset 'sales.orders_raw': is already declared" in taken.stderr
    unknown = run_pncp(
        "new", "dataset", "sales.x", "--type", "pandas.CSVDatset", "--conf", str(project_conf)
    )
    assert unknown.code == 2
    assert "unknown type 'pandas.CSVDatset'" in unknown.stderr
    assert (project_conf / "base" / "catalog" / "sales.yml").read_text() == before
