"""The customers dimension: who they are, where they live, their segment, their e-mail.

Updates touch the fields an SCD2 dimension tracks: a move (city and state together), a
segment change, a new e-mail, a new name (a married name: the last name changes).
"""

from __future__ import annotations

from typing import Any

import numpy as np
import pyarrow as pa

from project.simulators.shop.draws import categorical
from project.simulators.shop.pools import SEGMENT_SHARES, SEGMENTS, Pools, slug


class Customers:
    prefix = "C"
    width = 6
    attrs = ("name", "email", "city", "state", "segment")
    kinds = (("move", 0.35), ("segment", 0.25), ("email", 0.25), ("name", 0.15))
    delete_share = 0.03

    def new(self, rng: np.random.Generator, n: int, pools: Pools) -> dict[str, np.ndarray]:
        first = rng.integers(0, len(pools.first_names), n)
        last = rng.integers(0, len(pools.last_names), n)
        names = [
            f"{pools.first_names[f]} {pools.last_names[la]}"
            for f, la in zip(first, last, strict=True)
        ]
        domains = rng.integers(0, len(pools.email_domains), n)
        suffixes = rng.integers(0, 1000, n)
        emails = [
            _email(name, int(s), pools.email_domains[d])
            for name, s, d in zip(names, suffixes, domains, strict=True)
        ]
        city = rng.choice(len(pools.cities), size=n, p=pools.city_weights)
        return {
            "name": np.array(names, object),
            "email": np.array(emails, object),
            "city": np.array(pools.cities, object)[city],
            "state": np.array(pools.city_states, object)[city],
            "segment": np.array(SEGMENTS, object)[categorical(rng, n, SEGMENT_SHARES)],
        }

    def update(
        self, kind: str, current: dict[str, Any], rng: np.random.Generator, pools: Pools
    ) -> dict[str, Any]:
        if kind == "move":
            city = int(rng.choice(len(pools.cities), p=pools.city_weights))
            return {"city": pools.cities[city], "state": pools.city_states[city]}
        if kind == "segment":
            others = [s for s in SEGMENTS if s != current["segment"]]
            return {"segment": others[int(rng.integers(len(others)))]}
        if kind == "email":
            domain = pools.email_domains[int(rng.integers(len(pools.email_domains)))]
            return {"email": _email(current["name"], int(rng.integers(1000, 10000)), domain)}
        first = current["name"].rsplit(" ", 1)[0]
        return {"name": f"{first} {pools.last_names[int(rng.integers(len(pools.last_names)))]}"}

    def usable(self, attrs: dict[str, np.ndarray]) -> np.ndarray:
        return np.ones(len(attrs["name"]), bool)

    def render(self, attrs: dict[str, np.ndarray]) -> dict[str, pa.Array]:
        return {a: pa.array(v, pa.string()) for a, v in attrs.items()}


def _email(name: str, suffix: int, domain: str) -> str:
    # Most people's address carries a number; a tenth use the bare name.
    number = "" if suffix < 100 else str(suffix)
    return f"{slug(name)}{number}@{domain}"
