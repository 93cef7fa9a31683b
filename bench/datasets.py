"""A PostgreSQL table copied to hive-partitioned Parquet through the dataset layer.

Issue #15. At each size (1 and 5 million rows by default) a table of orders is generated
in PostgreSQL (`generate_series`: id, customer, order time, numeric(12,2) amount, status,
a note of about 60 characters, ship date, gift flag, quantity and the `month` it falls in,
24 distinct values over two years), then copied twice, each copy in a fresh Python process
of its own so its peak RSS is that copy's alone (bench/datasets_copy.py):

- the dataset layer: `PartitionedParquetDataset(partition_by="month").save(
  PostgresTableDataset.scan())`, record batches streamed through DuckDB;
- the baseline, the naive way: `pandas.read_sql` (SQLAlchemy engine, psycopg2), then
  `DataFrame.to_parquet(partition_cols=["month"])`.

Both outputs are checked against the source table (rows, distinct months, sum of ids)
before a figure is kept. Rows/s is the table's rows over the child's wall time (start-up
and imports included, the same for both); the lines printed as it goes also give the
time of the copy itself. Each side runs `BENCH_DATASETS_REPEATS` times, alternating with
the other, and keeps its median time and its highest peak RSS: the machine may be shared,
and the load average is printed before and after every copy. Targets: the dataset
layer's peak RSS under 1 GiB at every size (flat as the table grows) and at least 3x the
baseline's rows/s.

What it found (2 cores): one DuckDB COPY of the whole registered stream held memory that
grew with the table (606 MB at 1M rows, 841 MB at 5M, 927 MB at 10M), because DuckDB
reads a registered `RecordBatchReader` through pyarrow's `Scanner.from_batches`, which
drains it ahead of a slower writer up to its ~1 GiB back-pressure threshold. Hence the
save's COPY of a 64 MB chunk at a time (files.py `CHUNK_BYTES`) and 16 MB read batches
(databases.py `BATCH_BYTES`): 487 MB at 1M, 541 MB at 5M (560 MB at 10M); and zstd at
level 1 (files.py `ZSTD_LEVEL`, the same file size, writes 30% faster): 3.1x -> 3.4x
pandas' rows/s at 1M, 5.0x -> 5.5x at 5M.

Knobs: `BENCH_DATASETS_ROWS` (`1000000,5000000`) the sizes; `BENCH_DATASETS_REPEATS` (3);
`BENCH_DATASETS_BASELINE_MAX_ROWS` skips the pandas baseline above that many rows (unset:
always run it; it holds the whole table as Python objects, ~6 GB at 5 million rows);
`BENCH_DATASETS_URL` the PostgreSQL database (default `BENCH_CATALOG_URL`, else the local
`postgresql://postgres@127.0.0.1:5432/test`). Tables are named `bench_datasets_*` and
dropped after each size; the Parquet goes to a temporary directory, removed after each copy.
"""

from __future__ import annotations

import json
import os
import sys
import tempfile
import time
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, replace
from pathlib import Path

from bench.common import (
    Measurement,
    catalog_url,
    load_average,
    pg_cursor,
    print_table,
    run_measured,
    save,
)

ROWS = [int(n) for n in os.environ.get("BENCH_DATASETS_ROWS", "1000000,5000000").split(",")]
REPEATS = max(1, int(os.environ.get("BENCH_DATASETS_REPEATS", "3")))
BASELINE_MAX_ROWS = int(os.environ.get("BENCH_DATASETS_BASELINE_MAX_ROWS") or 0) or None
TABLE_PREFIX = "bench_datasets_"
TARGET_RATIO = 3.0  # the dataset layer's rows/s over the baseline's, at least this
TARGET_RSS_MB = 1024.0  # the dataset layer's peak RSS (1 GiB), below this at every size
PARTITION_COLUMN = "month"

# Two years of orders in id order, `month` their UTC month (24 values), ~60-character notes.
GENERATE = """
CREATE TABLE {table} AS
SELECT
    g.i AS id,
    (1 + floor(random() * 200000))::bigint AS customer_id,
    g.ordered_at,
    round((5 + random() * 995)::numeric, 2)::numeric(12, 2) AS amount,
    (ARRAY['placed', 'paid', 'shipped', 'delivered', 'returned', 'cancelled'])
        [1 + floor(random() * 6)::int] AS status,
    concat_ws(' ', 'order', g.i, 'ship via',
        (ARRAY['post', 'courier', 'pickup', 'freight'])[1 + floor(random() * 4)::int],
        md5(g.i::text)) AS note,
    (g.ordered_at AT TIME ZONE 'UTC')::date + (1 + floor(random() * 10))::int AS ship_date,
    random() < 0.1 AS is_gift,
    (1 + floor(random() * 5))::int AS quantity,
    to_char(g.ordered_at AT TIME ZONE 'UTC', 'YYYY-MM') AS month
FROM (
    SELECT i::bigint AS i,
        timestamptz '2023-01-01 00:00:00+00'
            + ((i - 1) * 63072000.0 / %(rows)s)::float8 * interval '1 second' AS ordered_at
    FROM generate_series(1, %(rows)s) AS i
) AS g
"""
CHECK = f"count(*), count(DISTINCT {PARTITION_COLUMN}), sum(id)"


def database_url() -> str:
    return os.environ.get("BENCH_DATASETS_URL") or catalog_url()


def admin():
    return pg_cursor(database_url())


@contextmanager
def source_table(rows: int) -> Iterator[tuple[str, tuple]]:
    """A fresh table of `rows` orders, vacuumed (hint bits set, so neither copy pays for
    them) and analyzed; yields its name and its check figures; dropped afterwards."""
    table = f"{TABLE_PREFIX}{uuid.uuid4().hex[:8]}_{rows}"
    started = time.monotonic()
    try:
        with admin() as cur:
            cur.execute("SELECT setseed(0.15)")
            cur.execute(GENERATE.format(table=table), {"rows": rows})
            cur.execute(f"VACUUM ANALYZE {table}")
            cur.execute(f"SELECT {CHECK} FROM {table}")
            check = tuple(int(v) for v in cur.fetchone())
            cur.execute("SELECT pg_total_relation_size(%s)", [table])
            size_mb = cur.fetchone()[0] / 2**20
        print(
            f"  table {table}: {rows:,} rows, {size_mb:.0f} MB in PostgreSQL, generated in "
            f"{time.monotonic() - started:.1f} s (load {load_average()})",
            flush=True,
        )
        yield table, check
    finally:
        with admin() as cur:
            cur.execute(f"DROP TABLE IF EXISTS {table}")


def written(out: Path) -> tuple:
    """The check figures of the Parquet under `out`, and its partition directories."""
    import duckdb

    conn = duckdb.connect()
    try:
        found = conn.execute(
            f"SELECT {CHECK} FROM read_parquet(?, hive_partitioning = true)",
            [str(out / "**" / "*.parquet")],
        ).fetchone()
    finally:
        conn.close()
    folders = sorted(p.name for p in out.glob(f"{PARTITION_COLUMN}=*") if p.is_dir())
    return tuple(int(v) for v in found), len(folders)


@dataclass
class Copy:
    how: str
    rows: int
    seconds: float  # the child's wall time
    copy_s: float  # the copy inside the child
    peak_rss_mb: float
    load: float

    @property
    def rows_per_s(self) -> float:
        return self.rows / self.seconds


LABELS = {"dataset": "dataset layer", "pandas": "pandas read_sql + to_parquet"}


def copy(how: str, table: str, check: tuple) -> Copy:
    """One copy of `table` in a fresh process, its output checked against the source."""
    rows = check[0]
    before = load_average()
    with tempfile.TemporaryDirectory(prefix="bench-datasets-") as tmp:
        out = Path(tmp) / "orders"
        command = [sys.executable, "-m", "bench.datasets_copy", how, database_url(), table, out]
        seconds, rss, stdout = run_measured([str(part) for part in command])
        inside = json.loads(stdout.strip().splitlines()[-1])
        found, folders = written(out)
    if found != check or folders != check[1]:
        raise AssertionError(
            f"{how}: the Parquet holds (rows, months, sum of ids) {found} in {folders} "
            f"partition directories; the table {check}"
        )
    # wait4's ru_maxrss is the child's own peak; VmHWM is the child's word for the same.
    peak = max(rss, inside["vmhwm_mb"])
    print(
        f"  {LABELS[how]}, {rows:,} rows: {seconds:.1f} s ({inside['copy_s']:.1f} s copying), "
        f"{rows / seconds:,.0f} rows/s, peak RSS {peak:.0f} MB, {folders} partitions "
        f"(load {before} -> {load_average()})",
        flush=True,
    )
    return Copy(how, rows, seconds, inside["copy_s"], peak, os.getloadavg()[0])


def typical(copies: list[Copy]) -> Copy:
    """The median copy by time, with the highest peak RSS of them all."""
    median = sorted(copies, key=lambda c: c.seconds)[len(copies) // 2]
    return replace(median, peak_rss_mb=max(c.peak_rss_mb for c in copies))


def summary(how: str, copies: list[Copy]) -> str:
    c = typical(copies)
    times = ", ".join(f"{x.seconds:.1f}" for x in copies)
    return (
        f"{LABELS[how]}: median {c.seconds:.1f} s of {len(copies)} ({times} s), "
        f"{c.rows_per_s:,.0f} rows/s, peak RSS {c.peak_rss_mb:.0f} MB"
    )


def measure(rows: int) -> list[Measurement]:
    what = f"datasets: postgres -> hive parquet, {rows / 1e6:g}M rows"
    hows = ["dataset"]
    if BASELINE_MAX_ROWS is None or rows <= BASELINE_MAX_ROWS:
        hows.append("pandas")
    else:
        print(f"  pandas baseline skipped above {BASELINE_MAX_ROWS:,} rows", flush=True)
    copies: dict[str, list[Copy]] = {how: [] for how in hows}
    with source_table(rows) as (table, check):
        for _ in range(REPEATS):  # alternating, so both sides meet the same machine
            for how in hows:
                copies[how].append(copy(how, table, check))
    layer = typical(copies["dataset"])
    ours = Measurement(f"{what}, dataset layer", layer.seconds, layer.peak_rss_mb, rows)
    ours.load, ours.target_rss_mb = layer.load, TARGET_RSS_MB
    print(f"  {rows:,} rows, {summary('dataset', copies['dataset'])}", flush=True)
    if "pandas" not in copies:
        return [ours]
    baseline = typical(copies["pandas"])
    theirs = Measurement(f"{what}, pandas", baseline.seconds, baseline.peak_rss_mb, rows)
    theirs.load = baseline.load
    ours.baseline_seconds, ours.baseline_records = baseline.seconds, baseline.rows
    ours.target_seconds = round(baseline.seconds / TARGET_RATIO, 1)
    ratio = layer.rows_per_s / baseline.rows_per_s
    print(
        f"  {rows:,} rows, {summary('pandas', copies['pandas'])}\n"
        f"  {rows:,} rows: dataset layer / pandas = {ratio:.2f}x rows/s "
        f"(target >= {TARGET_RATIO:g}x; copy alone {baseline.copy_s / layer.copy_s:.2f}x), "
        f"peak RSS {layer.peak_rss_mb:.0f} MB against {baseline.peak_rss_mb:.0f} MB "
        f"(target < {TARGET_RSS_MB:.0f} MB)",
        flush=True,
    )
    return [ours, theirs]


def run() -> list[Measurement]:
    print(f"  load before: {load_average()}", flush=True)
    results = []
    for rows in ROWS:
        results += measure(rows)
    layer = [m for m in results if m.workload.endswith("dataset layer")]
    if len(layer) > 1:
        peaks = " -> ".join(f"{m.peak_rss_mb:.0f} MB at {m.records:,}" for m in layer)
        print(f"  dataset layer peak RSS as the table grows: {peaks} rows")
    print(f"  load after: {load_average()}")
    print_table(results)
    return results


if __name__ == "__main__":
    save("datasets", run())
