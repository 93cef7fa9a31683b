"""The code location: every folder under `defs/`, plus project-wide policy.

Each capability keeps its definitions in its own folder (`defs/pncp`, ...), loaded by
`load_from_defs_folder`; what applies to all of them (settings exported to child
processes, the log format) is decided here, once.
"""

from pathlib import Path

import dagster as dg

from project.defs.shared.logging import loggers_for
from project.settings import apply_to_environment, get_settings


@dg.definitions
def defs() -> dg.Definitions:
    settings = get_settings()
    apply_to_environment(settings)
    return dg.Definitions.merge(
        dg.load_from_defs_folder(path_within_project=Path(__file__).parent),
        dg.Definitions(loggers=loggers_for(settings)),
    )
