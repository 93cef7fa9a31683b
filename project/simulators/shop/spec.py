"""What one generator call writes: volumes, time window, files, faults (`ShopSpec`)."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import date

from project.simulators.shop.sources import Fault

# The first batch's first day when no --start-date is given; later batches continue
# where the previous one ended.
DEFAULT_START = date(2026, 1, 1)


@dataclass(frozen=True)
class ShopSpec:
    """One batch. Volumes left as None are derived from `orders` (see `volumes`).

    `customers` and `products` are entities inserted by this batch; `customer_changes` and
    `product_changes` are updates and deletes of entities alive during it.
    """

    orders: int = 1_000
    seed: int = 0
    batch: int = 1
    gzip: bool = False
    faults: Mapping[Fault, float] = field(default_factory=dict)
    files_per_source: int = 1
    start_date: date | None = None
    days: int = 1
    customers: int | None = None
    products: int | None = None
    customer_changes: int | None = None
    product_changes: int | None = None
    chunk_orders: int = 25_000  # orders generated and written at a time: bounds memory
    write_manifest: bool = True

    def __post_init__(self) -> None:
        faults = {Fault(name): float(rate) for name, rate in dict(self.faults).items()}
        object.__setattr__(self, "faults", dict(sorted(faults.items())))
        problems = [
            f"{name} must be >= {low}, got {value}"
            for name, value, low in (
                ("orders", self.orders, 0),
                ("seed", self.seed, 0),
                ("batch", self.batch, 1),
                ("files_per_source", self.files_per_source, 1),
                ("days", self.days, 1),
                ("chunk_orders", self.chunk_orders, 1),
                ("customers", self.customers, 0),
                ("products", self.products, 0),
                ("customer_changes", self.customer_changes, 0),
                ("product_changes", self.product_changes, 0),
            )
            if value is not None and value < low
        ]
        problems += [
            f"fault {f} rate must be within [0, 1], got {r}"
            for f, r in faults.items()
            if not 0 <= r <= 1
        ]
        # A record takes at most one row fault, so their rates share one draw.
        row_rates = sum(r for f, r in faults.items() if f is not Fault.RENAMED_COLUMN)
        if row_rates > 1:
            problems.append(f"fault rates (other than renamed_column) sum to {row_rates} > 1")
        if problems:
            raise ValueError("invalid ShopSpec: " + "; ".join(problems))

    def to_json(self) -> dict[str, object]:
        """The spec as the manifest records it (dates as ISO strings, faults by name)."""
        out: dict[str, object] = {f: getattr(self, f) for f in self.__dataclass_fields__}
        out["faults"] = {str(f): r for f, r in self.faults.items()}
        out["start_date"] = self.start_date.isoformat() if self.start_date else None
        return out

    def rate(self, fault: Fault) -> float:
        return self.faults.get(fault, 0.0)

    def volumes(self, first: bool) -> dict[str, int]:
        """Entity volumes, defaults scaled from `orders`; `first`: no earlier batch exists.

        A first batch inserts the whole cast (about 8 orders per customer, 75 per product);
        later ones add a trickle of new entities and change some existing ones.
        """
        n = self.orders
        customers = self.customers
        if customers is None:
            customers = max(10, n // 8) if first else n // 40
        products = self.products
        if products is None:
            products = max(10, n // 75) if first else n // 1_500
        return {
            "customers": customers,
            "products": products,
            "customer_changes": (
                self.customer_changes if self.customer_changes is not None else n // 30
            ),
            "product_changes": (
                self.product_changes if self.product_changes is not None else n // 300
            ),
        }


def parse_fault(text: str) -> tuple[Fault, float]:
    """`NAME=RATE` as the CLI takes it, e.g. `nulls=0.01`; a bare NAME means 0.01."""
    name, _, rate = text.partition("=")
    try:
        return Fault(name.strip()), float(rate) if rate else 0.01
    except ValueError:
        choices = ", ".join(Fault)
        raise ValueError(f"fault must be NAME=RATE with NAME in {choices}; got {text!r}") from None
