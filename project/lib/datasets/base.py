"""The dataset contract, the registry of types, and versioned file paths.

A dataset type is a pydantic model of its catalog fields (so a missing or misspelt field
is reported by name when the catalog loads, before any run) with `load`, `save` and
`exists`. Types register under Kedro's names where Kedro has the type (`pandas.CSVDataset`)
and under names of ours in the same form (`duckdb.TableDataset`), so a Kedro catalog loads
unchanged.
"""

from __future__ import annotations

import re
import shutil
from collections.abc import Callable, Sequence
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any, ClassVar

import pandas as pd
import pyarrow as pa
from pydantic import BaseModel, ConfigDict, PrivateAttr

from project.lib.datasets.errors import DatasetError
from project.lib.datasets.frames import Data, to_frame

REGISTRY: dict[str, type[Dataset]] = {}

# Kedro's version stamp: 2024-01-31T12.00.00.000Z (sortable, safe in paths).
_VERSION = re.compile(r"^\d{4}-\d{2}-\d{2}T\d{2}\.\d{2}\.\d{2}\.\d{3}Z$")


def register(*names: str) -> Callable[[type[Dataset]], type[Dataset]]:
    def add(cls: type[Dataset]) -> type[Dataset]:
        for name in names:
            REGISTRY[name] = cls
        cls.type_names = names
        return cls

    return add


class Dataset(BaseModel):
    """One catalog entry, ready to load and save."""

    model_config = ConfigDict(extra="forbid", arbitrary_types_allowed=True, populate_by_name=True)
    type_names: ClassVar[tuple[str, ...]] = ()
    # Whether a save of one partition replaces only that partition.
    partitioned: ClassVar[bool] = False

    type: str
    metadata: dict[str, Any] | None = None
    # Kedro fields that describe, not configure: accepted so Kedro catalogs load unchanged.
    layer: str | None = None

    _name: str = PrivateAttr(default="")
    _credentials: Callable[[], dict[str, Any]] | None = PrivateAttr(default=None)

    @property
    def name(self) -> str:
        return self._name

    def bind(self, name: str, credentials: Callable[[], dict[str, Any]] | None) -> Dataset:
        """Name it and give it the way to its credentials (resolved only when it connects)."""
        self._name = name
        self._credentials = credentials
        return self

    def credential_values(self) -> dict[str, Any]:
        if self._credentials is None:
            raise DatasetError(f"dataset {self.name!r}: needs `credentials:` in its entry")
        return self._credentials()

    # The contract.
    def load(self, partitions: Sequence[str] | None = None) -> pd.DataFrame:
        return to_frame(self.load_arrow(partitions))

    def load_arrow(self, partitions: Sequence[str] | None = None) -> pa.Table:
        reader = self.scan(partitions)
        try:
            return reader.read_all()
        except DatasetError:
            raise
        except Exception as exc:
            raise self.fail("read", exc) from None

    def scan(self, partitions: Sequence[str] | None = None) -> pa.RecordBatchReader:
        """A stream of record batches; types that can stream override it."""
        return self.load_arrow(partitions).to_reader()

    def save(self, data: Data, partition: str | None = None) -> dict[str, Any]:
        """Write `data`; returns metadata for the materialization (rows, where)."""
        raise NotImplementedError

    def exists(self, partition: str | None = None) -> bool:
        raise NotImplementedError

    def location(self) -> str:
        """Where the data lives, for metadata and messages: never a credential."""
        return ""

    def describe(self) -> dict[str, Any]:
        """The resolved entry as shown to people: credentials by name only."""
        shown = self.model_dump(exclude_none=True, by_alias=True)
        return {"name": self.name, **shown}

    def fail(self, action: str, exc: BaseException) -> DatasetError:
        return DatasetError(f"dataset {self.name!r}: cannot {action} {self.location()}: {exc}")


class Versioned:
    """Kedro's layout for versioned files: `<filepath>/<version>/<file name>`."""

    def __init__(self, filepath: Path, keep: int | None, load_version: str | None) -> None:
        self.filepath, self.keep, self.load_version = filepath, keep, load_version

    def versions(self) -> list[str]:
        if not self.filepath.is_dir():
            return []
        return sorted(p.name for p in self.filepath.iterdir() if _VERSION.match(p.name))

    def load_path(self, dataset: str) -> Path:
        versions = self.versions()
        chosen = self.load_version or (versions[-1] if versions else None)
        if chosen is None or chosen not in versions:
            raise DatasetError(
                f"dataset {dataset!r}: no version {chosen or ''} under {self.filepath} "
                f"(versions: {', '.join(versions) or 'none'})"
            )
        return self.filepath / chosen / self.filepath.name

    def save_path(self) -> Path:
        """A version later than every existing one: two saves within one millisecond (or
        with a clock set back) must not share a folder, nor load the older save as latest."""
        now = datetime.now(UTC)
        versions = self.versions()
        if versions:
            latest = datetime.strptime(versions[-1], "%Y-%m-%dT%H.%M.%S.%fZ").replace(tzinfo=UTC)
            now = max(now, latest + timedelta(milliseconds=1))
        stamp = now.strftime("%Y-%m-%dT%H.%M.%S.%f")[:-3] + "Z"
        return self.filepath / stamp / self.filepath.name

    def prune(self) -> list[str]:
        """Drop the oldest versions beyond `keep`; returns the ones dropped."""
        versions = self.versions()
        if not self.keep or len(versions) <= self.keep:
            return []
        dropped = versions[: len(versions) - self.keep]
        for version in dropped:
            shutil.rmtree(self.filepath / version)
        return dropped
