"""One chunk of shop activity: orders with their items, payments and web sessions.

Everything is drawn as NumPy arrays over the chunk (no object per event) and landed as
Arrow string columns in the contract's order. The shapes, per order: ~2 items, ~1
payment attempt (retries after a decline, refunds of cancelled orders), one buying
session ending in `purchase` at the order's time, plus 0.45 browsing sessions without an
order (half of them anonymous) — about 2.5 web events per order in all.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc

from project.simulators.shop import text
from project.simulators.shop.draws import DAY, HOUR, Profile, categorical
from project.simulators.shop.entities import Timeline

ORDER_STATUSES = ("placed", "paid", "shipped", "delivered", "cancelled")
ORDER_STATUS_SHARES = (0.08, 0.15, 0.25, 0.45, 0.07)
CHANNELS, CHANNEL_SHARES = ("web", "app", "marketplace"), (0.55, 0.35, 0.10)
METHODS, METHOD_SHARES = ("card", "pix", "boleto"), (0.55, 0.35, 0.10)
DEVICES, DEVICE_SHARES = ("mobile", "desktop", "tablet"), (0.6, 0.33, 0.07)
FUNNEL = ("page_view", "product_view", "add_to_cart", "checkout", "purchase")
PAGES = ("/", None, "/cart", "/checkout", "/checkout/confirmation")  # None: /p/<product>
BUYER_STEPS = (0.55, 0.25, 0.10, 0.07, 0.03)  # a buying session's last 1..5 funnel steps
BROWSER_STEPS = (0.6, 0.25, 0.10, 0.05)  # a browsing session's first 1..4 funnel steps
BROWSE_PER_ORDER = 0.45
KNOWN_BROWSER = 0.5  # browsing sessions of a logged-in customer

# Payment attempts by pattern; an order's status decides which patterns it can have.
PAYMENT_PATTERNS = ((), ("declined",), ("approved",), ("declined", "approved"))
PAYMENT_PATTERNS += (("approved", "refunded"),)
_PATTERN_FLAT = np.array([s for p in PAYMENT_PATTERNS for s in p], object)
_PATTERN_LEN = np.array([len(p) for p in PAYMENT_PATTERNS])
_PATTERN_START = np.cumsum(_PATTERN_LEN) - _PATTERN_LEN
# Status index -> (pattern, share) choices: placed orders may have a declined attempt,
# paid and later ones an approved payment (sometimes after a decline), cancelled ones a
# decline or a refund.
_PATTERNS_BY_STATUS = (
    ((0, 0.6), (1, 0.4)),
    ((2, 0.92), (3, 0.08)),
    ((2, 0.92), (3, 0.08)),
    ((2, 0.92), (3, 0.08)),
    ((1, 0.5), (4, 0.5)),
)

Frame = dict[str, pa.Array]


@dataclass
class Counters:
    """Where numbering continues: entity ids across batches, event ids within one."""

    order: int = 1
    payment: int = 1
    session: int = 1
    orders: int = 1  # next event number per source (event ids restart each batch)
    order_items: int = 1
    payments: int = 1
    web_events: int = 1


def _constant(value: str, n: int) -> pa.Array:
    return pa.array([value]).take(pa.array(np.zeros(n, np.int64)))


def _labels(values: tuple[str | None, ...], index: np.ndarray) -> pa.Array:
    return text.pick(pa.array(values, pa.string()), index)


def _within(lengths: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """(owner, position) of each element when owner i has lengths[i] elements."""
    owner = np.repeat(np.arange(len(lengths)), lengths)
    starts = np.cumsum(lengths) - lengths
    return owner, np.arange(len(owner)) - starts[owner]


def _elapsed(owner: np.ndarray, position: np.ndarray, gaps: np.ndarray) -> np.ndarray:
    """Seconds from each owner's first element to each element, given gaps between them."""
    before = np.cumsum(gaps) - gaps
    return before - before[position == 0][owner]


@dataclass
class _Orders:
    ts: np.ndarray
    customer: np.ndarray  # customer entity index
    status: np.ndarray
    item_order: np.ndarray
    line_no: np.ndarray
    product: np.ndarray  # product entity index per item
    quantity: np.ndarray
    unit_price: np.ndarray  # cents
    total: np.ndarray  # cents per order


def _orders(
    rng: np.random.Generator,
    n: int,
    mass: tuple[float, float],
    profile: Profile,
    customers: Timeline,
    products: Timeline,
) -> _Orders:
    """Orders and their items: 1 + Poisson(1) lines at the product's price at order time."""
    ts = profile.sample(rng, n, *mass)
    customer = customers.pick(rng, ts, 1.5, "customers")
    status = categorical(rng, n, ORDER_STATUS_SHARES)
    item_order, line_no = _within(1 + np.minimum(rng.poisson(1.0, n), 7))
    product = products.pick(rng, ts[item_order], 2.0, "products")
    quantity = np.minimum(rng.geometric(0.75, len(item_order)), 9)
    unit_price = products.value_at("price", product, ts[item_order]).astype(np.int64)
    total = np.bincount(item_order, quantity * unit_price, minlength=n).round().astype(np.int64)
    return _Orders(
        ts, customer, status, item_order, line_no + 1, product, quantity, unit_price, total
    )


def _payments(rng: np.random.Generator, orders: _Orders, end: int) -> dict[str, np.ndarray]:
    """Payment attempts by pattern, in time order; pix takes seconds, boleto hours.

    Times stop at the window's `end`: a payment lands in the batch that saw it.
    """
    pattern = np.empty(len(orders.ts), np.int64)
    for s, choices in enumerate(_PATTERNS_BY_STATUS):
        rows = np.flatnonzero(orders.status == s)
        codes, shares = zip(*choices, strict=True)
        pattern[rows] = np.array(codes)[categorical(rng, len(rows), shares)]
    order, attempt = _within(_PATTERN_LEN[pattern])
    status = _PATTERN_FLAT[_PATTERN_START[pattern[order]] + attempt]
    method = categorical(rng, len(order), METHOD_SHARES)
    k = len(order)
    delay = np.choose(
        method,
        [rng.integers(2, 30, k), rng.integers(5, 120, k), rng.integers(HOUR, 48 * HOUR, k)],
    )
    refund = np.where(status == "refunded", rng.integers(DAY, 5 * DAY, k), 0)
    retry = np.where(attempt > 0, rng.integers(60, 900, k), 0)
    ts = orders.ts[order] + delay + np.where(status == "refunded", refund, retry)
    ts = np.minimum(ts, end - 1)
    by_time = np.argsort(ts, kind="stable")
    return {
        "order": order[by_time],
        "status": status[by_time],
        "method": method[by_time],
        "ts": ts[by_time],
    }


def _sessions(
    rng: np.random.Generator,
    orders: _Orders,
    mass: tuple[float, float],
    profile: Profile,
    customers: Timeline,
    products: Timeline,
    span: tuple[int, int],
) -> dict[str, np.ndarray]:
    """Web events in time order, within `span`. Sessions 0..n-1 buy (order i's session
    ends in its `purchase` at the order's time); sessions n.. only browse."""
    n = len(orders.ts)
    buyer, pos = _within(1 + categorical(rng, n, BUYER_STEPS))
    steps = np.bincount(buyer, minlength=n)
    gaps = rng.exponential(90, len(buyer)).astype(np.int64) + 5
    elapsed = _elapsed(buyer, pos, gaps)
    buyer_ts = orders.ts[buyer] - (elapsed[np.cumsum(steps) - 1][buyer] - elapsed)
    buyer_ts = np.maximum(buyer_ts, span[0])
    buyer_type = len(FUNNEL) - steps[buyer] + pos
    first_item = np.searchsorted(orders.item_order, np.arange(n))

    m = int(rng.binomial(n, BROWSE_PER_ORDER))
    browse_start = profile.sample(rng, m, *mass)
    browser, browse_type = _within(1 + categorical(rng, m, BROWSER_STEPS))
    gaps = rng.exponential(60, len(browser)).astype(np.int64) + 5
    browse_ts = np.minimum(
        browse_start[browser] + _elapsed(browser, browse_type, gaps), span[1] - 1
    )
    browse_product = products.pick(rng, browse_start, 2.0, "products")
    browse_customer = np.full(m, -1)
    known = rng.random(m) < KNOWN_BROWSER
    browse_customer[known] = customers.pick(rng, browse_start[known], 1.5, "customers")

    # Session numbers follow session start times across both kinds.
    starts = np.concatenate([buyer_ts[pos == 0], browse_start])
    number = np.empty(n + m, np.int64)
    number[np.argsort(starts, kind="stable")] = np.arange(n + m)
    session = np.concatenate([buyer, n + browser])
    ts = np.concatenate([buyer_ts, browse_ts])
    by_time = np.argsort(ts, kind="stable")
    return {
        "session_number": number,  # per session, 0-based within the chunk
        "device": categorical(rng, n + m, DEVICE_SHARES),
        "session": session[by_time],
        "ts": ts[by_time],
        "type": np.concatenate([buyer_type, browse_type])[by_time],
        "product": np.concatenate([orders.product[first_item][buyer], browse_product[browser]])[
            by_time
        ],
        "customer": np.concatenate([orders.customer[buyer], browse_customer[browser]])[by_time],
    }


def chunk(
    rng: np.random.Generator,
    n: int,
    mass: tuple[float, float],
    profile: Profile,
    customers: Timeline,
    products: Timeline,
    counters: Counters,
    batch: int,
    span: tuple[int, int],
) -> dict[str, Frame]:
    """`n` orders whose times take `mass` of the window's profile; advances `counters`.

    Every event time stays within `span` (the file's first second, the batch's end), so
    only the `late` fault puts one before its file's day.
    """
    orders = _orders(rng, n, mass, profile, customers, products)
    pay = _payments(rng, orders, span[1])
    web = _sessions(rng, orders, mass, profile, customers, products, span)
    channel = categorical(rng, n, CHANNEL_SHARES)
    session_ids = text.ids("S", counters.session + web["session_number"], 7)
    items = len(orders.item_order)
    payments = len(pay["order"])
    events = len(web["ts"])

    shows_product = (web["type"] == 1) | (web["type"] == 2)
    web_products = text.ids("P", products.numbers[web["product"]], 5)
    web_customers = text.ids("C", customers.numbers[np.maximum(web["customer"], 0)], 6)
    none = pa.nulls(events, pa.string())
    pages = pc.if_else(
        pa.array(web["type"] == 1),
        pc.binary_join_element_wise("/p/", web_products, ""),
        _labels(PAGES, web["type"]),
    )
    frames = {
        "orders": {
            "event_id": text.counters(f"oe-{batch}-", counters.orders + np.arange(n)),
            "order_id": text.ids("O", counters.order + np.arange(n), 8),
            "customer_id": text.ids("C", customers.numbers[orders.customer], 6),
            "session_id": session_ids.slice(0, n),
            "status": _labels(ORDER_STATUSES, orders.status),
            "order_ts": text.iso(orders.ts),
            "currency": _constant("BRL", n),
            "channel": _labels(CHANNELS, channel),
        },
        "order_items": {
            "event_id": text.counters(f"ie-{batch}-", counters.order_items + np.arange(items)),
            "order_id": text.ids("O", counters.order + orders.item_order, 8),
            "line_no": text.integers(orders.line_no),
            "product_id": text.ids("P", products.numbers[orders.product], 5),
            "quantity": text.integers(orders.quantity),
            "unit_price": text.money(orders.unit_price),
        },
        "payments": {
            "event_id": text.counters(f"pe-{batch}-", counters.payments + np.arange(payments)),
            "payment_id": text.ids("PAY", counters.payment + np.arange(payments), 8),
            "order_id": text.ids("O", counters.order + pay["order"], 8),
            "method": _labels(METHODS, pay["method"]),
            "status": pa.array(pay["status"], pa.string()),
            "amount": text.money(orders.total[pay["order"]]),
            "paid_ts": text.iso(pay["ts"]),
        },
        "web_events": {
            "event_id": text.counters(f"we-{batch}-", counters.web_events + np.arange(events)),
            "session_id": session_ids.take(pa.array(web["session"])),
            "customer_id": pc.if_else(pa.array(web["customer"] >= 0), web_customers, none),
            "event_type": _labels(FUNNEL, web["type"]),
            "product_id": pc.if_else(pa.array(shows_product), web_products, none),
            "page": pages,
            "device": _labels(DEVICES, web["device"][web["session"]]),
            "event_ts": text.iso(web["ts"]),
        },
    }
    counters.order += n
    counters.payment += payments
    counters.session += len(web["session_number"])
    for source, frame in frames.items():
        setattr(counters, source, getattr(counters, source) + len(frame["event_id"]))
    return frames
