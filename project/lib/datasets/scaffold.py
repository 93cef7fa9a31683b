"""`new dataset NAME --type T`: a catalog entry with the type's fields, appended to the
catalog file of the name's namespace (`sales.orders` → `conf/base/catalog/sales.yml`).

Required fields get a value that works as written (a path under `data/<namespace>/`, a
table named after the dataset); optional ones are listed commented out with their default,
so the entry documents its type. Database types get a credentials name, declared in
`conf/base/credentials.yml` as an environment variable (never a literal secret). The
catalog is loaded again after writing; if it does not load, the files are put back as
they were and the error is raised.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import yaml

from project.lib.datasets.base import REGISTRY
from project.lib.datasets.catalog import Catalog
from project.lib.datasets.errors import CatalogError

_EXTENSIONS = {
    "pandas.CSVDataset": "csv",
    "pandas.JSONDataset": "jsonl",
    "pandas.ParquetDataset": "parquet",
    "pandas.ExcelDataset": "xlsx",
    "report.HTMLDataset": "html",
    "report.MarkdownDataset": "md",
}
# Fields every entry may have, not worth listing in each new one.
_COMMON = {"type", "metadata", "layer", "fs_args"}


def _values(name: str, kind: str) -> tuple[dict[str, Any], str | None]:
    """The entry's working values, and the credentials name it needs, if any."""
    namespace, _, leaf = name.rpartition(".")
    folder = f"data/{namespace or 'datasets'}"
    fields = REGISTRY[kind].model_fields
    values: dict[str, Any] = {"type": kind}
    credentials = None
    if "filepath" in fields:
        values["filepath"] = f"{folder}/{leaf}.{_EXTENSIONS.get(kind, 'dat')}"
    if "path" in fields:
        values["path"] = f"{folder}/{leaf}"
    if "table_name" in fields:
        values["table_name"] = name.replace(".", "_")
    if kind == "duckdb.TableDataset":
        values["database"] = f"{folder}.duckdb"
    elif "credentials" in fields and "table_name" in fields:
        credentials = f"{(namespace or 'datasets').replace('.', '_')}_db"
        values["credentials"] = credentials
    return values, credentials


def entry_text(name: str, kind: str) -> tuple[str, str | None]:
    """The YAML of the new entry (optional fields commented), and its credentials name."""
    if kind not in REGISTRY:
        raise CatalogError(f"unknown type {kind!r} (known: {', '.join(sorted(REGISTRY))})")
    values, credentials = _values(name, kind)
    lines = [f"{_key(name)}:"]
    lines += [f"  {line}" for line in yaml.safe_dump(values, sort_keys=False).splitlines()]
    for field, info in REGISTRY[kind].model_fields.items():
        key = info.alias or field
        if key in values or key in _COMMON or info.is_required():
            continue
        default = info.get_default(call_default_factory=True)
        shown = yaml.safe_dump([default], default_flow_style=True).strip()[1:-1]
        lines.append(f"  # {key}: {shown}")
    return "\n".join(lines) + "\n", credentials


def _key(name: str) -> str:
    return f'"{name}"' if "{" in name else name


def add(conf_dir: Path, name: str, kind: str, root: Path) -> Path:
    """Append the entry for `name` to its namespace's catalog file in `conf/base`."""
    catalog = Catalog.load(conf_dir, "base", root=root)
    if name in catalog.explicit:
        origin = catalog.config.origin(name)
        raise CatalogError("is already declared", file=origin and origin.file,
                           line=origin and origin.line, entry=name)  # fmt: skip
    text, credentials = entry_text(name, kind)
    namespace = name.rpartition(".")[0]
    target = conf_dir / "base" / "catalog" / f"{namespace}.yml" if namespace else (
        conf_dir / "base" / "catalog.yml"
    )  # fmt: skip
    secrets = conf_dir / "base" / "credentials.yml"
    before = {path: path.read_text() if path.exists() else None for path in (target, secrets)}
    try:
        _append(target, text)
        if credentials and credentials not in catalog.config.credentials:
            variable = credentials.upper() + "_URL"
            _append(secrets, f"{credentials}:\n  con: ${{oc.env:{variable}}}\n")
        Catalog.load(conf_dir, "base", root=root)
    except BaseException:
        for path, old in before.items():
            if old is None:
                path.unlink(missing_ok=True)
            else:
                path.write_text(old)
        raise
    return target


def _append(path: Path, text: str) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    old = path.read_text() if path.exists() else ""
    spacer = "\n" if old and not old.endswith("\n\n") else ""
    path.write_text(old + spacer + text)
