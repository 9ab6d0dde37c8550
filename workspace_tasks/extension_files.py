"""The one rule for reading the files of an extension.

The tool reads what an extension holds to validate it, to render its
templates (``test-extension --dry-run``, ``deploy-test``) and to load its
template plugins. A file is read only when, with every symbolic link on the
way followed, it lies inside the extension's folder: a link leading out (to
``/etc``, to another user's files) is reported by validation and refused by
every reader, never followed. Listing the files (for validation and the doit
tasks) takes regular files only, skipping links and caches.
"""

from __future__ import annotations

import os
import stat
from collections.abc import Callable
from pathlib import Path
from typing import Any

from workspace_tasks import safefs
from workspace_tasks.errors import UsageError
from workspace_tasks.problems import Problem

SKIPPED_NAMES = {"__pycache__", ".pytest_cache", ".mypy_cache", ".ruff_cache"}


class OutsideExtension(UsageError):
    """A file of an extension that leads out of the extension's folder."""


def list_files(folder: Path) -> list[Path]:
    """Return the extension's regular files, sorted, skipping caches and links.

    A fifo, device or socket is no file of an extension: it is left out
    (reading it could hang), and :func:`special_files` names it.
    """
    return [path for path, special in _entries(folder) if not special]


def special_files(folder: Path) -> list[Path]:
    """Return what in ``folder`` is neither a regular file, a folder nor a link."""
    return [path for path, special in _entries(folder) if special]


def _entries(folder: Path) -> list[tuple[Path, bool]]:
    """Return the extension's files and special files, sorted, links left out."""
    found = []
    for dirpath, dirnames, filenames in os.walk(folder, followlinks=False):
        dirnames[:] = sorted(d for d in dirnames if d not in SKIPPED_NAMES)
        for name in sorted(filenames):
            path = Path(dirpath) / name
            try:
                mode = path.lstat().st_mode
            except FileNotFoundError:
                continue
            if name.endswith(".pyc") or stat.S_ISLNK(mode):
                continue
            found.append((path, not stat.S_ISREG(mode)))
    return found


def outside_target(folder: Path, path: Path) -> str | None:
    """Return where ``path`` really leads when that is outside ``folder``.

    None when ``path``, with every link on the way followed, lies inside.
    """
    real = Path(os.path.realpath(path))
    root = Path(os.path.realpath(folder))
    if real == root or root in real.parents:
        return None
    return str(real)


def check_inside(folder: Path, path: Path) -> Path:
    """Return ``path`` when it may be read as a file of the extension ``folder``.

    Raises:
        OutsideExtension: ``path`` leads out of ``folder`` (exit 2).
    """
    target = outside_target(folder, path)
    if target is not None:
        raise OutsideExtension(
            f"{path} leads to {target}, outside the extension; it is not read"
        )
    return path


def read_bytes(folder: Path, path: Path) -> bytes:
    """Read the file ``path`` of the extension ``folder`` by the rule above.

    Only a regular file of at most :data:`safefs.MAX_READ_SIZE` bytes is
    read: a fifo or a device at its name is refused, never waited on.

    Raises:
        OutsideExtension: ``path`` leads out of ``folder``.
        UnreadableFile: not a regular file, or too large.
        OSError: the file cannot be read.
    """
    return safefs.read_regular(check_inside(folder, path))


def link_problems(folder: Path, shown: Callable[[Path], str]) -> list[Problem]:
    """Return a problem for each link in ``folder`` that leads out of it.

    A fifo, device or socket among the files is one too: it is not read.
    """
    problems = [
        Problem(f"is a {safefs.entry_kind(path)}, not a regular file", shown(path))
        for path in special_files(folder)
    ]
    for dirpath, dirnames, filenames in os.walk(folder, followlinks=False):
        for name in dirnames + filenames:
            path = Path(dirpath) / name
            if not stat.S_ISLNK(path.lstat().st_mode):
                continue
            if outside_target(folder, path) is not None:
                problems.append(
                    Problem(
                        f"symbolic link to {os.readlink(path)} leaves the "
                        "extension; it is not followed",
                        shown(path),
                    )
                )
    return problems


def template_loader(folder: Path) -> Any:
    """Return a Jinja2 loader for ``folder/templates`` that keeps to the rule.

    A template (or an include) that is a link leading out of the extension
    raises :class:`OutsideExtension` instead of being rendered; ``..`` in a
    template name is not found, as Jinja2's own loader has it.
    """
    import jinja2
    from jinja2.loaders import split_template_path

    base = Path(folder) / "templates"

    class _Loader(jinja2.BaseLoader):
        def get_source(
            self, environment: jinja2.Environment, template: str
        ) -> tuple[str, str, Callable[[], bool]]:
            path = base.joinpath(*split_template_path(template))
            if not path.exists() or path.is_dir():
                raise jinja2.TemplateNotFound(template)
            data = read_bytes(folder, path)
            mtime = path.stat().st_mtime_ns
            try:
                source = data.decode("utf-8")
            except UnicodeDecodeError:
                raise UsageError(f"{path}: not UTF-8 text") from None
            return source, str(path), lambda: _unchanged(path, mtime)

    return _Loader()


def _unchanged(path: Path, mtime: int) -> bool:
    try:
        return path.stat().st_mtime_ns == mtime
    except OSError:
        return False
