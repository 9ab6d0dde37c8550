"""Start-up of ``workspace --help`` against importing invoke; ``workspace init``."""

from __future__ import annotations

import os
import shutil
import sys
import tempfile
from pathlib import Path

from benchmarks.common import BIN, Row, command, median_time


def run() -> list[Row]:
    python = sys.executable
    env = {**os.environ, "USER": os.environ.get("USER") or "bench"}
    ours = median_time(command(BIN / "workspace", "--help"), runs=11)
    invoke = median_time(command(python, "-c", "import invoke"), runs=11)
    rows = [Row("workspace --help (start-up)", ours, "import invoke", invoke, "<1.5x")]

    scratch = Path(tempfile.mkdtemp(prefix="bench-init-"))
    counter = iter(range(1000))

    def init() -> None:
        root = scratch / f"ws{next(counter)}"
        argv = (BIN / "workspace", "init", "--root", root, "--create-examples")
        command(*argv, env=env)()

    init_time = median_time(init, runs=5)
    made = next(scratch.iterdir())

    def copy() -> None:
        command("cp", "-a", made, scratch / f"copy{next(counter)}")()

    copy_time = median_time(copy, runs=5)
    rows.append(
        Row(
            "workspace init --create-examples",
            init_time,
            "cp -a of its tree",
            copy_time,
        )
    )
    shutil.rmtree(scratch, ignore_errors=True)
    return rows
