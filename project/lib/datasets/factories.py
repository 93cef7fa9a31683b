"""Dataset factories: a pattern entry (`"{name}_raw": ...`) serves every name it matches.

Matching and ranking follow Kedro's `CatalogConfigResolver`, so a catalog written for
Kedro resolves the same names to the same entries: patterns are parsed with `parse` (what
Kedro uses), and when several match, the most specific wins: most characters outside
placeholders first, then most placeholders, then alphabetical order; a pattern that is a
single placeholder (`"{default}"`) is the catch-all, tried last.
"""

from __future__ import annotations

import re
from collections.abc import Iterable
from typing import Any

from parse import parse

_PLACEHOLDER = re.compile(r"\{.*?\}")


def is_pattern(name: str) -> bool:
    return "{" in name


def specificity(pattern: str) -> int:
    """Characters outside placeholders."""
    return len(_PLACEHOLDER.sub("", pattern))


def ranked(patterns: Iterable[str]) -> list[str]:
    """Patterns in the order Kedro tries them."""
    return sorted(
        patterns,
        key=lambda p: (specificity(p) == 0, -specificity(p), -p.count("{"), p),
    )


def match(name: str, patterns: Iterable[str]) -> tuple[str, dict[str, Any]] | None:
    """The first ranked pattern matching `name`, with the values of its placeholders."""
    for pattern in ranked(patterns):
        found = parse(pattern, name)
        if found is not None:
            return pattern, dict(found.named)
    return None


def fill(entry: Any, values: dict[str, Any]) -> Any:
    """`entry` with `{placeholder}` in every string replaced by the matched values."""
    if isinstance(entry, str):
        return entry.format(**values) if "{" in entry else entry
    if isinstance(entry, dict):
        return {key: fill(value, values) for key, value in entry.items()}
    if isinstance(entry, list):
        return [fill(value, values) for value in entry]
    return entry
