"""The dataset layer: a Kedro-compatible catalog in `conf/`, read and written as Arrow.

`Catalog.load(conf_dir)` gives named datasets with `load`, `save`, `exists` and `scan`;
Dagster's IO manager (`project.resources.catalog_io`) and the CLI are thin layers on it.
Names are imported on first use, so `from project.lib.datasets.errors import ...` (the CLI)
does not pull in pandas, pyarrow and DuckDB.
"""

from __future__ import annotations

import importlib
from typing import Any

_WHERE = {
    "REGISTRY": "base",
    "Dataset": "base",
    "DatasetError": "errors",
    "CatalogError": "errors",
    "Catalog": "catalog",
    "current_env": "config",
}

__all__ = sorted(_WHERE)


def __getattr__(name: str) -> Any:
    if name not in _WHERE:
        raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
    return getattr(importlib.import_module(f"{__name__}.{_WHERE[name]}"), name)
