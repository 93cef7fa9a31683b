"""The file ledger (`shop_landing.files`): one row per version of every landing file.

It is what makes ingestion exactly-once: bronze rows and the row's `ingested` status are
committed in one transaction, and a file version already `ingested` (or `skipped`) is
never read again, whoever offers it and however often. Auto Loader keeps the same facts
in a RocksDB inside the checkpoint; here they are a table anyone can query.

Statuses: `pending` (registered, not ingested: waiting, or held back with its cause in
`error`, such as new columns under failOnNewColumns), `ingested`, `failed` (the file
cannot be read; the cause in `error`), `skipped` (a rewrite in place under the `skip`
policy). No constraints are declared, since DuckLake has none; every write happens under
the bronze writer's lease, one at a time.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

import duckdb

from project.lib.shop import ops
from project.lib.shop.landing import Offer

LEDGER = "shop_landing.files"

DDL = (
    "CREATE SCHEMA IF NOT EXISTS shop_landing",
    "CREATE SCHEMA IF NOT EXISTS shop_bronze",
    f"""CREATE TABLE IF NOT EXISTS {LEDGER} (
        source VARCHAR NOT NULL,
        path VARCHAR NOT NULL,
        version INTEGER NOT NULL,
        size BIGINT,
        modified_at TIMESTAMPTZ,
        sha256 VARCHAR NOT NULL,
        first_seen TIMESTAMPTZ,
        status VARCHAR NOT NULL,
        file_seq BIGINT,
        rows BIGINT,
        malformed_rows BIGINT,
        rescued_rows BIGINT,
        new_columns VARCHAR,
        run_id VARCHAR,
        ingested_at TIMESTAMPTZ,
        error VARCHAR
    )""",
)


def ensure_ledger(conn: duckdb.DuckDBPyConnection) -> None:
    """The ledger, bronze's schema and the shop's operational tables (the event log)."""
    for statement in DDL:
        conn.execute(statement)
    ops.ensure_tables(conn)


@dataclass(frozen=True)
class Entry:
    """The ledger's row for the version of a file that an offer names."""

    path: str
    version: int
    status: str  # what the row said before this run touched it ("new" if just added)
    rewrite_of: str | None = None  # the sha256 of the version it replaces, for a rewrite


def register(conn: duckdb.DuckDBPyConnection, item: Offer, on_rewrite: str, run_id: str) -> Entry:
    """The ledger row for this file version, added as `pending` when new.

    Same path and sha256 as a known row: that row (its status says whether there is
    anything left to do). Same path, new content: a rewrite in place, added as the next
    version, `pending` under `new_version` and `skipped` under `skip`.
    """
    rows = conn.execute(
        f"SELECT version, sha256, status FROM {LEDGER} WHERE path = ? ORDER BY version",
        [item.path],
    ).fetchall()
    for version, sha256, status in rows:
        if sha256 == item.sha256:
            return Entry(item.path, version, status)
    version = rows[-1][0] + 1 if rows else 1
    rewrite_of = rows[-1][1] if rows else None
    status, error = "pending", None
    if rewrite_of is not None and on_rewrite == "skip":
        status = "skipped"
        error = (
            f"rewritten in place (sha256 {rewrite_of[:12]} -> {item.sha256[:12]}); "
            "policy skip: not ingested"
        )
    conn.execute(
        f"""INSERT INTO {LEDGER} (source, path, version, size, modified_at, sha256, first_seen,
                status, run_id, error)
            VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?)""",
        [
            item.source,
            item.path,
            version,
            item.size,
            item.modified_at,
            item.sha256,
            datetime.fromisoformat(item.first_seen),
            status,
            run_id,
            error,
        ],
    )
    return Entry(item.path, version, "new" if status == "pending" else status, rewrite_of)


def next_file_seq(conn: duckdb.DuckDBPyConnection) -> int:
    return conn.execute(f"SELECT coalesce(max(file_seq), 0) + 1 FROM {LEDGER}").fetchone()[0]


def mark(
    conn: duckdb.DuckDBPyConnection,
    entry: Entry,
    status: str,
    run_id: str,
    error: str | None = None,
    **counts: object,
) -> None:
    """Set the row's status, cause and counts (file_seq, rows, malformed_rows, ...)."""
    fields = {"status": status, "run_id": run_id, "error": error, **counts}
    if status == "ingested":
        fields["ingested_at"] = datetime.now().astimezone()
    assignments = ", ".join(f"{name} = ?" for name in fields)
    conn.execute(
        f"UPDATE {LEDGER} SET {assignments} WHERE path = ? AND version = ?",
        [*fields.values(), entry.path, entry.version],
    )


def ingested_fingerprints(conn: duckdb.DuckDBPyConnection) -> set[tuple[str, str]]:
    """(path, sha256) of every version that needs nothing more: ingested, skipped, or
    failed (an unreadable file stays so until `pncp landing retry`)."""
    rows = conn.execute(
        f"SELECT path, sha256 FROM {LEDGER} WHERE status IN ('ingested', 'skipped', 'failed')"
    ).fetchall()
    return {(path, sha) for path, sha in rows}


def retry_failed(conn: duckdb.DuckDBPyConnection, source: str | None = None) -> int:
    """Put failed files back to pending (after the cause is fixed); how many."""
    where = "status = 'failed'" + (" AND source = ?" if source else "")
    params = [source] if source else []
    count = conn.execute(f"SELECT count(*) FROM {LEDGER} WHERE {where}", params).fetchone()[0]
    conn.execute(f"UPDATE {LEDGER} SET status = 'pending' WHERE {where}", params)
    return count
