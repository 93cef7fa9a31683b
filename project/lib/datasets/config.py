"""Reading the catalog's YAML: `conf/base` under `conf/<env>`, merged per key and per field.

OmegaConf (the library under Kedro's own `OmegaConfigLoader`) does the merging and the
interpolation: `${oc.env:VAR}` for the environment, `${_name}` for shared values declared as
top-level keys starting with `_`, and `${globals:key}` for `conf/<env>/globals.yml`. Unlike
Kedro's loader, an environment's entry is merged into the base entry field by field (a local
override of `filepath` keeps the base `load_args`; kedro#2122 is its users' top complaint).

What is kept beside the merged mapping is where each entry and field was written (file and
line), so every error raised later can point at it. Credentials are read here but never
resolved: they stay `${oc.env:...}` templates until a dataset opens its connection.
"""

from __future__ import annotations

import os
from collections.abc import Iterable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import yaml
from omegaconf import DictConfig, OmegaConf
from omegaconf.errors import OmegaConfBaseException

from project.lib.datasets.errors import CatalogError, DatasetError

ENV_VAR = "CATALOG_ENV"
DEFAULT_ENV = "local"
BASE_ENV = "base"
CATALOG_PATTERNS = ("catalog*.yml", "catalog*.yaml", "catalog/**/*.yml", "catalog/**/*.yaml")
CREDENTIALS_PATTERNS = ("credentials*.yml", "credentials*.yaml")
GLOBALS_PATTERNS = ("globals*.yml", "globals*.yaml")


@dataclass(frozen=True)
class Origin:
    """Where an entry (or one of its fields) was last written."""

    file: Path
    line: int


@dataclass
class CatalogConfig:
    """The merged catalog, before any dataset is built."""

    env: str
    entries: dict[str, dict[str, Any]]
    origins: dict[str, Origin]
    field_origins: dict[str, dict[str, Origin]]
    credentials: DictConfig = field(repr=False)
    credential_origins: dict[str, Origin] = field(default_factory=dict)

    def origin(self, name: str, field_name: str | None = None) -> Origin | None:
        if field_name and field_name in self.field_origins.get(name, {}):
            return self.field_origins[name][field_name]
        return self.origins.get(name)

    def error(self, name: str, message: str, field_name: str | None = None) -> CatalogError:
        origin = self.origin(name, field_name)
        return CatalogError(
            message,
            file=origin.file if origin else None,
            line=origin.line if origin else None,
            entry=name,
        )


def current_env() -> str:
    return os.environ.get(ENV_VAR, "").strip() or DEFAULT_ENV


def _files(folder: Path, patterns: Iterable[str]) -> list[Path]:
    found = {path for pattern in patterns for path in folder.glob(pattern) if path.is_file()}
    return sorted(found)


def _read(path: Path) -> tuple[dict[str, Any], dict[str, Origin], dict[str, dict[str, Origin]]]:
    """One YAML file: its mapping, each top-level key's line and each field's line."""
    text = path.read_text(encoding="utf-8")
    try:
        node = yaml.compose(text, Loader=yaml.SafeLoader)
        data = yaml.safe_load(text)
    except yaml.MarkedYAMLError as exc:
        mark = exc.problem_mark or exc.context_mark
        line = mark.line + 1 if mark else None
        problem = exc.problem or str(exc)
        raise CatalogError(f"YAML syntax error: {problem}", file=path, line=line) from None
    if data is None:
        return {}, {}, {}
    if not isinstance(data, dict) or not isinstance(node, yaml.MappingNode):
        raise CatalogError("expected a mapping of names to entries", file=path, line=1)
    origins: dict[str, Origin] = {}
    fields: dict[str, dict[str, Origin]] = {}
    for key_node, value_node in node.value:
        name = str(key_node.value)
        origins[name] = Origin(path, key_node.start_mark.line + 1)
        if isinstance(value_node, yaml.MappingNode):
            fields[name] = {
                str(k.value): Origin(path, k.start_mark.line + 1) for k, _ in value_node.value
            }
    return data, origins, fields


def _layer(folder: Path, patterns: Iterable[str]):
    """Every matching file of one environment folder; a name declared twice is an error."""
    data: dict[str, Any] = {}
    origins: dict[str, Origin] = {}
    fields: dict[str, dict[str, Origin]] = {}
    for path in _files(folder, patterns):
        part, part_origins, part_fields = _read(path)
        try:  # interpolation syntax is checked when OmegaConf reads it: name the file
            OmegaConf.create(part)
        except OmegaConfBaseException as exc:
            raise CatalogError(f"cannot read: {_first_line(exc)}", file=path) from None
        for name in part:
            if name in data:
                raise CatalogError(
                    f"declared twice in one environment (also {origins[name].file}:"
                    f"{origins[name].line})",
                    file=path,
                    line=part_origins[name].line,
                    entry=name,
                )
        data |= part
        origins |= part_origins
        fields |= part_fields
    return data, origins, fields


def _merge(conf_dir: Path, env: str, patterns: Iterable[str]):
    """Base under env, field by field; an env entry of another `type` replaces the base one
    (a PostgreSQL table has no use for a CSV's `filepath`)."""
    base = _layer(conf_dir / BASE_ENV, patterns)
    over = _layer(conf_dir / env, patterns) if env != BASE_ENV else ({}, {}, {})
    below = dict(base[0])
    for name, entry in over[0].items():
        old = below.get(name)
        if not (isinstance(entry, dict) and isinstance(old, dict)):
            continue
        if entry.get("type", old.get("type")) != old.get("type"):
            # Another storage: its fields replace the base's, but what the dataset *is*
            # (description, quality rules) stays unless the environment says otherwise.
            kept = {"metadata": old["metadata"]} if "metadata" in old else {}
            below[name] = kept
            base[2][name] = {k: v for k, v in base[2].get(name, {}).items() if k in kept}
    merged = OmegaConf.merge(OmegaConf.create(below), OmegaConf.create(over[0]))
    origins = base[1] | over[1]
    fields = {name: base[2].get(name, {}) | over[2].get(name, {}) for name in origins}
    return merged, origins, fields


def load(conf_dir: Path, env: str | None = None) -> CatalogConfig:
    """The catalog of `env` (default: `$CATALOG_ENV`, else `local`) under `conf_dir`."""
    env = env or current_env()
    if not (conf_dir / BASE_ENV).is_dir():
        raise CatalogError(f"no {BASE_ENV}/ folder under {conf_dir}", file=conf_dir)
    if env != BASE_ENV and env != DEFAULT_ENV and not (conf_dir / env).is_dir():
        raise CatalogError(
            f"environment {env!r} ({ENV_VAR}) has no folder {conf_dir / env}", file=conf_dir
        )
    catalog, origins, fields = _merge(conf_dir, env, CATALOG_PATTERNS)
    globals_, _, _ = _merge(conf_dir, env, GLOBALS_PATTERNS)
    credentials, credential_origins, _ = _merge(conf_dir, env, CREDENTIALS_PATTERNS)

    shared = {name for name in catalog if str(name).startswith("_")}
    entries: dict[str, dict[str, Any]] = {}
    with _globals(globals_):
        for name in catalog:
            if name in shared:
                continue
            try:
                node = catalog[name]
                value = (
                    OmegaConf.to_container(node, resolve=True)
                    if isinstance(node, DictConfig)
                    else node  # not a mapping: reported below
                )
            except OmegaConfBaseException as exc:
                origin = origins[name]
                raise CatalogError(
                    f"cannot interpolate: {_first_line(exc)}",
                    file=origin.file,
                    line=origin.line,
                    entry=str(name),
                ) from None
            if not isinstance(value, dict):
                origin = origins[name]
                raise CatalogError(
                    "an entry must be a mapping with a `type`",
                    file=origin.file,
                    line=origin.line,
                    entry=str(name),
                )
            entries[str(name)] = value
    return CatalogConfig(
        env=env,
        entries=entries,
        origins={str(k): v for k, v in origins.items() if k not in shared},
        field_origins={str(k): v for k, v in fields.items() if k not in shared},
        credentials=credentials,
        credential_origins={str(k): v for k, v in credential_origins.items()},
    )


class _globals:
    """`${globals:key}` resolves against this catalog's globals while entries resolve."""

    current: DictConfig | None = None

    def __init__(self, values: DictConfig) -> None:
        self.values = values

    def __enter__(self) -> None:
        _globals.current = self.values

    def __exit__(self, *_: object) -> None:
        _globals.current = None


def _resolve_global(key: str, default: Any = "__missing__") -> Any:
    values = _globals.current
    found = OmegaConf.select(values, key, default=default) if values is not None else default
    if found == "__missing__":
        raise KeyError(f"globals has no {key!r}")
    return found


if not OmegaConf.has_resolver("globals"):
    OmegaConf.register_resolver("globals", _resolve_global)


def _first_line(exc: BaseException) -> str:
    return str(exc).strip().splitlines()[0]


def resolve_credentials(config: CatalogConfig, name: str, *, dataset: str) -> dict[str, Any]:
    """The values of credentials `name`, resolved now (at run time), for `dataset`.

    A missing environment variable is named; its value, like every other credential value,
    never appears in a message.
    """
    if name not in config.credentials:
        raise config.error(dataset, f"credentials {name!r} are not declared", "credentials")
    try:
        values = OmegaConf.to_container(config.credentials[name], resolve=True)
    except (OmegaConfBaseException, ValueError) as exc:
        raise DatasetError(
            f"dataset {dataset!r}: credentials {name!r} cannot be resolved: {_first_line(exc)}"
        ) from None
    if not isinstance(values, dict):
        raise DatasetError(f"dataset {dataset!r}: credentials {name!r} must be a mapping")
    return values
