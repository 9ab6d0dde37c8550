"""The runtime commands on a cache of 100,000 files, as a user runs them.

``workspace runtime cleanup`` removes the half of the files older than 30
days, against ``find -delete`` with the same age test on an identical tree;
``workspace runtime cache --action stats`` against ``du -s`` of the cache.
Each command is a process of its own; the medians of interleaved runs are
compared, every cleanup starting from a fresh copy of the same tree.
"""

from __future__ import annotations

import os
import shutil
import statistics
import subprocess
import tempfile
import time
from pathlib import Path

from benchmarks.common import BIN, Row, command, median_times

FILES = 100_000
FOLDERS = 100
OLD = time.time() - 40 * 86400
USER = "bench"
CLEANUP_RUNS = 3
STATS_RUNS = 5


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


def _fresh_copy(template: Path, target: Path) -> None:
    shutil.rmtree(target, ignore_errors=True)
    subprocess.run(["cp", "-a", str(template), str(target)], check=True)


def _timed(action) -> float:
    start = time.perf_counter()
    action()
    return time.perf_counter() - start


def run() -> list[Row]:
    # A memory file system when there is one: the figures then measure the
    # tools, not a disk shared with other work.
    memory = "/dev/shm" if os.path.isdir("/dev/shm") else None
    scratch = Path(tempfile.mkdtemp(prefix="bench-runtime-", dir=memory))
    env = {**os.environ, "USER": USER, "PROVISIONING_WORKSPACE_USER": USER}
    try:
        template = scratch / "template"
        _generate(template)
        root = scratch / "ws"
        command(BIN / "workspace", "init", "--root", root, env=env)()
        cache = root / "runtime" / "cache" / USER
        providers = cache / "providers"
        _fresh_copy(template, providers)
        subprocess.run(["sync"], check=False)

        workspace = BIN / "workspace"
        stats = median_times(
            {
                "ours": command(workspace, "runtime", "cache", "--action", "stats",
                                "--root", root, env=env),
                "du": command("du", "-s", cache),
            },
            STATS_RUNS,
        )  # fmt: skip
        cleanup = command(
            workspace, "runtime", "cleanup", "--type", "cache", "--age", "30d",
            "--force", "--root", root, env=env,
        )  # fmt: skip
        find_tree = scratch / "find"
        find = command("find", find_tree, "-type", "f", "-mtime", "+30", "-delete")
        ours_times, find_times = [], []
        for _ in range(CLEANUP_RUNS):
            _fresh_copy(template, providers)
            _fresh_copy(template, find_tree)
            ours_times.append(_timed(cleanup))
            find_times.append(_timed(find))
        left = sum(1 for _ in providers.rglob("*.json"))
        assert left == FILES // 2, f"the cleanup left {left} files"
    finally:
        shutil.rmtree(scratch, ignore_errors=True)
    return [
        Row("runtime cleanup 100k files (50k old)", statistics.median(ours_times),
            "find -delete", statistics.median(find_times), "<2x"),
        Row("runtime cache stats 100k files", stats["ours"], "du -s", stats["du"],
            "<2x"),
    ]  # fmt: skip
