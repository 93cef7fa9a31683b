"""Bronze ingestion: landing files into `shop_bronze.<source>`, each exactly once.

A file is read by DuckDB into a temporary table first (a file that cannot be read at all
is marked `failed` with the cause and the others go on); then, in one transaction, its
rows go to bronze with their provenance (`_source_file`, `_line`, `_ingested_at`,
`_batch`), its malformed lines to `shop_bronze.malformed_lines` with file, line and text,
and its ledger row becomes `ingested`. A crash anywhere leaves the file `pending` and
bronze without any of its rows; the next run reads it again.

Every landed value is kept as text, as Auto Loader does for JSON without type inference:
bronze never loses a value to a cast, and silver types it (or quarantines it). Fields
outside the source's schema follow its schema-evolution mode (`project.lib.shop.sources`).
"""

from __future__ import annotations

import csv
import gzip
import io
from dataclasses import dataclass, field
from pathlib import Path

import duckdb

from project.lib.shop import ledger
from project.lib.shop.expectations import sql_ident, sql_literal
from project.lib.shop.landing import Offer
from project.lib.shop.sources import PROVENANCE, LandingSource

MALFORMED = "shop_bronze.malformed_lines"
MALFORMED_DDL = f"""CREATE TABLE IF NOT EXISTS {MALFORMED} (
    source VARCHAR, source_file VARCHAR, file_version INTEGER, line BIGINT, raw VARCHAR,
    error VARCHAR, _batch BIGINT, run_id VARCHAR, quarantined_at TIMESTAMPTZ)"""

# One landed line per row: a separator no valid JSON line holds unescaped.
_LINES = (
    "read_csv({path}, columns={{'raw': 'VARCHAR'}}, header=false, delim='\\x1e', "
    "quote='', escape='', auto_detect=false, strict_mode=false)"
)


class SchemaChangeError(Exception):
    """A file has columns outside the schema of a `failOnNewColumns` source."""


@dataclass
class FileResult:
    """What one file did in this run."""

    path: str
    version: int
    status: str  # ingested | already | skipped | failed | held
    rows: int = 0
    malformed: int = 0
    rescued: int = 0
    new_columns: list[str] = field(default_factory=list)
    error: str | None = None
    batch: int | None = None


def bronze_table(source: LandingSource) -> str:
    return f"shop_bronze.{source.name}"


def ensure_bronze(conn: duckdb.DuckDBPyConnection, source: LandingSource) -> None:
    ledger.ensure_ledger(conn)
    conn.execute(MALFORMED_DDL)
    columns = ", ".join(f"{sql_ident(c)} VARCHAR" for c in source.columns)
    conn.execute(
        f"""CREATE TABLE IF NOT EXISTS {bronze_table(source)} ({columns},
            _rescued_data VARCHAR, _source_file VARCHAR, _file_version INTEGER, _line BIGINT,
            _ingested_at TIMESTAMPTZ, _batch BIGINT, _run_id VARCHAR)"""
    )


def data_columns(conn: duckdb.DuckDBPyConnection, source: LandingSource) -> list[str]:
    """The bronze table's landed columns: the declared ones and any evolved since."""
    rows = conn.execute(
        """SELECT column_name FROM duckdb_columns()
           WHERE database_name = current_database() AND schema_name = 'shop_bronze'
             AND table_name = ? ORDER BY column_index""",
        [source.name],
    ).fetchall()
    return [name for (name,) in rows if name not in PROVENANCE]


class _Read:
    """A file read into temporary tables: `_landing_rows` (`__line`, one column per landed
    field) and `_landing_bad` (line, raw, error)."""

    def __init__(self, keys: list[str]) -> None:
        self.keys = keys


def _read_jsonl(conn: duckdb.DuckDBPyConnection, path: Path) -> _Read:
    conn.execute(
        f"""CREATE OR REPLACE TEMP TABLE _landing_lines AS
            SELECT row_number() OVER () AS line, raw,
                   CASE WHEN json_valid(raw) THEN json_type(raw) = 'OBJECT' ELSE false END AS ok
            FROM {_LINES.format(path=sql_literal(str(path)))}"""
    )
    conn.execute(
        """CREATE OR REPLACE TEMP TABLE _landing_bad AS
           SELECT line, raw, CASE WHEN json_valid(raw) THEN 'not a JSON object'
                                  ELSE 'malformed JSON' END AS error
           FROM _landing_lines WHERE NOT ok AND trim(coalesce(raw, '')) <> ''"""
    )
    keys = [
        k
        for (k,) in conn.execute(
            "SELECT DISTINCT unnest(json_keys(raw)) AS k FROM _landing_lines WHERE ok ORDER BY k"
        ).fetchall()
    ]
    struct = "{" + ", ".join(f'"{k}": "VARCHAR"' for k in keys) + "}" if keys else None
    fields = "".join(f", r[{sql_literal(k)}] AS {sql_ident(k)}" for k in keys)
    parsed = f", from_json(raw, {sql_literal(struct)}) AS r" if keys else ""
    conn.execute(
        f"""CREATE OR REPLACE TEMP TABLE _landing_rows AS
            SELECT __line{fields}
            FROM (SELECT line AS __line{parsed} FROM _landing_lines WHERE ok)"""
    )
    return _Read(keys)


def _csv_header(path: Path) -> list[str]:
    opener = gzip.open if path.name.endswith(".gz") else open
    with opener(path, "rb") as raw:
        first = raw.readline()
    if not first.strip():
        return []
    text = first.decode("utf-8").lstrip("\ufeff")
    return [name.strip() for name in next(csv.reader(io.StringIO(text)))]


def _read_csv(conn: duckdb.DuckDBPyConnection, path: Path) -> _Read:
    header = _csv_header(path)
    if len(set(header)) != len(header) or any(not name for name in header):
        raise ValueError(f"header {header!r} has an empty or repeated column name")
    if not header:
        conn.execute(
            "CREATE OR REPLACE TEMP TABLE _landing_rows AS SELECT 0::BIGINT AS __line WHERE false"
        )
        conn.execute(
            "CREATE OR REPLACE TEMP TABLE _landing_bad AS SELECT 0::BIGINT AS line, "
            "''::VARCHAR AS raw, ''::VARCHAR AS error WHERE false"
        )
        return _Read([])
    columns = "{" + ", ".join(f"{sql_literal(h)}: 'VARCHAR'" for h in header) + "}"
    conn.execute("DROP TABLE IF EXISTS _landing_rejects")
    conn.execute("DROP TABLE IF EXISTS _landing_reject_scans")
    conn.execute(
        f"""CREATE OR REPLACE TEMP TABLE _landing_parsed AS
            SELECT row_number() OVER () AS __k, *
            FROM read_csv({sql_literal(str(path))}, header=true, columns={columns},
                          auto_detect=false, delim=',', quote='"', escape='"',
                          store_rejects=true, rejects_table='_landing_rejects',
                          rejects_scan='_landing_reject_scans')"""
    )
    conn.execute(
        """CREATE OR REPLACE TEMP TABLE _landing_bad AS
           SELECT line::BIGINT AS line, any_value(csv_line) AS raw,
                  string_agg(error_message, '; ') AS error
           FROM _landing_rejects GROUP BY line"""
    )
    # The k-th good row's physical line: k + 1 (the header) + the rejected lines before
    # it. A rejected line r_i (i-th, 1-based) has r_i - i - 1 good rows before it.
    fields = ", ".join(f"p.{sql_ident(h)}" for h in header)
    conn.execute(
        f"""CREATE OR REPLACE TEMP TABLE _landing_rows AS
            WITH gaps AS (SELECT line - row_number() OVER (ORDER BY line) - 1 AS good_before
                          FROM _landing_bad)
            SELECT p.__k + 1 + (SELECT count(*) FROM gaps WHERE good_before < p.__k) AS __line,
                   {fields}
            FROM _landing_parsed p"""
    )
    return _Read(header)


def _cause(exc: BaseException) -> str:
    """The error in one line, without the file's bytes (binary garbage is not a message)."""
    lines = [line.strip() for line in str(exc).splitlines() if line.strip()]
    kept = [line for line in lines if not line.startswith(("Original Line", "Possible Solution"))]
    # JSON lines are read as one-column CSV: say "line", not "CSV Error on Line", and leave
    # out the reader's dialect (file = ..., delimiter = ...), which is ours, not the file's.
    text = " ".join(kept).replace("CSV Error on Line", "error on line").split(" file = ")[0]
    return f"{type(exc).__name__}: {text[:300]}"


def read_file(conn: duckdb.DuckDBPyConnection, source: LandingSource, path: Path) -> _Read:
    """Read the file into the temporary tables; any exception means it cannot be read."""
    return _read_jsonl(conn, path) if source.format == "jsonl" else _read_csv(conn, path)


def _rescued(unknown: list[str]) -> str:
    if not unknown:
        return "NULL"
    entries = ", ".join(
        f"{{'k': {sql_literal(k)}, 'v': CAST({sql_ident(k)} AS VARCHAR)}}" for k in unknown
    )
    return (
        f"nullif(CAST(to_json(map_from_entries(list_filter([{entries}], "
        "e -> e.v IS NOT NULL))) AS VARCHAR), '{}')"
    )


def _insert(
    conn: duckdb.DuckDBPyConnection,
    source: LandingSource,
    table_columns: list[str],
    read: _Read,
    unknown: list[str],
    item: Offer,
    entry: ledger.Entry,
    batch: int,
    run_id: str,
) -> tuple[int, int, int]:
    present = set(read.keys)
    targets = [*table_columns, *PROVENANCE]
    values = [
        *(sql_ident(c) if c in present else "NULL" for c in table_columns),
        _rescued(unknown),
        sql_literal(item.path),
        str(entry.version),
        "__line",
        "now()",
        str(batch),
        sql_literal(run_id),
    ]
    rows = conn.execute(
        f"""INSERT INTO {bronze_table(source)} ({", ".join(map(sql_ident, targets))})
            SELECT {", ".join(values)} FROM _landing_rows"""
    ).fetchone()[0]
    malformed = conn.execute(
        f"""INSERT INTO {MALFORMED}
            SELECT ?, ?, ?, line, raw, error, ?, ?, now() FROM _landing_bad ORDER BY line""",
        [source.name, item.path, entry.version, batch, run_id],
    ).fetchone()[0]
    rescued = 0
    if unknown:
        condition = " OR ".join(f"{sql_ident(k)} IS NOT NULL" for k in unknown)
        rescued = conn.execute(f"SELECT count(*) FROM _landing_rows WHERE {condition}").fetchone()[
            0
        ]
    return rows, malformed, rescued


def ingest_file(
    conn: duckdb.DuckDBPyConnection, root: Path, source: LandingSource, item: Offer, run_id: str
) -> FileResult:
    """Ingest one file version unless the ledger says it needs nothing; never raises for
    the file's content (the result says what happened)."""
    entry = ledger.register(conn, item, source.rewrite_policy, run_id)
    if entry.status in ("ingested", "skipped", "failed"):
        # Done with this content: a failed file is read again only after `landing retry`.
        status = {"ingested": "already", "skipped": "skipped", "failed": "failed_before"}
        return FileResult(item.path, entry.version, status[entry.status])
    path = root / item.path
    try:
        read = read_file(conn, source, path)
    except (duckdb.Error, OSError, UnicodeDecodeError, ValueError, csv.Error) as exc:
        cause = _cause(exc)
        ledger.mark(conn, entry, "failed", run_id, error=f"cannot read {item.path}: {cause}")
        return FileResult(item.path, entry.version, "failed", error=cause)

    table_columns = data_columns(conn, source)
    new = [k for k in read.keys if k not in table_columns or k in PROVENANCE]
    if new and source.evolution == "failOnNewColumns":
        message = (
            f"{item.path}: new columns {', '.join(new)} not in the schema of "
            f"{source.name} (schema_evolution failOnNewColumns); the file stays pending"
        )
        ledger.mark(conn, entry, "pending", run_id, error=message, new_columns=",".join(new))
        return FileResult(item.path, entry.version, "held", new_columns=new, error=message)

    conn.execute("BEGIN TRANSACTION")
    try:
        unknown: list[str] = []
        if new and source.evolution == "addNewColumns":
            for column in (c for c in new if c not in PROVENANCE):
                conn.execute(
                    f"ALTER TABLE {bronze_table(source)} ADD COLUMN {sql_ident(column)} VARCHAR"
                )
            table_columns = data_columns(conn, source)
            unknown = [c for c in new if c in PROVENANCE]
        elif new and source.evolution == "rescue":
            unknown = new
        batch = ledger.next_file_seq(conn)
        rows, malformed, rescued = _insert(
            conn, source, table_columns, read, unknown, item, entry, batch, run_id
        )
        ledger.mark(
            conn,
            entry,
            "ingested",
            run_id,
            file_seq=batch,
            rows=rows,
            malformed_rows=malformed,
            rescued_rows=rescued,
            new_columns=",".join(new) or None,
        )
        conn.execute("COMMIT")
    except BaseException:
        conn.execute("ROLLBACK")
        raise
    return FileResult(
        item.path, entry.version, "ingested", rows, malformed, rescued, new, batch=batch
    )


@dataclass
class ExpectationResult:
    rule: str
    action: str
    passed: int
    failed: int
    description: str


def bronze_expectations(
    conn: duckdb.DuckDBPyConnection, source: LandingSource, batches: list[int]
) -> list[ExpectationResult]:
    """Each WARN rule's passed and failed rows among the given batches (this run's files)."""
    if not source.expectations:
        return []
    counts = ", ".join(
        f"count(*) FILTER (WHERE NOT ({rule.predicate()}))" for rule in source.expectations
    )
    if batches:
        where = (
            f"_batch BETWEEN {min(batches)} AND {max(batches)} AND _batch IN "
            f"({', '.join(map(str, batches))})"
        )
        total, *failed = conn.execute(
            f"SELECT count(*), {counts} FROM {bronze_table(source)} WHERE {where}"
        ).fetchone()
    else:
        total, failed = 0, [0] * len(source.expectations)
    return [
        ExpectationResult(rule.name, rule.action, total - bad, bad, rule.predicate())
        for rule, bad in zip(source.expectations, failed, strict=True)
    ]
