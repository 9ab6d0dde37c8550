"""Backup and restore of a real-sized tree against ``tar --zstd``, with memory.

The tree (about 5,000 files, 40 MB, half compressible) is generated in a
temporary folder; each side runs as a separate process, as a user runs it.
"""

from __future__ import annotations

import os
import random
import shutil
import subprocess
import sys
import tempfile
from pathlib import Path

from benchmarks.common import BIN, Row, command, median_time

FILES = 5000
TOTAL_BYTES = 40 * 1024 * 1024
# The user's own areas: a backup holds only these, so tar gets the same.
TOPS = (
    "extensions/providers/bench",
    "extensions/taskservs/bench",
    "infra/bench",
    "runtime/workspaces/bench",
)
MEASURE = """
import resource, sys
from workspace_tasks.cli import main
code = main(sys.argv[1:])
peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
sys.stderr.write(f"peak_kb={peak}\\n")
raise SystemExit(code)
"""


def _make_tree(root: Path) -> None:
    rng = random.Random(7)
    words = [b"server", b"cluster", b"provider", b"taskserv", b"= true\n", b"port"]
    average = TOTAL_BYTES // FILES
    (root / ".provisioning-workspace.toml").write_text("")
    for index in range(FILES):
        top = TOPS[index % len(TOPS)]
        folder = root / top / f"d{index % 97}" / f"e{index % 13}"
        folder.mkdir(parents=True, exist_ok=True)
        size = rng.randint(average // 4, average * 7 // 4)
        text = b" ".join(rng.choice(words) for _ in range(size // 14))[: size // 2]
        (folder / f"file-{index}.txt").write_bytes(text + os.urandom(size - len(text)))


def _peak_mb(argv: list[str], env: dict) -> float:
    done = subprocess.run(
        [sys.executable, "-c", MEASURE, *argv],
        env=env,
        check=True,
        capture_output=True,
        text=True,
    )
    line = [x for x in done.stderr.splitlines() if x.startswith("peak_kb=")][-1]
    return int(line.split("=")[1]) / 1024


def run() -> list[Row]:
    scratch = Path(tempfile.mkdtemp(prefix="bench-backup-"))
    env = {**os.environ, "USER": "bench", "PROVISIONING_WORKSPACE_USER": "bench"}
    try:
        source = scratch / "ws"
        source.mkdir()
        _make_tree(source)
        archive = source / "runtime/data/bench/backups/bench.tar.zst"
        ours_backup = median_time(
            command(
                BIN / "workspace",
                "backup",
                "--root",
                source,
                "--name",
                "bench",
                "--compress",
                "zstd",
                "--force",
                env=env,
            ),
            runs=3,
        )
        tar_out = scratch / "tar.tar.zst"
        tar_backup = median_time(
            command("tar", "--zstd", "-cf", tar_out, "-C", source, *TOPS), runs=3
        )
        backup_peak = _peak_mb(
            [
                "backup",
                "--root",
                str(source),
                "--name",
                "bench",
                "--compress",
                "zstd",
                "--force",
            ],
            env,
        )

        counter = iter(range(100))

        def fresh() -> Path:
            target = scratch / f"restore-{next(counter)}"
            target.mkdir()
            (target / ".provisioning-workspace.toml").write_text("")
            return target

        def ours_restore() -> None:
            command(
                BIN / "workspace",
                "restore",
                "--root",
                fresh(),
                "--backup-file",
                archive,
                env=env,
            )()

        def tar_restore() -> None:
            command("tar", "--zstd", "-xf", archive, "-C", fresh())()

        ours_time = median_time(ours_restore, runs=3)
        tar_time = median_time(tar_restore, runs=3)
        restore_peak = _peak_mb(
            ["restore", "--root", str(fresh()), "--backup-file", str(archive)], env
        )
    finally:
        shutil.rmtree(scratch, ignore_errors=True)
    return [
        Row(
            "backup --compress zstd (5k files, 40MB)",
            ours_backup,
            "tar --zstd -cf",
            tar_backup,
            "<1.3x",
            f"peak {backup_peak:.0f}MB",
        ),
        Row(
            "restore --backup-file (5k files, 40MB)",
            ours_time,
            "tar --zstd -xf",
            tar_time,
            "<1.3x",
            f"peak {restore_peak:.0f}MB",
        ),
    ]
