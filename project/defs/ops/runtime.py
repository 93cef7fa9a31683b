"""How the steps of a run execute, chosen by DAGSTER_EXECUTOR: one machine, or Celery.

`multiprocess`, the default, is Dagster's own executor (each step in a subprocess of the
run worker). `celery` sends each step to the Celery workers listening on the broker
(RabbitMQ, or Redis with the `redis` package), so the steps of one run spread over
several processes or machines; the instance must then be on PostgreSQL (DAGSTER_PG_URL),
shared by the workers. Op concurrency pools still apply, so DuckDB writers stay one at a
time while other steps run in parallel.
"""

import os

import dagster as dg

from project.settings import Settings


def executor_from_settings(settings: Settings) -> dg.ExecutorDefinition | None:
    """None keeps Dagster's default (multiprocess) executor."""
    if settings.dagster_executor != "celery":
        return None
    # Imported here: an executor object at module level would be picked up by the defs loader.
    from dagster_celery import celery_executor

    # The broker URL may hold a password: the executor reads it from the run worker's
    # environment, so it never appears in configuration shown by the UI.
    os.environ.setdefault("CELERY_BROKER_URL", settings.celery_broker_url.get_secret_value())
    return celery_executor.configured(
        {
            "broker": {"env": "CELERY_BROKER_URL"},
            # Step results travel back over the broker: no result store to run.
            "backend": "rpc://",
            "config_source": {"worker_prefetch_multiplier": 1},
        },
        name="celery",
    )


def with_runtime(defs: dg.Definitions, settings: Settings) -> dg.Definitions:
    """`defs` with the executor the settings ask for."""
    if executor := executor_from_settings(settings):
        return dg.Definitions.merge(defs, dg.Definitions(executor=executor))
    return defs
