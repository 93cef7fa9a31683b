"""What lineage knows about an asset, as plain data: filled from Dagster, read by the event
builder and the export, so neither needs Dagster to be tested."""

from __future__ import annotations

from dataclasses import dataclass, field


@dataclass(frozen=True, order=True)
class DatasetName:
    """An OpenLineage dataset identifier (https://openlineage.io/docs/spec/naming)."""

    namespace: str
    name: str


@dataclass(frozen=True)
class Column:
    name: str
    type: str | None = None
    description: str | None = None


@dataclass(frozen=True)
class Assertion:
    """An asset check's evaluation, as OpenLineage's dataQualityAssertions has it."""

    name: str
    success: bool
    severity: str | None = None
    column: str | None = None
    description: str | None = None


@dataclass
class AssetLineage:
    """One asset: where it is stored, what produces it from what, and its columns."""

    key: str  # the asset key, `a/b/c`
    dataset: DatasetName
    storage: str  # how the place was found: catalog, warehouse, uri, asset
    group: str | None = None
    kinds: list[str] = field(default_factory=list)
    description: str | None = None
    node: str | None = None  # the op (node) that materializes it; None for a source
    code: list[str] = field(default_factory=list)  # code references: file:line or URL
    deps: list[str] = field(default_factory=list)
    columns: list[Column] = field(default_factory=list)
    # column -> [(upstream asset key, upstream column)]; None when unknown
    column_lineage: dict[str, list[tuple[str, str]]] | None = None
    row_count: int | None = None
    dataset_type: str | None = None
    checks: list[str] = field(default_factory=list)
