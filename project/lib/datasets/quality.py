"""Quality rules declared in the catalog, under a dataset's `metadata.quality`.

```yaml
sales.orders_clean:
  type: pandas.ParquetDataset
  filepath: data/sales/clean/orders.parquet
  metadata:
    quality:
      - {rule: unique, columns: [order_id], severity: error}
      - {rule: range, column: amount, min: 0, max: 100000}
```

`metadata` is free-form in Kedro, so the catalog stays valid for Kedro. Rules are parsed
when the catalog loads (an unknown rule or field fails there, naming file, line and entry)
and evaluated on a frame: pandera (`validate(lazy=True)`) does what it covers (unique,
range, regex, allowed values) and reports the failing rows; completeness, row counts and
freshness are a line of pandas each; a custom rule is a function by dotted path that gets
the frame and returns a boolean per row (or one boolean). A custom rule that raises is a
failed result carrying its error, not a crash. Severity `error` or `warn` (default).
"""

from __future__ import annotations

import importlib
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Annotated, Any, Literal

import pandas as pd
import pandera.pandas as pandera
from pydantic import BaseModel, ConfigDict, Field, TypeAdapter, ValidationError

SAMPLE_ROWS = 5


class _Rule(BaseModel):
    model_config = ConfigDict(extra="forbid", populate_by_name=True)
    severity: Literal["warn", "error"] = "warn"
    description: str | None = None
    label: str | None = Field(default=None, alias="name")

    @property
    def name(self) -> str:
        """The check's name: `name:` if given, else the rule and its column(s)."""
        return self.label or self.default_name()

    def default_name(self) -> str:
        raise NotImplementedError

    def evaluate(self, frame: pd.DataFrame) -> RuleResult:
        raise NotImplementedError


class _ColumnRule(_Rule):
    column: str

    def check(self) -> pandera.Check:
        raise NotImplementedError

    def evaluate(self, frame: pd.DataFrame) -> RuleResult:
        if self.column not in frame.columns:
            return RuleResult.error(self, f"no column {self.column!r}", frame.iloc[0:0])
        schema = pandera.DataFrameSchema(
            {self.column: pandera.Column(checks=[self.check()], nullable=True)}
        )
        return _pandera(self, schema, frame)


class Unique(_Rule):
    rule: Literal["unique"]
    columns: list[str] = Field(min_length=1)

    def default_name(self) -> str:
        return f"unique_{'_'.join(self.columns)}"

    def evaluate(self, frame: pd.DataFrame) -> RuleResult:
        missing = [c for c in self.columns if c not in frame.columns]
        if missing:
            return RuleResult.error(self, f"no column {missing[0]!r}", frame.iloc[0:0])
        schema = pandera.DataFrameSchema(
            {c: pandera.Column(nullable=True) for c in self.columns}, unique=self.columns
        )
        return _pandera(self, schema, frame)


class Range(_ColumnRule):
    rule: Literal["range"]
    min: Any = None
    max: Any = None

    def default_name(self) -> str:
        return f"range_{self.column}"

    def check(self) -> pandera.Check:
        if self.min is not None and self.max is not None:
            return pandera.Check.in_range(self.min, self.max)
        if self.min is not None:
            return pandera.Check.ge(self.min)
        return pandera.Check.le(self.max)


class Regex(_ColumnRule):
    rule: Literal["regex"]
    pattern: str

    def default_name(self) -> str:
        return f"regex_{self.column}"

    def check(self) -> pandera.Check:
        return pandera.Check.str_matches(self.pattern)


class AllowedValues(_ColumnRule):
    rule: Literal["allowed_values"]
    values: list[Any] = Field(min_length=1)

    def default_name(self) -> str:
        return f"allowed_values_{self.column}"

    def check(self) -> pandera.Check:
        return pandera.Check.isin(self.values)


class Completeness(_Rule):
    rule: Literal["completeness"]
    column: str
    max_null_ratio: float = Field(default=0.0, ge=0, le=1)

    def default_name(self) -> str:
        return f"completeness_{self.column}"

    def evaluate(self, frame: pd.DataFrame) -> RuleResult:
        if self.column not in frame.columns:
            return RuleResult.error(self, f"no column {self.column!r}", frame.iloc[0:0])
        nulls = frame[self.column].isna()
        ratio = float(nulls.mean()) if len(frame) else 0.0
        return RuleResult(
            self,
            passed=ratio <= self.max_null_ratio,
            failing=frame[nulls],
            detail=f"null ratio {ratio:.4f} (at most {self.max_null_ratio})",
        )


class RowCount(_Rule):
    rule: Literal["row_count"]
    min: int | None = Field(default=None, ge=0)
    max: int | None = Field(default=None, ge=0)

    def default_name(self) -> str:
        return "row_count"

    def evaluate(self, frame: pd.DataFrame) -> RuleResult:
        rows = len(frame)
        low = self.min if self.min is not None else 0
        high = self.max if self.max is not None else rows
        return RuleResult(
            self,
            passed=low <= rows <= high,
            failing=frame.iloc[0:0],
            detail=f"{rows} rows (bounds {self.min}..{self.max})",
        )


class Freshness(_Rule):
    rule: Literal["freshness"]
    column: str
    max_age_hours: float = Field(gt=0)

    def default_name(self) -> str:
        return f"freshness_{self.column}"

    def evaluate(self, frame: pd.DataFrame) -> RuleResult:
        if self.column not in frame.columns:
            return RuleResult.error(self, f"no column {self.column!r}", frame.iloc[0:0])
        stamps = pd.to_datetime(frame[self.column].astype(object), utc=True).dropna()
        if stamps.empty:
            return RuleResult(self, False, frame.iloc[0:0], f"no {self.column} value")
        newest = stamps.max().to_pydatetime()
        age = datetime.now(UTC) - newest
        return RuleResult(
            self,
            passed=age <= timedelta(hours=self.max_age_hours),
            failing=frame.iloc[0:0],
            detail=f"newest {self.column} {newest.isoformat()}, {age.total_seconds() / 3600:.1f} "
            f"h old (at most {self.max_age_hours} h)",
        )


class Custom(_Rule):
    rule: Literal["custom"]
    function: str

    def default_name(self) -> str:
        return f"custom_{self.function.rsplit('.', 1)[-1]}"

    def load(self) -> Callable[[pd.DataFrame], Any]:
        module, _, attribute = self.function.rpartition(".")
        try:
            found = getattr(importlib.import_module(module), attribute)
        except (ImportError, AttributeError, ValueError) as exc:
            raise ValueError(f"custom rule function {self.function!r} not found: {exc}") from None
        if not callable(found):
            raise ValueError(f"custom rule function {self.function!r} is not callable")
        return found

    def evaluate(self, frame: pd.DataFrame) -> RuleResult:
        try:
            outcome = self.load()(frame)
        except Exception as exc:  # a rule's bug is the check's failure, not the run's
            return RuleResult.error(self, f"{type(exc).__name__}: {exc}", frame.iloc[0:0])
        if isinstance(outcome, pd.Series):
            good = outcome.fillna(False).astype(bool)
            return RuleResult(self, bool(good.all()), frame[~good.values], "")
        return RuleResult(self, bool(outcome), frame.iloc[0:0], "")


Rule = Annotated[
    Unique | Range | Regex | AllowedValues | Completeness | RowCount | Freshness | Custom,
    Field(discriminator="rule"),
]
RULES = TypeAdapter(list[Rule])
KINDS = ("unique", "range", "regex", "allowed_values", "completeness", "row_count", "freshness",
         "custom")  # fmt: skip


@dataclass
class RuleResult:
    rule: _Rule
    passed: bool
    failing: pd.DataFrame
    detail: str = ""
    raised: str | None = None  # the rule could not be evaluated (a custom rule's error)

    @classmethod
    def error(cls, rule: _Rule, message: str, empty: pd.DataFrame) -> RuleResult:
        return cls(rule, False, empty, message, raised=message)

    @property
    def failed_rows(self) -> int:
        return len(self.failing)

    def sample(self, rows: int = SAMPLE_ROWS) -> list[dict[str, Any]]:
        shown = self.failing.head(rows).astype(object)
        return shown.where(shown.notna(), None).astype(str).to_dict("records")


def _pandera(rule: _Rule, schema: pandera.DataFrameSchema, frame: pd.DataFrame) -> RuleResult:
    try:
        schema.validate(frame, lazy=True)
    except pandera.errors.SchemaErrors as errors:
        cases = errors.failure_cases
        index = cases["index"].dropna().unique()
        failing = frame.loc[frame.index.isin(index)]
        if failing.empty:  # a schema-level failure (wrong type): no row to blame
            detail = "; ".join(sorted(set(map(str, cases["check"]))))
            return RuleResult.error(rule, detail, frame.iloc[0:0])
        return RuleResult(rule, False, failing, f"{len(failing)} rows fail {rule.name}")
    return RuleResult(rule, True, frame.iloc[0:0], "")


def parse(rules: Any) -> list[_Rule]:
    """The rules of one dataset; ValueError with the first problem, for the catalog."""
    if rules is None:
        return []
    try:
        parsed = RULES.validate_python(rules)
    except ValidationError as exc:
        first = exc.errors()[0]
        where = ".".join(str(part) for part in first["loc"])
        if first["type"] == "union_tag_invalid":
            raise ValueError(
                f"quality rule {where}: unknown rule {first['input'].get('rule')!r} "
                f"(known: {', '.join(KINDS)})"
            ) from None
        raise ValueError(f"quality rule {where}: {first['msg']}") from None
    names = [rule.name for rule in parsed]
    for rule in parsed:
        if names.count(rule.name) > 1:
            raise ValueError(f"quality rule {rule.name!r} declared twice (give one a `name`)")
        if isinstance(rule, Custom):
            rule.load()
    return parsed
