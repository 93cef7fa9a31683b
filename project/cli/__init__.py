"""`pncp`: the operator's command line for the PNCP pipeline (console script `pncp`).

Thin over the same library code and Dagster job the assets use: pipeline commands launch
ordinary Dagster runs (visible in the UI), the rest read or copy the warehouse through
`project.lib`. One module per area; importing it registers its commands on `app`, in the
order `--help` lists them. Heavy libraries (Dagster, httpx, pyarrow) are imported inside
the commands that use them, so `pncp --help` or a query starts in well under a second.
"""

import importlib

from project.cli.app import app

for _module in (
    "setup_cmds",
    "pipeline_cmds",
    "warehouse_cmds",
    "archive_cmds",
    "backup_cmds",
    "catalog_cmds",
    "runs_cmds",
    "lineage_cmds",
    "landing_cmds",
    "quarantine_cmds",
):
    importlib.import_module(f"project.cli.{_module}")

__all__ = ["app"]
