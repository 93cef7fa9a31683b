"""The catalog IO manager: a Kedro catalog's datasets materialize as Dagster assets;
partitioned assets save and load their own partition, an unpartitioned consumer gets all;
a `pa.RecordBatchReader` input streams; versioned datasets load a chosen version.
"""

from pathlib import Path

import dagster as dg
import pandas as pd
import pyarrow as pa
import pytest

from project.lib.datasets import Catalog
from project.resources.catalog_io import CatalogIOManager

# A catalog as a Kedro project writes it: Kedro's types and fields, a factory, credentials
# by name. Nothing in it is specific to this project.
KEDRO_CATALOG = """
companies:
  type: pandas.CSVDataset
  filepath: data/01_raw/companies.csv
  load_args:
    sep: ";"
  save_args:
    index: False
    sep: ";"

reviews:
  type: pandas.ExcelDataset
  filepath: data/01_raw/reviews.xlsx
  load_args:
    sheet_name: reviews
  save_args:
    sheet_name: reviews

"{name}_features":
  type: pandas.ParquetDataset
  filepath: data/04_feature/{name}_features.parquet

shuttles_table:
  type: pandas.SQLTableDataset
  table_name: shuttles
  credentials: db_credentials
  save_args:
    if_exists: replace
"""


@pytest.fixture
def kedro_project(tmp_path: Path, postgres_database: str, monkeypatch) -> Path:
    conf = tmp_path / "conf"
    (conf / "base").mkdir(parents=True)
    (conf / "local").mkdir()
    (conf / "base" / "catalog.yml").write_text(KEDRO_CATALOG)
    (conf / "local" / "credentials.yml").write_text(
        "db_credentials:\n  con: ${oc.env:TEST_KEDRO_DB}\n"
    )
    monkeypatch.setenv("TEST_KEDRO_DB", postgres_database)
    raw = tmp_path / "data" / "01_raw"
    raw.mkdir(parents=True)
    (raw / "companies.csv").write_text("id;company_rating;iata_approved\n1;90%;t\n2;;f\n3;75%;t\n")
    with pd.ExcelWriter(raw / "reviews.xlsx") as out:
        pd.DataFrame({"shuttle_id": [10, 11], "review_scores_rating": [4.5, 3.0]}).to_excel(
            out, sheet_name="reviews", index=False
        )
    return tmp_path


@pytest.mark.postgres
def test_a_kedro_catalog_loads_unchanged_and_its_datasets_materialize(
    kedro_project: Path, postgres_database: str
) -> None:
    companies = dg.AssetSpec("companies").with_io_manager_key("catalog")
    reviews = dg.AssetSpec("reviews").with_io_manager_key("catalog")

    @dg.asset(io_manager_key="catalog")
    def company_features(companies: pd.DataFrame) -> pd.DataFrame:
        rating = companies["company_rating"].str.rstrip("%").astype(float) / 100
        return pd.DataFrame({"id": companies["id"], "rating": rating})

    @dg.asset(io_manager_key="catalog")
    def shuttles_table(reviews: pd.DataFrame, company_features: pd.DataFrame) -> pd.DataFrame:
        return reviews.assign(companies=len(company_features))

    manager = CatalogIOManager(
        conf_dir=str(kedro_project / "conf"), env="local", project_root=str(kedro_project)
    )
    result = dg.materialize(
        [companies, reviews, company_features, shuttles_table],
        resources={"catalog": manager},
        selection=[company_features.key, shuttles_table.key],
    )
    assert result.success
    catalog = Catalog.load(kedro_project / "conf", "local", root=kedro_project)
    assert catalog.resolve("company_features") == "{name}_features"
    features = pd.read_parquet(kedro_project / "data/04_feature/company_features.parquet")
    assert features["rating"].tolist()[0] == pytest.approx(0.9)
    assert features["rating"].isna().tolist() == [False, True, False]

    import psycopg2

    with psycopg2.connect(postgres_database) as conn, conn.cursor() as cur:
        cur.execute("SELECT shuttle_id, review_scores_rating, companies FROM shuttles ORDER BY 1")
        assert cur.fetchall() == [(10, 4.5, 3), (11, 3.0, 3)]
    materialized = result.asset_materializations_for_node("shuttles_table")[0]
    assert materialized.metadata["dagster/row_count"].value == 2
    assert materialized.metadata["location"].value == "sql table shuttles"
    columns = materialized.metadata["dagster/column_schema"].value.columns
    assert [(c.name, c.type) for c in columns] == [
        ("shuttle_id", "int64"),
        ("review_scores_rating", "double"),
        ("companies", "int64"),
    ]


MONTHS = dg.StaticPartitionsDefinition(["2024-01", "2024-02"])


@pytest.fixture
def partitioned_conf(tmp_path: Path) -> Path:
    conf = tmp_path / "conf"
    (conf / "base").mkdir(parents=True)
    (conf / "base" / "catalog.yml").write_text(
        f"""
sales_by_month:
  type: parquet.PartitionedDataset
  path: {tmp_path}/sales_by_month
  partition_by: month
summary:
  type: pandas.CSVDataset
  filepath: {tmp_path}/summary.csv
streamed:
  type: pandas.CSVDataset
  filepath: {tmp_path}/streamed.csv
snapshots:
  type: pandas.CSVDataset
  filepath: {tmp_path}/snapshots.csv
  versioned: true
"""
    )
    return conf


def test_partitions_save_their_own_and_an_unpartitioned_consumer_reads_all(
    partitioned_conf: Path, tmp_path: Path
) -> None:
    @dg.asset(partitions_def=MONTHS, io_manager_key="catalog")
    def sales_by_month(context: dg.AssetExecutionContext) -> pd.DataFrame:
        month = context.partition_key
        rows = 2 if month == "2024-01" else 3
        return pd.DataFrame({"order_id": range(rows), "amount": [10.0] * rows})

    @dg.asset(io_manager_key="catalog")
    def summary(sales_by_month: pd.DataFrame) -> pd.DataFrame:
        return sales_by_month.groupby("month", as_index=False).agg(orders=("order_id", "count"))

    @dg.asset(io_manager_key="catalog", deps=[sales_by_month])
    def streamed(context: dg.AssetExecutionContext) -> None:
        return None

    resources = {"catalog": CatalogIOManager(conf_dir=str(partitioned_conf), env="base")}
    for month in MONTHS.get_partition_keys():
        assert dg.materialize([sales_by_month], resources=resources, partition_key=month).success
    assert sorted(p.name for p in (tmp_path / "sales_by_month").iterdir()) == [
        "month=2024-01",
        "month=2024-02",
    ]
    partition = dg.materialize([sales_by_month], resources=resources, partition_key="2024-01")
    saved = partition.asset_materializations_for_node("sales_by_month")[0].metadata
    assert [(c.name, c.type) for c in saved["dagster/column_schema"].value.columns] == [
        ("order_id", "int64"),
        ("amount", "double"),
        ("month", "string"),  # the partition key, a hive folder: text when loaded
    ]
    assert dg.materialize(
        [sales_by_month, summary], resources=resources, selection=[summary]
    ).success
    totals = pd.read_csv(tmp_path / "summary.csv")
    assert totals.to_dict("records") == [
        {"month": "2024-01", "orders": 2},
        {"month": "2024-02", "orders": 3},
    ]


def test_a_record_batch_reader_input_is_streamed(partitioned_conf: Path, tmp_path: Path) -> None:
    seen: list[str] = []

    @dg.asset(io_manager_key="catalog")
    def summary() -> pd.DataFrame:
        return pd.DataFrame({"month": ["2024-01", "2024-02"], "orders": [2, 3]})

    @dg.asset(io_manager_key="catalog")
    def streamed(summary: pa.RecordBatchReader) -> pa.RecordBatchReader:
        seen.append(type(summary).__name__)
        return summary

    resources = {"catalog": CatalogIOManager(conf_dir=str(partitioned_conf), env="base")}
    result = dg.materialize([summary, streamed], resources=resources)
    assert result.success
    assert seen == ["RecordBatchReader"]
    # a streamed output's schema is the stream's, as saved (pandas 3 text is large_string)
    for node in ("summary", "streamed"):
        metadata = result.asset_materializations_for_node(node)[0].metadata
        columns = metadata["dagster/column_schema"].value.columns
        assert [(c.name, c.type) for c in columns] == [
            ("month", "large_string"),
            ("orders", "int64"),
        ]
        assert metadata["dagster/row_count"].value == 2
    assert pd.read_csv(tmp_path / "streamed.csv")["orders"].tolist() == [2, 3]


def test_versioned_datasets_load_the_latest_or_a_chosen_version(partitioned_conf: Path) -> None:
    counter = iter(range(1, 10))

    @dg.asset(io_manager_key="catalog")
    def snapshots() -> pd.DataFrame:
        return pd.DataFrame({"n": [next(counter)]})

    loaded: list[int] = []

    @dg.asset
    def reader(snapshots: pd.DataFrame) -> None:
        loaded.append(int(snapshots["n"].iloc[0]))

    manager = CatalogIOManager(conf_dir=str(partitioned_conf), env="base")
    for _ in range(2):
        assert dg.materialize([snapshots], resources={"catalog": manager}).success
    versions = Catalog.load(partitioned_conf, "base").get("snapshots")._versions().versions()
    assert len(versions) == 2
    assert dg.materialize(
        [snapshots, reader], resources={"catalog": manager}, selection=[reader]
    ).success
    pinned = CatalogIOManager(
        conf_dir=str(partitioned_conf), env="base", load_versions={"snapshots": versions[0]}
    )
    assert dg.materialize(
        [snapshots, reader], resources={"catalog": pinned}, selection=[reader]
    ).success
    assert loaded == [2, 1]


def test_a_partitioned_asset_on_a_single_file_dataset_is_refused(partitioned_conf: Path) -> None:
    @dg.asset(partitions_def=MONTHS, io_manager_key="catalog", name="summary")
    def summary_by_month() -> pd.DataFrame:
        return pd.DataFrame({"n": [1]})

    resources = {"catalog": CatalogIOManager(conf_dir=str(partitioned_conf), env="base")}
    result = dg.materialize(
        [summary_by_month], resources=resources, partition_key="2024-01", raise_on_error=False
    )
    assert not result.success
    error = result.get_step_failure_events()[0].step_failure_data.error.to_string()
    assert "dataset 'summary': a partitioned asset needs a partitioned dataset type" in error


def test_a_range_of_partitions_in_one_run_is_refused_not_saved_whole(
    partitioned_conf: Path, tmp_path: Path
) -> None:
    @dg.asset(
        partitions_def=MONTHS,
        io_manager_key="catalog",
        backfill_policy=dg.BackfillPolicy.single_run(),
    )
    def sales_by_month() -> pd.DataFrame:
        return pd.DataFrame({"order_id": [1]})

    resources = {"catalog": CatalogIOManager(conf_dir=str(partitioned_conf), env="base")}
    assert dg.materialize([sales_by_month], resources=resources, partition_key="2024-01").success
    definitions = dg.Definitions(assets=[sales_by_month], resources=resources)
    with dg.instance_for_test() as instance:
        outcome = definitions.resolve_implicit_global_asset_job_def().execute_in_process(
            instance=instance,
            tags={
                "dagster/asset_partition_range_start": "2024-01",
                "dagster/asset_partition_range_end": "2024-02",
            },
            raise_on_error=False,
        )
    assert not outcome.success
    error = outcome.get_step_failure_events()[0].step_failure_data.error
    messages = []
    while error is not None:
        messages.append(error.message)
        error = error.cause
    assert "one run wrote 2 partitions (2024-01...2024-02)" in " ".join(messages)
    assert [p.name for p in (tmp_path / "sales_by_month").iterdir()] == ["month=2024-01"]
