"""Backup and restore of a real-sized tree against ``tar --zstd``, with memory.

The tree (about 5,000 files, 40 MB, half compressible) is generated in a
temporary folder; each side runs as a separate process, as a user runs it,
the two taking turns. Peak memory is measured on that tree and on one of
the same files five times larger: it must not grow with the tree.
Encrypted backups are measured to an age key (against ``tar | age -r``)
and with a passphrase, whose scrypt costs a fixed amount of memory.
"""

from __future__ import annotations

import os
import random
import shutil
import subprocess
import sys
import tempfile
from collections.abc import Callable
from pathlib import Path

from benchmarks.common import BIN, Row, command, median_times

FILES = 5000
MEGABYTES = (40, 200)
RUNS = 5
# The user's own areas: a backup holds only these, so tar gets the same.
TOPS = (
    "extensions/providers/bench",
    "extensions/taskservs/bench",
    "infra/bench",
    "runtime/workspaces/bench",
)
# The peak of the command's process: VmHWM starts afresh with the program,
# while ru_maxrss keeps the parent's size from before exec (the benchmark's
# own, which would hide ours). A half of the work done in a forked child
# (see workspace_tasks.parallel) has its own peak, the pages it shares with
# the parent counted in both: the larger of the two is reported.
MEASURE = """
import resource, sys
from workspace_tasks.cli import main
code = main(sys.argv[1:])
try:
    with open("/proc/self/status") as status:
        line = next(x for x in status if x.startswith("VmHWM:"))
    peak = int(line.split()[1])
except (OSError, StopIteration):
    peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
child = resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss
sys.stderr.write(f"peak_kb={max(peak, child)}\\n")
raise SystemExit(code)
"""
PASSPHRASE = "bench passphrase"


def _make_tree(root: Path, megabytes: int) -> None:
    rng = random.Random(7)
    words = [b"server", b"cluster", b"provider", b"taskserv", b"= true\n", b"port"]
    average = megabytes * 1024 * 1024 // FILES
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


class _Bench:
    """One scratch folder: trees, fresh restore targets, the commands."""

    def __init__(self, scratch: Path) -> None:
        self.scratch = scratch
        self.env = {
            **os.environ,
            "USER": "bench",
            "PROVISIONING_WORKSPACE_USER": "bench",
            "PROVISIONING_BACKUP_PASSPHRASE": PASSPHRASE,
        }
        self.counter = iter(range(1_000_000))
        self.key = ""

    def tree(self, megabytes: int) -> Path:
        source = self.scratch / f"ws-{megabytes}"
        source.mkdir()
        _make_tree(source, megabytes)
        return source

    def fresh(self) -> Path:
        target = self.scratch / f"restore-{next(self.counter)}"
        target.mkdir()
        (target / ".provisioning-workspace.toml").write_text("")
        return target

    def backup_argv(self, source: Path, name: str, *flags: str) -> list[str]:
        return [
            "backup", "--root", str(source), "--name", name,
            "--compress", "zstd", "--force", *flags,
        ]  # fmt: skip

    def ours(self, argv: list[str] | Callable[[], list[str]]) -> Callable[[], None]:
        def run() -> None:
            args = argv() if callable(argv) else argv
            command(BIN / "workspace", *args, env=self.env)()

        return run

    def restore_argv(self, archive: Path) -> list[str]:
        return ["restore", "--root", str(self.fresh()), "--backup-file", str(archive)]

    def use_age_key(self, source: Path) -> bool:
        """Write an age key for the tree's user; False without age-keygen."""
        if shutil.which("age-keygen") is None or shutil.which("age") is None:
            return False
        identity = self.scratch / f"key-{next(self.counter)}.txt"
        subprocess.run(["age-keygen", "-o", identity], check=True, capture_output=True)
        self.key = subprocess.run(
            ["age-keygen", "-y", identity], check=True, capture_output=True, text=True
        ).stdout.strip()
        config = source / "config" / "bench.toml"
        config.parent.mkdir(exist_ok=True)
        config.write_text(
            f'[backup]\nrecipients = ["{self.key}"]\nidentity_file = "{identity}"\n'
        )
        return True


def run() -> list[Row]:
    scratch = Path(tempfile.mkdtemp(prefix="bench-backup-"))
    bench = _Bench(scratch)
    try:
        return _rows(bench)
    finally:
        shutil.rmtree(scratch, ignore_errors=True)


def _rows(bench: _Bench) -> list[Row]:
    small, large = (bench.tree(megabytes) for megabytes in MEGABYTES)
    backups = small / "runtime/data/bench/backups"
    archive = backups / "bench.tar.zst"
    tar_out = bench.scratch / "tar.tar.zst"
    made = median_times(
        {
            "ours": bench.ours(bench.backup_argv(small, "bench")),
            "tar": command("tar", "--zstd", "-cf", tar_out, "-C", small, *TOPS),
        },
        RUNS,
    )
    restored = median_times(
        {
            "ours": bench.ours(lambda: bench.restore_argv(archive)),
            "tar": lambda: command(
                "tar", "--zstd", "-xf", archive, "-C", bench.fresh()
            )(),
        },
        RUNS,
    )
    peaks = {
        name: [
            _peak_mb(bench.backup_argv(tree, "peak"), bench.env),
            _peak_mb(
                bench.restore_argv(tree / "runtime/data/bench/backups/peak.tar.zst"),
                bench.env,
            ),
        ]
        for name, tree in (("small", small), ("large", large))
    }
    size = f"5k files, {MEGABYTES[0]}MB"
    rows = [
        Row(f"backup --compress zstd ({size})", made["ours"], "tar --zstd -cf",
            made["tar"], "<1.3x", _peak_note(peaks, 0)),
        Row(f"restore --backup-file ({size})", restored["ours"], "tar --zstd -xf",
            restored["tar"], "<1.3x", _peak_note(peaks, 1)),
    ]  # fmt: skip
    return rows + _encrypted_rows(bench, small, large)


def _peak_note(peaks: dict[str, list[float]], index: int) -> str:
    small, large = peaks["small"][index], peaks["large"][index]
    return f"peak {small:.0f}MB, {MEGABYTES[1]}MB tree {large:.0f}MB (<100MB)"


def _encrypted_rows(bench: _Bench, small: Path, large: Path) -> list[Row]:
    """Backups sealed to an age key, and with a passphrase (no key configured)."""
    rows = []
    passphrase = median_times(
        {"ours": bench.ours(bench.backup_argv(small, "sealed", "--encrypt"))}, 3
    )["ours"]
    peaks = [
        _peak_mb(bench.backup_argv(tree, "sealed", "--encrypt"), bench.env)
        for tree in (small, large)
    ]
    if bench.use_age_key(small) and bench.use_age_key(large):
        out = bench.scratch / "tar.tar.zst.age"
        tops = " ".join(TOPS)
        piped = f"tar --zstd -cf - -C {small} {tops} | age -r {bench.key} -o {out}"
        keyed = median_times(
            {
                "ours": bench.ours(bench.backup_argv(small, "keyed", "--encrypt")),
                "tar": command("bash", "-c", piped),
            },
            RUNS,
        )
        key_peaks = [
            _peak_mb(bench.backup_argv(tree, "keyed", "--encrypt"), bench.env)
            for tree in (small, large)
        ]
        rows.append(
            Row(f"backup --encrypt, age key ({MEGABYTES[0]}MB)", keyed["ours"],
                "tar --zstd | age -r", keyed["tar"], "<1.3x",
                f"peak {key_peaks[0]:.0f}MB, {MEGABYTES[1]}MB tree "
                f"{key_peaks[1]:.0f}MB (<100MB)")
        )  # fmt: skip
        reference, reference_name = keyed["ours"], "with an age key"
    else:
        reference, reference_name = passphrase, "(age missing)"
    rows.append(
        Row(f"backup --encrypt, passphrase ({MEGABYTES[0]}MB)", passphrase,
            reference_name, reference, "",
            f"peak {peaks[0]:.0f}MB, {MEGABYTES[1]}MB tree {peaks[1]:.0f}MB "
            "(scrypt 2^18: 256MB, flat)")
    )  # fmt: skip
    return rows
