"""The code location: every folder under `defs/`, plus project-wide policy.

Each capability keeps its definitions in its own folder (`defs/pncp`, `defs/ops`, ...),
loaded by `load_from_defs_folder`; what applies to all of them is decided here, once:

- settings exported to child processes such as dbt;
- automation conditions and freshness policies by layer (`defs/ops/policy.py`), so
  capabilities name their groups `<capability>_<layer>` and need not repeat either;
- the per-run metrics hooks on every asset (`defs/ops/metrics.py`);
- the OpenLineage hooks on every asset (`defs/ops/lineage.py`): run events per
  materialization, to files under `data/lineage/events/` or an OpenLineage endpoint;
- the step executor (`DAGSTER_EXECUTOR`: multiprocess, its steps forked from a per-run
  server with the code location preloaded, or Celery workers; `defs/ops/runtime.py`).

Policy and hooks are mapped over the loaded assets with Dagster's own copy of the
definitions, so the component tree and every other field stay as the loader built them.

Log format is instance configuration (`conf/dagster/dagster.yaml`, rendered by
`project.lib.instance`), so it covers the daemon and every run worker too.
"""

from pathlib import Path

import dagster as dg

from project.defs.ops.lineage import lineage_hooks
from project.defs.ops.metrics import step_metrics_hooks
from project.defs.ops.policy import apply_policy
from project.defs.ops.runtime import with_runtime
from project.settings import Settings, apply_to_environment, get_settings

# The definitions built for the current settings. Dagster calls `defs` several times in
# one process (the CLI resolving a selection, the job it then executes, each run worker
# step); building them takes seconds (the defs folder, the dbt manifest), so they are
# built once per settings object (tests that change the environment get new settings).
_built: tuple[Settings, dg.Definitions] | None = None


def with_platform(loaded: dg.Definitions, settings: Settings) -> dg.Definitions:
    """`loaded` with what every capability gets: layer policy, metrics and lineage hooks,
    the executor. The lineage hooks read the asset graph of `loaded` (policy changes no
    place, input or column)."""
    hooks = step_metrics_hooks() | lineage_hooks(lambda: loaded)
    return with_runtime(apply_policy(loaded, hooks=hooks), settings)


@dg.definitions
def defs() -> dg.Definitions:
    global _built
    settings = get_settings()
    apply_to_environment(settings)
    if _built is None or _built[0] is not settings:
        loaded = dg.load_from_defs_folder(path_within_project=Path(__file__).parent)
        _built = (settings, with_platform(loaded, settings))
    return _built[1]
