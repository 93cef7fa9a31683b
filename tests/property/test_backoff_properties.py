"""Timing bounds of the client's politeness: backoff, Retry-After, rate limit, breaker.

Extends the backoff properties in tests/lib/pncp/test_client.py (full jitter within the
exponential ceiling, Retry-After as a capped floor) with what a whole retry budget, a
header in any form, a burst of callers and any sequence of failures must respect.
"""

from __future__ import annotations

import asyncio
import itertools
import math
import random
from datetime import UTC, datetime, timedelta
from email.utils import format_datetime

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from project.lib.pncp.resilience import (
    BreakerState,
    CircuitBreaker,
    RateLimiter,
    backoff_ceiling_s,
    parse_retry_after,
    retry_wait_s,
)

base_s = st.floats(min_value=0, max_value=60, allow_nan=False)
max_s = st.floats(min_value=0, max_value=3_600, allow_nan=False)
# No deadline: these check correctness, and a loaded CI machine must not make them flaky.
no_deadline = settings(deadline=None)


@no_deadline
@given(base=base_s, cap=max_s, attempts=st.integers(0, 200))
def test_the_ceiling_never_decreases_and_never_passes_the_cap(
    base: float, cap: float, attempts: int
) -> None:
    ceilings = [backoff_ceiling_s(n, base, cap) for n in range(attempts + 1)]
    assert all(a <= b for a, b in itertools.pairwise(ceilings))
    assert all(0 <= c <= cap for c in ceilings)


@no_deadline
@given(
    base=base_s,
    cap=max_s,
    retries=st.integers(0, 20),
    retry_after=st.none() | st.floats(min_value=0, max_value=1e6, allow_nan=False),
    retry_after_cap=st.floats(min_value=0, max_value=600, allow_nan=False),
    seed=st.integers(),
)
def test_a_whole_retry_budget_sleeps_no_longer_than_its_ceilings_and_capped_headers(
    base: float,
    cap: float,
    retries: int,
    retry_after: float | None,
    retry_after_cap: float,
    seed: int,
) -> None:
    """The worst case of one page: every retry waits its ceiling, or the capped header."""
    rng = random.Random(seed)
    waits = [retry_wait_s(n, base, cap, retry_after, retry_after_cap, rng) for n in range(retries)]
    floor = min(retry_after, retry_after_cap) if retry_after is not None else 0.0
    bound = sum(max(backoff_ceiling_s(n, base, cap), floor) for n in range(retries))
    assert all(w >= floor for w in waits)
    assert sum(waits) <= bound * (1 + 1e-9)
    assert sum(waits) <= retries * max(cap, floor) * (1 + 1e-9)


@no_deadline
@given(seconds=st.floats(min_value=-1e9, max_value=1e9, allow_nan=False))
def test_retry_after_in_seconds_is_read_as_given_and_never_negative(seconds: float) -> None:
    assert parse_retry_after(repr(seconds)) == max(0.0, seconds)
    assert parse_retry_after(f"  {seconds!r}  ") == max(0.0, seconds)


@no_deadline
@given(offset=st.integers(-(10**7), 10**7))
def test_retry_after_as_an_http_date_is_the_seconds_until_then(offset: int) -> None:
    now = datetime(2024, 7, 1, 12, 0, tzinfo=UTC)
    header = format_datetime(now + timedelta(seconds=offset), usegmt=True)
    assert parse_retry_after(header, now=now) == max(0, offset)


@no_deadline
@given(value=st.text(alphabet="abcxyz-:; ", max_size=12))
def test_an_unreadable_retry_after_is_ignored(value: str) -> None:
    assert parse_retry_after(value) is None


@no_deadline
@given(
    rate=st.floats(min_value=0.1, max_value=100),
    gaps=st.lists(st.floats(min_value=0, max_value=5), min_size=1, max_size=30),
)
def test_rate_limited_starts_are_spaced_and_never_later_than_needed(
    rate: float, gaps: list[float]
) -> None:
    """Callers arriving at any times start at max(arrival, previous start + 1/rate)."""
    clock = [0.0]
    limiter = RateLimiter(rate, clock=lambda: clock[0], sleep=lambda _: asyncio.sleep(0))
    interval = 1.0 / rate

    async def arrive_all() -> list[tuple[float, float]]:
        times = []
        for gap in gaps:
            clock[0] += gap
            waited = await limiter.wait()
            times.append((clock[0], clock[0] + waited))
        return times

    previous = -math.inf
    for arrival, start in asyncio.run(arrive_all()):
        assert start == pytest.approx(max(arrival, previous + interval), abs=1e-9)
        assert start - previous >= interval - 1e-9
        previous = start


outcomes = st.lists(st.sampled_from(["success", "failure", "release", "wait"]), max_size=60)


@no_deadline
@given(events=outcomes, threshold=st.integers(1, 6), reset=st.floats(1, 600))
def test_the_breaker_admits_nothing_while_open_and_opens_at_the_threshold(
    events: list[str], threshold: int, reset: float
) -> None:
    """Drive the breaker with any sequence, checking it against a simple model."""
    now = [0.0]
    breaker = CircuitBreaker(failure_threshold=threshold, reset_s=reset, clock=lambda: now[0])
    consecutive = 0
    opened_at: float | None = None
    for event in events:
        if event == "wait":
            now[0] += reset / 2
            continue
        permit = breaker.try_acquire()
        in_open_period = opened_at is not None and now[0] - opened_at < reset
        if in_open_period:
            assert permit is None, "a request went out while the circuit was open"
            assert breaker.state is BreakerState.OPEN
            continue
        assert permit is not None
        if event == "success":
            breaker.record_success(permit)
            consecutive, opened_at = 0, None
        elif event == "failure":
            consecutive += 1
            opened = breaker.record_failure(permit)
            should_open = permit.trial or (opened_at is None and consecutive >= threshold)
            assert opened == should_open
            if should_open:
                opened_at = now[0]
        else:
            breaker.release(permit)
        assert breaker.consecutive_failures == consecutive
