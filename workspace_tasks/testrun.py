"""Run an extension's tests with pytest, or render its templates as a dry run.

The tests run in a separate Python process (this interpreter) from the
extension's folder, with the folder on the import path so its package
imports by name; no bytecode or pytest cache is written into the extension.
"""

from __future__ import annotations

import contextlib
import logging
import os
import re
import subprocess
import sys
from dataclasses import asdict, dataclass, field
from pathlib import Path

from workspace_tasks import extension_files
from workspace_tasks.context import Workspace
from workspace_tasks.errors import UsageError
from workspace_tasks.manifest import MANIFEST_NAME, load_manifest
from workspace_tasks.resolver import Extension, resolve_extension

log = logging.getLogger(__name__)

_COUNT = re.compile(r"(\d+) (passed|failed|errors?|skipped|xfailed|xpassed)")
# The templates a provider's dry run renders, as the spec names them.
PROVIDER_TEMPLATES = ("server.j2", "network.j2")
PYTEST_NO_TESTS = 5


@dataclass
class ExtensionTestRun:
    """The outcome of one extension's tests."""

    kind: str
    name: str
    path: str
    command: list[str]
    exit_code: int
    counts: dict[str, int] = field(default_factory=dict)
    output: str = ""

    @property
    def ok(self) -> bool:
        return self.exit_code == 0

    def summary(self) -> str:
        """Return pytest's counts as one phrase, e.g. ``9 passed, 1 failed``."""
        if self.exit_code == PYTEST_NO_TESTS:
            return "no tests found"
        parts = [f"{n} {what}" for what, n in self.counts.items()]
        return ", ".join(parts) or f"pytest exited with {self.exit_code}"

    def to_dict(self) -> dict:
        data = asdict(self)
        data.update(ok=self.ok, summary=self.summary())
        return data


@dataclass
class DryRender:
    """Templates rendered over an extension's defaults, written nowhere."""

    kind: str
    name: str
    path: str
    rendered: dict[str, str] = field(default_factory=dict)

    def to_dict(self) -> dict:
        return asdict(self)


def pytest_command() -> list[str]:
    """Return the pytest command line, run from the extension's folder.

    Every path in it is relative to that folder: pytest expands ``$NAME``
    in ``--rootdir``, so a workspace under a folder named ``x $HOME`` must
    never appear there.
    """
    return [
        sys.executable,
        "-m",
        "pytest",
        "-q",
        # The extension's own folder is the root; no outer configuration.
        "-c",
        os.devnull,
        "--rootdir",
        ".",
        "-p",
        "no:cacheprovider",
        "--import-mode=importlib",
        "tests",
    ]


def _check_inside(ws: Workspace, extension: Extension) -> None:
    """Refuse to run or render an extension whose folder leads out of bounds."""
    from workspace_tasks.validation import outside_location

    outside = outside_location(ws, extension)
    if outside is not None:
        raise UsageError(
            f"{extension.path} leads to {outside}, outside the workspace; "
            "its code is not run"
        )


def _check_manifest_readable(folder: Path) -> None:
    """Refuse to run tests that would read a manifest no reader can read.

    The tests of an extension read its ``extension.toml``: a fifo there
    would leave them waiting for ever, a huge file fill their memory.

    Raises:
        UnreadableFile: the manifest is not a regular file, or too large.
    """
    with contextlib.suppress(FileNotFoundError):  # validation reports it missing
        extension_files.read_bytes(folder, folder / MANIFEST_NAME)


def run_tests(ws: Workspace, extension: Extension) -> ExtensionTestRun:
    """Run the unit and integration tests of ``extension``; return the outcome.

    Raises:
        UsageError: the extension has no ``tests`` folder.
    """
    _check_inside(ws, extension)
    folder = extension.path
    if not (folder / "tests").is_dir():
        raise UsageError(f"{extension.kind}/{extension.name} has no tests folder")
    _check_manifest_readable(folder)
    command = pytest_command()
    environ = {
        **ws.environ,
        "PYTHONPATH": str(folder),
        "PYTHONDONTWRITEBYTECODE": "1",
        "NO_COLOR": "1",
    }
    environ.pop("PYTEST_ADDOPTS", None)
    log.debug("running %s in %s", command, folder)
    completed = subprocess.run(
        command,
        cwd=folder,
        env=environ,
        stdin=subprocess.DEVNULL,
        capture_output=True,
        text=True,
        check=False,
    )
    output = completed.stdout + completed.stderr
    tail = output.strip().splitlines()[-1:] or [""]
    counts = {what: int(n) for n, what in _COUNT.findall(tail[0])}
    log.info(
        "tests of %s/%s: exit %d", extension.kind, extension.name, completed.returncode
    )
    return ExtensionTestRun(
        extension.kind,
        extension.name,
        str(folder),
        command,
        completed.returncode,
        counts,
        output,
    )


def run_extension_tests(ws: Workspace, kind: str, name: str) -> ExtensionTestRun:
    """Find extension ``kind``/``name`` and run its tests."""
    return run_tests(ws, resolve_extension(ws, kind, name))


def render_dry(ws: Workspace, kind: str, name: str) -> DryRender:
    """Render the extension's templates over its defaults, writing nothing.

    A provider renders its server and network templates; other kinds every
    template of their ``templates/`` folder.

    Raises:
        UsageError: a template fails to render (file and reason).
    """
    import jinja2

    from workspace_tasks import template_plugins

    extension = resolve_extension(ws, kind, name)
    _check_inside(ws, extension)
    manifest = load_manifest(extension.path)
    env = template_plugins.environment(extension.path, manifest)
    names = PROVIDER_TEMPLATES if kind == "providers" else _template_names(extension)
    result = DryRender(kind, name, str(extension.path))
    for template in names:
        try:
            text = env.get_template(template).render(**manifest.defaults)
        except jinja2.TemplateError as exc:
            where = extension.path / "templates" / template
            line = getattr(exc, "lineno", None)
            place = f"{where}:{line}" if line else str(where)
            raise UsageError(f"{place}: cannot render: {exc}") from None
        result.rendered[f"templates/{template}"] = text
    return result


def _template_names(extension: Extension) -> list[str]:
    folder = extension.path / "templates"
    if not folder.is_dir():
        return []
    return sorted(p.name for p in folder.iterdir() if p.suffix == ".j2")
