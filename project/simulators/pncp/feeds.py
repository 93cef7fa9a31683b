"""What each of the six endpoints serves for a day: publications and their updates.

A publication feed (`contratos`, `contratacoes/publicacao`, `atas`) lists the records
first published that day (atas: whose validity starts that day). Its update feed
(`.../atualizacao`) lists, for day D, part of D's own publications plus records first
published in the previous 60 days, re-emitted with the same control number, a
`dataAtualizacao` on D and changed values — so downstream must keep the latest version.
Records come as rendered JSON text, and any slice of a day can be rendered alone, so
serving a page costs that page. Order is stable — publications by publication time;
an update feed lists its same-day publications, then its re-emissions by update time —
so pagination is consistent across requests.
"""

from __future__ import annotations

import threading
from collections import OrderedDict
from collections.abc import Callable
from dataclasses import dataclass
from datetime import date
from functools import cache, partial

from project.lib.pncp.endpoints import ENDPOINTS, MODALIDADES
from project.simulators.pncp.clock import business_clock, iso_day
from project.simulators.pncp.draws import Draws, DrawSource
from project.simulators.pncp.identity import Identities
from project.simulators.pncp.pools import pools_for
from project.simulators.pncp.profiles import build_profiles
from project.simulators.pncp.records import RecordBuilder, Revision
from project.simulators.pncp.volumes import Volumes

UPDATE_WINDOW_DAYS = 60
FRESH_SHARE = 0.45  # of an update feed's day: records first published that same day
_CACHED_PLANS = 512

# How to render one record of a feed: (publication day, index, that day's count, revision).
Recipe = tuple[int, int, int, Revision | None]


@dataclass(frozen=True)
class Feed:
    family: str  # contract | procurement | ata
    publication: str  # endpoint whose records this feed publishes or re-emits
    updates: bool


FEEDS: dict[str, Feed] = {
    "contratos": Feed("contract", "contratos", updates=False),
    "contratos_atualizacao": Feed("contract", "contratos", updates=True),
    "contratacoes_publicacao": Feed("procurement", "contratacoes_publicacao", updates=False),
    "contratacoes_atualizacao": Feed("procurement", "contratacoes_publicacao", updates=True),
    "atas": Feed("ata", "atas", updates=False),
    "atas_atualizacao": Feed("ata", "atas", updates=True),
}  # endpoints of the registry not listed here (PCA, say) are not simulated: 404


class Portal:
    """The synthetic PNCP for one `(seed, scale)`: counts and records per endpoint-day."""

    def __init__(self, seed: int, scale: float) -> None:
        self.seed = seed
        self.scale = scale
        self.volumes = Volumes(seed, scale)
        pools = pools_for(seed, scale)
        ids = Identities(seed, self.volumes, pools)
        self.builder = RecordBuilder(seed, pools, build_profiles(seed, pools), ids)
        self._picks = {name: DrawSource(seed, "reemission", name) for name in FEEDS}
        self._changes = {name: DrawSource(seed, "revision", name) for name in FEEDS}
        self._sizes: dict[tuple[str, int, int | None], tuple[int, int]] = {}
        self._plans: OrderedDict[tuple[str, int, int | None], list[Recipe]] = OrderedDict()
        self._lock = threading.Lock()

    def count(self, endpoint_name: str, day: date, modalidade: int | None = None) -> int:
        """Records the endpoint serves for `day` (all modalidades when `modalidade` is None)."""
        if _sums_modalidades(endpoint_name, modalidade):
            return sum(self.count(endpoint_name, day, m) for m in MODALIDADES)
        if not FEEDS[endpoint_name].updates:
            return self.volumes.count(endpoint_name, day, modalidade)
        return sum(self._size(endpoint_name, day.toordinal(), modalidade))

    def records(
        self,
        endpoint_name: str,
        day: date,
        modalidade: int | None = None,
        start: int = 0,
        stop: int | None = None,
    ) -> list[str]:
        """Records `start:stop` of the day, as JSON text, in serving order."""
        if _sums_modalidades(endpoint_name, modalidade):
            every = [r for m in MODALIDADES for r in self.records(endpoint_name, day, m)]
            return every[start:stop]
        feed = FEEDS[endpoint_name]
        ordinal = day.toordinal()
        if feed.updates:
            recipes = self._plan(endpoint_name, feed, ordinal, modalidade)[start:stop]
        else:
            count = self.volumes.count(endpoint_name, ordinal, modalidade)
            recipes = [(ordinal, i, count, None) for i in range(count)[start:stop]]
        render = self._renderer(feed, modalidade)
        return [render(*recipe) for recipe in recipes]

    def _renderer(self, feed: Feed, modalidade: int | None) -> Callable[..., str]:
        if feed.family == "contract":
            return self.builder.contract
        if feed.family == "ata":
            return self.builder.ata
        assert modalidade is not None
        return partial(self.builder.procurement, modalidade)

    def _size(self, endpoint_name: str, ordinal: int, modalidade: int | None) -> tuple[int, int]:
        """(same-day publications, re-emissions) in an update feed's day."""
        key = (endpoint_name, ordinal, modalidade)
        size = self._sizes.get(key)
        if size is None:
            source = FEEDS[endpoint_name].publication
            target = self.volumes.count(endpoint_name, ordinal, modalidade)
            published = self.volumes.count(source, ordinal, modalidade)
            fresh = min(published, round(target * FRESH_SHARE))
            available = sum(
                self.volumes.count(source, ordinal - lag, modalidade)
                for lag in range(1, UPDATE_WINDOW_DAYS + 1)
            )
            size = self._sizes[key] = (fresh, min(target - fresh, available))
        return size

    def _plan(
        self, endpoint_name: str, feed: Feed, ordinal: int, modalidade: int | None
    ) -> list[Recipe]:
        """The recipes of an update feed's day; cheap (no rendering) and cached."""
        key = (endpoint_name, ordinal, modalidade)
        with self._lock:
            plan = self._plans.get(key)
            if plan is not None:
                self._plans.move_to_end(key)
                return plan
        fresh, reemitted = self._size(endpoint_name, ordinal, modalidade)
        published = self.volumes.count(feed.publication, ordinal, modalidade)
        plan = [(ordinal, t * published // fresh, published, None) for t in range(fresh)]
        taken: set[tuple[int, int]] = set()
        m = modalidade or -1
        for n in range(reemitted):
            d = self._picks[endpoint_name].draws(ordinal, m, n)
            source, index, count = self._pick_earlier(feed, ordinal, modalidade, d, taken)
            stamp = f"{iso_day(ordinal)}T{business_clock(n, reemitted, d)}"
            revision = Revision(stamp, self._changes[endpoint_name], (ordinal, m, n))
            plan.append((source, index, count, revision))
        with self._lock:
            self._plans[key] = plan
            if len(self._plans) > _CACHED_PLANS:
                self._plans.popitem(last=False)
        return plan

    def _pick_earlier(
        self,
        feed: Feed,
        ordinal: int,
        modalidade: int | None,
        d: Draws,
        taken: set[tuple[int, int]],
    ) -> tuple[int, int, int]:
        """A record published in the 60 days before `ordinal` not yet re-emitted today.

        `_size` caps re-emissions by what those days hold, so the scan always ends.
        """
        start = d.below(UPDATE_WINDOW_DAYS)
        for step in range(UPDATE_WINDOW_DAYS):
            source = ordinal - 1 - (start + step) % UPDATE_WINDOW_DAYS
            count = self.volumes.count(feed.publication, source, modalidade)
            if not count:
                continue
            first = d.below(count)
            for k in range(count):
                index = (first + k) % count
                if (source, index) not in taken:
                    taken.add((source, index))
                    return source, index, count
        raise AssertionError("update plan exceeds the records available to re-emit")


@cache
def portal_for(seed: int, scale: float) -> Portal:
    return Portal(seed, scale)


def _sums_modalidades(endpoint_name: str, modalidade: int | None) -> bool:
    return ENDPOINTS[endpoint_name].per_modalidade and modalidade is None
