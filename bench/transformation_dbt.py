"""The transformation benchmark's `dbt build + export` workload: no Dagster in the process.

Run as `python -m bench.transformation_dbt <data dir> <plan JSON>` (the plan holds the
`dbt build` arguments and the export specs, which the parent reads from the Dagster
definitions so this process never imports Dagster): builds the month with the dbt CLI,
then writes each mart's month with the same `export_month` the export assets use.
Prints the split between the two as JSON on its last line.
"""

from __future__ import annotations

import json
import shutil
import subprocess
import sys
import time
from datetime import date
from pathlib import Path

import duckdb

from project.lib.exports import export_month
from project.settings import PROJECT_ROOT, load_settings

DBT_PROJECT_DIR = PROJECT_ROOT / "dbt_project"
MONTH = date(2024, 7, 1)


def build_and_export(data: Path, plan: dict) -> dict[str, float]:
    target = data.parent / "dbt-target"
    target.mkdir()
    parsed = DBT_PROJECT_DIR / "target" / "partial_parse.msgpack"
    if parsed.exists():  # as dagster-dbt does: no full re-parse for one invocation
        shutil.copy2(parsed, target / parsed.name)
    started = time.monotonic()
    dbt = str(Path(sys.executable).parent / "dbt")
    folders = ["--project-dir", str(DBT_PROJECT_DIR), "--profiles-dir", str(DBT_PROJECT_DIR)]
    command = [dbt, *plan["dbt_args"], *folders, "--target-path", str(target)]
    subprocess.run(command, check=True, stdout=sys.stderr)
    dbt_s = time.monotonic() - started
    settings = load_settings()
    config = {"memory_limit": settings.warehouse_memory_limit}
    with duckdb.connect(str(settings.warehouse), read_only=True, config=config) as conn:
        for model, month_column, order_by in plan["exports"]:
            export_month(
                conn, f"marts.{model}", month_column, MONTH, order_by,
                settings.exports / "pncp", model,
            )  # fmt: skip
    return {"dbt_s": dbt_s, "export_s": time.monotonic() - started - dbt_s}


if __name__ == "__main__":
    print(json.dumps(build_and_export(Path(sys.argv[1]), json.loads(sys.argv[2]))))
