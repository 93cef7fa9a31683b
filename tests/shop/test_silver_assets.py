"""The shop's dbt models as Dagster assets: keys, groups, lineage, and no overlap with PNCP."""

import json
import os

import dagster as dg

from project.defs.pncp.transformation import pncp_dbt_models
from project.defs.shop.transformation import dbt_build_args, run_id_for_dbt, shop_dbt_models
from project.resources.dbt import get_dbt_project


def test_shop_models_are_keyed_and_grouped_by_layer() -> None:
    groups = {
        key.to_user_string(): group for key, group in shop_dbt_models.group_names_by_key.items()
    }
    assert groups["shop/silver/orders"] == "shop_silver"
    assert groups["shop/silver/quarantine"] == "shop_silver"
    assert groups["shop/gold/daily_sales"] == "shop_gold"
    assert all(key.startswith(("shop/silver/", "shop/gold/")) for key in groups)


def test_silver_reads_the_bronze_assets_and_not_the_replay_requests() -> None:
    deps = {
        key.to_user_string(): {d.to_user_string() for d in parents}
        for key, parents in shop_dbt_models.asset_deps.items()
    }
    assert deps["shop/silver/orders_checked"] == {"shop/bronze/orders"}
    assert deps["shop/silver/orders"] == {"shop/silver/orders_checked"}
    assert "shop/silver/orders" in deps["shop/silver/quarantine"]


def test_pncp_and_shop_dbt_assets_share_no_model_and_cover_them_all() -> None:
    manifest = json.loads(get_dbt_project().manifest_path.read_text())
    built = [n for n in manifest["nodes"].values() if n["resource_type"] in ("model", "seed")]
    pncp, shop = set(pncp_dbt_models.keys), set(shop_dbt_models.keys)
    assert not pncp & shop
    assert len(pncp) + len(shop) == len(built)


def test_the_run_id_reaches_dbt_in_the_environment_not_as_a_var() -> None:
    args = dbt_build_args()
    assert args[0] == "build"
    assert "--vars" not in args  # a new var on every run would re-parse the whole project
    assert args[args.index("--indirect-selection") + 1] == "cautious"
    with run_id_for_dbt("abc-123"):
        assert os.environ["SHOP_RUN_ID"] == "abc-123"
    assert "SHOP_RUN_ID" not in os.environ
    assert isinstance(shop_dbt_models, dg.AssetsDefinition)
