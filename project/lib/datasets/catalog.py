"""The dataset catalog: names to datasets, from `conf/` (see `config`) and factories.

`Catalog.load` validates every explicit entry at once (type known, required fields present,
no unknown field, credentials declared), so a broken catalog fails when the definitions
load, naming file, line and entry. Factory entries are checked against the names the
code location needs (`check_names`): a name no entry or pattern serves, or a pattern that
serves no name, is an error too.
"""

from __future__ import annotations

from collections.abc import Iterable
from functools import partial
from pathlib import Path
from typing import Any

from pydantic import ValidationError

from project.lib.datasets import (  # noqa: F401 - databases, files, reports, sources register
    databases,
    factories,
    files,
    quality,
    reports,
    sources,
)
from project.lib.datasets.base import REGISTRY, Dataset
from project.lib.datasets.config import CatalogConfig, CatalogError, load, resolve_credentials
from project.lib.datasets.errors import validation_problem

# Fields holding paths, resolved against the project root when relative.
_PATH_FIELDS = ("filepath", "path", "database")


class Catalog:
    def __init__(self, config: CatalogConfig, root: Path) -> None:
        self.config, self.root = config, root
        self.explicit = {n: e for n, e in config.entries.items() if not factories.is_pattern(n)}
        self.patterns = {n: e for n, e in config.entries.items() if factories.is_pattern(n)}
        for name, entry in self.explicit.items():
            self._build(name, entry)
        for pattern, entry in self.patterns.items():
            self._check_entry(pattern, entry)

    @classmethod
    def load(cls, conf_dir: Path, env: str | None = None, root: Path | None = None) -> Catalog:
        conf_dir = conf_dir.resolve()
        return cls(load(conf_dir, env), root or conf_dir.parent)

    @property
    def env(self) -> str:
        return self.config.env

    def names(self) -> list[str]:
        return sorted(self.explicit)

    def __contains__(self, name: str) -> bool:
        return self.resolve(name) is not None

    def resolve(self, name: str) -> str | None:
        """The entry serving `name`: itself, or the pattern that matches it, or None."""
        if name in self.explicit:
            return name
        found = factories.match(name, self.patterns)
        return found[0] if found else None

    def get(self, name: str) -> Dataset:
        if name in self.explicit:
            return self._build(name, self.explicit[name])
        found = factories.match(name, self.patterns)
        if found is None:
            raise CatalogError(
                f"no entry and no factory pattern serves {name!r}", file=self._files(), entry=name
            )
        pattern, values = found
        return self._build(name, factories.fill(self.patterns[pattern], values), origin=pattern)

    def check_names(
        self, needed: Iterable[str], namespace: str | Iterable[str] | None = None
    ) -> None:
        """Every needed name is served, and every pattern serves at least one of them.

        With namespaces, only their patterns (`ns.{x}`) and unprefixed ones (`{x}_raw`)
        must serve one: another namespace's patterns are its own component's business.
        """
        spaces = (namespace,) if isinstance(namespace, str) else tuple(namespace or ())
        needed = list(needed)
        unserved = [n for n in needed if self.resolve(n) is None]
        if unserved:
            raise CatalogError(
                f"no entry or factory serves {', '.join(sorted(unserved))}", file=self._files()
            )
        # A pattern must match a needed name; it need not be the one serving it (an
        # environment may declare that name explicitly).
        used = {p for p in self.patterns if any(factories.match(n, [p]) for n in needed)}
        for name in needed:  # a factory's entry is checked for each name it serves, now
            self.get(name)
        for pattern in self.patterns:
            theirs = spaces and not pattern.startswith((*(f"{ns}." for ns in spaces), "{"))
            if pattern not in used and not theirs:
                raise self.config.error(pattern, "this factory pattern matches no dataset")

    def rules(self, name: str) -> list[quality.Rule]:
        """The quality rules declared under the entry's `metadata.quality`."""
        served = self.resolve(name)
        if served is None:
            return []
        entry = self.explicit.get(served) or self.patterns[served]
        return self._rules(served, entry)

    def _rules(self, name: str, entry: dict[str, Any]) -> list[quality.Rule]:
        metadata = entry.get("metadata") or {}
        try:
            return quality.parse(metadata.get("quality") if isinstance(metadata, dict) else None)
        except ValueError as exc:
            raise self.config.error(name, str(exc), "metadata") from None

    def describe(self, name: str) -> dict[str, Any]:
        dataset = self.get(name)
        origin = self.config.origin(self.resolve(name) or name)
        described = dataset.describe()
        described["served_by"] = self.resolve(name)
        described["env"] = self.env
        if origin:
            described["declared_at"] = f"{origin.file}:{origin.line}"
        return described

    def _files(self) -> Path:
        return Path(f"conf/{{base,{self.env}}}/catalog*.yml")

    def _check_entry(self, name: str, entry: dict[str, Any]) -> type[Dataset]:
        kind = entry.get("type")
        if not kind:
            raise self.config.error(name, "missing required field 'type'")
        cls = REGISTRY.get(str(kind))
        if cls is None:
            known = ", ".join(sorted(REGISTRY))
            raise self.config.error(name, f"unknown type {kind!r} (known: {known})", "type")
        credentials = entry.get("credentials")
        if credentials is not None:
            if not isinstance(credentials, str):
                raise self.config.error(
                    name,
                    "credentials must be the name of an entry in credentials.yml, not values",
                    "credentials",
                )
            if "{" not in credentials and credentials not in self.config.credentials:
                raise self.config.error(
                    name, f"credentials {credentials!r} are not declared", "credentials"
                )
        return cls

    def _build(self, name: str, entry: dict[str, Any], origin: str | None = None) -> Dataset:
        cls = self._check_entry(origin or name, entry)
        values = dict(entry)
        for key in _PATH_FIELDS:
            value = values.get(key)
            if isinstance(value, str) and not Path(value).is_absolute() and "://" not in value:
                values[key] = str(self.root / value)
        try:
            dataset = cls.model_validate(values)
        except ValidationError as exc:
            problem, field_name = validation_problem(exc.errors(), owner=str(entry["type"]))
            raise self.config.error(origin or name, problem, field_name) from None
        self._rules(origin or name, entry)
        credentials = entry.get("credentials")
        resolver = (
            partial(resolve_credentials, self.config, credentials, dataset=name)
            if credentials
            else None
        )
        return dataset.bind(name, resolver)
