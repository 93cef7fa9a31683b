"""One measured copy of the datasets benchmark, in a process of its own.

Run as `python -m bench.datasets_copy <dataset|pandas> <database URL> <table> <output dir>`:
copies the PostgreSQL table to hive-partitioned Parquet (by `month`) under the output
directory, and prints as JSON on its last line the seconds the copy took inside this
process (interpreter start-up and imports left out) and the process's peak RSS in MB as
the kernel counts it (VmHWM). Each side imports only what it uses, so neither is charged
for the other's libraries.

- `dataset`: the dataset layer, `PartitionedParquetDataset.save(PostgresTableDataset.scan())`
  (record batches streamed from PostgreSQL through DuckDB into Parquet).
- `pandas`: the naive way, `pandas.read_sql` through a SQLAlchemy engine (psycopg2), then
  `DataFrame.to_parquet(partition_cols=["month"])` (pyarrow).
"""

from __future__ import annotations

import json
import sys
import time
from pathlib import Path

PARTITION_COLUMN = "month"


def copy_dataset(url: str, table: str, out: Path) -> None:
    from project.lib.datasets.databases import PostgresTableDataset
    from project.lib.datasets.files import PartitionedParquetDataset

    source = PostgresTableDataset.model_validate(
        {"type": "postgres.TableDataset", "table_name": table, "credentials": "pg"}
    ).bind("bench.orders", lambda: {"con": url})
    target = PartitionedParquetDataset.model_validate(
        {"type": "parquet.PartitionedDataset", "path": str(out), "partition_by": PARTITION_COLUMN}
    ).bind("bench.orders_parquet", None)
    target.save(source.scan())


def copy_pandas(url: str, table: str, out: Path) -> None:
    import pandas as pd
    import sqlalchemy

    engine = sqlalchemy.create_engine(url)
    try:
        frame = pd.read_sql(f'SELECT * FROM "{table}"', engine)
    finally:
        engine.dispose()
    frame.to_parquet(out, partition_cols=[PARTITION_COLUMN])


def peak_rss_mb() -> float:
    for line in Path("/proc/self/status").read_text().splitlines():
        if line.startswith("VmHWM:"):
            return int(line.split()[1]) / 1024
    return 0.0


COPIES = {"dataset": copy_dataset, "pandas": copy_pandas}


def main(how: str, url: str, table: str, out: Path) -> dict[str, float]:
    started = time.monotonic()
    COPIES[how](url, table, out)
    return {"copy_s": time.monotonic() - started, "vmhwm_mb": peak_rss_mb()}


if __name__ == "__main__":
    print(json.dumps(main(sys.argv[1], sys.argv[2], sys.argv[3], Path(sys.argv[4]))))
