"""Each quality rule kind passes on good data and fails on bad data with the right failing
rows; a custom rule that raises is a failed result with its error; bad rules fail when the
catalog loads, naming file, line and entry."""

from __future__ import annotations

from collections.abc import Callable
from datetime import UTC, datetime, timedelta

import pandas as pd
import pytest

from project.lib.datasets import Catalog, CatalogError, quality

NOW = datetime.now(UTC)
GOOD = pd.DataFrame(
    {
        "id": [1, 2, 3, 4],
        "amount": [10.0, 20.0, 30.0, 40.0],
        "email": ["a@x.com", "b@x.com", "c@x.com", "d@x.com"],
        "status": ["paid", "paid", "shipped", "shipped"],
        "at": [NOW - timedelta(hours=h) for h in (1, 2, 3, 4)],
    }
)
BAD = pd.DataFrame(
    {
        "id": [1, 2, 2, 4],
        "amount": [10.0, -5.0, None, 400.0],
        "email": ["a@x.com", "not-an-email", None, "d@x"],
        "status": ["paid", "lost", "paid", "PAID"],
        "at": [NOW - timedelta(days=d) for d in (30, 31, 32, 33)],
    }
)


def is_even(frame: pd.DataFrame) -> pd.Series:
    return frame["id"] % 2 == 0


def explodes(frame: pd.DataFrame) -> bool:
    raise RuntimeError("the rule's own bug")


RULES = [
    ({"rule": "unique", "columns": ["id"]}, [2, 2]),
    ({"rule": "range", "column": "amount", "min": 0, "max": 100}, [2, 4]),
    ({"rule": "regex", "column": "email", "pattern": r"^[^@]+@[^@]+\.\w+$"}, [2, 4]),
    ({"rule": "allowed_values", "column": "status", "values": ["paid", "shipped"]}, [2, 4]),
    ({"rule": "completeness", "column": "amount", "max_null_ratio": 0.1}, [2]),
]  # fmt: skip


@pytest.mark.parametrize(("spec", "failing_ids"), RULES, ids=[r[0]["rule"] for r in RULES])
def test_a_row_rule_passes_on_good_data_and_names_the_failing_rows(
    spec: dict, failing_ids: list[int]
) -> None:
    [rule] = quality.parse([spec])
    assert rule.evaluate(GOOD).passed
    result = rule.evaluate(BAD)
    assert not result.passed
    assert result.failed_rows == len(failing_ids)
    assert sorted(result.failing["id"]) == sorted(failing_ids)
    assert [row["id"] for row in result.sample()] == [str(i) for i in result.failing["id"]]


def test_row_count_bounds() -> None:
    [rule] = quality.parse([{"rule": "row_count", "min": 1, "max": 4}])
    assert rule.evaluate(GOOD).passed
    too_few = rule.evaluate(GOOD.iloc[0:0])
    assert not too_few.passed
    assert too_few.detail == "0 rows (bounds 1..4)"
    assert not rule.evaluate(pd.concat([GOOD, GOOD])).passed


def test_freshness_of_a_timestamp_column() -> None:
    [rule] = quality.parse([{"rule": "freshness", "column": "at", "max_age_hours": 24}])
    assert rule.evaluate(GOOD).passed
    stale = rule.evaluate(BAD)
    assert not stale.passed
    assert "h old (at most 24.0 h)" in stale.detail


def test_a_custom_rule_by_dotted_path_fails_the_rows_it_rejects() -> None:
    [rule] = quality.parse([{"rule": "custom", "function": f"{__name__}.is_even"}])
    result = rule.evaluate(GOOD)
    assert not result.passed
    assert result.failing["id"].tolist() == [1, 3]
    assert rule.name == "custom_is_even"


def test_a_custom_rule_that_raises_is_a_failed_result_not_a_crash() -> None:
    [rule] = quality.parse([{"rule": "custom", "function": f"{__name__}.explodes"}])
    result = rule.evaluate(GOOD)
    assert not result.passed
    assert result.raised == "RuntimeError: the rule's own bug"


def test_two_rules_of_one_name_need_a_name_of_their_own() -> None:
    spec = {"rule": "range", "column": "amount", "min": 0}
    with pytest.raises(ValueError, match="declared twice"):
        quality.parse([spec, spec | {"max": 5}])
    assert [r.name for r in quality.parse([spec, spec | {"name": "small_amounts"}])] == [
        "range_amount",
        "small_amounts",
    ]


@pytest.mark.parametrize(
    ("rule", "message"),
    [
        ("{rule: nope}", "quality rule 0: unknown rule 'nope' (known: unique, range"),
        ("{rule: range, colum: x}", "quality rule 0.range.column: Field required"),
        ("{rule: custom, function: nowhere.to_be_found}", "custom rule function 'nowhere"),
    ],
)
def test_a_bad_rule_fails_when_the_catalog_loads(
    catalog_from: Callable[..., Catalog], rule: str, message: str
) -> None:
    entry = (
        "orders:\n  type: pandas.CSVDataset\n  filepath: o.csv\n"
        f"  metadata:\n    quality:\n      - {rule}\n"
    )
    with pytest.raises(CatalogError) as error:
        catalog_from({"base/catalog.yml": entry})
    assert "catalog.yml:4: dataset 'orders': " + message in str(error.value)


def test_an_environment_changing_the_type_keeps_the_rules(
    catalog_from: Callable[..., Catalog],
) -> None:
    catalog = catalog_from(
        {
            "base/catalog.yml": (
                "orders:\n  type: pandas.CSVDataset\n  filepath: o.csv\n"
                "  metadata:\n    quality:\n      - {rule: unique, columns: [id]}\n"
            ),
            "local/catalog.yml": (
                "orders:\n  type: duckdb.TableDataset\n  database: o.duckdb\n  table_name: o\n"
            ),
        }
    )
    assert catalog.get("orders").type == "duckdb.TableDataset"
    assert [r.name for r in catalog.rules("orders")] == ["unique_id"]
