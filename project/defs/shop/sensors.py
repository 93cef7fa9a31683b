"""The landing sensor, Auto Loader style: new files become micro-batched bronze runs.

Each tick lists the landing folder, hashes the files it has not seen (or whose size or
time changed), and asks for bronze runs in micro-batches (each source's
`max_files_per_run` / `max_bytes_per_run`; one run takes a micro-batch of every source).
The run key names the batch's exact file versions, so a batch asked for twice (a tick
repeated after a daemon restart, before its cursor was saved) is one run.

The sensor never opens the warehouse: a DuckDB file has one writer, and a sensor ticking
every 30 s would stall (or be stalled by) every run writing it. What it found travels
in the run's config; the bronze run records it in the ledger, where exactly-once is
decided. So a lost cursor, a restarted daemon or a file offered twice costs a rerun that
skips what is ingested, never a duplicate.
"""

import dagster as dg

from project.defs.shop.bronze import bronze_key
from project.lib.shop.landing import LandingCursor, batch_key, micro_batches, new_offers
from project.resources.landing import LandingResource


def landing_sensor(
    bronze: list[dg.AssetsDefinition], minimum_interval_seconds: int = 30
) -> dg.SensorDefinition:
    op_names = {asset.key: asset.op.name for asset in bronze}

    @dg.sensor(
        name="shop_landing",
        minimum_interval_seconds=minimum_interval_seconds,
        default_status=dg.DefaultSensorStatus.RUNNING,
        asset_selection=list(op_names),
        description="New landing files under SHOP_LANDING_DIR -> bronze runs, in micro-batches.",
    )
    def shop_landing(context: dg.SensorEvaluationContext, landing: LandingResource):
        sources = landing.sources()
        cursor = LandingCursor.parse(context.cursor)
        found = new_offers(landing.path, sources, cursor)
        # Run i takes the i-th micro-batch of every source that has one: sources land
        # together (an order, its items, its payment), and one run costs one process start.
        batches = {
            name: list(micro_batches(offers, sources.source(name)))
            for name, offers in sorted(found.items())
        }
        requests = []
        for i in range(max((len(b) for b in batches.values()), default=0)):
            taken = {name: b[i] for name, b in batches.items() if i < len(b)}
            requests.append(
                dg.RunRequest(
                    run_key=batch_key([item for batch in taken.values() for item in batch]),
                    asset_selection=[bronze_key(name) for name in taken],
                    run_config={
                        "ops": {
                            op_names[bronze_key(name)]: {
                                "config": {"files": [item.as_config() for item in batch]}
                            }
                            for name, batch in taken.items()
                        }
                    },
                    tags={"shop/files": str(sum(len(b) for b in taken.values()))},
                )
            )
        if requests:
            context.log.info(
                f"{sum(len(v) for v in found.values())} new files -> {len(requests)} bronze runs"
            )
        return dg.SensorResult(run_requests=requests, cursor=cursor.dump())

    return shop_landing
