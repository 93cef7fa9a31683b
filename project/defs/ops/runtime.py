"""How the steps of a run execute: the executor, and the default step retry policy.

DAGSTER_EXECUTOR chooses the executor, one machine or Celery. `multiprocess`, the
default, is Dagster's own executor (each step in a subprocess of the run worker), started
the `forkserver` way: one server process per run imports Dagster, dbt and every module of
the code location once, and each step is forked from it. Spawned afresh, each step spent
4-5 s importing and loading the definitions before its own work (a 7-step dataset
pipeline: 44.6 s, now 21.5 s); a run's config may still choose another `start_method`.
`celery` sends each step to the Celery workers listening on the broker (RabbitMQ, or
Redis with the `redis` package), so the steps of one run spread over several processes
or machines; the instance must then be on PostgreSQL (DAGSTER_PG_URL), shared by the
workers. The warehouse lease (a slot of the warehouse pool in that shared instance)
still applies, so DuckDB writers stay one at a time while other steps run in parallel.

`STEP_RETRY` is the step-level retry policy every capability's jobs share (PNCP's
scheduled jobs pass it as `op_retry_policy`): how hard a step is retried is a property of
the platform (a flaky disk, a busy warehouse, a restarted worker), not of one source, so
it is decided here once; an asset that needs its own (extraction, against a rate-limited
API) declares it and keeps it. Run-level retries are instance configuration.
"""

import os
import pkgutil

import dagster as dg

from project.settings import Settings

# Two retries, 30 s then 60 s apart, with jitter so the steps of one failed run do not
# all hit the warehouse again at the same instant.
STEP_RETRY = dg.RetryPolicy(
    max_retries=2, delay=30, backoff=dg.Backoff.EXPONENTIAL, jitter=dg.Jitter.PLUS_MINUS
)


def preloaded_modules() -> list[str]:
    """What each run's fork server imports before forking steps: the definitions and every
    module the defs loader imports (walked, so a new capability's modules are included)."""
    import project.components
    import project.defs

    modules = ["project.definitions", "dagster_dbt"]
    for package in (project.defs, project.components):
        prefix = f"{package.__name__}."
        modules += [m.name for m in pkgutil.walk_packages(package.__path__, prefix)]
    return modules


def forkserver_executor() -> dg.ExecutorDefinition:
    """Dagster's default executor (`multiprocess`, or `in_process` when a run's config asks
    for it) whose multiprocess steps fork from a preloaded server. Its other settings
    (max_concurrent, tag limits, retries, another start_method) stay run configuration."""
    preload = preloaded_modules()

    def with_forkserver(config: dict) -> dict:
        unknown = sorted(set(config) - {"multiprocess", "in_process"})
        if unknown:  # the schema is open, so a misspelt key would otherwise be ignored
            raise ValueError(f"execution config: unknown key(s) {unknown}; use multiprocess "
                             "or in_process")  # fmt: skip
        if "in_process" in config:
            return config
        forked = {"start_method": {"forkserver": {"preload_modules": preload}}}
        return {"multiprocess": {**forked, **(config.get("multiprocess") or {})}}

    return dg.multi_or_in_process_executor.configured(
        with_forkserver, config_schema=dg.Permissive(), name="multi_or_in_process_executor"
    )


def executor_from_settings(settings: Settings) -> dg.ExecutorDefinition:
    """Celery when DAGSTER_EXECUTOR asks for it, else multiprocess steps from a fork server."""
    if settings.dagster_executor != "celery":
        return forkserver_executor()
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
    return dg.Definitions.merge(defs, dg.Definitions(executor=executor_from_settings(settings)))
