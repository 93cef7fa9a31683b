"""What every command shares: input parsing, settings, warehouse access, output.

Parsing happens before anything is opened or fetched, so bad input never leaves a
partial write behind.
"""

from __future__ import annotations

import calendar
import re
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from datetime import date
from decimal import Decimal
from pathlib import Path
from typing import TYPE_CHECKING, Annotated

import duckdb
import typer

from project.cli.app import CliError, Options
from project.lib import warehouse
from project.lib.pncp.endpoints import ENDPOINTS
from project.settings import Settings, load_settings

if TYPE_CHECKING:
    from project.lib.pncp.client import ClientSettings

_MONTH = re.compile(r"^(\d{4})-(\d{2})$")


def settings() -> Settings:
    return load_settings()  # SettingsError is an expected error (exit 2)


def parse_month(text: str) -> tuple[date, date]:
    """`2024-07` -> (2024-07-01, 2024-07-31)."""
    match = _MONTH.match(text.strip())
    if not match or not 1 <= int(match.group(2)) <= 12:
        raise CliError(f"month {text!r} is not a month in the form YYYY-MM (e.g. 2024-07)")
    year, month = int(match.group(1)), int(match.group(2))
    return date(year, month, 1), date(year, month, calendar.monthrange(year, month)[1])


# Every command that takes a month takes `--month YYYY-MM`; the ones that took it as a
# positional argument before still accept that, as an alias.
MonthOption = Annotated[str | None, typer.Option("--month", help="The month, YYYY-MM.")]
MonthArgument = Annotated[
    str | None,
    typer.Argument(
        help="The month, YYYY-MM (the same as --month).", metavar="[MONTH]", show_default=False
    ),
]


def one_month(positional: str | None, option: str | None) -> str:
    """The month given as `--month` or as the positional alias; exactly one of them."""
    if positional is not None and option is not None and positional != option:
        raise CliError(f"two months given ({positional} and --month {option}); give one")
    month = option if option is not None else positional
    if month is None:
        raise CliError("a month is required: --month YYYY-MM (e.g. --month 2024-07)")
    return month


def parse_day(text: str) -> date:
    try:
        if len(text.strip()) != 10:
            raise ValueError
        return date.fromisoformat(text.strip())
    except ValueError:
        raise CliError(f"day {text!r} is not a date in the form YYYY-MM-DD") from None


def parse_range(text: str) -> tuple[date, date]:
    """`2024-07-01:2024-07-31`; either side may be a month, and one day or month alone is
    the range of just that (`2024-07` = `2024-07-01:2024-07-31`)."""
    parts = text.split(":")
    if len(parts) == 1:
        parts = [text, text]
    if len(parts) != 2:
        raise CliError(f"range {text!r} is not FIRST:LAST (e.g. 2024-07-01:2024-07-31)")
    first_text, last_text = (p.strip() for p in parts)
    first = parse_month(first_text)[0] if _MONTH.match(first_text) else parse_day(first_text)
    last = parse_month(last_text)[1] if _MONTH.match(last_text) else parse_day(last_text)
    if last < first:
        raise CliError(f"range {text!r} ends before it starts")
    return first, last


def parse_endpoints(names: Sequence[str] | None) -> list[str]:
    """The endpoints named (all when none), refusing unknown ones."""
    if not names:
        return list(ENDPOINTS)
    unknown = [n for n in names if n not in ENDPOINTS]
    if unknown:
        raise CliError(
            f"unknown endpoint {', '.join(map(repr, unknown))}; known: {', '.join(ENDPOINTS)}"
        )
    return list(dict.fromkeys(names))


def parse_sha256(text: str) -> str:
    """A full sha256, or a prefix of at least 8 hex digits."""
    value = text.strip().lower()
    if not re.fullmatch(r"[0-9a-f]{8,64}", value):
        raise CliError(f"{text!r} is not a sha256 (64 hex digits, or a prefix of 8 or more)")
    return value


class WarehouseMissing(CliError):
    """The warehouse has not been created yet (`pncp init` creates it)."""


def existing_warehouse(config: Settings) -> warehouse.Target:
    """The warehouse the settings name; a DuckDB file must exist already.

    A lake is found when it is attached (`reading`): its catalog is in PostgreSQL.
    """
    target = warehouse.target_from(config)
    if not target.is_lake and not target.path.exists():
        raise WarehouseMissing(
            f"warehouse {target.path} does not exist yet; create it with `pncp init`"
        )
    return target


# DuckLake's error when a read-only attach finds no lake in the catalog schema.
_NO_LAKE = "does not exist - and creating a new DuckLake is explicitly disabled"


@contextmanager
def reading(target: warehouse.Target) -> Iterator[None]:
    """Turn a read-only attach that finds no lake into `WarehouseMissing` (file: no-op)."""
    try:
        yield
    except warehouse.CatalogUnavailableError as exc:
        if _NO_LAKE not in str(exc):
            raise
        raise WarehouseMissing(
            f"warehouse {target.describe()} does not exist yet (no DuckLake in catalog schema "
            f"{target.catalog_schema}); create it with `pncp init`"
        ) from None


@contextmanager
def reader(config: Settings) -> Iterator[duckdb.DuckDBPyConnection]:
    """A read-only warehouse connection; missing or locked is an error naming the fix."""
    target = existing_warehouse(config)
    with (
        reading(target),
        warehouse.connection(
            target,
            read_only=True,
            wait_s=Options.lock_wait_s,
            config={"memory_limit": config.warehouse_memory_limit},
        ) as conn,
    ):
        yield conn


def client_settings(config: Settings, **overrides: object) -> ClientSettings:
    """The PNCP client settings the extraction assets use: the same derivation."""
    from project.lib.pncp.client import ClientSettings  # httpx: only for commands that fetch

    return ClientSettings.from_settings(config, **overrides)


def _text(value: object, width: int) -> str:
    text = "NULL" if value is None else str(value)
    text = " ".join(text.split()) if "\n" in text else text
    return text if len(text) <= width else text[: width - 1] + "…"


def render_table(
    columns: Sequence[str], rows: Sequence[Sequence[object]], *, max_width: int = 60
) -> str:
    """A plain-text table (psql style): predictable in a terminal, a pipe or a test."""
    cells = [[_text(v, max_width) for v in row] for row in rows]
    widths = [max([len(c), *(len(row[i]) for row in cells)]) for i, c in enumerate(columns)]
    numeric = [
        all(isinstance(row[i], int | float | Decimal) or row[i] is None for row in rows)
        and bool(rows)
        for i in range(len(columns))
    ]

    def line(values: Sequence[str]) -> str:
        return " | ".join(
            v.rjust(w) if num else v.ljust(w)
            for v, w, num in zip(values, widths, numeric, strict=True)
        ).rstrip()

    out = [line(list(columns)), "-+-".join("-" * w for w in widths)]
    out += [line(row) for row in cells]
    return "\n".join(out)


def write_atomically(path: Path, data: bytes) -> None:
    """Write a result file whole or not at all."""
    partial = path.with_name(f".{path.name}.partial")
    partial.write_bytes(data)
    partial.replace(path)
