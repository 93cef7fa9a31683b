"""Lower a process's CPU priority (its niceness), for work that mostly waits.

An extraction spends its time waiting on the API and the warehouse's commits; beside it a
transformation is bound by the CPU. On a small machine the two share the cores evenly,
so the transformation, usually the longest run, waits on work that was not in a hurry.
At a higher niceness the extraction takes the cores only when they would idle.

Linux keeps a niceness per thread: threads already started (DuckDB's workers, Dagster's
event writers) keep theirs, so each thread of the process is lowered, and threads started
afterwards inherit it. Elsewhere `os.nice` lowers the process. Raising a priority back
needs a privilege, so this only ever lowers it: the process stays at the new niceness.
"""

from __future__ import annotations

import contextlib
import os
from pathlib import Path

MAX_NICENESS = 19
_TASKS = Path("/proc/self/task")


def niceness() -> int:
    """The calling thread's niceness (on Linux; the process's elsewhere)."""
    return os.getpriority(os.PRIO_PROCESS, 0)


def lower_priority(to: int) -> int:
    """Lower this process's CPU priority to niceness `to` (0-19) unless it is lower already;
    returns the niceness it runs at. 0 changes nothing."""
    if not 0 <= to <= MAX_NICENESS:
        raise ValueError(f"niceness must be 0-{MAX_NICENESS}, not {to}")
    if to <= niceness():
        return niceness()
    # A sandbox may refuse (seccomp): the work runs at the priority it has, never fails.
    with contextlib.suppress(PermissionError):
        if not _TASKS.is_dir():
            os.nice(to - niceness())
            return niceness()
        for task in _TASKS.iterdir():
            # A thread may end between the listing and the call.
            with contextlib.suppress(ProcessLookupError, ValueError):
                tid = int(task.name)
                if os.getpriority(os.PRIO_PROCESS, tid) < to:
                    os.setpriority(os.PRIO_PROCESS, tid, to)
    return niceness()
