"""Deterministic random draws keyed by a record's identity.

Every synthetic record (and every daily count) is derived from a hash of what it is —
`(seed, family, day, index)` — so any record can be rebuilt on its own (the update
feeds re-emit records published weeks earlier without generating those weeks), and the
same request yields the same bytes regardless of request order, threads or
`PYTHONHASHSEED`. `random.Random` would cost an 8 µs re-seed per record; a BLAKE2
digest read as 16 32-bit words costs ~2 µs, and each draw ~0.15 µs.
"""

from __future__ import annotations

import hashlib
import struct
from collections.abc import Sequence
from typing import TypeVar

T = TypeVar("T")

_WORDS = struct.Struct("<16I")  # a 64-byte digest as 16 unsigned 32-bit words
_KEY = struct.Struct("<qqq")
_SPAN = float(1 << 32)


class DrawSource:
    """Hands out `Draws` for the members of one family, e.g. `(seed, "contract")`."""

    __slots__ = ("_base",)

    def __init__(self, *name: object) -> None:
        self._base = hashlib.blake2b(":".join(map(str, name)).encode(), digest_size=64)

    def draws(self, a: int, b: int = 0, c: int = 0) -> Draws:
        """The draws of member `(a, b, c)` — typically (day ordinal, index[, modalidade])."""
        return Draws(self._base, _KEY.pack(a, b, c))


class Draws:
    """A stream of uniform draws; modulo bias (< n / 2**32) is irrelevant at our sizes."""

    __slots__ = ("_base", "_key", "_next", "_rounds", "_words")

    def __init__(self, base: hashlib._Hash, key: bytes) -> None:
        self._base = base
        self._key = key
        self._rounds = 0
        self._words = _digest_words(base, key)
        self._next = 0

    # The accessors below inline the cursor step: they run ~20 times per record.

    def below(self, n: int) -> int:
        """A uniform integer in `[0, n)`."""
        i = self._next
        if i == 16:
            i = self._refill()
        self._next = i + 1
        return self._words[i] % n

    def pick(self, options: Sequence[T]) -> T:
        i = self._next
        if i == 16:
            i = self._refill()
        self._next = i + 1
        return options[self._words[i] % len(options)]

    def chance(self, p: float) -> bool:
        i = self._next
        if i == 16:
            i = self._refill()
        self._next = i + 1
        return self._words[i] < p * _SPAN

    def unit(self) -> float:
        """A uniform float in `[0, 1)`."""
        i = self._next
        if i == 16:
            i = self._refill()
        self._next = i + 1
        return self._words[i] / _SPAN

    def between(self, low: float, high: float) -> float:
        return low + (high - low) * self.unit()

    def log_between(self, low: float, high: float) -> float:
        """Log-uniform: money spans orders of magnitude."""
        return low * (high / low) ** self.unit()

    def _refill(self) -> int:
        """Digest used up: hash again with a round counter; returns the new cursor."""
        self._rounds += 1
        self._words = _digest_words(self._base, self._key + bytes([self._rounds % 256]))
        return 0


def _digest_words(base: hashlib._Hash, key: bytes) -> tuple[int, ...]:
    h = base.copy()
    h.update(key)
    return _WORDS.unpack(h.digest())
