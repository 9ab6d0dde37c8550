"""The README's Python examples run as written."""

from __future__ import annotations

import re
import subprocess
import sys
from pathlib import Path

import pytest

README = Path(__file__).parent.parent / "README.md"
SNIPPETS = re.findall(r"^```python\n(.*?)^```$", README.read_text(), re.S | re.M)


def test_the_readme_has_python_examples():
    assert SNIPPETS


@pytest.mark.parametrize("snippet", SNIPPETS)
def test_a_python_example_of_the_readme_runs(cli, tmp_path, snippet):
    created = cli("init", "--root", tmp_path / "workspace", "--user-name", "developer")
    assert created.code == 0, created.err
    done = subprocess.run(
        [sys.executable, "-c", snippet],
        cwd=tmp_path,
        capture_output=True,
        text=True,
        check=False,
    )
    assert done.returncode == 0, done.stderr
    ttl, verdict = done.stdout.splitlines()[:2]
    assert ttl == "300"  # config/dev-defaults.toml of a development workspace
    assert verdict.split()[0] in ("healthy", "warning", "critical")
