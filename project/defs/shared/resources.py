"""The resources every capability shares, built from the settings in one place."""

import dagster as dg

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
                database=str(settings.warehouse),
                connection_config={"memory_limit": settings.warehouse_memory_limit},
                pool=settings.warehouse_pool,
            ),
            "dbt": build_dbt_resource(get_dbt_project()),
            "pncp": PncpClientResource.from_settings(settings),
        }
    )
