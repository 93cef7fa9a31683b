"""A catalog written for Kedro (the spaceflights starter's style) loads unchanged, and its
datasets save and load with the arguments Kedro would pass to pandas."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

import openpyxl
import pyarrow as pa
import pytest

from project.lib.datasets import Catalog

KEDRO_CATALOG = """
companies:
  type: pandas.CSVDataset
  filepath: data/01_raw/companies.csv
  load_args:
    sep: ";"
  save_args:
    index: False
    sep: ";"
  metadata:
    kedro-viz:
      layer: raw

shuttles:
  type: pandas.ExcelDataset
  filepath: data/01_raw/shuttles.xlsx
  load_args:
    engine: openpyxl
    sheet_name: shuttles
  save_args:
    sheet_name: shuttles

model_input_table:
  type: pandas.ParquetDataset
  filepath: data/03_primary/model_input_table.parquet

"{name}_raw":
  type: pandas.CSVDataset
  filepath: data/01_raw/{name}.csv
  save_args:
    index: False

companies_db:
  type: pandas.SQLTableDataset
  table_name: companies
  credentials: db_creds
  save_args:
    if_exists: replace
"""

COMPANIES = pa.table(
    {
        "id": pa.array([35029, 30292, 19032], pa.int64()),
        "company_rating": ["100%", None, "67%"],
        "company_location": ["Niue", "Anguilla", "São Tomé"],
        "iata_approved": pa.array([True, False, None]),
    }
)


@pytest.fixture
def kedro_with(write_conf: Callable[[dict[str, str]], Path]) -> Callable[[str], Catalog]:
    """The Kedro catalog, its `db_creds` pointing at a database URL."""

    def load(db_url: str) -> Catalog:
        conf = write_conf(
            {
                "base/catalog.yml": KEDRO_CATALOG,
                "local/credentials.yml": f"db_creds:\n  con: {db_url}\n",
            }
        )
        return Catalog.load(conf, env="local")

    return load


@pytest.fixture
def kedro(kedro_with: Callable[[str], Catalog]) -> Catalog:
    """For the file datasets: the database is never reached."""
    return kedro_with("postgresql://postgres@127.0.0.1:5432/never_used")


def test_the_kedro_catalog_loads_with_every_entry(kedro: Catalog) -> None:
    assert kedro.names() == ["companies", "companies_db", "model_input_table", "shuttles"]
    assert kedro.resolve("reviews_raw") == "{name}_raw"


def test_a_semicolon_csv_written_by_someone_else_loads_with_its_load_args(
    kedro: Catalog, tmp_path: Path
) -> None:
    raw = tmp_path / "data" / "01_raw" / "companies.csv"
    raw.parent.mkdir(parents=True)
    raw.write_text("id;company_rating;company_location\n35029;100%;Niue\n30292;;Anguilla\n")

    frame = kedro.get("companies").load()

    assert list(frame.columns) == ["id", "company_rating", "company_location"]
    assert frame["id"].tolist() == [35029, 30292]
    assert frame["company_location"].tolist() == ["Niue", "Anguilla"]


def test_the_csv_saves_with_its_save_args(kedro: Catalog, tmp_path: Path) -> None:
    dataset = kedro.get("companies")
    frame = COMPANIES.to_pandas()  # a plain pandas frame, as a Kedro node returns
    dataset.save(frame)

    lines = (tmp_path / "data" / "01_raw" / "companies.csv").read_text().splitlines()
    assert lines[0] == "id;company_rating;company_location;iata_approved"  # no index column
    assert lines[3] == "19032;67%;São Tomé;"
    loaded = pa.Table.from_pandas(dataset.load(), preserve_index=False)
    assert loaded.equals(pa.Table.from_pandas(frame, preserve_index=False))


def test_the_excel_dataset_writes_and_reads_its_named_sheet(kedro: Catalog, tmp_path: Path) -> None:
    dataset = kedro.get("shuttles")
    dataset.save(COMPANIES)

    workbook = openpyxl.load_workbook(tmp_path / "data" / "01_raw" / "shuttles.xlsx")
    assert workbook.sheetnames == ["shuttles"]
    assert [c.value for c in workbook["shuttles"][1]] == COMPANIES.column_names
    assert pa.Table.from_pandas(dataset.load(), preserve_index=False).equals(COMPANIES)


def test_the_parquet_dataset_saves_and_loads(kedro: Catalog, tmp_path: Path) -> None:
    dataset = kedro.get("model_input_table")
    saved = dataset.save(COMPANIES)

    assert saved["path"] == str(tmp_path / "data" / "03_primary" / "model_input_table.parquet")
    assert pa.Table.from_pandas(dataset.load(), preserve_index=False).equals(COMPANIES)


def test_a_name_served_by_the_factory_saves_where_the_pattern_says(
    kedro: Catalog, tmp_path: Path
) -> None:
    dataset = kedro.get("reviews_raw")
    dataset.save(COMPANIES)

    path = tmp_path / "data" / "01_raw" / "reviews.csv"
    assert path.read_text().splitlines()[0] == "id,company_rating,company_location,iata_approved"
    assert dataset.load()["company_location"].tolist() == ["Niue", "Anguilla", "São Tomé"]


def test_the_sql_table_connects_with_the_named_credentials(
    kedro_with: Callable[[str], Catalog], postgres_database: str
) -> None:
    import psycopg2

    dataset = kedro_with(postgres_database).get("companies_db")
    dataset.save(COMPANIES)
    dataset.save(COMPANIES.slice(0, 2))  # if_exists: replace

    with psycopg2.connect(postgres_database) as conn, conn.cursor() as cur:
        cur.execute("SELECT id, company_location FROM public.companies ORDER BY id")
        assert cur.fetchall() == [(30292, "Anguilla"), (35029, "Niue")]
    assert sorted(dataset.load()["id"].tolist()) == [30292, 35029]


def test_if_exists_fail_refuses_to_touch_an_existing_table(
    write_conf: Callable[[dict[str, str]], Path], postgres_database: str
) -> None:
    from project.lib.datasets import DatasetError

    conf = write_conf(
        {
            "base/catalog.yml": (
                "guarded:\n  type: pandas.SQLTableDataset\n  table_name: guarded\n"
                "  credentials: db\n  save_args:\n    if_exists: fail\n"
            ),
            "base/credentials.yml": f"db:\n  con: {postgres_database}\n",
        }
    )
    dataset = Catalog.load(conf, env="base").get("guarded")
    dataset.save(COMPANIES)
    with pytest.raises(DatasetError, match=r"exists and save_args\.if_exists is fail"):
        dataset.save(COMPANIES.slice(0, 1))
    assert len(dataset.load()) == COMPANIES.num_rows
