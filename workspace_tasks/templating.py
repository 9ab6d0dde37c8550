"""Render template folders shipped as package data into a plan of files.

A template folder is data: files whose name ends in ``.jinja`` are rendered
with Jinja2 (the suffix dropped), every other file is copied byte for byte
(so a ``.j2`` template of an extension, a CI file using ``${{ }}`` or a
binary stays as it is). Folder and file names may hold ``{{ variable }}``.

A template folder may come from anyone (``init --template-dir``,
``create-extension --template``), so it is rendered in Jinja2's sandbox,
holds only regular files and folders (no links, FIFOs or devices), uses no
other template (``include``, ``import``, ``extends``), two of its names
never render to the same path, and no name holds or renders to a control
character. It lies outside the workspace it renders into (neither holding
it nor inside it) and holds no workspace marker. Every failure names the
file and, where there is one, the line.
"""

from __future__ import annotations

import os
import stat
from collections.abc import Collection, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from workspace_tasks.context import MARKER
from workspace_tasks.errors import FileSyntaxError, UsageError
from workspace_tasks.text import quoted

RENDER_SUFFIX = ".jinja"
# C0 controls and DEL: never part of a name a template writes.
_CONTROL_CHARACTERS = {chr(code) for code in range(0x20)} | {"\x7f"}
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
    """Return the Jinja2 environment used for every scaffolding template.

    Sandboxed, so a template cannot reach Python's internals (and through
    them run commands); without a loader, as a template stands alone.
    """
    import jinja2
    from jinja2.sandbox import ImmutableSandboxedEnvironment

    return ImmutableSandboxedEnvironment(
        undefined=jinja2.StrictUndefined,
        keep_trailing_newline=True,
        autoescape=False,
    )


# Nodes that load another template, which a template folder never needs.
_LOADING_NODES = {
    "Include": "include",
    "Import": "import",
    "FromImport": "from ... import",
    "Extends": "extends",
}


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
    for node in tree.find_all((nodes.Include, nodes.Import, nodes.FromImport)):
        _refuse_loading(node, filename)
    for node in tree.find_all(nodes.Extends):
        _refuse_loading(node, filename)
    needed = meta.find_undeclared_variables(tree)
    lines: dict[str, int] = {}
    for node in tree.find_all(nodes.Name):
        if node.name in needed and node.ctx == "load":
            lines[node.name] = min(lines.get(node.name, node.lineno), node.lineno)
    return {name: lines.get(name, 1) for name in sorted(needed)}


def _refuse_loading(node: Any, filename: str) -> None:
    what = _LOADING_NODES[type(node).__name__]
    raise FileSyntaxError(
        filename,
        node.lineno or 1,
        1,
        f"{{% {what} %}} is not supported: a template of a template folder "
        "stands alone (put the text in the file itself)",
    )


def render_text(
    env: Any, source: str, variables: Mapping[str, Any], filename: str
) -> str:
    """Render one template, failing with file and line on any problem.

    Raises:
        FileSyntaxError: a syntax error, a missing variable, a loading tag,
            something the sandbox forbids or any other failure while
            rendering (the line where it happened, when known).
    """
    missing = {
        name: line
        for name, line in undeclared_variables(env, source, filename).items()
        if name not in variables and name not in env.globals
    }
    if missing:
        name, line = next(iter(missing.items()))
        names = ", ".join(sorted(missing))
        raise FileSyntaxError(filename, line, 1, f"undefined variable(s): {names}")
    try:
        return env.from_string(source).render(**variables)
    except Exception as exc:  # whatever a template does wrong is the template's
        line = getattr(exc, "lineno", None) or _template_line(exc) or 1
        detail = getattr(exc, "message", None) or str(exc) or type(exc).__name__
        raise FileSyntaxError(filename, line, 1, f"cannot render: {detail}") from None


def _template_line(exc: BaseException) -> int | None:
    """Return the template line where ``exc`` was raised, from its traceback."""
    import traceback

    line = None
    for frame, number in traceback.walk_tb(exc.__traceback__):
        if frame.f_code.co_filename == "<template>":
            line = number
    return line


def _render_name(env: Any, name: str, variables: Mapping[str, Any], where: Path) -> str:
    """Render the name of ``where`` (a file or folder of a template folder)."""
    if "{{" not in name:
        return name
    try:
        rendered = render_text(env, name, variables, str(where))
    except FileSyntaxError as exc:
        raise UsageError(
            f"{where}: the name {quoted(name)} does not render ({exc.detail}); "
            "a {{ }} in a name opens and closes within that one name"
        ) from None
    if not rendered or rendered in (".", "..") or "/" in rendered or "\\" in rendered:
        raise UsageError(
            f"{where}: the name renders to {quoted(rendered)}, not a file name"
        )
    _check_name_characters(rendered, where)
    return rendered


def _check_name_characters(name: str, where: Path) -> None:
    """Refuse a name (as written or rendered) holding a control character."""
    if _CONTROL_CHARACTERS.isdisjoint(name):
        return
    raise UsageError(
        f"{where}: the name {quoted(name)} holds a control character; "
        "templates write only names without them"
    )


def check_template_place(folder: Path, root: Path, flag: str) -> None:
    """Refuse a template folder that holds the workspace ``root`` or lies in it.

    Rendered into the workspace, such a folder would copy the workspace into
    itself, other users' private files included.

    Raises:
        UsageError: naming ``flag``, the folder and the workspace.
    """
    real = Path(os.path.realpath(folder))
    workspace = Path(os.path.realpath(root))
    if real == workspace or real in workspace.parents:
        raise UsageError(
            f"{flag}: {folder} holds the workspace {root}; a template folder "
            "must lie outside it (move the template files to a folder of "
            "their own)"
        )
    if workspace in real.parents:
        raise UsageError(
            f"{flag}: {folder} lies inside the workspace {root}; a template "
            "folder must lie outside it"
        )


def _check_entry(path: Path, info: os.stat_result) -> None:
    """Refuse what a template folder may not hold: links, FIFOs, devices."""
    if stat.S_ISLNK(info.st_mode):
        raise UsageError(f"{path}: templates may not hold symbolic links")
    if not stat.S_ISREG(info.st_mode) and not stat.S_ISDIR(info.st_mode):
        raise UsageError(
            f"{path}: templates hold only files and folders, and this is "
            f"{_kind_of(info.st_mode)}"
        )


def _kind_of(mode: int) -> str:
    if stat.S_ISFIFO(mode):
        return "a FIFO"
    if stat.S_ISSOCK(mode):
        return "a socket"
    if stat.S_ISCHR(mode) or stat.S_ISBLK(mode):
        return "a device"
    return "not a regular file"


def check_overlaps(files: list[PlannedFile]) -> None:
    """Refuse a plan in which two files share a path, or a file is a folder.

    Raises:
        UsageError: naming both sources and the path they both render to.
    """
    seen: dict[str, PlannedFile] = {}
    for planned in files:
        other = seen.get(planned.relpath)
        if other is not None:
            raise UsageError(
                f"{planned.source} and {other.source} both render to "
                f"{planned.relpath}; rename one of them"
            )
        seen[planned.relpath] = planned
    for planned in files:
        parts = planned.relpath.split("/")
        for depth in range(1, len(parts)):
            other = seen.get("/".join(parts[:depth]))
            if other is not None:
                raise UsageError(
                    f"{other.source} renders to the file {other.relpath}, where "
                    f"{planned.source} needs a folder; rename one of them"
                )


def render_folder(
    folder: Path,
    variables: Mapping[str, Any],
    *,
    render: bool = True,
    skip: Collection[str] = (),
) -> RenderPlan:
    """Plan what ``folder`` renders to, checking every template first.

    With ``render`` false the folder is planned as a verbatim copy (names and
    ``.jinja`` files kept as they are), as a template to be rendered later.
    The files named in ``skip`` (relative to ``folder``) are left out.

    Nothing is written: a missing variable or a syntax error in any file
    stops the plan before the first file lands on disk. Symbolic links in a
    template folder are refused (a template must not point outside itself).
    """
    env = environment()
    plan = RenderPlan()
    folder = Path(folder)
    for dirpath, dirnames, filenames in os.walk(folder, onerror=_walk_error):
        dirnames.sort()
        here = Path(dirpath)
        relative = here.relative_to(folder).parts
        rel_here = [
            _render_name(env, part, variables, folder.joinpath(*relative[: i + 1]))
            if render
            else part
            for i, part in enumerate(relative)
        ]
        if rel_here:
            plan.folders.append("/".join(rel_here))
        for name in dirnames:
            _check_entry(here / name, (here / name).lstat())
            _check_name_characters(name, here / name)
        for name in sorted(filenames):
            if name == "__pycache__" or name.endswith(".pyc"):
                continue
            if "/".join([*relative, name]) in skip:
                continue
            planned = _plan_file(env, here / name, rel_here, variables, render)
            plan.files.append(planned)
        dirnames[:] = [d for d in dirnames if d != "__pycache__"]
    check_overlaps(plan.files)
    return plan


def _walk_error(error: OSError) -> None:
    raise UsageError(f"{error.filename}: cannot read the folder ({error.strerror})")


def _plan_file(
    env: Any,
    source: Path,
    rel_here: list[str],
    variables: Mapping[str, Any],
    render: bool,
) -> PlannedFile:
    """Plan one file of a template folder: its rendered name, bytes and mode."""
    info = source.lstat()
    _check_entry(source, info)
    name = source.name
    _check_name_characters(name, source)
    target = _render_name(env, name, variables, source) if render else name
    data = _read_regular(source)
    if render and target.endswith(RENDER_SUFFIX):
        target = target[: -len(RENDER_SUFFIX)]
        try:
            text = data.decode("utf-8")
        except UnicodeDecodeError as exc:
            raise UsageError(
                f"{source}: not UTF-8 text (byte {exc.start}); a {RENDER_SUFFIX} "
                f"file is rendered as text: drop the {RENDER_SUFFIX} suffix to "
                "copy it as it is"
            ) from None
        data = render_text(env, text, variables, str(source)).encode("utf-8")
    if MARKER in (name, target):
        raise UsageError(
            f"{source}: a workspace marker; a template folder holds no "
            "workspace and writes none (render a folder of template files only)"
        )
    mode = stat.S_IMODE(info.st_mode) | stat.S_IWUSR
    return PlannedFile("/".join([*rel_here, target]), data, mode, source)


def _read_regular(source: Path) -> bytes:
    """Read ``source`` only if it is still a regular file (never a FIFO)."""
    flags = os.O_RDONLY | os.O_NOFOLLOW | os.O_NONBLOCK | os.O_CLOEXEC
    try:
        fd = os.open(source, flags)
    except OSError as exc:
        raise UsageError(f"{source}: cannot read ({exc.strerror})") from None
    with os.fdopen(fd, "rb") as handle:
        _check_entry(source, os.fstat(handle.fileno()))
        return handle.read()
