"""``workspace health`` over a 100,000-file cache against ``du -s``; ``doit health``."""

from __future__ import annotations

import os
import shutil
import tempfile
from pathlib import Path

from benchmarks.common import BIN, Row, command, median_time, median_times

CACHE_FOLDERS = 100
FILES_PER_FOLDER = 1000
EXTENSIONS = 10


def _init(root: Path, env: dict[str, str]) -> None:
    command(BIN / "workspace", "init", "--root", root, "--template", "full", env=env)()


def _fill_cache(cache: Path) -> None:
    payload = b"cached response body\n" * 3
    for folder_number in range(CACHE_FOLDERS):
        folder = cache / "providers" / f"region-{folder_number:03d}"
        folder.mkdir(parents=True)
        for number in range(FILES_PER_FOLDER):
            (folder / f"entry-{number:04d}.json").write_bytes(payload)


def _add_extensions(root: Path, env: dict[str, str]) -> None:
    for number in range(EXTENSIONS):
        name = f"taskservs/service-{number:02d}"
        command(BIN / "workspace", "tools", "create-extension", name, "--root", root,
                env=env)()  # fmt: skip


def run() -> list[Row]:
    user = os.environ.get("USER") or "bench"
    env = {**os.environ, "USER": user}
    scratch = Path(tempfile.mkdtemp(prefix="bench-health-"))
    try:
        return [_cache_row(scratch, env, user), *_doit_rows(scratch, env, user)]
    finally:
        shutil.rmtree(scratch, ignore_errors=True)


def _cache_row(scratch: Path, env: dict[str, str], user: str) -> Row:
    root = scratch / "big-cache"
    _init(root, env)
    cache = root / "runtime" / "cache" / user
    _fill_cache(cache)
    health = command(BIN / "workspace", "health", "--root", root, env=env)
    times = median_times({"ours": health, "du": command("du", "-s", cache)}, 5)
    files = CACHE_FOLDERS * FILES_PER_FOLDER
    return Row(
        f"workspace health, cache of {files:,} files",
        times["ours"],
        "du -s",
        times["du"],
        "<2x",
    )


def _doit_rows(scratch: Path, env: dict[str, str], user: str) -> list[Row]:
    root = scratch / "incremental"
    _init(root, env)
    _add_extensions(root, env)
    state = root / "runtime" / "state" / user
    doit = command(BIN / "doit", "health", cwd=root / "tools", env=env)

    def first() -> None:
        (state / "doit-state.json").unlink(missing_ok=True)
        shutil.rmtree(state / "health", ignore_errors=True)
        doit()

    first_time = median_time(first, runs=5)
    doit()
    no_op = median_time(doit, runs=5)
    # doit's own cost, whatever the tasks: start-up, plugins, one empty task.
    empty = scratch / "empty-dodo"
    empty.mkdir()
    (empty / "dodo.py").write_text("def task_nothing():\n    return {'actions': []}\n")
    floor = median_time(command(BIN / "doit", "list", cwd=empty, env=env), runs=5)
    return [
        Row("doit health, nothing changed", no_op, "first run", first_time, "<0.25"),
        Row("doit list, empty dodo (doit's floor)", floor, "first run", first_time),
    ]
