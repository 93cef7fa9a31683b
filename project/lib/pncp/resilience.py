"""Backoff, Retry-After, client-side rate limiting and a circuit breaker for the PNCP client.

Kept apart from the HTTP code so each policy is a small pure object that tests can drive
with a fake clock. The retry loop itself is `tenacity` (in `client.py`); what lives here is
what no installed library fits:

- the breaker is hand-written because `pybreaker` is synchronous (its async path needs
  Tornado) and the few lines below give exactly the half-open single-trial semantics wanted;
- the rate limiter is a no-burst leaky bucket of a dozen lines, which `aiolimiter` (not a
  dependency) would only replace with a token bucket that allows bursts.
"""

from __future__ import annotations

import asyncio
import math
import random
import time
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from datetime import UTC, datetime
from email.utils import parsedate_to_datetime
from enum import StrEnum

Clock = Callable[[], float]


def backoff_ceiling_s(attempt: int, base_s: float, max_s: float) -> float:
    """The largest sleep allowed before retry number `attempt` (0-based): min(max, base*2**n)."""
    try:
        return min(max_s, math.ldexp(base_s, attempt))
    except OverflowError:
        return max_s


def full_jitter_s(
    attempt: int, base_s: float, max_s: float, rng: random.Random | None = None
) -> float:
    """A "full jitter" sleep, uniform in [0, ceiling], so retrying clients spread out."""
    return (rng or random).uniform(0.0, backoff_ceiling_s(attempt, base_s, max_s))


def retry_wait_s(
    attempt: int,
    base_s: float,
    max_s: float,
    retry_after_s: float | None = None,
    retry_after_max_s: float = math.inf,
    rng: random.Random | None = None,
) -> float:
    """The sleep before a retry: full jitter, but never shorter than the server's Retry-After.

    Retry-After is capped at `retry_after_max_s` so a hostile or buggy header cannot park a
    run for hours; the retry budget then decides whether to keep trying.
    """
    jitter = full_jitter_s(attempt, base_s, max_s, rng)
    if retry_after_s is None:
        return jitter
    return max(jitter, min(retry_after_s, retry_after_max_s))


def parse_retry_after(value: str | None, now: datetime | None = None) -> float | None:
    """Seconds to wait from a Retry-After header (delay-seconds or HTTP-date), None if unusable."""
    if not value:
        return None
    value = value.strip()
    try:
        seconds = float(value)
    except ValueError:
        pass
    else:
        return max(0.0, seconds) if math.isfinite(seconds) else None
    try:
        when = parsedate_to_datetime(value)
    except (TypeError, ValueError, IndexError):
        return None
    if when.tzinfo is None:  # RFC 9110 dates are GMT; naive ones come from "-0000"
        when = when.replace(tzinfo=UTC)
    return max(0.0, (when - (now or datetime.now(UTC))).total_seconds())


class RateLimiter:
    """Spaces request starts at least 1/rate seconds apart (a leaky bucket without burst).

    Each caller reserves the next free slot synchronously, so concurrent tasks on one event
    loop need no lock, and N requests always span at least (N-1)/rate seconds.
    """

    def __init__(
        self,
        rate_per_s: float,
        clock: Clock = time.monotonic,
        sleep: Callable[[float], Awaitable[None]] = asyncio.sleep,
    ) -> None:
        self._interval = 1.0 / rate_per_s if rate_per_s > 0 else 0.0
        self._clock = clock
        self._sleep = sleep
        self._next_at = -math.inf

    async def wait(self) -> float:
        """Wait for this caller's slot; returns the seconds waited."""
        if not self._interval:
            return 0.0
        now = self._clock()
        start = max(now, self._next_at)
        self._next_at = start + self._interval
        delay = start - now
        if delay > 0:
            await self._sleep(delay)
        return delay


class BreakerState(StrEnum):
    CLOSED = "closed"
    OPEN = "open"
    HALF_OPEN = "half_open"


@dataclass(frozen=True)
class Permit:
    """Leave to send one request; `trial` marks the single half-open probe."""

    trial: bool = False


class CircuitBreaker:
    """Stops calling a failing server for `reset_s`, then lets one trial request through.

    Callers take a `Permit` with `try_acquire()` before each request and settle it with
    exactly one of `record_success`, `record_failure` or `release` (an outcome that says
    nothing about server health, such as a 429 or a cancelled request). Permits tell the
    trial apart from requests that were already in flight when the circuit opened. The clock
    is injectable so tests can step over the reset period.
    """

    def __init__(
        self, failure_threshold: int = 5, reset_s: float = 300.0, clock: Clock = time.monotonic
    ) -> None:
        self.failure_threshold = failure_threshold
        self.reset_s = reset_s
        self._clock = clock
        self._failures = 0
        self._opened_at: float | None = None
        self._trial_in_flight = False

    @property
    def state(self) -> BreakerState:
        if self._opened_at is None:
            return BreakerState.CLOSED
        if self._clock() - self._opened_at >= self.reset_s:
            return BreakerState.HALF_OPEN
        return BreakerState.OPEN

    @property
    def consecutive_failures(self) -> int:
        return self._failures

    @property
    def retry_in_s(self) -> float:
        """Seconds until a trial request will be allowed (0 when closed or half-open)."""
        if self._opened_at is None:
            return 0.0
        return max(0.0, self._opened_at + self.reset_s - self._clock())

    def try_acquire(self) -> Permit | None:
        """A permit if a request may go out now; half-open allows one trial at a time."""
        state = self.state
        if state is BreakerState.CLOSED:
            return Permit()
        if state is BreakerState.HALF_OPEN and not self._trial_in_flight:
            self._trial_in_flight = True
            return Permit(trial=True)
        return None

    def record_success(self, permit: Permit) -> None:
        self._failures = 0
        self._opened_at = None
        self._trial_in_flight = False

    def record_failure(self, permit: Permit) -> bool:
        """Count a failure; returns True when this failure opened (or re-opened) the circuit."""
        self._failures += 1
        if permit.trial:
            self._trial_in_flight = False
            self._opened_at = self._clock()
            return True
        if self._opened_at is None and self._failures >= self.failure_threshold:
            self._opened_at = self._clock()
            return True
        return False

    def release(self, permit: Permit) -> None:
        """Settle a permit without judging the server (throttled or cancelled request)."""
        if permit.trial:
            self._trial_in_flight = False
