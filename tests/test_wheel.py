"""The built wheel works outside the checkout, core root included."""

from __future__ import annotations

import os
import subprocess
import sys
import sysconfig
import venv
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parent.parent


@pytest.mark.slow
def test_wheel_installs_and_runs_outside_the_checkout(tmp_path):
    dist = tmp_path / "dist"
    subprocess.run(
        [sys.executable, "-m", "build", "--wheel", "--no-isolation", "--outdir",
         dist, REPO],
        check=True, capture_output=True,
    )  # fmt: skip
    wheel = next(dist.glob("workspace_tasks-*.whl"))
    env_dir = tmp_path / "venv"
    venv.EnvBuilder(with_pip=True).create(env_dir)
    python = env_dir / "bin" / "python"
    # The dependencies come from the test environment (no network needed);
    # its editable hook for this checkout is not loaded through a path line.
    site = subprocess.run(
        [python, "-c", "import sysconfig; print(sysconfig.get_path('purelib'))"],
        check=True, capture_output=True, text=True,
    ).stdout.strip()  # fmt: skip
    Path(site, "test_deps.pth").write_text(sysconfig.get_path("purelib") + "\n")
    subprocess.run(
        [python, "-m", "pip", "install", "--quiet", "--no-deps", "--no-index",
         "--force-reinstall", wheel],
        check=True, capture_output=True,
    )  # fmt: skip
    elsewhere = tmp_path / "elsewhere"
    elsewhere.mkdir()
    env = {"PATH": f"{env_dir / 'bin'}:/usr/bin:/bin", "USER": "dev",
           "HOME": str(tmp_path)}  # fmt: skip
    workspace = env_dir / "bin" / "workspace"

    init = subprocess.run(
        [workspace, "init", "--template", "full", "--create-examples"],
        cwd=elsewhere, env=env, capture_output=True, text=True, check=False,
    )  # fmt: skip
    resolved = subprocess.run(
        [workspace, "resolve", "path", "config", "config.defaults.toml",
         "--fallback-to-core"],
        cwd=elsewhere, env=env, capture_output=True, text=True, check=False,
    )  # fmt: skip
    where = subprocess.run(
        [python, "-c", "import workspace_tasks; print(workspace_tasks.__file__)"],
        cwd=elsewhere, env=env, capture_output=True, text=True, check=True,
    )  # fmt: skip

    assert init.returncode == 0, init.stderr
    assert (elsewhere / "workspace" / "config" / "dev.toml").is_file()
    assert resolved.returncode == 0, resolved.stderr
    core_file = Path(resolved.stdout.strip())
    assert core_file.is_file()
    assert core_file.is_relative_to(env_dir)
    assert Path(where.stdout.strip()).is_relative_to(env_dir)
    assert "PYTHONPATH" not in env and os.fspath(REPO) not in env["PATH"]
