"""OpenLineage events checked against the vendored spec (tests/lineage/spec/, see its
README) and parsed back into openlineage-python's classes. Imported by the lineage tests."""

from __future__ import annotations

import enum
import json
import re
import types
import typing
from pathlib import Path
from typing import Any

import attr
from jsonschema import Draft202012Validator
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
    tags_run,
)
from openlineage.client.serde import Serde
from referencing import Registry, Resource

SPEC = Path(__file__).parent / "spec"

# facet key -> (class, schema file)
FACETS: dict[str, type] = {
    "columnLineage": column_lineage_dataset.ColumnLineageDatasetFacet,
    "dataQualityAssertions": data_quality_assertions_dataset.DataQualityAssertionsDatasetFacet,
    "documentation": documentation_dataset.DocumentationDatasetFacet,
    "schema": schema_dataset.SchemaDatasetFacet,
    "symlinks": symlinks_dataset.SymlinksDatasetFacet,
    "outputStatistics": output_statistics_output_dataset.OutputStatisticsOutputDatasetFacet,
    "jobType": job_type_job.JobTypeJobFacet,
    "sourceCodeLocation": source_code_location_job.SourceCodeLocationJobFacet,
    "parent": parent_run.ParentRunFacet,
    "processing_engine": processing_engine_run.ProcessingEngineRunFacet,
    "errorMessage": error_message_run.ErrorMessageRunFacet,
    "tags": tags_run.TagsRunFacet,  # the client adds it
}
# Keys whose class depends on where the facet sits.
BY_PLACE = {
    ("job", "documentation"): documentation_job.DocumentationJobFacet,
    ("facets", "dataQualityMetrics"): data_quality_metrics_dataset.DataQualityMetricsDatasetFacet,
    ("inputFacets", "dataQualityMetrics"): (
        data_quality_metrics_input_dataset.DataQualityMetricsInputDatasetFacet
    ),
}


def registry() -> Registry:
    resources = []
    for path in [SPEC / "OpenLineage.json", *sorted((SPEC / "facets").glob("*.json"))]:
        schema = json.loads(path.read_text())
        resources.append((schema["$id"], Resource.from_contents(schema)))
    return Registry().with_resources(resources)


_REGISTRY = registry()
_CORE = json.loads((SPEC / "OpenLineage.json").read_text())


def _schema_for(url: str) -> tuple[str, str]:
    """(local $id, definition) for a facet's `_schemaURL`, matched by file name; the major
    version must be the vendored one's."""
    match = re.match(
        r"https://openlineage.io/spec/(?:facets/)?([\d-]+)/(\w+)\.json#/\$defs/(\w+)", url
    )
    assert match, url
    wanted, name, definition = match.groups()
    local = SPEC / ("OpenLineage.json" if name == "OpenLineage" else f"facets/{name}.json")
    assert local.exists(), f"{name} is not vendored under tests/lineage/spec"
    local_id = json.loads(local.read_text())["$id"]
    have = re.search(r"/([\d-]+)/\w+\.json$", local_id).group(1)
    assert have.split("-")[0] == wanted.split("-")[0], f"{name}: {wanted} vs vendored {have}"
    return local_id, definition


def validate(event: dict[str, Any]) -> None:
    """The event against RunEvent, and every facet against its own schema."""
    validator = Draft202012Validator(
        {"$ref": _CORE["$id"] + "#/$defs/RunEvent"},
        registry=_REGISTRY,
        format_checker=Draft202012Validator.FORMAT_CHECKER,
    )
    validator.validate(event)
    facet_maps = [event["run"].get("facets", {}), event["job"].get("facets", {})]
    for dataset in event.get("inputs", []) + event.get("outputs", []):
        for key in ("facets", "inputFacets", "outputFacets"):
            facet_maps.append(dataset.get(key, {}))
    for facets in facet_maps:
        for facet in facets.values():
            local_id, definition = _schema_for(facet["_schemaURL"])
            Draft202012Validator(
                {"$ref": f"{local_id}#/$defs/{definition}"}, registry=_REGISTRY
            ).validate(facet)


def _structure(cls: Any, value: Any, place: str = "") -> Any:
    if value is None:
        return None
    origin = typing.get_origin(cls)
    if origin in (typing.Union, types.UnionType):
        args = [a for a in typing.get_args(cls) if a is not type(None)]
        return _structure(args[0], value, place)
    if origin is list:
        return [_structure(typing.get_args(cls)[0], v) for v in value]
    if origin is dict:
        item = typing.get_args(cls)[1]
        return {
            k: _structure(BY_PLACE.get((place, k)) or FACETS.get(k) or item, v)
            if place in ("facets", "inputFacets", "outputFacets", "job", "run")
            else _structure(item, v)
            for k, v in value.items()
        }
    if isinstance(cls, type) and issubclass(cls, enum.Enum):
        return cls(value)
    if isinstance(cls, type) and attr.has(cls):
        hints = typing.get_type_hints(cls)
        kwargs = {}
        for f in attr.fields(cls):
            if f.init and f.name in value:
                inner = f.name if f.name in ("facets", "inputFacets", "outputFacets") else ""
                kwargs[f.alias] = _structure(hints[f.name], value[f.name], inner)
        return cls(**kwargs)
    return value


def parse(event: dict[str, Any]) -> event_v2.RunEvent:
    """The event as openlineage-python's classes; serializing it back gives the same JSON."""
    parsed = _structure(event_v2.RunEvent, event)
    parsed.job = _structure(event_v2.Job, event["job"])
    parsed.job.facets = {
        k: _structure(BY_PLACE.get(("job", k)) or FACETS[k], v)
        for k, v in event["job"].get("facets", {}).items()
    }
    parsed.run.facets = {
        k: _structure(FACETS[k], v) for k, v in event["run"].get("facets", {}).items()
    }
    assert Serde.to_dict(parsed) == event
    return parsed


def read_events(folder: Path) -> list[dict[str, Any]]:
    return [
        json.loads(line)
        for path in sorted(folder.rglob("*.jsonl"))
        for line in path.read_text().splitlines()
        if line.strip()
    ]
