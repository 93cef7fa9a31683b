"""The shop's quarantine, seen from Python: replay requests and what is quarantined.

Silver (dbt, `dbt_project/macros/shop/silver.sql`) sends every bronze row that fails a
`drop` expectation to `shop_silver.quarantine`. After the rule, the mapping or the data is
fixed, `request_replay` records a request in `shop_ops.replay_requests`; the next silver
run evaluates the quarantined rows of that rule again with the rules of the day: those
that pass go to silver (once: an event already there is not added twice) and become
`replayed`, the others stay `quarantined`, and the request is `done`. Asking twice is
harmless: rows already replayed are not quarantined any more.

The shop_ops tables are created as dbt creates them (`project.lib.shop.ops`), so the
operator can record a request before silver ever ran.
"""

from __future__ import annotations

import uuid
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

import duckdb

from project.lib.shop import ops, silver_rules
from project.lib.shop.silver_rules import Expectation

SOURCES = ("orders", "order_items", "payments", "web_events", "customers", "products")
QUARANTINE = "shop_silver.quarantine"
# The change feeds' silver models (customers, products) live in a folder of their own.
CHANGE_FEEDS_DIR = silver_rules.SILVER_MODELS_DIR / "changes"
REQUESTS = "shop_ops.replay_requests"


class ReplayError(ValueError):
    """A replay the quarantine cannot honour (unknown source or rule)."""


@dataclass(frozen=True)
class ReplayRequest:
    request_id: str
    rule: str
    source: str | None
    requested_at: datetime
    rows: int  # quarantined rows the request covers now


@dataclass
class RuleCount:
    source: str
    rule: str
    quarantined: int
    replayed: int
    samples: list[dict[str, Any]] = field(default_factory=list)


def _exists(conn: duckdb.DuckDBPyConnection, qualified: str) -> bool:
    schema, table = qualified.split(".")
    return bool(
        conn.execute(
            "SELECT count(*) FROM information_schema.tables "
            "WHERE table_catalog = current_database() AND table_schema = ? AND table_name = ?",
            [schema, table],
        ).fetchone()[0]
    )


def _where(rule: str | None, source: str | None, *, status: str | None = None):
    clauses, params = [], []
    if rule is not None:
        clauses.append("list_contains(failed_rules, ?)")
        params.append(rule)
    if source is not None:
        clauses.append("source = ?")
        params.append(source)
    if status is not None:
        clauses.append("status = ?")
        params.append(status)
    return (" WHERE " + " AND ".join(clauses)) if clauses else "", params


def quarantined_rules(conn: duckdb.DuckDBPyConnection, source: str | None = None) -> dict[str, int]:
    """Rules named by quarantined rows (any failed rule, not only the first), with counts."""
    if not _exists(conn, QUARANTINE):
        return {}
    where, params = _where(None, source, status="quarantined")
    rows = conn.execute(
        f"SELECT rule, count(*) FROM (SELECT unnest(failed_rules) AS rule FROM {QUARANTINE}"
        f"{where}) GROUP BY rule ORDER BY rule",
        params,
    ).fetchall()
    return dict(rows)


def check_replay(
    conn: duckdb.DuckDBPyConnection,
    rule: str,
    source: str | None,
    declared: list[Expectation],
) -> None:
    """ReplayError unless `source` is a shop source and `rule` a drop rule declared for it,
    or one its quarantined rows name (a rule since removed from the YAML). The change
    feeds' rules count as declared too."""
    if source is not None and source not in SOURCES:
        raise ReplayError(f"unknown source {source!r}; known: {', '.join(SOURCES)}")
    everywhere = [*declared, *silver_rules.declared(CHANGE_FEEDS_DIR)]
    known = {e.name for e in everywhere if e.action == "drop" and source in (None, e.source)}
    if rule in known or rule in quarantined_rules(conn, source):
        return
    where = f" of {source}" if source else ""
    raise ReplayError(
        f"no drop rule {rule!r}{where} is declared or named by quarantined rows; "
        f"declared: {', '.join(sorted(known)) or 'none'}"
    )


def request_replay(
    conn: duckdb.DuckDBPyConnection, rule: str, source: str | None = None
) -> ReplayRequest:
    """Record a pending request; the next silver run applies it."""
    ops.ensure_tables(conn)
    request = ReplayRequest(
        request_id=str(uuid.uuid4()),
        rule=rule,
        source=source,
        requested_at=datetime.now(UTC),
        rows=quarantined_rules(conn, source).get(rule, 0),
    )
    conn.execute(
        f"INSERT INTO {REQUESTS} (request_id, rule, source, requested_at, status, run_id) "
        "VALUES (?, ?, ?, ?, 'pending', NULL)",
        [request.request_id, rule, source, request.requested_at],
    )
    return request


def requests(conn: duckdb.DuckDBPyConnection, request_ids: list[str]) -> list[dict[str, Any]]:
    """The requests `request_ids` as they are now (status, the run that applied them)."""
    if not request_ids or not _exists(conn, REQUESTS):
        return []
    result = conn.execute(
        f"SELECT * FROM {REQUESTS} WHERE request_id IN (SELECT unnest(?)) ORDER BY requested_at",
        [request_ids],
    )
    columns = [d[0] for d in result.description]
    return [dict(zip(columns, row, strict=True)) for row in result.fetchall()]


def summary(
    conn: duckdb.DuckDBPyConnection,
    rule: str | None = None,
    source: str | None = None,
    samples: int = 3,
) -> list[RuleCount]:
    """Quarantined and replayed rows by source and first failing rule, with samples of the
    quarantined ones (reason, file, line, record). `rule` matches any failed rule."""
    if not _exists(conn, QUARANTINE):
        return []
    where, params = _where(rule, source)
    counts = conn.execute(
        f"SELECT source, rule, count(*) FILTER (WHERE status = 'quarantined'), "
        f"count(*) FILTER (WHERE status = 'replayed') FROM {QUARANTINE}{where} "
        "GROUP BY ALL ORDER BY source, rule",
        params,
    ).fetchall()
    found = [RuleCount(*row) for row in counts]
    if samples > 0 and found:
        where, params = _where(rule, source, status="quarantined")
        result = conn.execute(
            f"SELECT source, rule, quarantine_id, reason, source_file, line, record "
            f"FROM {QUARANTINE}{where} "
            "QUALIFY row_number() OVER (PARTITION BY source, rule ORDER BY _batch, line) <= ? "
            "ORDER BY source, rule, _batch, line",
            [*params, samples],
        )
        columns = [d[0] for d in result.description]
        by_rule = {(c.source, c.rule): c for c in found}
        for row in result.fetchall():
            sample = dict(zip(columns, row, strict=True))
            by_rule[(sample.pop("source"), sample.pop("rule"))].samples.append(sample)
    return found
