"""`make bench`: run every benchmark, print one table, save JSON under bench/results/."""

from __future__ import annotations

from bench import extraction
from bench.common import print_table, save

BENCHMARKS = {"extraction": extraction.run}


def main() -> None:
    results = []
    for name, run in BENCHMARKS.items():
        print(f"== {name}")
        measured = run()
        save(name, measured)
        results.extend(measured)
    print("\n== summary")
    print_table(results)


if __name__ == "__main__":
    main()
