"""The resources every capability shares, built from the settings in one place."""

import dagster as dg

from project.lib import warehouse
from project.resources.dbt import build_dbt_resource, get_dbt_project
from project.resources.pncp import PncpClientResource
from project.resources.warehouse import WarehouseResource
from project.settings import get_settings


@dg.definitions
def resources() -> dg.Definitions:
    settings = get_settings()
    return dg.Definitions(
        resources={
            "warehouse": WarehouseResource(
                database=str(warehouse.target_from(settings).path),
                backend=settings.warehouse_backend,
                catalog_schema=settings.warehouse_catalog_schema,
                connection_config={"memory_limit": settings.warehouse_memory_limit},
                pool=settings.warehouse_pool,
                slots=settings.warehouse_slots,
            ),
            "dbt": build_dbt_resource(get_dbt_project(), target=settings.dbt_target),
            "pncp": PncpClientResource.from_settings(settings),
        }
    )
