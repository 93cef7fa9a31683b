"""The shop's landing-to-silver path for the daemon test, from the project's own pieces.

Bronze assets, the landing sensor and the shop's dbt models as the code location defines
them, under the platform's layer policy and automation sensors, with short intervals so
the test waits seconds rather than minutes. Everything else of the code location (PNCP,
the examples) is left out: the daemon would otherwise evaluate it on every tick. Runs
execute their steps in the run's process (a deployment's executor choice): a step process
per source would add seconds per run on two cores and test nothing of the shop.
"""

import dagster as dg

from project.defs.ops.automation import automation_sensors
from project.defs.ops.policy import apply_policy
from project.defs.shop.bronze import bronze_assets
from project.defs.shop.sensors import landing_sensor
from project.defs.shop.transformation import shop_dbt_models
from project.lib import warehouse
from project.resources.dbt import build_dbt_resource, get_dbt_project
from project.resources.landing import LandingResource
from project.resources.warehouse import WarehouseResource
from project.settings import apply_to_environment, get_settings

INTERVAL_S = 3

settings = get_settings()
apply_to_environment(settings)
bronze = bronze_assets()
defs = apply_policy(
    dg.Definitions(
        assets=[*bronze, shop_dbt_models],
        executor=dg.in_process_executor,
        sensors=[
            landing_sensor(bronze, minimum_interval_seconds=INTERVAL_S),
            *automation_sensors(minimum_interval_seconds=INTERVAL_S),
        ],
        resources={
            "warehouse": WarehouseResource(database=str(warehouse.target_from(settings).path)),
            "dbt": build_dbt_resource(get_dbt_project(), target=settings.dbt_target),
            "landing": LandingResource(root=str(settings.shop_landing)),
        },
    )
)
