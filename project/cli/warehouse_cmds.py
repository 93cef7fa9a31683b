"""Reading the warehouse: ad-hoc SQL, the catalog, a month's recovery status.

All three open the warehouse read-only (a DuckDB file, or a DuckLake attached
READ_ONLY), so they never wait for a pool slot and never change anything; on a file they
fail fast (exit 2) while a writer holds it, a lake is read while runs write to it.
"""

from __future__ import annotations

import csv
import io
import json
import sys
from enum import StrEnum
from pathlib import Path
from typing import Annotated

import duckdb
import orjson
import typer

from project.cli.app import CliError, Options, app
from project.cli.common import (
    MonthArgument,
    MonthOption,
    existing_warehouse,
    one_month,
    parse_endpoints,
    parse_month,
    reader,
    reading,
    render_table,
    settings,
    write_atomically,
)
from project.lib import catalog, query, warehouse
from project.lib.pncp import payload_store  # noqa: F401  (registers its side store: query reads it)

PANEL = "Warehouse"


class QueryFormat(StrEnum):
    table = "table"
    csv = "csv"
    json = "json"
    parquet = "parquet"


def _json_default(value: object) -> str:
    return str(value)  # Decimal, timedelta, ... as text


def _serialize(
    conn: duckdb.DuckDBPyConnection, statement: str, fmt: QueryFormat, max_rows: int
) -> bytes:
    """The result of `statement` in `fmt`."""
    if fmt is QueryFormat.parquet:
        import pyarrow.parquet as pq

        sink = io.BytesIO()
        pq.write_table(conn.sql(statement).to_arrow_table(), sink)
        return sink.getvalue()
    result = conn.execute(statement)
    columns = [d[0] for d in result.description or []]
    if fmt is QueryFormat.json:
        rows = [dict(zip(columns, row, strict=True)) for row in result.fetchall()]
        return orjson.dumps(rows, default=_json_default, option=orjson.OPT_INDENT_2) + b"\n"
    if fmt is QueryFormat.csv:
        text = io.StringIO()
        writer = csv.writer(text, lineterminator="\n")
        writer.writerow(columns)
        writer.writerows(result.fetchall())
        return text.getvalue().encode()
    rows = result.fetchmany(max_rows + 1)
    shown = rows[:max_rows]
    footer = f"({len(shown)} row{'s' if len(shown) != 1 else ''})"
    if len(rows) > max_rows:
        footer = f"(first {max_rows} rows shown; --max-rows or --format csv for more)"
    return (render_table(columns, shown) + "\n" + footer + "\n").encode()


@app.command("query", rich_help_panel=PANEL)
def query_command(
    sql: Annotated[str, typer.Argument(help="One read-only statement (SELECT, DESCRIBE, ...).")],
    fmt: Annotated[
        QueryFormat, typer.Option("--format", "-f", help="Output format.")
    ] = QueryFormat.table,
    output: Annotated[
        Path | None, typer.Option("--output", "-o", help="Write to this file, not stdout.")
    ] = None,
    max_rows: Annotated[int, typer.Option(min=1, help="Rows shown as a table.")] = 200,
) -> None:
    """Run one read-only SQL statement on the warehouse and print its result.

    The warehouse is opened read-only with file access switched off, and anything but a
    read (DROP, INSERT, ATTACH, COPY ... TO, SET, INSTALL, postgres_scan(), ...) is
    refused before it runs. raw.payload_json reads the stored bodies. On a DuckLake the
    lake is attached READ_ONLY, and its past is readable too: `FROM raw.api_requests AT
    (VERSION => 42)` (snapshot ids: `pncp backup --list`).

    Example: pncp query "SELECT endpoint, count(*) FROM raw.api_requests GROUP BY 1"
    """
    try:
        statement = query.read_only_statement(sql)
    except duckdb.ParserException as exc:
        raise CliError(f"SQL does not parse: {exc}") from None
    if fmt is QueryFormat.parquet and output is None and sys.stdout.isatty():
        raise CliError("parquet is binary: pass --output FILE or redirect stdout")
    config = settings()
    target = existing_warehouse(config)
    with (
        reading(target),
        query.sandboxed_reader(
            target, wait_s=Options.lock_wait_s, memory_limit=config.warehouse_memory_limit
        ) as conn,
    ):
        try:
            data = _serialize(conn, statement, fmt, max_rows)
        except duckdb.Error as exc:
            raise CliError(f"query failed: {exc}") from None
    if output is not None:
        write_atomically(output, data)
        typer.echo(f"wrote {output} ({len(data)} bytes)", err=True)
    else:
        sys.stdout.buffer.write(data)


class CatalogFormat(StrEnum):
    markdown = "markdown"
    json = "json"


@app.command("dump-catalog", rich_help_panel=PANEL)
def dump_catalog(
    fmt: Annotated[
        CatalogFormat, typer.Option("--format", "-f", help="Output format.")
    ] = CatalogFormat.markdown,
    output: Annotated[
        Path | None, typer.Option("--output", "-o", help="Write to this file, not stdout.")
    ] = None,
) -> None:
    """Print every schema, table and column of the warehouse with types and dbt descriptions.

    Types come from DuckDB; descriptions from dbt's manifest (parsed first if the dbt
    project changed).

    Example: pncp dump-catalog --format json -o catalog.json
    """
    config = settings()
    with reader(config) as conn:
        tables = catalog.read_catalog(conn)
    manifest = _manifest_path()
    if manifest is not None:
        tables = catalog.annotate(tables, catalog.dbt_descriptions(manifest))
    else:
        typer.echo("dbt manifest unavailable: descriptions omitted", err=True)
    if fmt is CatalogFormat.json:
        text = catalog.to_json(tables)
    else:
        target = warehouse.target_from(config)
        name = f"ducklake {target.catalog_schema}" if target.is_lake else target.path.name
        text = catalog.to_markdown(tables, f"Warehouse catalog: {name}")
    if output is not None:
        write_atomically(output, text.encode())
        typer.echo(f"wrote {output} ({len(tables)} tables and views)", err=True)
    else:
        typer.echo(text, nl=False)


def _manifest_path() -> Path | None:
    """dbt's manifest, re-parsed by the project's own preparer when the models changed."""
    try:
        from project.resources.dbt import get_dbt_project

        path = Path(get_dbt_project().manifest_path)
    except Exception as exc:  # a broken dbt project must not hide the database's catalog
        typer.echo(f"dbt project could not be prepared: {exc}", err=True)
        return None
    return path if path.exists() else None


class StatusFormat(StrEnum):
    table = "table"
    json = "json"


@app.command("recovery-status", rich_help_panel=PANEL)
def recovery_status(
    month_argument: MonthArgument = None,
    month_option: MonthOption = None,
    endpoint: Annotated[
        list[str] | None, typer.Option("--endpoint", "-e", help="Only this endpoint (repeat).")
    ] = None,
    problems_only: Annotated[
        bool, typer.Option("--problems", help="Only endpoint-days that are not complete.")
    ] = False,
    fmt: Annotated[StatusFormat, typer.Option("--format", "-f")] = StatusFormat.table,
) -> None:
    """Per day and endpoint of a month: complete, missing pages, failed, retried.

    complete: every page PNCP's totals announce is archived; incomplete: pages or
    modalidade slices missing; failed: open rows in meta.failed_requests (fix: pncp
    retry-failed); retried: failed pages a later run archived.

    Example: pncp recovery-status --month 2024-07 --problems
    """
    from project.cli.runs_cmds import dead_holders
    from project.lib.pncp import recovery

    month = one_month(month_argument, month_option)
    first, last = parse_month(month)
    names = parse_endpoints(endpoint)
    config = settings()
    with reader(config) as conn:
        statuses = recovery.endpoint_day_status(conn, first, last, names)
    dead = dead_holders(config)
    order = (recovery.COMPLETE, recovery.INCOMPLETE, recovery.FAILED, recovery.NOT_EXTRACTED)
    counts = {s: sum(1 for x in statuses if x.status == s) for s in order}
    shown = [s for s in statuses if s.status != recovery.COMPLETE] if problems_only else statuses
    if fmt is StatusFormat.json:
        payload = {
            "month": month,
            "summary": counts,
            "endpoint_days": [s.as_dict() for s in shown],
            "dead_runs_holding_the_warehouse": [
                {"run_id": h.run_id, "reason": h.dead_reason} for h in dead
            ],
        }
        typer.echo(json.dumps(payload, indent=2))
        return
    columns = ["day", "endpoint", "status", "pages", "missing", "failed", "retried", "records"]
    rows = [
        [
            s.day.isoformat(),
            s.endpoint,
            s.status,
            f"{s.archived_pages}/{s.expected_pages}",
            s.missing_pages,
            s.failed,
            s.retried,
            s.records,
        ]
        for s in shown
    ]
    if rows:
        typer.echo(render_table(columns, rows))
    summary = ", ".join(f"{n} {status}" for status, n in counts.items())
    typer.echo(f"{month}: {len(statuses)} endpoint-days: {summary}")
    if counts[recovery.FAILED]:
        typer.echo(f"fix: pncp retry-failed --month {month}")
    for holder in dead:
        typer.echo(
            f"dead run holding the warehouse: {holder.describe()}: {holder.dead_reason} "
            f"(fix: pncp free-run {holder.run_id}, or start any run: it frees it)"
        )
