"""Times of day for synthetic records, cached because every record formats several.

PNCP timestamps carry no time zone (they are Brasília local time): `2024-07-01T10:15:30`.
"""

from __future__ import annotations

from datetime import date
from functools import cache

from project.simulators.pncp.draws import Draws

_BUSINESS_START = 7 * 3600
_BUSINESS_SPAN = 14 * 3600


@cache
def iso_day(ordinal: int) -> str:
    return date.fromordinal(ordinal).isoformat()


@cache
def _clock(seconds: int) -> str:
    return f"{seconds // 3600:02d}:{seconds // 60 % 60:02d}:{seconds % 60:02d}"


def business_clock(index: int, count: int, draws: Draws) -> str:
    """`HH:MM:SS` of the index-th of a day's `count` events: 07:00-21:00, rising with index."""
    offset = (index * _BUSINESS_SPAN + draws.below(_BUSINESS_SPAN)) // max(count, 1)
    return _clock(_BUSINESS_START + offset)
