"""`kill -9` of a copy at several points, then a re-run: the copy equals the source, with
no duplicate, because data and cursor position are committed in one transaction."""

from __future__ import annotations

import random
import subprocess
import sys
import time
from pathlib import Path

import pytest

from tests.lib.cdc.conftest import SourceDB, differences, run_sync

pytestmark = [pytest.mark.postgres, pytest.mark.slow]
ROWS = 200_000

# The child copies the table as the asset does and says when it starts.
CHILD = """
import sys
from tests.lib.cdc.conftest import run_sync
from project.lib.datasets.sources import DatabaseSource
source = DatabaseSource.model_validate_json(sys.argv[2]).bind(
    "src.db", lambda: {"con": sys.argv[3]}
)
print("start", flush=True)
run_sync(__import__("pathlib").Path(sys.argv[1]), source, sys.argv[4])
print("done", flush=True)
"""


def _killed_copy(path: Path, db: SourceDB, source, table: str, after_s: float) -> bool:
    """Start a copy in a child process and SIGKILL it `after_s` after it starts; True if
    it was killed before finishing."""
    child = subprocess.Popen(
        [
            sys.executable,
            "-c",
            CHILD,
            str(path),
            source.model_dump_json(by_alias=True),
            db.url,
            table,
        ],
        stdout=subprocess.PIPE,
        text=True,
    )
    assert child.stdout.readline().strip() == "start"
    time.sleep(after_s)
    killed = child.poll() is None
    child.kill()
    child.wait()
    return killed


def _change(db: SourceDB, table: str, round_: int) -> None:
    """About 10% of the rows change: updates, deletes and inserts, all newer than before."""
    t = db.t(table)
    stamp = f"'2024-09-{round_ + 1:02d} 00:00+00'"
    db.execute(f"UPDATE {t} SET name = name || '*', updated_at = {stamp} WHERE id % 20 = {round_}")
    db.execute(f"DELETE FROM {t} WHERE id % 97 = {round_}")
    first = ROWS + round_ * 10_000
    db.execute(
        f"INSERT INTO {t} SELECT g, 'new ' || g, 0, {stamp} "
        f"FROM generate_series({first + 1}, {first + 10_000}) g"
    )


@pytest.mark.parametrize("mode", ["merge", "scd2", "append"])
def test_a_copy_killed_at_any_point_resumes_exactly(
    postgres_source: SourceDB, tmp_path: Path, mode: str
) -> None:
    db = postgres_source
    table = f"big_{mode}"
    db.execute(
        f"CREATE TABLE {db.t(table)} (id bigint PRIMARY KEY, name text, amount int, "
        "updated_at timestamptz NOT NULL)"
    )
    db.execute(
        f"INSERT INTO {db.t(table)} SELECT g, 'row ' || g, g % 1000, "
        f"'2024-08-01'::timestamptz + g * interval '1 second' FROM generate_series(1, {ROWS}) g"
    )
    cursor = "id" if mode == "append" else "updated_at"
    source = db.source(
        {table: {"mode": mode, "primary_key": "id", "cursor": cursor, "lag": 5}},
        target_schema=f"crash_{mode}",
    )
    path = tmp_path / "warehouse.duckdb"
    # How long a whole first copy takes here, to kill inside it.
    probe = tmp_path / "probe.duckdb"
    started = time.monotonic()
    run_sync(probe, source, table)
    whole_s = time.monotonic() - started
    rng = random.Random(17)
    killed = 0
    for round_ in range(4):
        if round_ and mode != "append":
            _change(db, table, round_)
        elif round_:
            first = ROWS + round_ * 10_000
            db.execute(
                f"INSERT INTO {db.t(table)} SELECT g, 'new', 0, now() "
                f"FROM generate_series({first + 1}, {first + 10_000}) g"
            )
        killed += _killed_copy(path, db, source, table, rng.uniform(0.05, whole_s * 1.2))
        run_sync(path, source, table)
        assert differences(path, source, table) == 0, f"round {round_}"
        again = run_sync(path, source, table)
        assert (again.inserted, again.updated, again.deleted) == (0, 0, 0)
    assert killed >= 2, f"only {killed} of 4 copies were killed mid-way"
