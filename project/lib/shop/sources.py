"""The shop's landing sources (`conf/base/shop/sources.yml`): format, schema, Auto Loader's
schema-evolution mode, the rewrite policy, micro-batch limits and bronze expectations.

Loaded and validated once, when the definitions load: a wrong mode or an unknown field is
an error naming the file, the source and the field, before any sensor tick.
"""

from __future__ import annotations

import re
from functools import lru_cache
from pathlib import Path
from typing import Any, Literal

import yaml
from pydantic import BaseModel, ConfigDict, Field, ValidationError, field_validator

from project.lib.shop.expectations import Expectation
from project.settings import PROJECT_ROOT

SOURCES_FILE = PROJECT_ROOT / "conf" / "base" / "shop" / "sources.yml"

# Bronze's own columns, after the declared ones: a landed field with one of these names
# is treated as unknown (rescued or ignored), never written over provenance.
PROVENANCE = (
    "_rescued_data",
    "_source_file",
    "_file_version",
    "_line",
    "_ingested_at",
    "_batch",
    "_run_id",
)

SchemaEvolution = Literal["addNewColumns", "rescue", "failOnNewColumns", "none"]
_SIZE = re.compile(r"^\s*(\d+)\s*(B|KB|MB|GB)?\s*$", re.IGNORECASE)
_UNITS = {"B": 1, "KB": 1024, "MB": 1024**2, "GB": 1024**3}


class SourcesError(ValueError):
    """The sources file is invalid; the message names file, source and field."""


def parse_size(value: Any) -> int:
    if isinstance(value, int):
        return value
    match = _SIZE.match(str(value))
    if not match:
        raise ValueError(f"{value!r} is not a size such as 512MB")
    return int(match.group(1)) * _UNITS[(match.group(2) or "B").upper()]


class _Options(BaseModel):
    model_config = ConfigDict(extra="forbid")
    schema_evolution: SchemaEvolution | None = None
    on_rewrite: Literal["new_version", "skip"] | None = None
    max_files_per_run: int | None = Field(default=None, ge=1)
    max_bytes_per_run: int | None = Field(default=None, ge=1)

    @field_validator("max_bytes_per_run", mode="before")
    @classmethod
    def _size(cls, value: Any) -> Any:
        return None if value is None else parse_size(value)


class LandingSource(_Options):
    """One folder of landing files and how bronze reads it."""

    name: str = ""
    format: Literal["jsonl", "csv"]
    columns: list[str] = Field(min_length=1)
    expectations: list[Expectation] = []

    @field_validator("columns")
    @classmethod
    def _plain_columns(cls, columns: list[str]) -> list[str]:
        for column in columns:
            if not re.fullmatch(r"[a-z][a-z0-9_]*", column):
                raise ValueError(f"column {column!r}: use lower-case letters, digits and _")
        if len(set(columns)) != len(columns):
            raise ValueError("a column is declared twice")
        return columns

    @property
    def evolution(self) -> SchemaEvolution:
        return self.schema_evolution or "rescue"

    @property
    def rewrite_policy(self) -> str:
        return self.on_rewrite or "new_version"

    def suffixes(self) -> tuple[str, ...]:
        return (f".{self.format}", f".{self.format}.gz")


class ShopSources(BaseModel):
    model_config = ConfigDict(extra="forbid")
    defaults: _Options = _Options()
    sources: dict[str, LandingSource] = Field(min_length=1)

    def source(self, name: str) -> LandingSource:
        try:
            return self.sources[name]
        except KeyError:
            known = ", ".join(sorted(self.sources))
            raise SourcesError(f"unknown shop source {name!r} (known: {known})") from None


def _with_defaults(config: ShopSources) -> ShopSources:
    defaults = config.defaults.model_dump(exclude_none=True)
    for name, source in config.sources.items():
        source.name = name
        for key, value in defaults.items():
            if getattr(source, key) is None:
                setattr(source, key, value)
        for rule in source.expectations:
            if rule.action != "warn":
                raise SourcesError(
                    f"{SOURCES_FILE}: sources.{name}.expectations.{rule.name}: bronze keeps "
                    f"every row, so its expectations are `warn` (got {rule.action!r})"
                )
    return config


def load_sources(path: Path = SOURCES_FILE) -> ShopSources:
    """The validated sources file; SourcesError naming file, source and field."""
    try:
        raw = yaml.safe_load(path.read_text())
    except (OSError, yaml.YAMLError) as exc:
        raise SourcesError(f"{path}: {exc}") from None
    try:
        return _with_defaults(ShopSources.model_validate(raw))
    except ValidationError as exc:
        first = exc.errors()[0]
        where = ".".join(str(part) for part in first["loc"])
        raise SourcesError(f"{path}: {where}: {first['msg']}") from None


@lru_cache(maxsize=1)
def shop_sources() -> ShopSources:
    return load_sources()
