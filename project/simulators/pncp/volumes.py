"""How many records each endpoint carries on a given day.

Counts are computed without generating a single record, so totals, page counts and the
cross-day references of contracts and atas stay cheap. A day's mean is the endpoint's
`daily_volume` times `scale`, shaped by the weekday (x1.1 on weekdays, x0.3 / x0.2 on
Saturdays / Sundays, so a month holds ~26 days' worth: ~730k records over the six
endpoints in July 2024), a ±15% day-to-day wobble and, for procurements, the
modalidade shares.
"""

from __future__ import annotations

from datetime import date

from project.lib.pncp.endpoints import ENDPOINTS, MODALIDADES
from project.simulators.pncp.catalog import MODALIDADE_PROFILES
from project.simulators.pncp.draws import DrawSource

WEEKDAY_FACTOR = (1.1, 1.1, 1.1, 1.1, 1.1, 0.3, 0.2)  # Monday..Sunday
DAY_WOBBLE = 0.15
MODALIDADE_WOBBLE = 0.20
_SHARE_TOTAL = sum(p.share for p in MODALIDADE_PROFILES.values())


class Volumes:
    """Deterministic daily record counts for one `(seed, scale)`."""

    def __init__(self, seed: int, scale: float) -> None:
        self.seed = seed
        self.scale = scale
        self._memo: dict[tuple[str, int, int | None], int] = {}
        self._sources = {name: DrawSource(seed, "volume", name) for name in ENDPOINTS}

    def count(self, endpoint_name: str, day: date | int, modalidade: int | None = None) -> int:
        """The day's volume for one endpoint (and modalidade, for procurement endpoints).

        For the update feeds this is a target; `feeds` caps it by what earlier days can
        supply. For a procurement endpoint without a modalidade it is the sum over all.
        """
        ordinal = day if isinstance(day, int) else day.toordinal()
        key = (endpoint_name, ordinal, modalidade)
        found = self._memo.get(key)
        if found is None:
            found = self._memo[key] = self._compute(endpoint_name, ordinal, modalidade)
        return found

    def _compute(self, endpoint_name: str, ordinal: int, modalidade: int | None) -> int:
        endpoint = ENDPOINTS[endpoint_name]
        if endpoint.per_modalidade and modalidade is None:
            return sum(self.count(endpoint_name, ordinal, m) for m in MODALIDADES)
        day = date.fromordinal(ordinal)
        source = self._sources[endpoint_name]
        wobble = source.draws(ordinal).between(-1, 1)
        mean = (
            endpoint.daily_volume
            * self.scale
            * WEEKDAY_FACTOR[day.weekday()]
            * (1 + DAY_WOBBLE * wobble)
        )
        draws = source.draws(ordinal, modalidade or -1)
        if endpoint.per_modalidade:
            profile = MODALIDADE_PROFILES.get(modalidade or 0)
            if profile is None:  # a code PNCP does not use: nothing, hence 204
                return 0
            mean *= profile.share / _SHARE_TOTAL * (1 + MODALIDADE_WOBBLE * draws.between(-1, 1))
        # Stochastic rounding: a mean of 0.3 gives one record on ~30% of days, so rare
        # modalidades answer 204 most days instead of never or always.
        return int(mean + draws.unit())
