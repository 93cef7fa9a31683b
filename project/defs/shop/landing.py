"""The landing side of the shop: bronze assets per source, the landing sensor, the folder."""

import dagster as dg

from project.defs.shop.bronze import bronze_assets
from project.defs.shop.sensors import landing_sensor
from project.resources.landing import LandingResource
from project.settings import get_settings


@dg.definitions
def defs() -> dg.Definitions:
    bronze = bronze_assets()
    return dg.Definitions(
        assets=bronze,
        sensors=[landing_sensor(bronze)],
        resources={"landing": LandingResource(root=str(get_settings().shop_landing))},
    )
