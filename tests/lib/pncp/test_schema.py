"""Schema fingerprints: drift is a field added, removed, or a new non-null type."""

from __future__ import annotations

from hypothesis import given
from hypothesis import strategies as st

from project.lib.pncp import schema

RECORD = {"numeroControlePNCP": "1", "valorGlobal": 10.5, "orgaoEntidade": {"cnpj": "1"}}


def test_identical_structures_do_not_drift() -> None:
    base = schema.structure_of([RECORD])
    assert not schema.diff(base, schema.structure_of([dict(RECORD)]))


def test_an_added_field_is_drift() -> None:
    drift = schema.diff(schema.structure_of([RECORD]), schema.structure_of([{**RECORD, "x": 1}]))
    assert drift.added == ("x",)


def test_a_renamed_field_is_reported_as_removed_and_added() -> None:
    renamed = {k if k != "valorGlobal" else "valorTotal": v for k, v in RECORD.items()}
    drift = schema.diff(schema.structure_of([RECORD]), schema.structure_of([renamed]))
    assert drift.added == ("valorTotal",)
    assert drift.removed == ("valorGlobal",)


def test_a_changed_type_is_drift() -> None:
    drift = schema.diff(
        schema.structure_of([RECORD]), schema.structure_of([{**RECORD, "valorGlobal": "10.5"}])
    )
    assert drift.changed == ("valorGlobal: number -> string",)
    assert "valorGlobal" in drift.describe()


def test_nulls_in_optional_fields_are_not_drift() -> None:
    nulls = {**RECORD, "valorGlobal": None, "orgaoEntidade": None}
    assert not schema.diff(schema.structure_of([RECORD]), schema.structure_of([nulls]))
    assert not schema.diff(schema.structure_of([nulls]), schema.structure_of([RECORD]))


json_scalars = st.one_of(st.none(), st.booleans(), st.integers(), st.text(max_size=5))
records = st.dictionaries(st.text(min_size=1, max_size=6), json_scalars, max_size=6)


@given(st.lists(records, min_size=1, max_size=20))
def test_fingerprint_ignores_record_order(batch: list[dict]) -> None:
    forward = schema.fingerprint(schema.structure_of(batch, sample=0))
    backward = schema.fingerprint(schema.structure_of(list(reversed(batch)), sample=0))
    assert forward == backward


@given(st.lists(records, min_size=1, max_size=20))
def test_a_structure_never_drifts_from_itself_and_survives_json(batch: list[dict]) -> None:
    structure = schema.structure_of(batch, sample=0)
    assert not schema.diff(structure, schema.from_json(schema.to_json(structure)))
