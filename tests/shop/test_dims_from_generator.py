"""The dimensions against the generator's own truth: two batches of change feeds, with
changes delivered out of order across files and repeated, landed through bronze
(part 1's ingestion, file by file, as the landing sensor's runs do), applied by
incremental dbt runs; the result equals the state the generator itself ended in (its
manifest's `_manifest/batch-<n>-<feed>.parquet`: each entity's values, seq and
deleted flag).
"""

from __future__ import annotations

from datetime import UTC, datetime
from pathlib import Path

import duckdb
import pytest

from project.lib.shop import bronze
from project.lib.shop.landing import list_files, offer
from project.lib.shop.sources import shop_sources
from project.simulators.shop import MANIFEST_DIR, ShopSpec, generate
from tests.shop.conftest import Dbt

pytestmark = [pytest.mark.slow, pytest.mark.xdist_group("shop_dbt")]

FAULTS = {"out_of_order": 0.3, "duplicates": 0.1}


def _ingest(conn: duckdb.DuckDBPyConnection, root: Path) -> None:
    sources = shop_sources()
    for name in ("customers", "products"):
        source = sources.source(name)
        bronze.ensure_bronze(conn, source)
        for landed in list_files(root, source):
            bronze.ingest_file(conn, root, source, offer(root, landed, datetime.now(UTC)), "t")


@pytest.fixture(scope="module")
def applied(shop_dbt: Dbt, tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The landing root; the warehouse (shop_dbt's) holds the dimensions after batch 2."""
    root = tmp_path_factory.mktemp("generated")
    shop_dbt.fresh()
    for batch in (1, 2):
        spec = ShopSpec(
            orders=200, seed=batch, batch=batch, faults=FAULTS, files_per_source=3,
            customers=150, customer_changes=400, products=40, product_changes=120,
        )  # fmt: skip
        generated = generate(root, spec)
        assert generated.faults["out_of_order"]["customers"]["count"] > 0
        with duckdb.connect(str(shop_dbt.warehouse)) as conn:
            _ingest(conn, root)
        shop_dbt("run", "--select", "+dim_customer +dim_product")
    return root


def test_dim_customer_ends_where_the_generator_did(applied: Path, shop_dbt: Dbt) -> None:
    truth = applied / MANIFEST_DIR / "batch-00002-customers.parquet"
    with duckdb.connect(str(shop_dbt.warehouse), read_only=True) as conn:
        differences = conn.execute(
            f"""
            with truth as (
                select 'C' || lpad(number::varchar, 6, '0') as customer_id, deleted,
                       row(name, email, city, state, segment) as image
                from read_parquet('{truth}')
            ),
            latest as (
                select customer_id, is_current, row(name, email, city, state, segment) as image
                from shop_gold.dim_customer
                qualify row_number() over (partition by customer_id order by start_seq desc) = 1
            )
            select truth.customer_id, truth.deleted, latest.is_current, truth.image,
                   latest.image
            from truth full join latest using (customer_id)
            where latest.customer_id is null or truth.customer_id is null
               or truth.deleted = latest.is_current or truth.image <> latest.image
            """
        ).fetchall()
        customers = conn.execute("SELECT count(DISTINCT customer_id) FROM shop_gold.dim_customer")
        assert customers.fetchone()[0] == 300  # 150 inserted by each batch
    assert differences == []


def test_dim_product_ends_where_the_generator_did(applied: Path, shop_dbt: Dbt) -> None:
    truth = applied / MANIFEST_DIR / "batch-00002-products.parquet"
    with duckdb.connect(str(shop_dbt.warehouse), read_only=True) as conn:
        differences = conn.execute(
            f"""
            with truth as (
                select 'P' || lpad(number::varchar, 5, '0') as product_id, seq, deleted,
                       row(name, category, (price / 100)::decimal(12, 2), active) as image
                from read_parquet('{truth}')
            )
            select truth.*, dim.seq, dim.is_deleted, row(dim.name, dim.category, dim.price,
                   dim.active) as dim_image
            from truth full join shop_gold.dim_product as dim using (product_id)
            where dim.product_id is null or truth.product_id is null or truth.seq <> dim.seq
               or truth.deleted <> dim.is_deleted
               or truth.image <> row(dim.name, dim.category, dim.price, dim.active)
            """
        ).fetchall()
    assert differences == []
