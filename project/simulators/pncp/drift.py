"""Schema drift: from a given day on, an endpoint's records change shape.

Real sources change without notice — a field appears, is renamed, or turns from a
number into a string. Drift lets tests check that loaders notice (contracts, quality
checks) instead of silently loading nulls. It is applied to records after rendering,
on the slow path (parse, change, re-encode), and only to the affected days.
"""

from __future__ import annotations

import json
from datetime import date
from enum import StrEnum
from typing import Any

from pydantic import BaseModel, ConfigDict, field_validator, model_validator

from project.lib.pncp.endpoints import ENDPOINTS, coerce_pncp_date
from project.simulators.pncp.fragments import fragment


class DriftChange(StrEnum):
    ADD = "add"  # a new field `field` with `value`, appended to the record
    RENAME = "rename"  # `field` is served as `new_name`, in the same position
    RETYPE = "retype"  # `field` is served as a string ("1234.5" instead of 1234.5)


class SchemaDrift(BaseModel):
    """One change to the records of `endpoint` (a name in `ENDPOINTS`) from `since` on."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    endpoint: str
    since: date
    change: DriftChange
    field: str = "valorGlobal"
    new_name: str | None = None
    value: str | int | float | bool | None = "drift"

    @field_validator("since", mode="before")
    @classmethod
    def _pncp_date(cls, value: Any) -> Any:
        """Accept PNCP's `yyyyMMdd` as well as ISO dates."""
        return coerce_pncp_date(value)

    @model_validator(mode="after")
    def _check(self) -> SchemaDrift:
        if self.endpoint not in ENDPOINTS:
            raise ValueError(f"unknown endpoint {self.endpoint!r}; one of {sorted(ENDPOINTS)}")
        if self.change is DriftChange.RENAME and not self.new_name:
            raise ValueError("a rename needs new_name")
        return self

    def applies(self, endpoint_name: str, day: date) -> bool:
        return endpoint_name == self.endpoint and day >= self.since

    def apply(self, record: dict[str, Any]) -> dict[str, Any]:
        if self.change is DriftChange.ADD:
            return {**record, self.field: self.value}
        if self.field not in record:
            return record
        if self.change is DriftChange.RENAME:
            assert self.new_name is not None
            return {(self.new_name if k == self.field else k): v for k, v in record.items()}
        value = record[self.field]
        if value is None or isinstance(value, str):
            return record
        return {**record, self.field: json.dumps(value)}


def drifted(rendered: str, drifts: tuple[SchemaDrift, ...]) -> str:
    """A rendered record with the drifts applied, re-rendered in the same compact form."""
    record = json.loads(rendered)
    for drift in drifts:
        record = drift.apply(record)
    return fragment(record)
