"""``workspace runtime monitor``: samples over a duration."""

from __future__ import annotations

import json
import re

import pytest
from terminal import run_on_terminal

from workspace_tasks.monitor import run_monitor


class FakeClock:
    """A clock that advances only when slept on (plus a cost per sample)."""

    def __init__(self, cost: float = 0.0) -> None:
        self.now = 0.0
        self.cost = cost

    def __call__(self) -> float:
        return self.now

    def sleep(self, seconds: float) -> None:
        self.now += seconds


@pytest.mark.parametrize(
    ("duration", "interval", "expected"),
    [(0, 30, [0]), (4, 2, [0, 2, 4]), (5, 2, [0, 2, 4]), (1, 1, [0, 1])],
    ids=["snapshot", "even", "uneven", "one-step"],
)
def test_samples_fall_on_the_interval_until_the_duration(
    workspace, duration, interval, expected
):
    clock = FakeClock()
    result = run_monitor(
        workspace, duration, interval, "disk", clock=clock, sleep=clock.sleep
    )
    assert [s.elapsed for s in result.samples] == expected


def test_monitor_prints_json_lines_with_disk_use(workspace, cli):
    (workspace.cache_dir / "providers" / "x.json").write_text("12345")
    result = cli(
        "runtime",
        "monitor",
        "--root",
        workspace.root,
        "--duration",
        "2s",
        "--interval",
        "1s",
        "--type",
        "disk",
    )
    assert result.code == 0, result.err
    samples = [json.loads(line) for line in result.out.splitlines()]
    assert len(samples) == 3
    assert samples[0]["disk"]["cache"] == {"files": 1, "bytes": 5}
    assert "processes" not in samples[0]


def test_process_sample_lists_a_process_working_in_the_workspace(workspace):
    import subprocess
    import sys

    child = subprocess.Popen(
        [sys.executable, "-c", "import sys; sys.stdin.read()"],
        cwd=workspace.root,
        stdin=subprocess.PIPE,
    )
    try:
        result = run_monitor(workspace, 0, 1, "processes")
    finally:
        child.communicate(b"")
    found = {p.pid: p.reason for p in result.samples[0].processes}
    assert found[child.pid] == f"works in {workspace.root}"


@pytest.mark.parametrize(
    ("flags", "message"),
    [
        (["--duration", "5x"], "--duration: '5x' is not an age"),
        (["--interval", "0s"], "--interval: must be more than 0s"),
        (["--type", "network"], "--type: 'network' is not one of"),
        (["--duration", "١m"], "--duration: '١m' is not an age"),
        (["--interval", "١s"], "--interval: '١s' is not an age"),
    ],
    ids=["duration", "interval", "type", "arabic-indic-duration", "arabic-indic"],
)
def test_bad_monitor_flags_are_one_line_exit_2(workspace, cli, flags, message):
    result = cli("runtime", "monitor", "--root", workspace.root, *flags)
    assert result.code == 2
    assert message in result.err


MONITOR = ["runtime", "monitor", "--duration", "2s", "--interval", "1s"]


def test_monitor_on_a_terminal_shows_a_live_table(workspace):
    (workspace.cache_dir / "providers" / "x.json").write_text("12345")

    run = run_on_terminal(
        [*MONITOR, "--root", workspace.root, "--type", "disk"],
        on_terminal=("stdin", "stdout"),
    )

    assert run.code == 0, run.err
    assert run.err == ""
    titles = re.findall(r"workspace monitor at (\S+)", run.text)
    assert len(set(titles)) == 3
    assert re.search(r"│ cache +│ 1 +│ 5B +│", run.text)
    assert re.search(r"│ free +│ +│ \d", run.text)
    assert '"disk"' not in run.text


def test_monitor_writes_json_lines_when_stdout_is_not_a_terminal(workspace):
    (workspace.cache_dir / "providers" / "x.json").write_text("12345")

    run = run_on_terminal(
        [*MONITOR, "--root", workspace.root, "--type", "disk"],
        on_terminal=("stdin", "stderr"),
    )

    assert run.code == 0, run.text
    samples = [json.loads(line) for line in run.out.splitlines()]
    assert len(samples) == 3
    assert samples[0]["elapsed"] < samples[1]["elapsed"] < samples[2]["elapsed"]
    assert all(s["disk"]["cache"] == {"files": 1, "bytes": 5} for s in samples)
    assert "workspace monitor" not in run.text


def test_monitor_in_text_to_a_pipe_prints_a_table_per_sample(workspace, cli):
    (workspace.cache_dir / "providers" / "x.json").write_text("12345")
    result = cli(
        "runtime", "monitor", "--root", workspace.root, "--type", "disk",
        "--format", "text",
    )  # fmt: skip
    assert result.code == 0, result.err
    lines = result.out.splitlines()
    assert lines[0].startswith("workspace monitor at ")
    assert lines[1].split() == [
        "what",
        "files",
        "/",
        "pid",
        "size",
        "/",
        "rss",
        "detail",
    ]
    assert ["cache", "1", "5B"] in [line.split() for line in lines]
    assert "{" not in result.out


def test_monitor_with_an_interval_alone_samples_until_interrupted(
    workspace, cli, monkeypatch
):
    from workspace_tasks import monitor

    taken = []
    real = monitor.take_sample

    def sample(*args, **kwargs):
        if len(taken) == 4:
            raise KeyboardInterrupt
        taken.append(real(*args, **kwargs))
        return taken[-1]

    monkeypatch.setattr(monitor, "take_sample", sample)
    result = cli(
        "runtime", "monitor", "--root", workspace.root, "--type", "disk",
        "--interval", "0.01s",
    )  # fmt: skip
    assert result.code == 0, result.err
    assert len([json.loads(line) for line in result.out.splitlines()]) == 4


def test_monitor_without_duration_or_interval_takes_one_sample(workspace, cli):
    result = cli("runtime", "monitor", "--root", workspace.root, "--type", "disk")
    assert result.code == 0, result.err
    assert len(result.out.splitlines()) == 1
