"""The shop benchmark's `library` workload: the platform's own code, without Dagster.

Run as `python -m bench.shop_library <run id> <dbt args JSON>` with the platform's
environment (PLATFORM_DATA_DIR, WAREHOUSE_PATH, SHOP_LANDING_DIR) pointing at a fresh
warehouse. Does what the bronze assets and the shop dbt asset do in a run, in their
order: every source's files through `project.lib.shop.bronze.ingest_file` (listed and
hashed by `project.lib.shop.landing`, the ledger deciding), the bronze WARN counts into
the expectation log, then `dbt build` of the silver models with the arguments the dbt
asset passes (read by the parent from `project.defs.shop.transformation`, so this
process never imports Dagster). Prints `{"bronze_s", "dbt_s", "dbt_started", "target",
"dbt_rc"}` as JSON on its last line, and exits with dbt's status (`dbt_started`: the
epoch dbt was launched at, to split its log's time stamps; `target`: the dbt target
folder, whose run_results.json has per-model times).
"""

from __future__ import annotations

import json
import shutil
import subprocess
import sys
import tempfile
import time
from datetime import UTC, datetime
from pathlib import Path

from project.lib import warehouse
from project.lib.shop import bronze, ops
from project.lib.shop.landing import list_files, offer
from project.lib.shop.sources import shop_sources
from project.settings import PROJECT_ROOT, load_settings

DBT_PROJECT_DIR = PROJECT_ROOT / "dbt_project"


def ingest_all(run_id: str) -> dict[str, int]:
    """Every landed file of every source into bronze; rows ingested per source."""
    settings = load_settings()
    target = warehouse.target_from(settings)
    rows: dict[str, int] = {}
    config = {"memory_limit": settings.warehouse_memory_limit}
    with warehouse.connection(target, config=config) as conn:
        warehouse.ensure_schemas(conn)
        for name, source in sorted(shop_sources().sources.items()):  # Dagster's step order
            bronze.ensure_bronze(conn, source)
            root, now = settings.shop_landing, datetime.now(UTC)
            offers = [offer(root, landed, now) for landed in list_files(root, source)]
            results = [bronze.ingest_file(conn, root, source, o, run_id) for o in offers]
            batches = [r.batch for r in results if r.status == "ingested"]
            expectations = bronze.bronze_expectations(conn, source, batches)
            ops.record(
                conn,
                run_id,
                [
                    ops.RuleResult("bronze", name, e.rule, e.action, e.passed, e.failed)
                    for e in expectations
                ],
            )
            rows[name] = sum(r.rows for r in results)
    return rows


def dbt_build(args: list[str], target: Path) -> int:
    """dbt's exit status: a failed blocking test still leaves the run's figures."""
    parsed = DBT_PROJECT_DIR / "target" / "partial_parse.msgpack"
    if parsed.exists():  # as dagster-dbt does: no full re-parse for one invocation
        shutil.copy2(parsed, target / parsed.name)
    dbt = str(Path(sys.executable).parent / "dbt")
    folders = ["--project-dir", str(DBT_PROJECT_DIR), "--profiles-dir", str(DBT_PROJECT_DIR)]
    command = [dbt, *args, *folders, "--target-path", str(target)]
    return subprocess.run(command, check=False, stdout=sys.stderr).returncode


def main(run_id: str, args: list[str]) -> dict[str, object]:
    started = time.monotonic()
    ingest_all(run_id)
    bronze_s = time.monotonic() - started
    target = Path(tempfile.mkdtemp(prefix="shop-dbt-target-", dir=load_settings().data_path))
    dbt_started = time.time()
    dbt_rc = dbt_build(args, target)
    dbt_s = time.monotonic() - started - bronze_s
    return {
        "bronze_s": bronze_s,
        "dbt_s": dbt_s,
        "dbt_started": dbt_started,
        "target": str(target),
        "dbt_rc": dbt_rc,
    }


if __name__ == "__main__":
    split = main(sys.argv[1], json.loads(sys.argv[2]))
    print(json.dumps(split))
    sys.exit(split["dbt_rc"])
