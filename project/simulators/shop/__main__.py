"""`python -m project.simulators.shop generate --root DIR --orders N --seed S --batch B`.

Prints a summary of what landed (or the manifest as JSON with `--json`).
"""

from __future__ import annotations

import argparse
import json
import sys
from datetime import date
from pathlib import Path

from project.simulators.shop.generator import generate, summary
from project.simulators.shop.manifest import next_batch
from project.simulators.shop.sources import Fault
from project.simulators.shop.spec import ShopSpec, parse_fault


def _fault(text: str) -> tuple[Fault, float]:
    try:
        return parse_fault(text)
    except ValueError as error:
        raise argparse.ArgumentTypeError(str(error)) from None


def parse_args(argv: list[str] | None = None) -> tuple[Path, ShopSpec, bool]:
    parser = argparse.ArgumentParser(prog="python -m project.simulators.shop")
    commands = parser.add_subparsers(dest="command", required=True)
    gen = commands.add_parser("generate", help="land one batch of files")
    gen.add_argument(
        "--root", type=Path, help="the landing root (default: SHOP_LANDING_DIR, data/shop/landing)"
    )
    gen.add_argument("--orders", type=int, default=1_000)
    gen.add_argument("--seed", type=int, default=0)
    gen.add_argument(
        "--batch", type=int, help="above every batch already landed (default: the next one)"
    )
    gen.add_argument("--gzip", action="store_true", help="write .gz files")
    gen.add_argument(
        "--fault",
        type=_fault,
        action="append",
        default=[],
        metavar="NAME=RATE",
        help=f"repeatable; NAME in {', '.join(Fault)}",
    )
    gen.add_argument("--files-per-source", type=int, default=1)
    gen.add_argument("--start-date", type=date.fromisoformat, help="default: after the last batch")
    gen.add_argument("--days", type=int, default=1)
    gen.add_argument("--customers", type=int, help="customers inserted by this batch")
    gen.add_argument("--products", type=int, help="products inserted by this batch")
    gen.add_argument("--customer-changes", type=int, help="customer updates and deletes")
    gen.add_argument("--product-changes", type=int, help="product updates and deletes")
    gen.add_argument("--chunk-orders", type=int, default=25_000, help="orders held in memory")
    gen.add_argument("--no-manifest", action="store_true", help="write no _manifest/ record")
    gen.add_argument("--json", action="store_true", help="print the manifest record as JSON")
    args = parser.parse_args(argv)
    if args.root is None:
        from project.settings import get_settings

        args.root = get_settings().shop_landing
    if args.batch is None:
        args.batch = next_batch(args.root)
    try:
        spec = ShopSpec(
            orders=args.orders,
            seed=args.seed,
            batch=args.batch,
            gzip=args.gzip,
            faults=dict(args.fault),
            files_per_source=args.files_per_source,
            start_date=args.start_date,
            days=args.days,
            customers=args.customers,
            products=args.products,
            customer_changes=args.customer_changes,
            product_changes=args.product_changes,
            chunk_orders=args.chunk_orders,
            write_manifest=not args.no_manifest,
        )
    except ValueError as error:
        parser.error(str(error))
    return args.root, spec, args.json


def main(argv: list[str] | None = None) -> None:
    root, spec, as_json = parse_args(argv)
    try:
        batch = generate(root, spec)
    except (ValueError, FileExistsError) as error:
        sys.exit(f"shop generate: {error}")
    if as_json:
        print(json.dumps(batch.record, indent=1, ensure_ascii=False))
    else:
        for line in summary(batch):
            print(line)


if __name__ == "__main__":
    main()
