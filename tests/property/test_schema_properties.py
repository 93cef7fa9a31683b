"""Schema fingerprints: stable under everything that is not drift, changed by all that is.

Not drift: key order, other values of the same JSON type, nulls. Drift: a field added, a
field removed, a non-null type the baseline never had; `diff` names the field each time.
(Record order and a JSON round trip are covered in tests/lib/pncp/test_schema.py.)
"""

from __future__ import annotations

import random
from typing import Any

from hypothesis import assume, given, settings
from hypothesis import strategies as st

from project.lib.pncp import schema

names = st.text(alphabet="abcdefgh", min_size=1, max_size=4)
scalars = st.one_of(
    st.none(), st.booleans(), st.integers(), st.floats(allow_nan=False), st.text(max_size=4)
)
# Records shaped like PNCP's: one set of fields per endpoint, each of one JSON type (an
# object has its own fields), any of them null in any record.
TYPED = {
    "boolean": st.booleans(),
    "number": st.integers() | st.floats(allow_nan=False),
    "string": st.text(max_size=4),
    "array": st.lists(scalars, max_size=2),
}
field_types = st.recursive(
    st.sampled_from(sorted(TYPED)),
    lambda inner: st.dictionaries(names, inner, min_size=1, max_size=3),
    max_leaves=10,
)


def conforming(spec: str | dict) -> st.SearchStrategy:
    if isinstance(spec, dict):
        return st.fixed_dictionaries({k: st.none() | conforming(v) for k, v in spec.items()})
    return TYPED[spec]


record_schemas = st.dictionaries(names, field_types, min_size=1, max_size=6)
records = record_schemas.flatmap(lambda spec: st.lists(conforming(spec), min_size=1, max_size=8))

# Generating nested records is the slow part; 60 examples per property keep each ~2 s.
# No deadline: these check correctness, and a loaded CI machine must not make them flaky.
examples = settings(max_examples=60, deadline=None)

SAMPLES: dict[str, list[Any]] = {
    "boolean": [True, False],
    "number": [0, -7, 2.5, 10**12],
    "string": ["", "x", "14.5"],
    "array": [[], [1, "a"]],
    "object": [{}, {"k": None}],
}


def fingerprint(batch: list[dict]) -> str:
    return schema.fingerprint(schema.structure_of(batch, sample=0))


def json_type(value: Any) -> str | None:
    if value is None:
        return None
    if isinstance(value, dict):
        return "object"
    if isinstance(value, list):
        return "array"
    return schema._TYPES[type(value)]


def shuffled_keys(value: Any, rng: random.Random) -> Any:
    if isinstance(value, dict):
        items = list(value.items())
        rng.shuffle(items)
        return {k: shuffled_keys(v, rng) for k, v in items}
    return value


def same_type_values(value: Any, rng: random.Random) -> Any:
    """Another value of the same JSON type (objects keep their keys, recursively)."""
    if isinstance(value, dict):
        return {k: same_type_values(v, rng) for k, v in value.items()}
    kind = json_type(value)
    return value if kind is None else rng.choice(SAMPLES[kind])


@examples
@given(records, st.randoms())
def test_key_order_does_not_change_the_fingerprint(batch: list[dict], rng: random.Random) -> None:
    assert fingerprint([shuffled_keys(r, rng) for r in batch]) == fingerprint(batch)


@examples
@given(records, st.randoms())
def test_other_values_of_the_same_types_do_not_change_the_fingerprint(
    batch: list[dict], rng: random.Random
) -> None:
    assert fingerprint([same_type_values(r, rng) for r in batch]) == fingerprint(batch)


@examples
@given(records, st.data())
def test_nulls_are_never_drift(batch: list[dict], data: st.DataObject) -> None:
    baseline = schema.structure_of(batch, sample=0)
    nulled = []
    for record in batch:
        blank = data.draw(st.sets(st.sampled_from(sorted(record))), label="nulled fields")
        nulled.append({k: None if k in blank else v for k, v in record.items()})
    assert not schema.diff(baseline, schema.structure_of(nulled, sample=0))


@examples
@given(records, st.text(alphabet="xyz", min_size=1, max_size=3), st.data())
def test_an_added_field_changes_the_fingerprint_and_is_named(
    batch: list[dict], field: str, data: st.DataObject
) -> None:
    value = data.draw(scalars.filter(lambda v: v is not None), label="value")
    where = data.draw(st.integers(0, len(batch) - 1), label="record")
    changed = [dict(r) for r in batch]
    changed[where][field] = value

    drift = schema.diff(
        schema.structure_of(batch, sample=0), schema.structure_of(changed, sample=0)
    )

    assert fingerprint(changed) != fingerprint(batch)
    assert drift.added == (field,)
    assert not drift.removed
    assert not drift.changed


@examples
@given(records, st.data())
def test_a_removed_field_changes_the_fingerprint_and_is_named(
    batch: list[dict], data: st.DataObject
) -> None:
    baseline = schema.structure_of(batch, sample=0)
    field = data.draw(st.sampled_from(sorted({k for r in batch for k in r})), label="field")
    changed = [{k: v for k, v in r.items() if k != field} for r in batch]
    assume(any(changed))  # a record with no field left is not a PNCP record

    drift = schema.diff(baseline, schema.structure_of(changed, sample=0))

    assert fingerprint(changed) != fingerprint(batch)
    assert field in drift.removed
    assert all(p == field or p.startswith(f"{field}.") for p in drift.removed)
    assert not drift.added


@examples
@given(records, st.data())
def test_a_new_type_changes_the_fingerprint_and_is_named(
    batch: list[dict], data: st.DataObject
) -> None:
    baseline = schema.structure_of(batch, sample=0)
    field = data.draw(st.sampled_from(sorted({k for r in batch for k in r})), label="field")
    seen = baseline[field]
    assume(seen)  # a field only ever null has no type to depart from
    new_type = data.draw(st.sampled_from(sorted(set(SAMPLES) - seen)), label="new type")
    where = data.draw(st.integers(0, len(batch) - 1), label="record")
    changed = [dict(r) for r in batch]
    changed[where][field] = SAMPLES[new_type][-1]

    drift = schema.diff(baseline, schema.structure_of(changed, sample=0))

    assert fingerprint(changed) != fingerprint(batch)
    (change,) = [c for c in drift.changed if c.startswith(f"{field}: ")]
    assert change.endswith(f"-> {new_type}"), change
    assert field in drift.describe()
