"""The code location: every folder under `defs/`, plus project-wide policy.

Each capability keeps its definitions in its own folder (`defs/pncp`, ...), loaded by
`load_from_defs_folder`; what applies to all of them (settings exported to child
processes such as dbt) is decided here, once. Log format is instance configuration
(`conf/dagster/dagster.yaml`, rendered by `project.lib.instance`), so it covers the
daemon and every run worker too.
"""

from pathlib import Path

import dagster as dg

from project.settings import apply_to_environment, get_settings


@dg.definitions
def defs() -> dg.Definitions:
    apply_to_environment(get_settings())
    return dg.load_from_defs_folder(path_within_project=Path(__file__).parent)
