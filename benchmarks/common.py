"""Timing helpers shared by the benchmark modules."""

from __future__ import annotations

import os
import statistics
import subprocess
import sys
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

BIN = Path(sys.executable).parent


@dataclass
class Row:
    """One comparison: our time, the reference's time, their ratio, the goal."""

    name: str
    ours: float
    reference_name: str
    reference: float
    goal: str = ""
    note: str = ""

    @property
    def ratio(self) -> float:
        return self.ours / self.reference if self.reference else float("inf")


def median_time(action: Callable[[], object], runs: int = 5) -> float:
    """Return the median wall time of ``action`` over ``runs`` runs, seconds."""
    times = []
    for _ in range(runs):
        start = time.perf_counter()
        action()
        times.append(time.perf_counter() - start)
    return statistics.median(times)


def median_times(
    actions: dict[str, Callable[[], object]], runs: int = 5
) -> dict[str, float]:
    """Return each action's median wall time, seconds, their runs interleaved.

    Taking turns (ours, the reference, ours, ...) exposes both to the same
    moments of a shared machine, so their ratio holds even when its load or
    its disk's speed drifts during the benchmark.
    """
    times: dict[str, list[float]] = {name: [] for name in actions}
    for _ in range(runs):
        for name, action in actions.items():
            start = time.perf_counter()
            action()
            times[name].append(time.perf_counter() - start)
    return {name: statistics.median(values) for name, values in times.items()}


def command(*argv: str | os.PathLike, cwd: Path | None = None, env=None):
    """Return an action running ``argv`` quietly, failing loudly on error."""

    def run() -> None:
        subprocess.run(
            [str(a) for a in argv],
            cwd=cwd,
            env=env,
            check=True,
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
        )

    return run


def print_rows(rows: list[Row]) -> None:
    """Print the comparisons as an aligned table."""
    header = f"{'benchmark':44} {'ours':>9} {'reference':>26} {'ratio':>7}  goal"
    print(header)
    print("-" * len(header))
    for row in rows:
        ref = f"{row.reference_name} {row.reference * 1000:.1f}ms"
        print(
            f"{row.name:44} {row.ours * 1000:8.1f}ms {ref:>26} "
            f"{row.ratio:6.2f}x  {row.goal} {row.note}".rstrip()
        )
