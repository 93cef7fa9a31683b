"""Expectations in the catalog's rule vocabulary, compiled to SQL predicates.

The shop's layers check millions of rows, so a rule is a SQL boolean evaluated by DuckDB
where the rows are, not a pandas frame as the catalog's quality rules are; the names and
fields are the same (`completeness`, `range`, `allowed_values`, `regex`), plus
`expression` (Lakeflow's `@expect("name", "price >= 0")`). The action is Lakeflow's:
`warn` keeps the row and counts it, `drop` sends it to quarantine, `fail` stops the run.
A NULL passes every rule but completeness, as in SQL `CHECK` constraints.
"""

from __future__ import annotations

from typing import Annotated, Any, Literal

from pydantic import BaseModel, ConfigDict, Field, model_validator


def sql_literal(value: Any) -> str:
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, int | float):
        return repr(value)
    return "'" + str(value).replace("'", "''") + "'"


def sql_ident(name: str) -> str:
    return '"' + name.replace('"', '""') + '"'


class _Expectation(BaseModel):
    model_config = ConfigDict(extra="forbid", populate_by_name=True)
    label: str | None = Field(default=None, alias="name")
    action: Literal["warn", "drop", "fail"] = "warn"
    description: str | None = None

    @property
    def name(self) -> str:
        return self.label or self.default_name()

    def default_name(self) -> str:
        raise NotImplementedError

    def predicate(self) -> str:
        """SQL that is true for a row that passes."""
        raise NotImplementedError


class _ColumnExpectation(_Expectation):
    column: str

    @property
    def col(self) -> str:
        return sql_ident(self.column)


class Completeness(_ColumnExpectation):
    rule: Literal["completeness"]

    def default_name(self) -> str:
        return f"completeness_{self.column}"

    def predicate(self) -> str:
        return f"({self.col} IS NOT NULL AND trim(CAST({self.col} AS VARCHAR)) <> '')"


class Range(_ColumnExpectation):
    rule: Literal["range"]
    min: float | int | None = None
    max: float | int | None = None

    @model_validator(mode="after")
    def _bounded(self) -> Range:
        if self.min is None and self.max is None:
            raise ValueError("range needs min, max or both")
        return self

    def default_name(self) -> str:
        return f"range_{self.column}"

    def predicate(self) -> str:
        value = f"TRY_CAST({self.col} AS DOUBLE)"
        bounds = []
        if self.min is not None:
            bounds.append(f"{value} >= {self.min!r}")
        if self.max is not None:
            bounds.append(f"{value} <= {self.max!r}")
        # Text that is not a number fails a range rule (it is not in range).
        return f"({self.col} IS NULL OR coalesce({' AND '.join(bounds)}, false))"


class AllowedValues(_ColumnExpectation):
    rule: Literal["allowed_values"]
    values: list[Any] = Field(min_length=1)

    def default_name(self) -> str:
        return f"allowed_values_{self.column}"

    def predicate(self) -> str:
        listed = ", ".join(sql_literal(str(v)) for v in self.values)
        return f"({self.col} IS NULL OR CAST({self.col} AS VARCHAR) IN ({listed}))"


class Regex(_ColumnExpectation):
    rule: Literal["regex"]
    pattern: str

    def default_name(self) -> str:
        return f"regex_{self.column}"

    def predicate(self) -> str:
        return (
            f"({self.col} IS NULL OR "
            f"regexp_full_match(CAST({self.col} AS VARCHAR), {sql_literal(self.pattern)}))"
        )


class Expression(_Expectation):
    rule: Literal["expression"]
    expression: str = Field(min_length=1)
    label: str = Field(alias="name")  # an expression has no column to name it after

    def default_name(self) -> str:
        return self.label

    def predicate(self) -> str:
        return f"coalesce(({self.expression}), false)"


Expectation = Annotated[
    Completeness | Range | AllowedValues | Regex | Expression, Field(discriminator="rule")
]
