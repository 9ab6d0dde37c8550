"""Run the installed ``workspace`` script with some of its streams on a terminal.

A pseudo-terminal stands in for the user's: what the command writes there is
collected as the screen, and answers are typed when their question shows.
The streams not on the terminal are pipes (standard input: nothing).
"""

from __future__ import annotations

import fcntl
import os
import pty
import re
import select
import struct
import subprocess
import sys
import termios
import time
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

WORKSPACE = Path(sys.executable).parent / "workspace"
STREAMS = ("stdin", "stdout", "stderr")
_ESCAPES = re.compile(r"\x1b(\[[0-9;?]*[A-Za-z]|\][^\x07]*\x07|[()][A-Z0-9])")


@dataclass
class TerminalRun:
    """The outcome of one run: exit code, the screen and the piped output."""

    code: int
    screen: str
    out: str
    err: str

    @property
    def text(self) -> str:
        """Return the screen without its colour and cursor controls."""
        return _ESCAPES.sub("", self.screen).replace("\r", "")


def run_on_terminal(
    args: Sequence[object],
    *,
    on_terminal: Sequence[str] = STREAMS,
    answers: Sequence[tuple[str, str]] = (),
    columns: int = 120,
    rows: int = 60,
    timeout: float = 120.0,
) -> TerminalRun:
    """Run ``workspace ARGS`` with the streams ``on_terminal`` on a terminal.

    Args:
        args: the command's arguments.
        on_terminal: which of stdin, stdout and stderr are the terminal.
        answers: (question, reply) pairs: each reply is typed, with a newline,
            once its question has appeared on the screen, in order.
        columns: the terminal's width.
        rows: the terminal's height.
        timeout: the run is killed and the test fails after this many seconds.
    """
    master, slave = pty.openpty()
    fcntl.ioctl(slave, termios.TIOCSWINSZ, struct.pack("HHHH", rows, columns, 0, 0))
    env = {**os.environ, "TERM": "xterm-256color"}
    for name in ("COLUMNS", "LINES", "NO_COLOR", "FORCE_COLOR", "TTY_COMPATIBLE"):
        env.pop(name, None)
    spare = {"stdin": subprocess.DEVNULL}
    streams = {
        name: slave if name in on_terminal else spare.get(name, subprocess.PIPE)
        for name in STREAMS
    }
    child = subprocess.Popen(
        [str(WORKSPACE), *(str(a) for a in args)], env=env, **streams
    )
    os.close(slave)
    try:
        screen, out, err = _collect(child, master, list(answers), timeout)
    finally:
        os.close(master)
    return TerminalRun(
        child.wait(),
        screen.decode(errors="replace"),
        out.decode(errors="replace"),
        err.decode(errors="replace"),
    )


def _collect(
    child: subprocess.Popen,
    master: int,
    answers: list[tuple[str, str]],
    timeout: float,
) -> tuple[bytes, bytes, bytes]:
    """Read the terminal and the pipes until all are closed; type the answers.

    Returns what the terminal, the stdout pipe and the stderr pipe received.
    """
    pipes = {"out": child.stdout, "err": child.stderr}
    names = {master: "screen"} | {p.fileno(): n for n, p in pipes.items() if p}
    received = dict.fromkeys(("screen", "out", "err"), b"")
    reading = set(names)
    asked_from = 0
    deadline = time.monotonic() + timeout
    while reading:
        left = deadline - time.monotonic()
        if left <= 0:
            child.kill()
            child.wait()
            raise AssertionError(
                f"workspace did not finish in {timeout:g}s; screen so far: "
                f"{received['screen'][-2000:]!r}"
            )
        ready, _, _ = select.select(list(reading), [], [], left)
        for fd in ready:
            try:
                data = os.read(fd, 65536)
            except OSError:  # the terminal's other side closed
                data = b""
            if not data:
                reading.discard(fd)
            received[names[fd]] += data
        if answers and answers[0][0].encode() in received["screen"][asked_from:]:
            asked_from = len(received["screen"])
            os.write(master, f"{answers.pop(0)[1]}\n".encode())
    for pipe in pipes.values():
        if pipe:
            pipe.close()
    if answers:
        raise AssertionError(
            f"workspace never asked {answers[0][0]!r}; screen: "
            f"{received['screen'][-2000:]!r}"
        )
    return received["screen"], received["out"], received["err"]
