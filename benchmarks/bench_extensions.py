"""doit validate over 50 extensions: no-op and one-changed runs against a full run."""

from __future__ import annotations

import os
import shutil
import subprocess
import tempfile
from pathlib import Path

from benchmarks.common import BIN, Row, median_time

COUNT = 50
KINDS = ("providers", "taskservs", "clusters")


def _workspace(scratch: Path):
    from workspace_tasks.context import default_core_root, load_workspace
    from workspace_tasks.scaffold import ExtensionOptions, create_extension

    root = scratch / "workspace"
    env = {**os.environ, "USER": "bench"}
    subprocess.run(
        [BIN / "workspace", "init", "--root", root, "--user-name", "bench"],
        env=env,
        check=True,
        stdout=subprocess.DEVNULL,
    )
    ws = load_workspace(root, "bench", default_core_root({}), {})
    for number in range(COUNT):
        kind = KINDS[number % len(KINDS)]
        create_extension(ws, kind, f"ext-{number:02d}", ExtensionOptions())
    return ws


def _validate(ws, report: Path) -> None:
    from doit.cmd_base import ModuleTaskLoader
    from doit.doit_cmd import DoitMain

    from workspace_tasks.taskdefs import doit_config, task_creators

    namespace = {"DOIT_CONFIG": doit_config(ws), **task_creators(ws)}
    code = DoitMain(ModuleTaskLoader(namespace)).run(["-o", str(report), "validate"])
    if code != 0:
        raise RuntimeError(f"doit validate failed: {report.read_text()}")


def run() -> list[Row]:
    scratch = Path(tempfile.mkdtemp(prefix="bench-extensions-"))
    try:
        ws = _workspace(scratch)
        report = scratch / "doit.txt"

        def full() -> None:
            ws.doit_dep_file.unlink(missing_ok=True)
            _validate(ws, report)

        full_time = median_time(full, runs=3)
        noop_time = median_time(lambda: _validate(ws, report), runs=5)
        counter = iter(range(100))
        template = ws.user_extensions_dir("providers") / "ext-00" / "templates"

        def one_changed() -> None:
            with (template / "network.j2").open("a") as handle:
                handle.write(f"# change {next(counter)}\n")
            _validate(ws, report)

        one_time = median_time(one_changed, runs=5)
    finally:
        shutil.rmtree(scratch, ignore_errors=True)
    name = f"doit validate, {COUNT} extensions"
    return [
        Row(f"{name}: no-op", noop_time, "full run", full_time, "<0.10"),
        Row(f"{name}: one changed", one_time, "full run", full_time, "<0.15"),
    ]
