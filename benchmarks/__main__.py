"""Run every benchmark module and print one table: ``make bench``."""

from __future__ import annotations

import importlib
import sys

from benchmarks.common import print_rows

MODULES = (
    "benchmarks.bench_startup",
    "benchmarks.bench_config",
    "benchmarks.bench_runtime",
    "benchmarks.bench_extensions",
    "benchmarks.bench_backup",
    "benchmarks.bench_health",
)


def main(selected: list[str]) -> int:
    rows, failed = [], []
    for name in MODULES:
        if selected and not any(s in name for s in selected):
            continue
        try:
            rows += importlib.import_module(name).run()
        except Exception as exc:  # report the others' figures all the same
            print(f"{name} failed: {exc}", file=sys.stderr)
            failed.append(name)
    print_rows(rows)
    return 1 if failed else 0


if __name__ == "__main__":
    raise SystemExit(main(sys.argv[1:]))
