"""Four assets for the Celery test: two HTTP-like fetches and two warehouse writers.

Each asset records where and when it ran (the Celery worker's node name, its process,
start and end), so the test can tell that every step ran on a worker, that the fetches
ran side by side and that the writers, in the warehouse pool, took turns. The executor
is the project's own, chosen by DAGSTER_EXECUTOR=celery; every step goes to the test's
private queue (TEST_CELERY_QUEUE) so other Celery workers on the broker never take it.
"""

import os
import time

import dagster as dg
from celery import current_task

from project.defs.ops.runtime import with_runtime
from project.settings import get_settings

QUEUE = os.environ.get("TEST_CELERY_QUEUE", "dagster")
STEP_TAGS = {"dagster-celery/queue": QUEUE}
WAREHOUSE_POOL = "duckdb_warehouse"


def _work(seconds: float) -> dg.MaterializeResult:
    started = time.time()
    time.sleep(seconds)
    return dg.MaterializeResult(
        metadata={
            "celery_worker": current_task.request.hostname if current_task else "none",
            "pid": os.getpid(),
            "started": started,
            "finished": time.time(),
        }
    )


@dg.asset(op_tags=STEP_TAGS)
def fetch_contracts() -> dg.MaterializeResult:
    return _work(3.0)


@dg.asset(op_tags=STEP_TAGS)
def fetch_procurements() -> dg.MaterializeResult:
    return _work(3.0)


@dg.asset(deps=[fetch_contracts], pool=WAREHOUSE_POOL, op_tags=STEP_TAGS)
def load_contracts() -> dg.MaterializeResult:
    return _work(1.5)


@dg.asset(deps=[fetch_procurements], pool=WAREHOUSE_POOL, op_tags=STEP_TAGS)
def load_procurements() -> dg.MaterializeResult:
    return _work(1.5)


celery_job = dg.define_asset_job("celery_job", selection=dg.AssetSelection.all())

defs = with_runtime(
    dg.Definitions(
        assets=[fetch_contracts, fetch_procurements, load_contracts, load_procurements],
        jobs=[celery_job],
    ),
    get_settings(),
)
