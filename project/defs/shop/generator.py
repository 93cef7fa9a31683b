"""The shop's data generator as an asset: a batch of landing files for the sensor to find.

It stands in for the shop's systems (a simulator, like the PNCP one): each
materialization lands the next batch under the landing folder, seeded and
deterministic, with the faults asked for in its config. It is not upstream of bronze in
the graph: bronze reads whatever lands, from the generator or from anyone else.
"""

import dagster as dg
from pydantic import Field

from project.resources.landing import LandingResource
from project.simulators.shop import ShopSpec, generate
from project.simulators.shop.manifest import next_batch


class GeneratorConfig(dg.Config):
    orders: int = Field(2_000, ge=1, description="orders in the batch (items, payments, ...)")
    seed: int = 0
    gzip: bool = False
    files_per_source: int = Field(2, ge=1)
    days: int = Field(1, ge=1)
    faults: dict[str, float] = Field(
        default_factory=dict,
        description="fault name -> rate, e.g. {negative_prices: 0.01, malformed_lines: 0.005}",
    )


@dg.asset(
    key=["shop", "landing", "generated_batch"],
    group_name="shop_landing",
    kinds={"python"},
    description="The next batch of shop landing files (orders, items, payments, web events, "
    "customer and product change feeds), from the seeded generator.",
)
def generated_batch(config: GeneratorConfig, landing: LandingResource) -> dg.MaterializeResult:
    spec = ShopSpec(
        orders=config.orders,
        seed=config.seed,
        batch=next_batch(landing.path),
        gzip=config.gzip,
        faults=config.faults,
        files_per_source=config.files_per_source,
        days=config.days,
    )
    batch = generate(landing.path, spec)
    return dg.MaterializeResult(
        metadata={
            "batch": batch.batch,
            "rows": dg.MetadataValue.json(batch.rows),
            "files": sum(len(files) for files in batch.files.values()),
            "faults": dg.MetadataValue.json(batch.faults),
            "manifest": dg.MetadataValue.path(str(batch.manifest)),
            "seconds": round(batch.seconds, 2),
        }
    )
