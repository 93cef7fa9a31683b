"""Where a month's extraction stands, per day and endpoint: what is complete, what is not.

Read from the archive alone (`raw.api_requests` against PNCP's own page-1 totals, and
`meta.failed_requests`), so it answers the same whether the pages came from Dagster, the
runner or a retry, and it needs only a read-only connection.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import asdict, dataclass
from datetime import date, timedelta

import duckdb

from project.lib.pncp.endpoints import ENDPOINTS
from project.lib.pncp.extract import slices_of

COMPLETE = "complete"
INCOMPLETE = "incomplete"  # pages or slices missing, no open failure
FAILED = "failed"  # open rows in meta.failed_requests
NOT_EXTRACTED = "not extracted"


@dataclass(frozen=True)
class EndpointDayStatus:
    day: date
    endpoint: str
    status: str
    archived_pages: int
    expected_pages: int  # from page-1 totals; slices without page 1 count one page each
    missing_pages: int
    records: int
    expected_records: int
    failed: int  # open failed requests
    retried: int  # failed requests later archived (resolved)
    http_retries: int  # extra HTTP attempts of archived pages

    def as_dict(self) -> dict[str, object]:
        return {**asdict(self), "day": self.day.isoformat()}


def days_between(first: date, last: date) -> list[date]:
    return [first + timedelta(days=i) for i in range((last - first).days + 1)]


def has_archive(conn: duckdb.DuckDBPyConnection) -> bool:
    """Whether the archive tables exist (a new or foreign warehouse has none)."""
    return bool(
        conn.execute(
            """SELECT count(*) FROM duckdb_tables()
               WHERE schema_name = 'raw' AND table_name = 'api_requests'"""
        ).fetchone()[0]
    )


def endpoint_day_status(
    conn: duckdb.DuckDBPyConnection,
    first: date,
    last: date,
    endpoints: Sequence[str] = tuple(ENDPOINTS),
) -> list[EndpointDayStatus]:
    """One status per day in [first, last] and endpoint, ordered by day then endpoint."""
    pages: dict[tuple[date, str], tuple] = {}
    failures: dict[tuple[date, str], tuple[int, int]] = {}
    if has_archive(conn):
        for row in conn.execute(
            """SELECT ingestion_date, endpoint,
                      count(*) FILTER (WHERE page = 1),
                      coalesce(sum(greatest(total_pages, 1)) FILTER (WHERE page = 1), 0),
                      coalesce(sum(total_records) FILTER (WHERE page = 1), 0),
                      count(*), coalesce(sum(record_count), 0), coalesce(sum(attempts - 1), 0)
               FROM raw.api_requests WHERE ingestion_date BETWEEN ? AND ?
               GROUP BY ALL""",
            [first, last],
        ).fetchall():
            pages[(row[0], row[1])] = tuple(int(v) for v in row[2:])
        for day, endpoint, open_count, resolved in conn.execute(
            """SELECT ingestion_date, endpoint, count(*) FILTER (WHERE NOT resolved),
                      count(*) FILTER (WHERE resolved)
               FROM meta.failed_requests WHERE ingestion_date BETWEEN ? AND ?
               GROUP BY ALL""",
            [first, last],
        ).fetchall():
            failures[(day, endpoint)] = (int(open_count), int(resolved))
    statuses = []
    for day in days_between(first, last):
        for name in endpoints:
            slices, expected_pages, expected_records, archived, records, retries = pages.get(
                (day, name), (0, 0, 0, 0, 0, 0)
            )
            open_count, resolved = failures.get((day, name), (0, 0))
            missing_slices = len(slices_of(ENDPOINTS[name])) - slices
            expected = expected_pages + missing_slices
            missing = max(0, expected - archived)
            if open_count:
                status = FAILED
            elif not archived:
                status = NOT_EXTRACTED
            elif missing or records < expected_records:
                status = INCOMPLETE
            else:
                status = COMPLETE
            statuses.append(
                EndpointDayStatus(
                    day=day,
                    endpoint=name,
                    status=status,
                    archived_pages=archived,
                    expected_pages=expected,
                    missing_pages=missing,
                    records=records,
                    expected_records=expected_records,
                    failed=open_count,
                    retried=resolved,
                    http_retries=retries,
                )
            )
    return statuses
