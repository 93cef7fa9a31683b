"""Seeded random streams and the shop's time-of-day profile.

Each stream is keyed by what it draws for — `(seed, batch, purpose, chunk)` — so a chunk's
data does not depend on how many chunks came before it or on which faults are on: turning
on `nulls` changes the null rows and nothing else.
"""

from __future__ import annotations

import zlib

import numpy as np

DAY = 86_400
HOUR = 3_600
# Relative orders per local hour (Brazil, UTC-3): quiet nights, a lunch bump, evening peak.
HOURLY = np.array(
    [2, 1, 1, 0.5, 0.5, 0.8, 1.5, 3, 4, 5, 5.5, 6, 6.5, 6, 5.5, 5.5, 6, 6.5, 7, 8, 9, 8.5, 6, 4]
)
UTC_OFFSET_H = -3


def stream(seed: int, batch: int, *purpose: str | int) -> np.random.Generator:
    """An independent generator for one purpose of one batch (names hashed with CRC32)."""
    words = [zlib.crc32(p.encode()) if isinstance(p, str) else p for p in purpose]
    return np.random.Generator(np.random.PCG64(np.random.SeedSequence([seed, batch, *words])))


def categorical(rng: np.random.Generator, n: int, probs: tuple[float, ...]) -> np.ndarray:
    """`n` indices into `probs` (normalised), as int8."""
    cum = np.cumsum(probs, dtype=np.float64)
    return np.searchsorted(cum / cum[-1], rng.random(n), side="right").astype(np.int8)


class Profile:
    """Event times over a window, shaped by `HOURLY`: an inverse CDF on hourly knots."""

    def __init__(self, start: int, end: int) -> None:
        first, last = start // HOUR, -(-end // HOUR)
        knots = np.clip(np.arange(first, last + 1, dtype=np.int64) * HOUR, start, end)
        hours = (np.arange(first, last, dtype=np.int64) + UTC_OFFSET_H) % 24
        weights = HOURLY[hours] * np.diff(knots)
        self.knots = knots.astype(np.float64)
        self.cum = np.concatenate([[0.0], np.cumsum(weights)])

    def mass(self, at: float | np.ndarray) -> np.ndarray:
        """The share of the window's events before `at`, in [0, 1]."""
        return np.interp(at, self.knots, self.cum) / self.cum[-1]

    def at(self, mass: float | np.ndarray) -> np.ndarray:
        """The time before which `mass` of the window's events fall (inverse of `mass`)."""
        return np.interp(np.asarray(mass) * self.cum[-1], self.cum, self.knots)

    def sample(self, rng: np.random.Generator, n: int, low: float, high: float) -> np.ndarray:
        """`n` sorted epoch seconds whose mass lies in `[low, high)`."""
        u = np.sort(rng.uniform(low, high, n))
        return np.floor(self.at(u)).astype(np.int64)
