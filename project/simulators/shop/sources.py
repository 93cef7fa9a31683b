"""The six landing sources of the shop contract, and which fault lands in which column.

One table instead of per-source code: a fault is written once against these fields
(`nulls` empties a `required` column, `late` moves the `time` column, ...), so adding a
source or a target column is a line here. Sources without a target skip that fault.
"""

from __future__ import annotations

from dataclasses import dataclass
from enum import StrEnum


class Fault(StrEnum):
    NULLS = "nulls"  # a required column is null (JSON null, CSV empty field)
    NEGATIVE_PRICES = "negative_prices"  # an amount below zero
    UNKNOWN_STATUS = "unknown_status"  # a status outside the contract's values
    MALFORMED_LINES = (
        "malformed_lines"  # truncated JSON line / CSV row with a field too few or many
    )
    EXTRA_COLUMN = "extra_column"  # a field the contract does not have (CSV: a whole file's header)
    RENAMED_COLUMN = "renamed_column"  # a column landed under another name (a whole CSV file)
    DUPLICATES = "duplicates"  # a record repeated, same id, in the same or the next file
    LATE = "late"  # event time 1-3 days before the file's first day
    OUT_OF_ORDER = "out_of_order"  # a change delivered after a later seq of the same key


@dataclass(frozen=True)
class Source:
    name: str
    format: str  # "jsonl" or "csv"
    columns: tuple[str, ...]
    key: str  # event_id, or the entity key of a change feed (then a record is key + seq)
    required: tuple[str, ...] = ()  # `nulls` targets
    price: str | None = None  # `negative_prices` target
    status: str | None = None  # `unknown_status` target
    unknown: tuple[str, ...] = ()  # the values `unknown_status` lands
    time: str | None = None  # `late` target
    extra: tuple[str, tuple[str, ...]] | None = None  # `extra_column`: name, sample values
    rename: tuple[str, str] | None = None  # `renamed_column` (CSV): contract name, landed as
    text: tuple[str, ...] = ()  # free text that JSON must escape (names, e-mails, ...)
    bare: tuple[str, ...] = ()  # JSON numbers and booleans, written unquoted

    @property
    def change_feed(self) -> bool:
        return self.key != "event_id"

    @property
    def ext(self) -> str:
        return self.format

    def supports(self, fault: Fault) -> bool:
        return {
            Fault.NULLS: bool(self.required),
            Fault.NEGATIVE_PRICES: self.price is not None,
            Fault.UNKNOWN_STATUS: self.status is not None,
            Fault.MALFORMED_LINES: True,
            Fault.EXTRA_COLUMN: self.extra is not None,
            Fault.RENAMED_COLUMN: self.rename is not None and self.format == "csv",
            Fault.DUPLICATES: True,
            Fault.LATE: self.time is not None,
            Fault.OUT_OF_ORDER: self.change_feed,
        }[fault]

    def per_file(self, fault: Fault) -> bool:
        """Whether the fault changes a header, so it takes whole files rather than rows."""
        return self.format == "csv" and fault in (Fault.EXTRA_COLUMN, Fault.RENAMED_COLUMN)


ORDERS = Source(
    name="orders",
    format="jsonl",
    columns=(
        "event_id",
        "order_id",
        "customer_id",
        "session_id",
        "status",
        "order_ts",
        "currency",
        "channel",
    ),
    key="event_id",
    required=("order_id", "customer_id", "status", "order_ts"),
    status="status",
    unknown=("on_hold", "pending_review", "UNKNOWN"),
    time="order_ts",
    extra=("coupon_code", ("BEMVINDO10", "FRETEGRATIS", "VOLTA15", "BLACK25")),
)
ORDER_ITEMS = Source(
    name="order_items",
    format="csv",
    columns=("event_id", "order_id", "line_no", "product_id", "quantity", "unit_price"),
    key="event_id",
    required=("order_id", "product_id", "quantity", "unit_price"),
    price="unit_price",
    extra=("discount", ("0.00", "5.00", "10.00", "15.50")),
    rename=("unit_price", "price"),
)
PAYMENTS = Source(
    name="payments",
    format="csv",
    columns=("event_id", "payment_id", "order_id", "method", "status", "amount", "paid_ts"),
    key="event_id",
    required=("payment_id", "order_id", "amount", "paid_ts"),
    price="amount",
    status="status",
    unknown=("chargeback", "pending", "ERROR"),
    time="paid_ts",
    extra=("installments", ("1", "2", "3", "6", "10")),
)
WEB_EVENTS = Source(
    name="web_events",
    format="jsonl",
    columns=(
        "event_id",
        "session_id",
        "customer_id",
        "event_type",
        "product_id",
        "page",
        "device",
        "event_ts",
    ),
    key="event_id",
    required=("session_id", "event_type", "event_ts"),
    status="event_type",
    unknown=("wishlist_add", "share", "scroll"),
    time="event_ts",
    extra=("referrer", ("google", "instagram", "email", "direct")),
)
CUSTOMERS = Source(
    name="customers",
    format="jsonl",
    columns=("customer_id", "op", "seq", "changed_at", "name", "email", "city", "state", "segment"),
    key="customer_id",
    required=("changed_at", "email"),
    extra=("phone", ("+55 11 91234-5678", "+55 21 99876-5432", "+55 31 98765-4321")),
    text=("name", "email", "city"),
    bare=("seq",),
)
PRODUCTS = Source(
    name="products",
    format="jsonl",
    columns=("product_id", "op", "seq", "changed_at", "name", "category", "price", "active"),
    key="product_id",
    required=("changed_at", "price", "category"),
    price="price",
    extra=("brand", ("Acme", "Tramontina", "Multilaser", "Natura")),
    text=("name", "category"),
    bare=("seq", "active"),
)

SOURCES: dict[str, Source] = {
    s.name: s for s in (ORDERS, ORDER_ITEMS, PAYMENTS, WEB_EVENTS, CUSTOMERS, PRODUCTS)
}
FACTS = ("orders", "order_items", "payments", "web_events")
FEEDS = ("customers", "products")
