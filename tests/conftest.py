"""Shared fixtures: an isolated environment, workspaces built in tmp_path."""

from __future__ import annotations

import os
import subprocess
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path

import pytest
from external_tools import missing_programs

from workspace_tasks.cli import main
from workspace_tasks.context import Workspace, default_core_root, load_workspace

ISOLATED_PREFIXES = ("PROVISIONING_",)


@pytest.fixture(autouse=True)
def isolated_env(tmp_path_factory, monkeypatch):
    """Give every test its own HOME, USER=dev and no PROVISIONING_* variables."""
    home = tmp_path_factory.mktemp("home")
    for name in list(os.environ):
        if name.startswith(ISOLATED_PREFIXES):
            monkeypatch.delenv(name)
    monkeypatch.setenv("HOME", str(home))
    monkeypatch.setenv("USER", "dev")
    monkeypatch.delenv("VISUAL", raising=False)
    monkeypatch.delenv("EDITOR", raising=False)
    return home


@dataclass
class CliResult:
    """The outcome of one in-process ``workspace`` run."""

    code: int
    out: str
    err: str


@pytest.fixture
def cli(capsys, monkeypatch):
    """Run ``workspace ARGS`` in-process from a folder; return code and output."""

    def run(*args: str, cwd: Path | None = None) -> CliResult:
        if cwd is not None:
            monkeypatch.chdir(cwd)
        capsys.readouterr()
        code = main([str(a) for a in args])
        captured = capsys.readouterr()
        return CliResult(code, captured.out, captured.err)

    return run


def build_tree(root: Path, spec: Mapping[str, object]) -> None:
    """Create files from a mapping: ``{"a/b.txt": "text", "dir/": None}``."""
    for relpath, content in spec.items():
        path = root / relpath
        if relpath.endswith("/"):
            path.mkdir(parents=True, exist_ok=True)
            continue
        path.parent.mkdir(parents=True, exist_ok=True)
        if isinstance(content, bytes):
            path.write_bytes(content)
        else:
            path.write_text("" if content is None else str(content), encoding="utf-8")


@pytest.fixture
def make_workspace(tmp_path, cli):
    """Initialise a workspace under tmp_path; return its Workspace for a user."""

    def make(user: str = "dev", *extra: str) -> Workspace:
        root = tmp_path / "project" / "workspace"
        result = cli("init", "--root", root, "--user-name", user, *extra)
        assert result.code == 0, result.err
        return load_workspace(root, user, default_core_root({}), {})

    return make


@pytest.fixture
def workspace(make_workspace) -> Workspace:
    """A fresh workspace for user ``dev`` with the full template and examples."""
    return make_workspace("dev", "--template", "full", "--create-examples")


@pytest.fixture
def immutable(tmp_path):
    """Make files immutable with chattr +i (undone afterwards); skip without it."""
    made: list[Path] = []

    def make(path: Path) -> None:
        if missing_programs("chattr"):
            pytest.skip("needs chattr on PATH")
        done = subprocess.run(["chattr", "+i", str(path)], capture_output=True)
        if done.returncode != 0:
            pytest.skip("chattr +i is not available here")
        made.append(path)

    yield make
    for path in made:
        subprocess.run(["chattr", "-i", str(path)], check=True)
