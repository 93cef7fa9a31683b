"""A seeded generator of the shop's landing files (orders, items, payments, web events,
customer and product change feeds), with faults on request, for tests, demos and benches.

    from project.simulators.shop import ShopSpec, generate, summary

    batch = generate(tmp_path, ShopSpec(orders=500, seed=7, batch=1, faults={"nulls": 0.02}))
    batch.files["orders"], batch.rows["web_events"], batch.faults["nulls"]["orders"]["rows"]

Or as a process: `python -m project.simulators.shop generate --root data/shop/landing
--orders 150000 --seed 1 --batch 1`. Same seed and arguments give byte-identical files;
the next `--batch` continues ids, sessions and each key's `seq` (read from
`<root>/_manifest/`). The layout and columns are the shop contract's (`sources.py`).
"""

from project.simulators.shop.generator import GeneratedBatch, generate, summary
from project.simulators.shop.landing import MANIFEST_DIR
from project.simulators.shop.sources import FACTS, FEEDS, SOURCES, Fault, Source
from project.simulators.shop.spec import DEFAULT_START, ShopSpec, parse_fault

__all__ = [
    "DEFAULT_START",
    "FACTS",
    "FEEDS",
    "MANIFEST_DIR",
    "SOURCES",
    "Fault",
    "GeneratedBatch",
    "ShopSpec",
    "Source",
    "generate",
    "parse_fault",
    "summary",
]
