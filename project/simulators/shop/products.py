"""The products dimension: name, category, price, active.

Prices end in .90 as shop prices do; updates are mostly repricing (an SCD1 column in the
marts), then (de)activation, renames and recategorisation. Inactive products are not sold.
"""

from __future__ import annotations

from typing import Any

import numpy as np
import pyarrow as pa

from project.simulators.shop import text
from project.simulators.shop.pools import CATEGORIES, Pools

CATEGORY_NAMES = tuple(CATEGORIES)


class Products:
    prefix = "P"
    width = 5
    attrs = ("name", "category", "price", "active")  # price in cents
    kinds = (("price", 0.6), ("active", 0.15), ("name", 0.15), ("category", 0.1))
    delete_share = 0.02

    def new(self, rng: np.random.Generator, n: int, pools: Pools) -> dict[str, np.ndarray]:
        category = rng.integers(0, len(CATEGORY_NAMES), n)
        names = [self._name(CATEGORY_NAMES[c], rng, pools) for c in category]
        medians = np.array([CATEGORIES[c][1] for c in CATEGORY_NAMES])[category]
        return {
            "name": np.array(names, object),
            "category": np.array(CATEGORY_NAMES, object)[category],
            "price": _shop_price(medians * rng.lognormal(0.0, 0.5, n)),
            "active": rng.random(n) < 0.97,
        }

    def update(
        self, kind: str, current: dict[str, Any], rng: np.random.Generator, pools: Pools
    ) -> dict[str, Any]:
        if kind == "price":
            factor = rng.choice([0.8, 0.9, 0.95, 1.05, 1.1, 1.2])
            return {"price": int(_shop_price(np.array([current["price"] / 100 * factor]))[0])}
        if kind == "active":
            return {"active": not current["active"]}
        if kind == "name":
            return {"name": self._name(current["category"], rng, pools)}
        others = [c for c in CATEGORY_NAMES if c != current["category"]]
        return {"category": others[int(rng.integers(len(others)))]}

    def usable(self, attrs: dict[str, np.ndarray]) -> np.ndarray:
        return attrs["active"].astype(bool)

    def render(self, attrs: dict[str, np.ndarray]) -> dict[str, pa.Array]:
        return {
            "name": pa.array(attrs["name"], pa.string()),
            "category": pa.array(attrs["category"], pa.string()),
            "price": text.money(attrs["price"]),
            "active": text.pick(pa.array(["false", "true"]), attrs["active"].astype(np.int64)),
        }

    @staticmethod
    def _name(category: str, rng: np.random.Generator, pools: Pools) -> str:
        nouns = CATEGORIES[category][0]
        noun = nouns[int(rng.integers(len(nouns)))]
        brand = pools.brands[int(rng.integers(len(pools.brands)))]
        color = pools.colors[int(rng.integers(len(pools.colors)))]
        return f"{noun} {brand} {color}"


def _shop_price(reais: np.ndarray) -> np.ndarray:
    """Cents ending in .90, at least 4.90."""
    return np.maximum(np.round(reais).astype(np.int64), 5) * 100 - 10
