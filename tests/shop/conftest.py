"""Shop silver/gold fixtures: bronze tables written straight in SQL, and dbt runs on them.

Bronze ingestion is built elsewhere; these tests do not use it. `land()` writes rows in
the contract's bronze layout (every data column VARCHAR as landed, then `_rescued_data`,
`_source_file`, `_file_version`, `_line`, `_ingested_at`, `_batch`, `_run_id`), one call
per landed file. dbt runs in a subprocess, as run by hand; the session's runs share one
warehouse path and target folder (`shop_dbt`), so the project is parsed once and every
later run parses only what changed.
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
from collections.abc import Sequence
from pathlib import Path

import duckdb
import pytest

from project.lib import extensions
from project.lib.shop import bronze
from project.lib.shop.sources import shop_sources
from project.settings import PROJECT_ROOT

DBT_PROJECT = PROJECT_ROOT / "dbt_project"
DBT = Path(sys.executable).parent / "dbt"


def order(n: int, batch: int = 1, **changes: object) -> dict:
    """A valid order event `n` (placed on 2026-11-03 unless changed)."""
    row = {
        "event_id": f"oe-{batch}-{n}",
        "order_id": f"O{n:08d}",
        "customer_id": f"C{n:06d}",
        "session_id": f"S{n:07d}",
        "status": "placed",
        "order_ts": "2026-11-03T14:05:09Z",
        "currency": "BRL",
        "channel": "web",
    }
    return row | changes


def item(n: int, line_no: int = 1, batch: int = 1, **changes: object) -> dict:
    row = {
        "event_id": f"ie-{batch}-{n}-{line_no}",
        "order_id": f"O{n:08d}",
        "line_no": str(line_no),
        "product_id": f"P{n % 100:05d}",
        "quantity": "2",
        "unit_price": "10.50",
    }
    return row | changes


def payment(n: int, batch: int = 1, **changes: object) -> dict:
    row = {
        "event_id": f"pe-{batch}-{n}",
        "payment_id": f"Y{n:08d}",
        "order_id": f"O{n:08d}",
        "method": "pix",
        "status": "approved",
        "amount": "21.00",
        "paid_ts": "2026-11-03T14:10:00Z",
    }
    return row | changes


def web_event(n: int, batch: int = 1, **changes: object) -> dict:
    row = {
        "event_id": f"we-{batch}-{n}",
        "session_id": f"S{n:07d}",
        "customer_id": f"C{n:06d}",
        "event_type": "page_view",
        "product_id": None,
        "page": "/",
        "device": "mobile",
        "event_ts": "2026-11-03T14:00:00Z",
    }
    return row | changes


def land(
    conn: duckdb.DuckDBPyConnection,
    source: str,
    batch: int,
    rows: Sequence[dict],
    *,
    file: str | None = None,
    version: int = 1,
    evolve: bool = False,
) -> str:
    """Rows of one landed file into `shop_bronze.<source>` (created as bronze creates it,
    from `conf/base/shop/sources.yml`).

    Keys a row has beyond the declared columns go to `_rescued_data` (JSON), or, with
    `evolve`, become VARCHAR columns appended to the table (bronze's addNewColumns).
    Returns the file's path (relative to the landing root).
    """
    landing = shop_sources().source(source)
    declared, fmt = landing.columns, landing.format
    path = file or f"{source}/part-{batch:05d}-000.{fmt}"
    bronze.ensure_bronze(conn, landing)
    existing = [r[0] for r in conn.execute(f"DESCRIBE shop_bronze.{source}").fetchall()]
    extra = sorted({k for row in rows for k in row} - set(declared))
    if evolve:
        for name in extra:
            if name not in existing:
                conn.execute(f'ALTER TABLE shop_bronze.{source} ADD COLUMN "{name}" VARCHAR')
                existing.append(name)
    first_line = 2 if fmt == "csv" else 1  # a CSV's header is line 1
    records = []
    for i, row in enumerate(rows):
        rescued = {k: row[k] for k in extra if not evolve and row.get(k) is not None}
        record = {c: _text(row.get(c)) for c in existing if not c.startswith("_")}
        record |= {
            "_rescued_data": json.dumps(rescued) if rescued else None,
            "_source_file": path,
            "_file_version": version,
            "_line": first_line + i,
            "_batch": batch,
            "_run_id": f"bronze-run-{batch}",
        }
        records.append(record)
    if records:
        names = list(records[0])
        placeholders = ", ".join("?" for _ in names)
        quoted = ", ".join(f'"{n}"' for n in names)
        conn.executemany(
            f"INSERT INTO shop_bronze.{source} ({quoted}, _ingested_at) "
            f"VALUES ({placeholders}, now())",
            [list(r.values()) for r in records],
        )
    return path


def _text(value: object) -> str | None:
    return None if value is None else str(value)


class Dbt:
    """dbt on one warehouse file and target folder, as `dbt` run by hand on the project."""

    def __init__(self, warehouse: Path, target: Path, project: Path = DBT_PROJECT) -> None:
        self.warehouse = warehouse
        self.target = target
        self.project = project
        self.env = {
            **os.environ,
            "DBT_WAREHOUSE_PATH": str(warehouse),
            "DUCKDB_EXTENSION_DIRECTORY": str(extensions.EXTENSION_DIR),
            "DBT_TARGET_PATH": str(target),
            "DBT_LOG_PATH": str(target / "logs"),
            "DBT_SEND_ANONYMOUS_USAGE_STATS": "false",
        }
        self.env.pop("COVERAGE_PROCESS_CONFIG", None)  # dbt adds no coverage of project/

    def __call__(self, *args: str, check: bool = True) -> subprocess.CompletedProcess:
        done = subprocess.run(
            [str(DBT), *args, "--project-dir", str(self.project), "--profiles-dir",
             str(self.project)],
            env=self.env,
            capture_output=True,
            text=True,
            timeout=600,
        )  # fmt: skip
        if check and done.returncode != 0:
            pytest.fail(f"dbt {' '.join(args)} failed:\n{done.stdout[-8000:]}\n{done.stderr}")
        return done

    def build(self, *args: str, check: bool = True) -> subprocess.CompletedProcess:
        """`dbt build` of the shop's models (silver and gold) and their tests."""
        return self("build", "--select", SHOP_SELECT, *args, check=check)

    def fresh(self) -> None:
        """An empty warehouse at the same path."""
        for path in (self.warehouse, self.warehouse.with_name(self.warehouse.name + ".wal")):
            path.unlink(missing_ok=True)


SHOP_SELECT = "path:models/silver/shop path:models/gold/shop"


@pytest.fixture(scope="session")
def shop_dbt(tmp_path_factory: pytest.TempPathFactory) -> Dbt:
    """One warehouse path and target folder for the session, parsed once: dbt re-parses
    the whole project when the profile (its path) or `--vars` change, so every test uses
    this path (emptied first) and the run id dbt gives (its invocation id)."""
    base = tmp_path_factory.mktemp("shop_dbt")
    runner = Dbt(base / "shop.duckdb", base / "target")
    runner("parse")
    return runner


def copy_project(to: Path) -> Path:
    """A copy of the dbt project (sources only) that a test may change."""
    shutil.copytree(
        DBT_PROJECT, to, ignore=shutil.ignore_patterns("target", "logs", "dbt_packages")
    )
    return to
