"""`make bench`: run every benchmark, print one table, save the run under bench/results/.

    python -m bench                     # every benchmark
    python -m bench --only extraction   # some of them (repeatable)
    python -m bench --only backends     # the DuckDB file against DuckLake (needs PostgreSQL)
    python -m bench --only datasets     # PostgreSQL to Parquet by the dataset layer (PostgreSQL)
    python -m bench --only cdc          # incremental PostgreSQL copies against a full reload
    python -m bench --only shop         # 1M shop events, landing files to silver
    python -m bench --only shop_gold    # the same plus 100k customer changes, to gold
    python -m bench --list

Each entry of BENCHMARKS is a `run()` returning `Measurement`s (bench/common.py). The run
is saved as `bench/results/<UTC timestamp>.json` with the git commit, and compared with
the previous saved run. Benchmarks are not part of `make test`.
"""

from __future__ import annotations

import argparse
import traceback

from bench import backends, cdc, datasets, extraction, shop, transformation
from bench.common import Measurement, comparison, previous_run, save_run, table

BENCHMARKS = {
    "extraction": extraction.run,
    "transformation": transformation.run,
    "backends": backends.run,
    "datasets": datasets.run,
    "cdc": cdc.run,
    "shop": shop.run,
    "shop_gold": shop.run_gold,
}


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m bench", description=__doc__.splitlines()[0])
    parser.add_argument(
        "--only", action="append", choices=sorted(BENCHMARKS), metavar="NAME",
        help=f"run only this benchmark (repeatable): {', '.join(BENCHMARKS)}",
    )  # fmt: skip
    parser.add_argument("--list", action="store_true", help="list the benchmarks and exit")
    args = parser.parse_args(argv)
    if args.list:
        print("\n".join(BENCHMARKS))
        return 0

    results: dict[str, list[Measurement]] = {}
    failed = []
    for name, run in BENCHMARKS.items():
        if args.only and name not in args.only:
            continue
        print(f"== {name}", flush=True)
        try:
            results[name] = run()
        except Exception:  # one broken benchmark must not hide the others' figures
            traceback.print_exc()
            failed.append(name)

    measured = [m for ms in results.values() for m in ms]
    if measured:
        print("\n== summary")
        print(table(measured))
        path = save_run(results)
        previous = previous_run(before=path)
        print(f"\nsaved {path}")
        if previous and (lines := comparison(measured, previous)):
            print(f"compared with {previous['path']} (commit {previous['commit']}):")
            print("\n".join(lines))
    if failed:
        print(f"\nfailed: {', '.join(failed)}")
    return 1 if failed else 0


if __name__ == "__main__":
    raise SystemExit(main())
