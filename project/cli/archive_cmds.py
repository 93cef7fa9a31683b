"""The raw archive: verify stored pages against their hashes and PNCP; print a stored body."""

from __future__ import annotations

import contextlib
import sys
from collections import Counter
from typing import Annotated

import orjson
import typer
import zstandard

from project.cli.app import CliError, CommandFailed, Options, app
from project.cli.common import (
    client_settings,
    parse_endpoints,
    parse_range,
    parse_sha256,
    reader,
    settings,
)
from project.lib import warehouse
from project.lib.pncp import payload_store

PANEL = "Archive"


@app.command("verify", rich_help_panel=PANEL)
def verify(
    date_range: Annotated[
        str | None,
        typer.Option("--range", help="Days FIRST:LAST (YYYY-MM-DD or YYYY-MM each side)."),
    ] = None,
    sample: Annotated[
        float | None,
        typer.Option(min=0.0, max=1.0, help="Fraction of the pages to check, e.g. 0.1."),
    ] = None,
    endpoint: Annotated[
        list[str] | None, typer.Option("--endpoint", "-e", help="Only this endpoint (repeat).")
    ] = None,
    seed: Annotated[int, typer.Option(help="Seed of the random sample (reproducible).")] = 0,
) -> None:
    """Re-fetch stored pages from PNCP, compare sha256, report divergences.

    Each page's stored body is hashed again too, so a divergence is classed as
    corrupted/missing (the archive is damaged: exit 1) or changed upstream (PNCP now
    serves other data; reported, exit 0). Pages that cannot be fetched are unreachable
    (exit 1).

    Example: pncp verify --range 2024-07-01:2024-07-07 --sample 0.1
    """
    from project.cli.progress import Progress
    from project.lib.pncp.recovery import has_archive
    from project.lib.pncp.verify import ARCHIVE_FAULTS, Outcome, select_pages, verify_pages

    if date_range is None and sample is None:
        raise CliError("give --range FIRST:LAST and/or --sample FRACTION")
    if sample is not None and sample <= 0:
        raise CliError("--sample must be a fraction above 0 (e.g. 0.1)")
    first, last = parse_range(date_range) if date_range else (None, None)
    names = parse_endpoints(endpoint) if endpoint else []
    config = settings()
    with reader(config) as conn:
        if not has_archive(conn):
            target = warehouse.target_from(config)
            raise CliError(f"warehouse {target.describe()} holds no archive yet")
        pages = select_pages(
            conn, first=first, last=last, endpoints=names, fraction=sample or 1.0, seed=seed
        )
    if not pages:
        raise CliError("no archived pages match; check --range and --endpoint")
    client = client_settings(config)
    typer.echo(f"verifying {len(pages)} pages against the PNCP API at {client.host}", err=True)
    root = payload_store.root_beside(warehouse.target_from(config).anchor)
    scope = f"{first}..{last}" if first else f"sample {sample:g}"
    every = Options.progress_every_s
    with Progress(f"verify {scope}", len(pages), "pages checked", every_s=every):
        verdicts = verify_pages(root, pages, client)
    for verdict in verdicts:
        if verdict.outcome is Outcome.OK:
            continue
        page = verdict.page
        where = f"{page.endpoint} {page.day} modalidade {page.modalidade} page {page.page}"
        typer.echo(f"{verdict.outcome.upper():<17} {where} sha256 {page.sha256}: {verdict.detail}")
    counts = Counter(v.outcome for v in verdicts)
    typer.echo(
        f"verified {len(verdicts)} pages: "
        + ", ".join(f"{counts.get(o, 0)} {o.value}" for o in Outcome)
    )
    damaged = sum(counts.get(o, 0) for o in ARCHIVE_FAULTS)
    if damaged:
        raise CommandFailed(
            f"{damaged} stored page(s) damaged in the archive; restore with "
            "`pncp rollback --to <backup>` or re-extract the day after removing its rows"
        )
    if counts.get(Outcome.UNREACHABLE):
        raise CommandFailed(f"{counts[Outcome.UNREACHABLE]} page(s) could not be re-fetched")


@app.command("fetch-payload", rich_help_panel=PANEL)
def fetch_payload(
    sha256: Annotated[str, typer.Argument(help="sha256 of the body (or a unique prefix).")],
    pretty: Annotated[bool, typer.Option(help="Indent the JSON.")] = False,
) -> None:
    """Print a stored response body, byte for byte as PNCP sent it.

    Reads the payload store directly (works while a run writes the warehouse). Without
    --pretty the output hashes to the sha256 asked for.

    Example: pncp fetch-payload 3f2a9c41d0e7 --pretty
    """
    from project.lib.pncp.archive import sha256_hex

    prefix = parse_sha256(sha256)
    root = payload_store.root_beside(warehouse.target_from(settings()).anchor)
    matches = sorted(root.glob(f"{prefix[:2]}/{prefix}*{payload_store.SUFFIX}"))
    if not matches:
        raise CliError(f"no stored payload with sha256 {prefix} in {root}")
    if len(matches) > 1:
        raise CliError(f"sha256 prefix {prefix} is ambiguous ({len(matches)} payloads)")
    digest = matches[0].name.removesuffix(payload_store.SUFFIX)
    try:
        raw = payload_store.read(root, digest)
    except zstandard.ZstdError as exc:
        raise CommandFailed(f"stored payload {digest} is not valid zstd ({exc})") from None
    body = raw
    if pretty:  # invalid JSON is printed as stored; the hash check below judges it
        with contextlib.suppress(orjson.JSONDecodeError):
            body = orjson.dumps(orjson.loads(raw), option=orjson.OPT_INDENT_2) + b"\n"
    sys.stdout.buffer.write(body)
    sys.stdout.flush()
    if sha256_hex(raw) != digest:
        raise CommandFailed(f"stored payload {digest} does not match its sha256 (corrupted)")
