"""`pncp quarantine list|replay`: what silver quarantined, and replaying it after a fix.

Silver sends rows failing a `drop` expectation to `shop_silver.quarantine`. Once the rule,
the column mapping (`landed_as` in the model's YAML) or the data is fixed, `replay --rule R`
records a request (`shop_ops.replay_requests`); the next silver run evaluates the
quarantined rows of R again (`project.lib.shop.quarantine`). With `--launch` that run
starts now, through Dagster (shop silver and gold, visible in the UI); without it the
command says how to start it.
"""

from __future__ import annotations

import json
from typing import Annotated

import typer

from project.cli.app import CliError, CommandFailed, Options, app
from project.cli.common import existing_warehouse, reader, reading, render_table, settings

# What a replay runs: silver applies the request, gold follows the replayed rows.
SHOP_TRANSFORMATION = "group:shop_silver or group:shop_gold"

quarantine_app = typer.Typer(
    name="quarantine",
    help="The shop's quarantine: rows silver dropped, by rule; replay them after a fix.",
    no_args_is_help=True,
)
app.add_typer(quarantine_app)

RuleOption = Annotated[
    str | None, typer.Option("--rule", "-r", help="Only rows that failed this rule.")
]
SourceOption = Annotated[
    str | None,
    typer.Option("--source", "-s", help="Only this source (orders, order_items, ...)."),
]


def _source(source: str | None) -> str | None:
    from project.lib.shop.quarantine import SOURCES

    if source is not None and source not in SOURCES:
        raise CliError(f"unknown source {source!r}; known: {', '.join(SOURCES)}")
    return source


@quarantine_app.command("list")
def list_(
    rule: RuleOption = None,
    source: SourceOption = None,
    samples: Annotated[
        int, typer.Option("--samples", min=0, help="Sample rows shown per rule.")
    ] = 3,
) -> None:
    """Quarantined (and replayed) rows by source and rule, with samples: reason, file,
    line and the record as landed.

    Example: pncp quarantine list --source order_items
    """
    from project.lib.shop import quarantine

    _source(source)
    with reader(settings()) as conn:
        found = quarantine.summary(conn, rule=rule, source=source, samples=samples)
    if not found:
        typer.echo("nothing quarantined" + (" for that selection" if rule or source else ""))
        return
    rows = [(c.source, c.rule, c.quarantined, c.replayed) for c in found]
    typer.echo(render_table(["source", "rule", "quarantined", "replayed"], rows))
    for count in found:
        if not count.samples:
            continue
        typer.echo(f"\n{count.source} / {count.rule}:")
        for sample in count.samples:
            typer.echo(
                f"  {sample['quarantine_id']}  {sample['source_file']}:{sample['line']}  "
                f"{sample['reason']}"
            )
            typer.echo(f"    {_record(sample['record'])}")


def _record(record: object) -> str:
    text = record if isinstance(record, str) else json.dumps(record)
    return text if len(text) <= 160 else text[:159] + "…"


@quarantine_app.command("replay")
def replay(
    rule: Annotated[str, typer.Option("--rule", "-r", help="The rule whose rows to replay.")],
    source: SourceOption = None,
    launch: Annotated[
        bool,
        typer.Option(
            "--launch/--no-launch",
            help="Run shop silver and gold now, through Dagster (else the next run applies it).",
        ),
    ] = False,
) -> None:
    """Ask the next silver run to evaluate the quarantined rows of RULE again, with the
    rules and mappings of the day: rows that pass go to silver (once) and become
    `replayed`, the others stay quarantined.

    Example: pncp quarantine replay --rule status_allowed --source orders --launch
    """
    from project.lib import warehouse
    from project.lib.shop import quarantine, silver_rules

    config = settings()
    target = existing_warehouse(config)
    with (
        reading(target),
        warehouse.connection(
            target,
            wait_s=Options.lock_wait_s,
            config={"memory_limit": config.warehouse_memory_limit},
        ) as conn,
    ):
        try:
            quarantine.check_replay(conn, rule, _source(source), silver_rules.declared())
        except quarantine.ReplayError as exc:
            raise CliError(str(exc)) from None
        request = quarantine.request_replay(conn, rule, source)
    where = f"source {source}" if source else "every source"
    typer.echo(
        f"replay request {request.request_id}: rule {rule}, {where}: "
        f"{request.rows} quarantined row(s) to evaluate again"
    )
    if not launch:
        typer.echo(
            "the next shop silver run applies it; start one now with `pncp quarantine replay "
            f"--rule {rule}{f' --source {source}' if source else ''} --launch`, or "
            f"`dagster asset materialize -m project.definitions --select '{SHOP_TRANSFORMATION}'`"
        )
        return
    _launch(request.request_id)


def _launch(request_id: str) -> None:
    from project.cli.launch import Launcher
    from project.lib.shop import quarantine

    config = settings()
    with Launcher(config) as launcher:
        run = launcher.plan("quarantine replay", SHOP_TRANSFORMATION)
        typer.echo(f"launching: {run.label} ({run.selection})", err=True)
        outcome = launcher.execute(run)
    typer.echo(outcome.summary())
    with reader(config) as conn:
        (done,) = quarantine.requests(conn, [request_id]) or [{}]
        replayed = conn.execute(
            f"SELECT count(*) FROM {quarantine.QUARANTINE} WHERE replayed_run_id = ?",
            [outcome.run_id],
        ).fetchone()[0]
    typer.echo(
        f"request {request_id}: {done.get('status', 'unknown')}; "
        f"{replayed} row(s) replayed into silver by run {outcome.run_id}"
    )
    if not outcome.success:
        detail = "; ".join(outcome.failures) or "see the run in the Dagster UI"
        raise CommandFailed(f"run {outcome.run_id} failed: {detail}")
