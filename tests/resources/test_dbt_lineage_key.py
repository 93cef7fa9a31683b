"""The column-lineage cache's key: a model's SQL shape, not its values.

An incremental model's compiled SQL carries its watermark and the run's id, a partition's
its window; none of them changes a column's upstream, so rebuilding the lineage (seconds
per model) on every run would buy nothing.
"""

from project.resources.dbt import _lineage_key

COLUMNS = {"event_id": "VARCHAR", "amount": "DECIMAL(12,2)"}


def key(sql: str) -> str:
    return _lineage_key(sql, COLUMNS, {}, "duckdb")


def test_values_do_not_change_the_key_but_columns_do() -> None:
    base = (
        "select event_id, amount from b where _batch > 41 and run_id = 'abc' and d >= '2024-07-01'"
    )
    assert key(base) == key(base.replace("41", "97").replace("'abc'", "'it''s'"))
    assert key(base) == key(base.replace("'2024-07-01'", "'2025-01-31'"))
    assert key(base) != key(base.replace("amount", "amount2"))
    assert key("select col1 from t") != key("select col2 from t")
    assert key("select s.a1 from t s") != key("select s.a2 from t s")
