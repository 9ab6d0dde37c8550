"""Merging the four configuration layers; ``doit config`` with nothing to do."""

from __future__ import annotations

import contextlib
import io
import shutil
import tempfile
import tomllib
from pathlib import Path

from benchmarks.common import BIN, Row, command, median_time
from workspace_tasks.cascade import cache_is_fresh, layer_sources, load_cascade
from workspace_tasks.config_ops import write_cache, write_merged
from workspace_tasks.context import default_core_root, load_workspace
from workspace_tasks.interpolation import git_revision


def _workspace(scratch: Path, name: str, env: dict[str, str]):
    root = scratch / name
    argv = (BIN / "workspace", "init", "--root", root, "--user-name", "bench")
    command(*argv, "--workspace-type", "testing", env=env)()
    return load_workspace(root, "bench", default_core_root({}), {})


def _doit(ws) -> None:
    from doit.cmd_base import ModuleTaskLoader
    from doit.doit_cmd import DoitMain

    from workspace_tasks.taskdefs import doit_config, task_creators

    tasks = {"DOIT_CONFIG": doit_config(ws), **task_creators(ws)}
    quiet = io.StringIO()
    with contextlib.redirect_stdout(quiet), contextlib.redirect_stderr(quiet):
        code = DoitMain(ModuleTaskLoader(tasks)).run(
            ["run", "--reporter", "zero", "config"]
        )
    if code:
        raise RuntimeError(f"doit config failed with {code}")


def _doit_nothing() -> None:
    """Run doit in-process as :func:`_doit` does, on one task with no action."""
    from doit.cmd_base import ModuleTaskLoader
    from doit.doit_cmd import DoitMain

    folder = tempfile.mkdtemp(prefix="bench-doit-")
    tasks = {
        "DOIT_CONFIG": {"dep_file": f"{folder}/state.json", "backend": "json"},
        "task_nothing": lambda: {"actions": []},
    }
    quiet = io.StringIO()
    with contextlib.redirect_stdout(quiet), contextlib.redirect_stderr(quiet):
        DoitMain(ModuleTaskLoader(tasks)).run(["run", "--reporter", "zero"])
    shutil.rmtree(folder, ignore_errors=True)


LARGE_KEYS = 5000


def _large_layer_row(scratch: Path, env: dict[str, str]) -> Row:
    """Merge (comments kept) a user layer of 5,000 keys; tomllib reads it."""
    ws = _workspace(scratch, "large", env)
    lines = ["[large]"]
    for index in range(LARGE_KEYS):
        lines += [f"# setting {index}", f'key_{index:05d} = "{"v" * 40}"']
    ws.user_config.write_text("\n".join(lines) + "\n", encoding="utf-8")
    target = scratch / "large-merged.toml"
    merge = median_time(lambda: write_merged(ws, target), runs=3)
    parse = median_time(lambda: tomllib.loads(ws.user_config.read_text()), runs=3)
    return Row(
        f"config merge, {LARGE_KEYS} keys", merge, "tomllib parse", parse, "linear"
    )


def run() -> list[Row]:
    import os

    env = {**os.environ, "USER": "bench"}
    scratch = Path(tempfile.mkdtemp(prefix="bench-config-"))
    try:
        ws = _workspace(scratch, "ws", env)
        files = [s.path for s in layer_sources(ws) if s.path and s.path.is_file()]

        def parse_only() -> None:
            for path in files:
                with path.open("rb") as handle:
                    tomllib.load(handle)

        merge = median_time(lambda: load_cascade(ws), runs=51)
        parse = median_time(parse_only, runs=51)
        rows = [
            Row(
                f"merge {len(files)} layers (in-process)",
                merge,
                "tomllib parse only",
                parse,
            )
        ]

        firsts = iter([_workspace(scratch, f"first{i}", env) for i in range(7)])

        def first_run() -> None:
            # A first run in a new process asks git once; do not reuse its answer.
            git_revision.cache_clear()
            _doit(next(firsts))

        first = median_time(first_run, runs=7)
        _doit(ws)
        noop = median_time(lambda: _doit(ws), runs=11)
        rows.append(
            Row("doit config, nothing changed", noop, "first run", first, "<0.3x")
        )
        floor = median_time(_doit_nothing, runs=11)
        rows.append(
            Row("doit, one empty task (doit's floor)", floor, "first run", first)
        )

        # doit spends most of a no-op scanning installed packages for its
        # plugins; the task's own up-to-date check is this part.
        check = median_time(lambda: cache_is_fresh(ws), runs=51)
        write = median_time(lambda: write_cache(ws), runs=11)
        rows.append(Row("config cache freshness check", check, "cache write", write))
        rows.append(_large_layer_row(scratch, env))
        return rows
    finally:
        shutil.rmtree(scratch, ignore_errors=True)
