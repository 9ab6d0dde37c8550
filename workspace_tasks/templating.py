"""Render template folders shipped as package data into a plan of files.

A template folder is data: files whose name ends in ``.jinja`` are rendered
with Jinja2 (the suffix dropped), every other file is copied byte for byte
(so a ``.j2`` template of an extension, a CI file using ``${{ }}`` or a
binary stays as it is). Folder and file names may hold ``{{ variable }}``.
"""

from __future__ import annotations

import os
import stat
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from workspace_tasks.errors import FileSyntaxError, UsageError

RENDER_SUFFIX = ".jinja"
TEMPLATES_DIR = Path(__file__).resolve().parent / "templates"


@dataclass(frozen=True)
class PlannedFile:
    """One file a template folder will write, relative to the destination."""

    relpath: str
    data: bytes
    mode: int
    source: Path


@dataclass
class RenderPlan:
    """Everything a template folder writes: files and (possibly empty) folders."""

    files: list[PlannedFile] = field(default_factory=list)
    folders: list[str] = field(default_factory=list)

    def extend(self, other: RenderPlan) -> None:
        self.files.extend(other.files)
        self.folders.extend(other.folders)


def template_path(*parts: str) -> Path:
    """Return a folder of the shipped templates."""
    return TEMPLATES_DIR.joinpath(*parts)


def environment() -> Any:
    """Return the Jinja2 environment used for every scaffolding template."""
    import jinja2

    return jinja2.Environment(
        undefined=jinja2.StrictUndefined,
        keep_trailing_newline=True,
        autoescape=False,
    )


def undeclared_variables(env: Any, source: str, filename: str) -> dict[str, int]:
    """Return the variables a template needs from outside, with their first line.

    Raises:
        FileSyntaxError: the template does not parse (file and line).
    """
    import jinja2
    from jinja2 import meta, nodes

    try:
        tree = env.parse(source, filename=filename)
    except jinja2.TemplateSyntaxError as exc:
        message = exc.message or "syntax error"
        raise FileSyntaxError(filename, exc.lineno or 1, 1, message) from None
    needed = meta.find_undeclared_variables(tree)
    lines: dict[str, int] = {}
    for node in tree.find_all(nodes.Name):
        if node.name in needed and node.ctx == "load":
            lines[node.name] = min(lines.get(node.name, node.lineno), node.lineno)
    return {name: lines.get(name, 1) for name in sorted(needed)}


def render_text(
    env: Any, source: str, variables: Mapping[str, Any], filename: str
) -> str:
    """Render one template, failing with file and line on a missing variable."""
    missing = {
        name: line
        for name, line in undeclared_variables(env, source, filename).items()
        if name not in variables and name not in env.globals
    }
    if missing:
        name, line = next(iter(missing.items()))
        names = ", ".join(sorted(missing))
        raise FileSyntaxError(filename, line, 1, f"undefined variable(s): {names}")
    return env.from_string(source).render(**variables)


def _render_name(env: Any, name: str, variables: Mapping[str, Any], where: Path) -> str:
    if "{{" not in name:
        return name
    rendered = render_text(env, name, variables, str(where))
    if not rendered or rendered in (".", "..") or "/" in rendered or "\\" in rendered:
        raise UsageError(f"{where}: the name renders to {rendered!r}, not a file name")
    return rendered


def render_folder(
    folder: Path, variables: Mapping[str, Any], *, render: bool = True
) -> RenderPlan:
    """Plan what ``folder`` renders to, checking every template first.

    With ``render`` false the folder is planned as a verbatim copy (names and
    ``.jinja`` files kept as they are), as a template to be rendered later.

    Nothing is written: a missing variable or a syntax error in any file
    stops the plan before the first file lands on disk. Symbolic links in a
    template folder are refused (a template must not point outside itself).
    """
    env = environment()
    plan = RenderPlan()
    folder = Path(folder)
    for dirpath, dirnames, filenames in os.walk(folder):
        dirnames.sort()
        here = Path(dirpath)
        rel_here = [
            _render_name(env, part, variables, here) if render else part
            for part in here.relative_to(folder).parts
        ]
        if rel_here:
            plan.folders.append("/".join(rel_here))
        for name in sorted(filenames):
            source = here / name
            info = source.lstat()
            if stat.S_ISLNK(info.st_mode):
                raise UsageError(f"{source}: templates may not hold symbolic links")
            if name == "__pycache__" or name.endswith(".pyc"):
                continue
            target = _render_name(env, name, variables, source) if render else name
            data = source.read_bytes()
            if render and target.endswith(RENDER_SUFFIX):
                target = target[: -len(RENDER_SUFFIX)]
                text = render_text(env, data.decode("utf-8"), variables, str(source))
                data = text.encode("utf-8")
            mode = stat.S_IMODE(info.st_mode) | stat.S_IWUSR
            plan.files.append(
                PlannedFile("/".join([*rel_here, target]), data, mode, source)
            )
        dirnames[:] = [d for d in dirnames if d != "__pycache__"]
    return plan
