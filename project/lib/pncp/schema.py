"""Structural fingerprints of PNCP records, to detect schema drift between partitions.

A structure maps each field path (`orgaoEntidade.cnpj`) to the JSON types of its
non-null values. Optional fields are often null, so "null" never makes a
difference on its own: drift is a field added or removed, or a non-null type that the
baseline never had (e.g. `valorGlobal` turning from number into string).
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Iterable, Mapping
from dataclasses import dataclass

Structure = dict[str, set[str]]

_TYPES = {bool: "boolean", int: "number", float: "number", str: "string"}


def _walk(value: object, path: str, out: Structure) -> None:
    if isinstance(value, dict):
        if path:
            out.setdefault(path, set()).add("object")
        for key, child in value.items():
            _walk(child, f"{path}.{key}" if path else key, out)
    elif isinstance(value, list):
        # Items are not descended into: an empty list would make their fields flap.
        out.setdefault(path, set()).add("array")
    else:
        types = out.setdefault(path, set())
        if value is not None:
            types.add(_TYPES.get(type(value), type(value).__name__))


def structure_of(records: Iterable[Mapping], sample: int = 25) -> Structure:
    """The structure of (an evenly spaced sample of) `records`."""
    records = list(records)
    step = max(1, len(records) // sample) if sample else 1
    out: Structure = {}
    for record in records[::step]:
        _walk(record, "", out)
    return out


def merge(into: Structure, other: Structure) -> Structure:
    for path, types in other.items():
        into.setdefault(path, set()).update(types)
    return into


def to_json(structure: Structure) -> str:
    return json.dumps({p: sorted(t) for p, t in sorted(structure.items())}, sort_keys=True)


def from_json(text: str) -> Structure:
    return {p: set(t) for p, t in json.loads(text).items()}


def fingerprint(structure: Structure) -> str:
    return hashlib.sha256(to_json(structure).encode()).hexdigest()[:16]


@dataclass(frozen=True)
class Drift:
    added: tuple[str, ...]
    removed: tuple[str, ...]
    changed: tuple[str, ...]  # "path: number -> string"

    def __bool__(self) -> bool:
        return bool(self.added or self.removed or self.changed)

    def describe(self) -> str:
        parts = []
        if self.added:
            parts.append("added " + ", ".join(self.added))
        if self.removed:
            parts.append("removed " + ", ".join(self.removed))
        if self.changed:
            parts.append("type changed " + ", ".join(self.changed))
        return "; ".join(parts) or "no drift"


def _under_null_parent(path: str, structure: Structure) -> bool:
    """True when an ancestor object of `path` was only ever null in `structure`."""
    parts = path.split(".")
    return any(not structure.get(".".join(parts[:i]), {"object"}) for i in range(1, len(parts)))


def diff(baseline: Structure, current: Structure) -> Drift:
    """How `current` departs from `baseline`.

    Fields inside an object that one side only saw as null are not compared: an optional
    object that happens to be null in a whole partition is not drift.
    """
    added = tuple(
        sorted(p for p in set(current) - set(baseline) if not _under_null_parent(p, baseline))
    )
    removed = tuple(
        sorted(p for p in set(baseline) - set(current) if not _under_null_parent(p, current))
    )
    changed = tuple(
        f"{path}: {'/'.join(sorted(baseline[path]))} -> "
        f"{'/'.join(sorted(current[path] - baseline[path]))}"
        for path in sorted(set(current) & set(baseline))
        if baseline[path] and current[path] - baseline[path]
    )
    return Drift(added, removed, changed)
