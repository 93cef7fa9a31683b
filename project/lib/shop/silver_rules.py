"""The shop's silver expectations as declared next to the dbt models, read from their YAML.

dbt compiles them to SQL (`dbt_project/macros/shop/expectations.sql`); Python reads the
same declarations to validate them in the catalog's vocabulary (rule names and fields of
`project.lib.datasets.quality`, plus `expression`) and to know which rules exist, e.g.
before `pncp quarantine replay --rule R` records a request for a rule nobody declared.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any

import yaml

from project.lib.datasets import quality
from project.settings import PROJECT_ROOT

SILVER_MODELS_DIR = PROJECT_ROOT / "dbt_project" / "models" / "silver" / "shop"
ACTIONS = ("warn", "drop", "fail")
# Fields of an expectation that are not the rule's own (quality.py knows the rule's).
_OWN_FIELDS = ("action", "message")


@dataclass(frozen=True)
class Expectation:
    """One declared expectation of a silver dataset."""

    dataset: str
    source: str
    name: str
    rule: str
    action: str
    spec: dict[str, Any]


def validate(dataset: str, spec: dict[str, Any]) -> None:
    """ValueError naming the dataset and expectation when `spec` is not a valid rule."""
    name = spec.get("name")
    where = f"{dataset}: expectation {name or spec}"
    if not name:
        raise ValueError(f"{where}: needs a name")
    if spec.get("action", "warn") not in ACTIONS:
        raise ValueError(f"{where}: action {spec.get('action')!r} is not one of {ACTIONS}")
    if spec.get("rule") == "expression":
        if not spec.get("expression"):
            raise ValueError(f"{where}: an expression rule needs `expression`")
        return
    rule = {k: v for k, v in spec.items() if k not in _OWN_FIELDS}
    try:
        quality.parse([rule])
    except ValueError as exc:
        raise ValueError(f"{where}: {exc}") from None


def declared(models_dir: Path = SILVER_MODELS_DIR) -> list[Expectation]:
    """Every expectation of the silver models' YAML, validated, in declared order."""
    found: list[Expectation] = []
    for path in sorted(models_dir.glob("*.yml")):
        document = yaml.safe_load(path.read_text()) or {}
        for model in document.get("models", []):
            meta = (model.get("config") or {}).get("meta") or {}
            if "shop" not in meta:
                continue
            source = meta["shop"].get("source", model["name"])
            names: set[str] = set()
            for spec in meta.get("expectations", []):
                validate(model["name"], spec)
                if spec["name"] in names:
                    raise ValueError(f"{model['name']}: expectation {spec['name']} declared twice")
                names.add(spec["name"])
                found.append(
                    Expectation(
                        dataset=model["name"],
                        source=source,
                        name=spec["name"],
                        rule=spec["rule"],
                        action=spec.get("action", "warn"),
                        spec=spec,
                    )
                )
    return found
