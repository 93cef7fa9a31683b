"""Dagster runs for the operator's commands: the project's own asset job, in its instance.

The code location is loaded once per command (the same `project.definitions` the UI
serves) and each run executes the implicit asset job for a selection and partition, in
this process, recorded in the instance under `DAGSTER_HOME`: it appears in the UI's run
list with its logs, materializations and checks, tagged `pncp/command`. The warehouse
pool is enforced as for any run, so a CLI run waits for a UI run's writer and vice versa.

Dagster is imported here only, and only when a command launches a run: the other
commands start in a fraction of a second.
"""

from __future__ import annotations

import os
import sys
import time
import warnings
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass, field
from datetime import date, timedelta
from types import TracebackType
from typing import TYPE_CHECKING, Any, Self

from project.cli.app import CliError, Options, one_line
from project.cli.progress import Progress
from project.defs.pncp.selections import EXTRACTION
from project.lib.instance import ensure_dagster_home, prepare_storage
from project.settings import Settings, get_settings

if TYPE_CHECKING:
    import dagster as dg
    from dagster._core.execution.plan.objects import StepFailureData

COMMAND_TAG = "pncp/command"
RANGE_START_TAG = "dagster/asset_partition_range_start"
RANGE_END_TAG = "dagster/asset_partition_range_end"
# Run workers log INFO and up to the console (the event log in the UI keeps everything);
# under a live progress display on a terminal, warnings and errors only, so the display
# stays readable.
RUN_CONFIG = {"loggers": {"console": {"config": {"log_level": "INFO"}}}}
QUIET_RUN_CONFIG = {"loggers": {"console": {"config": {"log_level": "WARNING"}}}}
# The command runs its runs one after another in its own process: an extraction there
# keeps its priority, or the transformation after it would run at the lowered one.
KEEP_PRIORITY = {"resources": {"pncp": {"config": {"cpu_niceness": 0}}}}


def raw_selection(endpoints: Sequence[str], all_endpoints: Sequence[str]) -> str:
    """The extraction selection (`selections.EXTRACTION`), narrowed to some endpoints."""
    if set(endpoints) >= set(all_endpoints):
        return EXTRACTION
    return " or ".join(f'key:"pncp/raw/{name}"' for name in endpoints)


@dataclass(frozen=True)
class PlannedRun:
    """A validated run: which assets, which partition(s), how it is labelled."""

    label: str
    selection: str
    keys: tuple[dg.AssetKey, ...]
    partition_key: str | None = None
    tags: dict[str, str] = field(default_factory=dict)
    # Op config of the run (a YAML pipeline's parameter overrides), beside the loggers'.
    run_config: dict[str, Any] = field(default_factory=dict)

    @property
    def days(self) -> int:
        """Daily partitions the run covers (1 for a single partition)."""
        if RANGE_START_TAG not in self.tags:
            return 1
        first = date.fromisoformat(self.tags[RANGE_START_TAG])
        last = date.fromisoformat(self.tags[RANGE_END_TAG])
        return (last - first) // timedelta(days=1) + 1

    @property
    def extracts(self) -> bool:
        return all(key.path[:2] == ["pncp", "raw"] for key in self.keys)


@dataclass(frozen=True)
class RunOutcome:
    run: PlannedRun
    run_id: str
    success: bool
    duration_s: float
    failures: list[str]

    def summary(self) -> str:
        status = "SUCCESS" if self.success else "FAILURE"
        return (
            f"run {self.run_id} {status}: {self.run.label} "
            f"({len(self.run.keys)} assets) in {self.duration_s:.0f} s"
        )


def _reason(failure: StepFailureData) -> str:
    """Why a step failed: the asset's own description, else the innermost error."""
    if failure.user_failure_data is not None and failure.user_failure_data.description:
        return one_line(failure.user_failure_data.description)
    error = failure.error
    while error is not None and error.cause is not None:
        error = error.cause
    return one_line(error.message) if error is not None else "unknown error"


@contextmanager
def _stdout_to_stderr() -> Iterator[None]:
    """Keep stdout for the command's own result: a run prints dbt's log there."""
    sys.stdout.flush()
    saved = os.dup(1)
    os.dup2(2, 1)
    try:
        yield
    finally:
        sys.stdout.flush()
        os.dup2(saved, 1)
        os.close(saved)


class Launcher:
    """The code location and instance, loaded once; use as a context manager."""

    def __init__(self, config: Settings) -> None:
        home = ensure_dagster_home(config)
        # The storage exists before the run starts, created once even when several
        # first commands start together on a new instance (they would race otherwise).
        prepare_storage(config, home)
        os.environ["DAGSTER_HOME"] = str(home)
        get_settings.cache_clear()  # the definitions read the environment as it is now
        import dagster as dg

        from project.definitions import defs

        # Operators cannot act on API-maturity notices about the project's own code.
        for category in (dg.BetaWarning, dg.PreviewWarning, dg.SupersessionWarning):
            warnings.filterwarnings("ignore", category=category)
        self._dg = dg
        definitions = defs()
        self.job = definitions.resolve_implicit_global_asset_job_def()
        self.graph = definitions.resolve_asset_graph()
        self.instance = dg.DagsterInstance.get()
        self.home = home

    def __enter__(self) -> Self:
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.instance.dispose()

    def _keys(self, selection: str) -> tuple[dg.AssetKey, ...]:
        keys = self._dg.AssetSelection.from_string(selection).resolve(self.graph)
        materializable = sorted(k for k in keys if self.graph.get(k).is_materializable)
        if not materializable:
            raise CliError(f"selection {selection!r} matches no asset of the code location")
        return tuple(materializable)

    def _partitions(
        self, selection: str, keys: Sequence[dg.AssetKey]
    ) -> dg.PartitionsDefinition | None:
        found = {self.graph.get(k).partitions_def for k in keys}
        if len(found) > 1:
            raise CliError(f"assets of {selection!r} do not share one partitioning")
        return found.pop()

    def _check(self, partitions: dg.PartitionsDefinition, key: str, selection: str) -> None:
        if not partitions.has_partition_key(key):
            raise CliError(
                f"{key} is not a partition of {selection} (first "
                f"{partitions.get_first_partition_key()}, last "
                f"{partitions.get_last_partition_key()})"
            )

    def plan(
        self,
        label: str,
        selection: str,
        *,
        partition: str | None = None,
        days: tuple[date, date] | None = None,
    ) -> PlannedRun:
        """Validate a run of `selection` for one partition or a range of days (single run)."""
        keys = self._keys(selection)
        partitions = self._partitions(selection, keys)
        tags = {COMMAND_TAG: label}
        if partitions is None:  # an unpartitioned selection always runs whole
            return PlannedRun(label, selection, keys, None, tags)
        if days is not None:
            first, last = (d.isoformat() for d in days)
            self._check(partitions, first, selection)
            self._check(partitions, last, selection)
            if first == last:
                return PlannedRun(label, selection, keys, first, tags)
            tags |= {RANGE_START_TAG: first, RANGE_END_TAG: last}
            return PlannedRun(label, selection, keys, None, tags)
        if partition is None:
            raise CliError(f"{selection} is partitioned: a partition is required")
        self._check(partitions, partition, selection)
        return PlannedRun(label, selection, keys, partition, tags)

    def progress(self, run: PlannedRun, run_id: str) -> Progress:
        """The run's progress display: endpoint-days, pages, records and failed pages of
        an extraction (reported by the extraction itself, which runs in this process);
        for other runs (dbt, exports), the assets materialized so far, from the run's
        event log."""
        every = Options.progress_every_s
        if run.extracts:
            total = len(run.keys) * run.days
            return Progress(run.label, total, "endpoint-days", every_s=every)
        from dagster import DagsterEventType

        def materialized() -> tuple[int, int, int, int]:
            storage = self.instance.event_log_storage
            done = storage.get_records_for_run(
                run_id, of_type=DagsterEventType.ASSET_MATERIALIZATION, limit=10_000
            ).records
            failed = storage.get_records_for_run(
                run_id, of_type=DagsterEventType.STEP_FAILURE, limit=10_000
            ).records
            return len(done), 0, 0, len(failed)

        return Progress(
            run.label, len(run.keys), "assets", every_s=every, poll=materialized, show=("errors",)
        )

    def execute(self, run: PlannedRun) -> RunOutcome:
        """Run to completion, showing progress on stderr; the run's own output (logs, dbt)
        goes to stderr too, so stdout keeps the command's result."""
        from dagster._core.utils import make_new_run_id

        started = time.monotonic()
        run_id = make_new_run_id()
        display = self.progress(run, run_id)
        run_config = (QUIET_RUN_CONFIG if display.live else RUN_CONFIG) | run.run_config
        if run.extracts:  # the only runs whose steps lower it (project/defs/pncp/extraction.py)
            run_config |= KEEP_PRIORITY
        with _stdout_to_stderr(), display:
            result = self.job.execute_in_process(
                run_config=run_config,
                instance=self.instance,
                partition_key=run.partition_key,
                asset_selection=list(run.keys),
                tags=run.tags,
                raise_on_error=False,
                run_id=run_id,
            )
        failures = [
            f"{event.step_key}: {_reason(event.step_failure_data)}"
            for event in result.get_step_failure_events()
        ]
        return RunOutcome(run, result.run_id, result.success, time.monotonic() - started, failures)
