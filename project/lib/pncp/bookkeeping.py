"""PNCP bookkeeping in the `meta` schema: execution log, schema versions, completeness."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date, timedelta

import duckdb

from project.lib.pncp import schema
from project.lib.pncp.archive import utcnow
from project.lib.pncp.extract import DayReport


def log_execution(
    conn: duckdb.DuckDBPyConnection, report: DayReport, run_id: str | None, status: str
) -> None:
    finished = utcnow()
    conn.execute(
        "INSERT INTO meta.execution_log VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
        [
            run_id,
            report.endpoint,
            report.day,
            status,
            report.pages_fetched,
            report.pages_resumed,
            report.records_fetched,
            report.bytes_received,
            report.retries,
            report.throttled,
            len(report.failures),
            report.duration_s,
            finished - timedelta(seconds=report.duration_s),
            finished,
        ],
    )


@dataclass(frozen=True)
class SchemaCheck:
    """The structure seen in a partition against the endpoint's baseline (first version)."""

    fingerprint: str
    drift: schema.Drift
    new_version: bool
    baseline_fingerprint: str | None


def check_schema(
    conn: duckdb.DuckDBPyConnection,
    endpoint: str,
    day: date,
    structure: schema.Structure,
    run_id: str | None,
    cache: dict[str, list[tuple[str, str]]] | None = None,
) -> SchemaCheck:
    """Compare to the baseline (first version); record structures never seen before.

    The check reports drift against the baseline on every partition that has it; a new
    version is recorded only when the structure adds fields or types that no recorded
    version had, so one drift is one row in `meta.schema_versions`, not one per day.

    `cache` (endpoint -> its recorded versions, oldest first) spares a read per
    endpoint-day (on a lake each read pays catalog round trips). It decides alone only
    when it shows no new version, which versions recorded since by others cannot change;
    otherwise the versions are read again before one is recorded, and the endpoint's
    entry is dropped once one is.
    """
    fingerprint = schema.fingerprint(structure)
    rows = cache.get(endpoint) if cache is not None else None
    if rows:
        checked = _against(rows, fingerprint, structure)
        if not checked.new_version:
            return checked
    rows = conn.execute(
        """SELECT fingerprint, structure FROM meta.schema_versions
           WHERE endpoint = ? ORDER BY first_seen_at, first_partition""",
        [endpoint],
    ).fetchall()
    if cache is not None:
        cache[endpoint] = rows
    if not rows:
        checked = SchemaCheck(fingerprint, schema.Drift((), (), ()), True, None)
    else:
        checked = _against(rows, fingerprint, structure)
    if checked.new_version:
        _record_version(conn, endpoint, fingerprint, structure, day, run_id)
        if cache is not None:
            cache.pop(endpoint, None)
    return checked


def _against(
    rows: list[tuple[str, str]], fingerprint: str, structure: schema.Structure
) -> SchemaCheck:
    """`structure` against the recorded versions `rows` (at least one, oldest first)."""
    baseline_fp, baseline_json = rows[0]
    drift = schema.diff(schema.from_json(baseline_json), structure)
    known: schema.Structure = {}
    for _, text in rows:
        schema.merge(known, schema.from_json(text))
    unseen = schema.diff(known, structure)
    return SchemaCheck(fingerprint, drift, bool(unseen.added or unseen.changed), baseline_fp)


def _record_version(
    conn: duckdb.DuckDBPyConnection,
    endpoint: str,
    fingerprint: str,
    structure: schema.Structure,
    day: date,
    run_id: str | None,
) -> None:
    key = [endpoint, fingerprint]
    conn.execute(
        """INSERT INTO meta.schema_versions
           SELECT ?, ?, ?, ?, ?, ?
           WHERE NOT EXISTS (
               SELECT 1 FROM meta.schema_versions WHERE endpoint = ? AND fingerprint = ?
           )""",
        [endpoint, fingerprint, schema.to_json(structure), day, utcnow(), run_id, *key],
    )


@dataclass(frozen=True)
class Completeness:
    """Archived pages and records of an endpoint-day against PNCP's own totals."""

    slices: int
    expected_slices: int
    expected_records: int
    archived_records: int
    expected_pages: int
    archived_pages: int

    @property
    def complete(self) -> bool:
        return (
            self.slices == self.expected_slices
            and self.archived_records == self.expected_records
            and self.archived_pages == self.expected_pages
        )


def completeness(
    conn: duckdb.DuckDBPyConnection, endpoint: str, day: date, expected_slices: int
) -> Completeness:
    # One scan (each scan of a lake's table pays its own catalog round trips).
    row = conn.execute(
        """SELECT count(*) FILTER (page = 1),
                  coalesce(sum(total_records) FILTER (page = 1), 0),
                  coalesce(sum(greatest(total_pages, 1)) FILTER (page = 1), 0),
                  coalesce(sum(record_count), 0), count(*)
           FROM raw.api_requests WHERE endpoint = ? AND ingestion_date = ?""",
        [endpoint, day],
    ).fetchone()
    slices, expected_records, expected_pages, archived_records, archived_pages = row
    return Completeness(
        slices,
        expected_slices,
        int(expected_records),
        int(archived_records),
        int(expected_pages),
        archived_pages,
    )
