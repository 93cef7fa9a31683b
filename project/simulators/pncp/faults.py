"""Fault injection: how the simulated PNCP misbehaves, configurable per run.

`FaultConfig` is immutable; the server swaps whole configs (`PncpSimulator.configure`,
`PUT /__sim/config`), so a request always sees one consistent setting. Faults are drawn
from a seeded RNG in arrival order: a run is reproducible up to thread interleaving, and
a retry of a failed page draws again, so it can succeed — as against the real portal.
"""

from __future__ import annotations

import random
import threading
from datetime import date
from enum import StrEnum
from typing import Any

from pydantic import BaseModel, ConfigDict, Field, field_validator

from project.lib.pncp.endpoints import ENDPOINTS, coerce_pncp_date
from project.simulators.pncp.drift import SchemaDrift
from project.simulators.pncp.params import BASE_PATH


class FaultKind(StrEnum):
    RATE_LIMITED = "rate_limited"  # 429 with Retry-After
    RATE_LIMITED_NO_RETRY_AFTER = "rate_limited_no_retry_after"  # 429, no hint
    SERVER_ERROR = "server_error"  # 500
    BAD_GATEWAY = "bad_gateway"  # 502 from the gateway, HTML body
    UNAVAILABLE = "unavailable"  # 503 from the gateway, HTML body
    SLOW = "slow"  # answers only after `slow_s`, past any sane client timeout
    DROP = "drop"  # closes the connection without a response
    TRUNCATED = "truncated"  # 200 with the body cut short (Content-Length matches the cut)
    INVALID_JSON = "invalid_json"  # 200 with a body that is not JSON


# Kinds that replace the answer; SLOW delays it, TRUNCATED / INVALID_JSON corrupt a 200.
STATUS_FAULTS: dict[FaultKind, int] = {
    FaultKind.RATE_LIMITED: 429,
    FaultKind.RATE_LIMITED_NO_RETRY_AFTER: 429,
    FaultKind.SERVER_ERROR: 500,
    FaultKind.BAD_GATEWAY: 502,
    FaultKind.UNAVAILABLE: 503,
}


class PageRef(BaseModel):
    """One page of one endpoint-day (`dataInicial`), optionally of one modalidade."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    path: str  # endpoint path (`/v1/contratos`), full path, or endpoint name
    day: date
    page: int = Field(ge=1)
    modalidade: int | None = None

    @field_validator("path")
    @classmethod
    def _endpoint_path(cls, value: str) -> str:
        if value in ENDPOINTS:
            return ENDPOINTS[value].path
        path = value.removeprefix(BASE_PATH).rstrip("/")
        if path not in {e.path for e in ENDPOINTS.values()}:
            raise ValueError(f"not a simulated endpoint: {value!r}")
        return path

    @field_validator("day", mode="before")
    @classmethod
    def _pncp_date(cls, value: Any) -> Any:
        return coerce_pncp_date(value)


class FaultConfig(BaseModel):
    """Latency, random faults, schema drift and pages that always fail."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    fault_rate: float = Field(0.0, ge=0.0, le=1.0)  # share of data requests that fail
    kinds: dict[FaultKind, float] = Field(default_factory=lambda: dict.fromkeys(FaultKind, 1.0))
    retry_after_s: int = Field(1, ge=0)
    slow_s: float = Field(30.0, ge=0.0)
    latency_ms: float = Field(0.0, ge=0.0)  # added to every data request
    jitter_ms: float = Field(0.0, ge=0.0)  # uniform extra latency on top
    schema_drift: tuple[SchemaDrift, ...] = ()
    permanent_failures: frozenset[PageRef] = frozenset()  # always 500 until reconfigured
    seed: int | None = None  # of the fault RNG; None: the simulator's seed

    @field_validator("kinds", mode="before")
    @classmethod
    def _equal_weights(cls, value: Any) -> Any:
        """`["drop", "slow"]` (or one kind) means those kinds, equally likely."""
        if isinstance(value, str):
            value = [value]
        if isinstance(value, list | tuple | set | frozenset):
            return dict.fromkeys(value, 1.0)
        return value

    def fails_permanently(self, path: str, day: date, page: int, modalidade: int | None) -> bool:
        return any(
            ref.path == path
            and ref.day == day
            and ref.page == page
            and ref.modalidade in (None, modalidade)
            for ref in self.permanent_failures
        )

    def drifts_for(self, endpoint_name: str, day: date) -> tuple[SchemaDrift, ...]:
        return tuple(d for d in self.schema_drift if d.applies(endpoint_name, day))

    def with_changes(self, **changes: Any) -> FaultConfig:
        """A validated copy with some fields replaced."""
        current = {name: getattr(self, name) for name in type(self).model_fields}
        return FaultConfig(**{**current, **changes})


class FaultDice:
    """Draws which requests fail and how; shared by all request threads."""

    def __init__(self, seed: int) -> None:
        self._rng = random.Random(seed)
        self._jitter = random.Random(seed + 1)  # so jitter settings leave faults unchanged
        self._lock = threading.Lock()

    def draw(self, faults: FaultConfig) -> FaultKind | None:
        if faults.fault_rate <= 0:
            return None
        kinds = [k for k, w in faults.kinds.items() if w > 0]
        if not kinds:
            return None
        with self._lock:
            if self._rng.random() >= faults.fault_rate:
                return None
            return self._rng.choices(kinds, [faults.kinds[k] for k in kinds])[0]

    def latency_s(self, faults: FaultConfig) -> float:
        jitter = 0.0
        if faults.jitter_ms:
            with self._lock:
                jitter = self._jitter.uniform(0, faults.jitter_ms)
        return (faults.latency_ms + jitter) / 1000
