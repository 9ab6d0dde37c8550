"""Run every benchmark module and print one table: ``make bench``."""

from __future__ import annotations

import compileall
import importlib
import re
import sys
from pathlib import Path

from benchmarks.common import print_rows

MODULES = (
    "benchmarks.bench_startup",
    "benchmarks.bench_config",
    "benchmarks.bench_runtime",
    "benchmarks.bench_extensions",
    "benchmarks.bench_backup",
    "benchmarks.bench_health",
)


def compile_package() -> None:
    """Write the package's bytecode, as installing a wheel does.

    An editable install leaves the sources uncompiled, and with
    ``PYTHONDONTWRITEBYTECODE`` set every run would compile them again:
    timings would then measure the compiler, not the tool.
    """
    package = Path(__file__).resolve().parent.parent / "workspace_tasks"
    # Template folders are data: their Python files are copied, not run.
    skip = re.compile(r"[/\\]templates[/\\]")
    compileall.compile_dir(package, quiet=1, rx=skip)


def main(selected: list[str]) -> int:
    compile_package()
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
