"""Cleanup of 100,000 cache files against ``find -delete``; stats against ``du``.

Both cleanups remove the same half of the files (older than 30 days) from
identical trees generated in a temporary folder.
"""

from __future__ import annotations

import os
import shutil
import subprocess
import tempfile
import time
from pathlib import Path

from benchmarks.common import Row

FILES = 100_000
FOLDERS = 100
OLD = time.time() - 40 * 86400


def _generate(root: Path) -> None:
    per_folder = FILES // FOLDERS
    for number in range(FOLDERS):
        folder = root / f"d{number:03d}"
        folder.mkdir(parents=True)
        for index in range(per_folder):
            path = folder / f"entry-{index}.json"
            with open(path, "wb") as handle:
                handle.write(b"{}" * 8)
            if index % 2 == 0:
                os.utime(path, (OLD, OLD))


def _ours(root: Path) -> float:
    from workspace_tasks.cleanup import CleanupTarget, execute_plan, plan_cleanup

    start = time.perf_counter()
    plan = plan_cleanup([CleanupTarget(root, "cache")], [root], 30 * 86400)
    result = execute_plan(plan)
    elapsed = time.perf_counter() - start
    assert len(result.removed) == FILES // 2, len(result.removed)
    return elapsed


def _find(root: Path) -> float:
    start = time.perf_counter()
    argv = ["find", str(root), "-type", "f", "-mtime", "+30", "-delete"]
    subprocess.run(argv, check=True)
    return time.perf_counter() - start


def _timed(action) -> float:
    start = time.perf_counter()
    action()
    return time.perf_counter() - start


def run() -> list[Row]:
    from workspace_tasks.cache import _type_stats

    # A memory file system when there is one: the figures then measure the
    # tools, not a disk shared with other work.
    memory = "/dev/shm" if os.path.isdir("/dev/shm") else None
    scratch = Path(tempfile.mkdtemp(prefix="bench-runtime-", dir=memory))
    try:
        ours_tree, find_tree = scratch / "ours", scratch / "find"
        _generate(ours_tree)
        _generate(find_tree)
        subprocess.run(["sync"], check=False)

        stats = min(_timed(lambda: _type_stats(ours_tree, "x", 0)) for _ in range(3))
        du = min(
            _timed(
                lambda: subprocess.run(
                    ["du", "-s", str(ours_tree)], check=True, capture_output=True
                )
            )
            for _ in range(3)
        )
        reference = _find(find_tree)
        ours = _ours(ours_tree)
    finally:
        shutil.rmtree(scratch, ignore_errors=True)
    return [
        Row("runtime cleanup 100k files (50k old)", ours, "find -delete", reference,
            "<2x"),
        Row("runtime cache stats 100k files", stats, "du -s", du),
    ]  # fmt: skip
