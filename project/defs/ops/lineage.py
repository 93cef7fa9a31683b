"""Lineage of every asset: OpenLineage run events per materialization, and the export.

Generic glue between Dagster and `project.lib.lineage` (it names no capability):

- `describe_assets` reads the asset graph, the resources and, when given an instance, the
  latest materialization of each asset: where each asset is stored (its catalog entry
  through an IO manager that has a `catalog()`, as the `catalog` IO manager and any YAML
  pipeline on it do; else `dagster/table_name` in the warehouse; else `dagster/uri`; else
  the asset key under the code location), its columns (`dagster/column_schema`), column
  lineage (`dagster/column_lineage`, which dbt models carry) and row count.
- `lineage_hooks` (attached to every asset by `project.definitions`, beside the metrics
  hooks) run when a step ends and send, per asset of the step, START (at the step's
  STEP_START time) and COMPLETE (at its materialization) or FAIL. They read the step's
  own events from the instance, not the hook's in-memory state, because only the event log
  holds what every asset of a multi-asset (thirty dbt models in one step) materialized,
  its metadata and the checks evaluated with it. Inputs are the asset's dependencies in
  the graph, which covers the non-argument deps (exports on marts, dbt refs) that
  LOADED_INPUT events do not. Sending is `project.lib.lineage.transport`: file by
  default, HTTP when OpenLineage is configured; it never fails a run.

Check steps (a catalog dataset's quality rules, a `multi_asset_check`) get no hooks: the
check function sends its own run through `emit_check_lineage`, with each rule's column.

Why hooks and not a sensor: the step process already has the definitions loaded and the
events at hand, so events go out as each step ends; a sensor would need the daemon.
START is therefore sent when the step ends, carrying the step's real start time.
"""

from __future__ import annotations

import inspect
import logging
from collections.abc import Callable, Iterable, Mapping
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import dagster as dg

from project.lib import warehouse
from project.lib.lineage import events as ol_events
from project.lib.lineage import naming, transport
from project.lib.lineage.model import Assertion, AssetLineage, Column, DatasetName
from project.settings import get_settings

CODE_LOCATION = "procurement_platform"
logger = logging.getLogger(__name__)


def events_dir() -> Path:
    return get_settings().data_path / "lineage" / "events"


def secrets() -> list[str]:
    """What must never be written: the platform's secrets and the catalog's credentials are
    kept out by construction; these are scrubbed from warnings and the export as a guard."""
    settings = get_settings()
    found = list(settings.secret_values())
    if settings.warehouse_catalog_url is not None:
        found.append(settings.warehouse_catalog_url.get_secret_value())
    return found


def _value(metadata: Mapping[str, Any], key: str) -> Any:
    value = metadata.get(key)
    return getattr(value, "value", value)


def _columns(metadata: Mapping[str, Any]) -> list[Column]:
    schema = _value(metadata, "dagster/column_schema")
    if schema is None:
        return []
    return [Column(c.name, c.type, c.description) for c in schema.columns]


def _column_lineage(metadata: Mapping[str, Any]) -> dict[str, list[tuple[str, str]]] | None:
    lineage = _value(metadata, "dagster/column_lineage")
    if lineage is None:
        return None
    return {
        column: [(d.asset_key.to_user_string(), d.column_name) for d in deps]
        for column, deps in lineage.deps_by_column.items()
    }


def _code(assets_def: dg.AssetsDefinition | None, metadata: Mapping[str, Any]) -> list[str]:
    refs = _value(metadata, "dagster/code_references")
    found = []
    for ref in getattr(refs, "code_references", None) or []:
        if getattr(ref, "url", None):
            found.append(ref.url)
        elif getattr(ref, "file_path", None):
            line = f"#L{ref.line_number}" if getattr(ref, "line_number", None) else ""
            found.append(f"{ref.file_path}{line}")
    if found or assets_def is None or not assets_def.is_executable:
        return found
    try:
        fn = assets_def.op.compute_fn.decorated_fn  # type: ignore[union-attr]
        fn = inspect.unwrap(fn)
        return [f"{inspect.getsourcefile(fn)}#L{inspect.getsourcelines(fn)[1]}"]
    except (AttributeError, TypeError, OSError):
        return []


def _warehouse_place(table_name: str) -> DatasetName:
    settings = get_settings()
    target = warehouse.target_from(settings)
    label = None
    if target.is_lake:
        try:
            label = warehouse.catalog_label(target.catalog_url())
        except warehouse.CatalogUnavailableError:
            label = None
    namespace = naming.warehouse_namespace(
        target.backend, target.path, label, target.catalog_schema
    )
    return DatasetName(namespace, table_name)


def place_of(
    key: dg.AssetKey,
    metadata: Mapping[str, Any],
    latest: Mapping[str, Any],
    io_manager: Any,
) -> tuple[DatasetName, str]:
    """(dataset, how it was found) for one asset; see the module docstring for the order."""
    catalog = getattr(io_manager, "catalog", None)
    # The catalog names a dataset by the asset key (`sales/orders_clean`: `sales.orders_clean`)
    # unless the asset says otherwise.
    name = _value(metadata, "dataset") or _value(latest, "dataset") or ".".join(key.path)
    if isinstance(name, str) and callable(catalog):
        try:
            return naming.catalog_dataset(catalog().get(name)), "catalog"
        except Exception as exc:  # a broken catalog still exports the rest
            logger.warning("lineage: no catalog entry for %s (%s)", name, type(exc).__name__)
    table = _value(metadata, "dagster/table_name") or _value(latest, "dagster/table_name")
    if isinstance(table, str):
        return _warehouse_place(table), "warehouse"
    uri = _value(latest, "dagster/uri") or _value(metadata, "dagster/uri")
    if isinstance(uri, str) and "://" not in uri:
        return naming.file_dataset(uri), "uri"
    return naming.asset_dataset(CODE_LOCATION, key.to_user_string()), "asset"


def _latest(instance: dg.DagsterInstance | None, key: dg.AssetKey) -> Mapping[str, Any]:
    if instance is None:
        return {}
    entry = instance.get_latest_materialization_event(key)
    materialization = entry.asset_materialization if entry else None
    return dict(materialization.metadata) if materialization else {}


def describe_asset(
    graph: Any,
    resources: Mapping[str, Any],
    key: dg.AssetKey,
    instance: dg.DagsterInstance | None = None,
    latest: Mapping[str, Any] | None = None,
) -> AssetLineage:
    node = graph.get(key)
    assets_def = graph.assets_def_for_key(key) if graph.has(key) else None
    metadata = dict(node.metadata)
    if latest is None:
        latest = _latest(instance, key)
    io_key = node.io_manager_key if hasattr(node, "io_manager_key") else None
    dataset, storage = place_of(key, metadata, latest, resources.get(io_key) if io_key else None)
    executable = bool(
        assets_def is not None and assets_def.is_executable and node.is_materializable
    )
    row_count = _value(latest, "dagster/row_count")
    return AssetLineage(
        key=key.to_user_string(),
        dataset=dataset,
        storage=storage,
        group=node.group_name,
        kinds=sorted(node.kinds),
        description=node.description,
        node=assets_def.node_def.name if executable and assets_def else None,
        code=_code(assets_def, metadata),
        deps=sorted(k.to_user_string() for k in node.parent_keys),
        columns=_columns(latest) or _columns(metadata),
        column_lineage=_column_lineage(latest) or _column_lineage(metadata),
        row_count=row_count if isinstance(row_count, int) else None,
        dataset_type=_value(metadata, "dataset_type"),
        checks=sorted(c.name for c in node.check_keys),
    )


def describe_assets(
    defs: dg.Definitions, instance: dg.DagsterInstance | None = None
) -> list[AssetLineage]:
    graph = defs.resolve_asset_graph()
    resources = defs.resources or {}
    return [
        describe_asset(graph, resources, key, instance)
        for key in sorted(graph.get_all_asset_keys(), key=lambda k: k.to_user_string())
    ]


# The run events of a step.


def _at(timestamp: float) -> datetime:
    return datetime.fromtimestamp(timestamp, tz=UTC)


def step_materializations(
    context: dg.HookContext, defs: dg.Definitions, succeeded: bool
) -> list[ol_events.Materialization]:
    E = dg.DagsterEventType
    records = context.instance.get_records_for_run(
        context.run_id,
        of_type={E.STEP_START, E.ASSET_MATERIALIZATION, E.ASSET_CHECK_EVALUATION, E.STEP_FAILURE},
    ).records
    mine = [r for r in records if r.event_log_entry.step_key == context.step_key]
    starts = [r.timestamp for r in mine if r.event_log_entry.dagster_event_type == E.STEP_START]
    started = _at(max(starts)) if starts else datetime.now(UTC)
    materialized: dict[dg.AssetKey, tuple[float, Mapping[str, Any]]] = {}
    assertions: dict[dg.AssetKey, list[Assertion]] = {}
    error = None
    for record in mine:
        entry = record.event_log_entry
        event = entry.dagster_event
        if entry.dagster_event_type == E.ASSET_MATERIALIZATION and record.asset_materialization:
            m = record.asset_materialization
            materialized[m.asset_key] = (record.timestamp, dict(m.metadata))
        elif entry.dagster_event_type == E.ASSET_CHECK_EVALUATION and event is not None:
            evaluation = event.event_specific_data
            assertions.setdefault(evaluation.asset_key, []).append(
                Assertion(
                    name=evaluation.check_name,
                    success=bool(evaluation.passed),
                    severity=evaluation.severity.value.lower(),
                    description=evaluation.description,
                )
            )
        elif entry.dagster_event_type == E.STEP_FAILURE and event is not None:
            failure = event.step_failure_data.error
            error = f"{failure.cls_name}: {failure.message.strip()}" if failure else None

    graph = defs.resolve_asset_graph()
    resources = defs.resources or {}
    by_node = {a.node_def.name: a for a in graph.assets_defs if a.is_executable}
    assets_def = by_node.get(context.op.name)
    keys = set(assets_def.keys) if assets_def else set(materialized)
    run = context.instance.get_run_by_id(context.run_id)
    if run is not None and run.asset_selection is not None:
        keys &= set(run.asset_selection) | set(materialized)
    found = []
    parents_cache: dict[dg.AssetKey, AssetLineage] = {}
    for key in sorted(keys, key=lambda k: k.to_user_string()):
        done = materialized.get(key)
        if done is None and succeeded:
            continue  # an optional output not produced: no run of it happened
        asset = describe_asset(graph, resources, key, latest=done[1] if done else {})
        inputs = []
        for parent in sorted(graph.get(key).parent_keys, key=lambda k: k.to_user_string()):
            if parent not in parents_cache:
                parents_cache[parent] = describe_asset(
                    graph, resources, parent, instance=context.instance
                )
            inputs.append(parents_cache[parent])
        found.append(
            ol_events.Materialization(
                asset=asset,
                inputs=inputs,
                started=started,
                ended=_at(done[0]) if done else datetime.now(UTC),
                succeeded=done is not None,
                error=None if done else error,
                assertions=assertions.get(key, []),
            )
        )
    return found


def emit_step_lineage(
    context: dg.HookContext, defs_of: Callable[[], dg.Definitions], succeeded: bool
) -> None:
    hidden = secrets()
    try:
        ctx = ol_events.RunContext(
            CODE_LOCATION, context.run_id, context.job_name, context.step_key
        )
        run_events = [
            event
            for m in step_materializations(context, defs_of(), succeeded)
            for event in ol_events.run_events(ctx, m)
        ]
        if not run_events:
            return
        events_file = (
            events_dir() / context.run_id / f"{transport.safe_name(context.step_key)}.jsonl"
        )
        sent = transport.emit(run_events, events_file, context.log.warning, hidden)
        context.log.debug(f"OpenLineage: {sent} of {len(run_events)} event(s) sent")
    except Exception as exc:  # lineage never fails a run
        message = transport.scrub(f"{type(exc).__name__}: {exc}", hidden)
        context.log.warning(f"OpenLineage: lineage of step {context.step_key} not sent: {message}")


def emit_check_lineage(
    context: dg.AssetCheckExecutionContext,
    asset_key: dg.AssetKey,
    dataset: Any,
    assertions: list[Assertion],
    started: datetime,
    error: BaseException | None = None,
) -> None:
    """The OpenLineage run of a check step (`project.lib.lineage.events.check_events`), sent
    from the check function itself: check steps get no hooks (those are on assets), and only
    the function knows each rule's column. `dataset` is the catalog entry the checks read; its
    schema and row count are the asset's latest materialization's. Never raises."""
    hidden = secrets()
    op_context = context.op_execution_context
    try:
        step_key = op_context.get_step_execution_context().step.key
    except Exception:
        step_key = context.op_def.name
    try:
        latest = _latest(context.instance, asset_key)
        rows = _value(latest, "dagster/row_count")
        asset = AssetLineage(
            key=asset_key.to_user_string(),
            dataset=naming.catalog_dataset(dataset),
            storage="catalog",
            columns=_columns(latest),
            row_count=rows if isinstance(rows, int) else None,
        )
        ctx = ol_events.RunContext(CODE_LOCATION, op_context.run_id, op_context.job_name, step_key)
        check = ol_events.CheckRun(
            node=context.op_def.name,
            dataset=asset,
            started=started,
            ended=datetime.now(UTC),
            assertions=assertions,
            error=None if error is None else f"{type(error).__name__}: {error}",
        )
        events_file = events_dir() / op_context.run_id / f"{transport.safe_name(step_key)}.jsonl"
        transport.emit(ol_events.check_events(ctx, check), events_file, context.log.warning, hidden)
    except Exception as exc:  # lineage never fails a run
        message = transport.scrub(f"{type(exc).__name__}: {exc}", hidden)
        context.log.warning(f"OpenLineage: lineage of checks {step_key} not sent: {message}")


def lineage_hooks(defs_of: Callable[[], dg.Definitions]) -> set[dg.HookDefinition]:
    """Success and failure hooks sending the step's OpenLineage events; `defs_of` gives the
    definitions whose asset graph names each asset's place and inputs."""

    @dg.success_hook(name="openlineage_on_success")
    def openlineage_on_success(context: dg.HookContext) -> None:
        emit_step_lineage(context, defs_of, succeeded=True)

    @dg.failure_hook(name="openlineage_on_failure")
    def openlineage_on_failure(context: dg.HookContext) -> None:
        emit_step_lineage(context, defs_of, succeeded=False)

    return {openlineage_on_success, openlineage_on_failure}


def scrubbed(texts: Iterable[str]) -> list[str]:
    return [transport.scrub(t, secrets()) for t in texts]
