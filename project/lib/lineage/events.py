"""OpenLineage run events of one asset materialization, from plain lineage data.

Each materialized asset is an OpenLineage job (`<code location>` namespace, the asset key
as its name) with a run of its own, whose parent is the Dagster run (its id and job): a
dbt step that builds thirty models gives thirty runs, each with its own inputs, outputs
and column lineage, as OpenLineage's dbt integration does. The run id is derived from
the Dagster run, step and asset, so START and its COMPLETE/FAIL share it however and
whenever they are sent.

Facets (all from openlineage-python's generated classes, so events validate against the
spec vendored in tests/lineage/spec/):

- job: `jobType` (BATCH, DAGSTER, ASSET), `documentation`, `sourceCodeLocation`;
- run: `parent` (the Dagster run), `processing_engine`, `errorMessage` on FAIL;
- outputs: `schema`, `columnLineage` (per column for dbt models; dataset-level for
  catalog nodes, whose code OpenLineage cannot see into), `dataQualityMetrics` and
  `outputStatistics` (row count), `dataQualityAssertions` (the asset's check
  evaluations), `documentation`, `symlinks` (the Dagster asset key);
- inputs: `schema` and the input facet `dataQualityMetrics` (row count) as last
  materialized.

A step that only evaluates checks (a catalog dataset's quality rules) is a run of its own
(`check_events`): its job is the check node, its input the dataset, carrying the input
facet `dataQualityAssertions`.
"""

from __future__ import annotations

import uuid
from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime
from importlib.metadata import version

from openlineage.client import event_v2
from openlineage.client.generated import (
    column_lineage_dataset,
    data_quality_assertions_dataset,
    data_quality_metrics_dataset,
    data_quality_metrics_input_dataset,
    documentation_dataset,
    documentation_job,
    error_message_run,
    job_type_job,
    output_statistics_output_dataset,
    parent_run,
    processing_engine_run,
    schema_dataset,
    source_code_location_job,
    symlinks_dataset,
)

from project.lib.lineage.model import Assertion, AssetLineage, Column

PRODUCER = (
    "https://github.com/procurement-platform/procurement-platform/tree/main/project/lib/lineage"
)


@dataclass
class Materialization:
    """One asset's outcome in a step: what the hook read from the run's events."""

    asset: AssetLineage
    inputs: Sequence[AssetLineage]
    started: datetime
    ended: datetime
    succeeded: bool
    error: str | None = None
    assertions: list[Assertion] = field(default_factory=list)


@dataclass(frozen=True)
class RunContext:
    code_location: str
    dagster_run_id: str
    dagster_job: str
    step_key: str


def run_id(context: RunContext, asset_key: str) -> str:
    """Stable per (Dagster run, step, asset): START and COMPLETE/FAIL share it."""
    return str(
        uuid.uuid5(
            uuid.NAMESPACE_URL, f"dagster:{context.dagster_run_id}/{context.step_key}/{asset_key}"
        )
    )


def _iso(moment: datetime) -> str:
    return (moment if moment.tzinfo else moment.replace(tzinfo=UTC)).isoformat()


def _schema(columns: Sequence[Column]) -> schema_dataset.SchemaDatasetFacet:
    return schema_dataset.SchemaDatasetFacet(
        fields=[
            schema_dataset.SchemaDatasetFacetFields(
                name=c.name,
                type=c.type if c.type and c.type != "?" else None,
                description=c.description or None,
            )
            for c in columns
        ]
    )


def _column_lineage(
    asset: AssetLineage, inputs: dict[str, AssetLineage]
) -> column_lineage_dataset.ColumnLineageDatasetFacet | None:
    def field_of(key: str, column: str, kind: str) -> column_lineage_dataset.InputField | None:
        source = inputs.get(key)
        if source is None:
            return None
        return column_lineage_dataset.InputField(
            namespace=source.dataset.namespace,
            name=source.dataset.name,
            field=column,
            transformations=[column_lineage_dataset.Transformation(type=kind)],
        )

    if asset.column_lineage:
        fields = {}
        for column, deps in sorted(asset.column_lineage.items()):
            found = [f for key, col in sorted(deps) if (f := field_of(key, col, "DIRECT"))]
            fields[column] = column_lineage_dataset.Fields(inputFields=found)
        return column_lineage_dataset.ColumnLineageDatasetFacet(fields=fields)
    # Dataset level: every column of every input may affect the whole output (a node's
    # Python code is not something OpenLineage can see into).
    whole = [
        f
        for key in sorted(inputs)
        for column in inputs[key].columns
        if (f := field_of(key, column.name, "INDIRECT"))
    ]
    if not whole:
        return None
    return column_lineage_dataset.ColumnLineageDatasetFacet(fields={}, dataset=whole)


def _symlinks(code_location: str, key: str) -> dict:
    return {
        "symlinks": symlinks_dataset.SymlinksDatasetFacet(
            identifiers=[
                symlinks_dataset.Identifier(
                    namespace=f"dagster://{code_location}", name=key, type="DAGSTER_ASSET"
                )
            ]
        )
    }


def _output(m: Materialization, code_location: str, complete: bool) -> event_v2.OutputDataset:
    asset = m.asset
    facets: dict = _symlinks(code_location, asset.key)
    if asset.description:
        facets["documentation"] = documentation_dataset.DocumentationDatasetFacet(
            description=asset.description
        )
    output_facets: dict = {}
    if complete:
        if asset.columns:
            facets["schema"] = _schema(asset.columns)
        lineage = _column_lineage(asset, {i.key: i for i in m.inputs})
        if lineage is not None:
            facets["columnLineage"] = lineage
        if asset.row_count is not None:
            facets["dataQualityMetrics"] = (
                data_quality_metrics_dataset.DataQualityMetricsDatasetFacet(
                    rowCount=asset.row_count, columnMetrics={}
                )
            )
            output_facets["outputStatistics"] = (
                output_statistics_output_dataset.OutputStatisticsOutputDatasetFacet(
                    rowCount=asset.row_count
                )
            )
    if m.assertions:
        facets["dataQualityAssertions"] = _assertions(m.assertions)
    return event_v2.OutputDataset(
        namespace=asset.dataset.namespace,
        name=asset.dataset.name,
        facets=facets,
        outputFacets=output_facets,
    )


def _input(source: AssetLineage) -> event_v2.InputDataset:
    facets: dict = {}
    if source.columns:
        facets["schema"] = _schema(source.columns)
    input_facets: dict = {}
    if source.row_count is not None:
        input_facets["dataQualityMetrics"] = (
            data_quality_metrics_input_dataset.DataQualityMetricsInputDatasetFacet(
                rowCount=source.row_count, columnMetrics={}
            )
        )
    return event_v2.InputDataset(
        namespace=source.dataset.namespace,
        name=source.dataset.name,
        facets=facets,
        inputFacets=input_facets,
    )


def _job(context: RunContext, asset: AssetLineage) -> event_v2.Job:
    facets: dict = {
        "jobType": job_type_job.JobTypeJobFacet(
            processingType="BATCH", integration="DAGSTER", jobType="ASSET"
        )
    }
    if asset.description:
        facets["documentation"] = documentation_job.DocumentationJobFacet(
            description=asset.description
        )
    if asset.code:
        path = asset.code[0]
        url = path if "://" in path else f"file://{path}"
        facets["sourceCodeLocation"] = source_code_location_job.SourceCodeLocationJobFacet(
            type="file", url=url, path=path.split("#")[0]
        )
    return event_v2.Job(namespace=context.code_location, name=asset.key, facets=facets)


def _run_facets(context: RunContext) -> dict:
    return {
        "parent": parent_run.ParentRunFacet(
            run=parent_run.Run(runId=context.dagster_run_id),
            job=parent_run.Job(namespace=context.code_location, name=context.dagster_job),
        ),
        "processing_engine": processing_engine_run.ProcessingEngineRunFacet(
            version=version("dagster"),
            name="Dagster",
            openlineageAdapterVersion=version("openlineage-python"),
        ),
    }


def _start_and_end(
    the_run_id: str,
    run_facets: dict,
    job: event_v2.Job,
    times: tuple[datetime, datetime],
    datasets: tuple[list[event_v2.InputDataset], list[event_v2.OutputDataset]],
    end_datasets: tuple[list[event_v2.InputDataset], list[event_v2.OutputDataset]],
    error: str | None,
) -> list[event_v2.RunEvent]:
    """START, then COMPLETE, or FAIL with `error` (not None) as its errorMessage."""
    end_facets = dict(run_facets)
    if error is not None:
        end_facets["errorMessage"] = error_message_run.ErrorMessageRunFacet(
            message=error, programmingLanguage="python"
        )
    return [
        event_v2.RunEvent(
            eventType=state,
            eventTime=_iso(moment),
            run=event_v2.Run(runId=the_run_id, facets=facets),
            job=job,
            inputs=inputs,
            outputs=outputs,
            producer=PRODUCER,
        )
        for state, moment, facets, (inputs, outputs) in (
            (event_v2.RunState.START, times[0], run_facets, datasets),
            (
                event_v2.RunState.COMPLETE if error is None else event_v2.RunState.FAIL,
                times[1],
                end_facets,
                end_datasets,
            ),
        )
    ]


def run_events(context: RunContext, m: Materialization) -> list[event_v2.RunEvent]:
    """START (at the step's start) then COMPLETE or FAIL (at the asset's end)."""
    inputs = [_input(i) for i in sorted(m.inputs, key=lambda i: i.key)]
    return _start_and_end(
        run_id(context, m.asset.key),
        _run_facets(context),
        _job(context, m.asset),
        (m.started, m.ended),
        (inputs, [_output(m, context.code_location, complete=False)]),
        (inputs, [_output(m, context.code_location, complete=m.succeeded)]),
        None if m.succeeded else m.error or "the step failed before materializing this asset",
    )


@dataclass
class CheckRun:
    """A step that evaluated checks of one dataset (catalog quality rules, which Dagster runs
    as a step of their own): the dataset it read and what each check found."""

    node: str  # the check step's op: the OpenLineage job
    dataset: AssetLineage
    started: datetime
    ended: datetime
    assertions: list[Assertion] = field(default_factory=list)
    error: str | None = None  # the step failed before evaluating (the data unreadable)


def _assertions(
    assertions: Sequence[Assertion],
) -> data_quality_assertions_dataset.DataQualityAssertionsDatasetFacet:
    return data_quality_assertions_dataset.DataQualityAssertionsDatasetFacet(
        assertions=[
            data_quality_assertions_dataset.Assertion(
                assertion=a.name,
                success=a.success,
                column=a.column,
                severity=a.severity,
                name=a.name,
                description=a.description,
            )
            for a in sorted(assertions, key=lambda a: a.name)
        ]
    )


def check_events(context: RunContext, check: CheckRun) -> list[event_v2.RunEvent]:
    """A check step as an OpenLineage run of its own (job: the check node, `jobType`
    ASSET_CHECK) that reads the dataset: START, then COMPLETE whose input carries
    `dataQualityAssertions` (an input facet, as the spec and the dbt and Great Expectations
    integrations have it: the checks read the data), or FAIL when nothing was evaluated."""
    job = event_v2.Job(
        namespace=context.code_location,
        name=check.node,
        facets={
            "jobType": job_type_job.JobTypeJobFacet(
                processingType="BATCH", integration="DAGSTER", jobType="ASSET_CHECK"
            ),
            "documentation": documentation_job.DocumentationJobFacet(
                description=f"Checks of {check.dataset.key}"
            ),
        },
    )
    read = _input(check.dataset)
    read.facets = {**(read.facets or {}), **_symlinks(context.code_location, check.dataset.key)}
    evaluated = _input(check.dataset)
    evaluated.facets = read.facets
    if check.assertions:
        evaluated.inputFacets = {
            **(evaluated.inputFacets or {}),
            "dataQualityAssertions": _assertions(check.assertions),
        }
    return _start_and_end(
        run_id(context, check.node),
        _run_facets(context),
        job,
        (check.started, check.ended),
        ([read], []),
        ([evaluated], []),
        check.error,
    )
