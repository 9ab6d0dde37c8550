"""Validate an extension: structure, KCL, templates, manifests and Python.

:func:`validate_extension` is the entry point for the command line, the
doit tasks and the health check; it returns :class:`~workspace_tasks.problems.Problem`
values (file, line, column) and never raises on a broken file.
"""

from __future__ import annotations

import logging
import re
import tomllib
from collections.abc import Callable, Iterable
from pathlib import Path

from workspace_tasks import safefs, template_plugins
from workspace_tasks.context import Workspace
from workspace_tasks.errors import FileSyntaxError, UnreadableFile
from workspace_tasks.extension_files import (
    link_problems,
    list_files,
    outside_target,
    read_bytes,
)
from workspace_tasks.manifest import (
    MANIFEST_NAME,
    Manifest,
    package_of,
    parse_manifest,
    required_files,
    toml_error,
)
from workspace_tasks.problems import Problem
from workspace_tasks.resolver import Extension, resolve_extension
from workspace_tasks.text import quoted

log = logging.getLogger(__name__)

# What stands at a name instead of a file is reported as itself, not as missing.
SPECIAL_KINDS = ("fifo", "character device", "block device", "socket", "special file")
_ANSI = re.compile(r"\x1b\[[0-9;]*m")
_KCL_WHERE = re.compile(r"-->\s*(.+?):(\d+):(\d+)")


class _Shown:
    """Turn paths into the names problems show: relative to a base if inside."""

    def __init__(self, base: Path) -> None:
        self.base = base

    def __call__(self, path: Path | str) -> str:
        path = Path(path)
        try:
            return str(path.relative_to(self.base))
        except ValueError:
            return str(path)


def _line_of(text: str, word: str) -> int | None:
    for number, line in enumerate(text.splitlines(), start=1):
        if f'"{word}"' in line or f"'{word}'" in line:
            return number
    return None


def _placeholder(value: object, *args: object, **kwargs: object) -> object:
    return value


def template_problems(
    source: str,
    shown: str,
    manifest: Manifest,
    manifest_shown: str,
) -> list[Problem]:
    """Check one Jinja2 template against what the manifest declares.

    Reports a syntax error, every filter or test neither built into Jinja2
    nor declared, and every variable the ``[defaults]`` do not provide.
    """
    import jinja2
    from jinja2 import meta, nodes

    env = jinja2.Environment()
    try:
        tree = env.parse(source)
    except jinja2.TemplateSyntaxError as exc:
        return [Problem(f"template syntax: {exc.message}", shown, exc.lineno)]
    problems = []
    for node in tree.find_all(nodes.Filter):
        if node.name not in env.filters and node.name not in manifest.filters:
            problems.append(
                Problem(
                    f"unknown filter '{node.name}': declare it under [jinja] "
                    f"filters in {manifest_shown}",
                    shown,
                    node.lineno,
                )
            )
    for node in tree.find_all(nodes.Test):
        if node.name not in env.tests and node.name not in manifest.tests:
            problems.append(
                Problem(
                    f"unknown test '{node.name}': declare it under [jinja] "
                    f"tests in {manifest_shown}",
                    shown,
                    node.lineno,
                )
            )
    # Introspection compiles the tree, which needs every name to exist.
    for node in tree.find_all(nodes.Filter):
        env.filters.setdefault(node.name, _placeholder)
    for node in tree.find_all(nodes.Test):
        env.tests.setdefault(node.name, _placeholder)
    needed = meta.find_undeclared_variables(tree) - set(env.globals)
    lines: dict[str, int] = {}
    for node in tree.find_all(nodes.Name):
        if node.name in needed and node.ctx == "load":
            lines[node.name] = min(lines.get(node.name, node.lineno), node.lineno)
    for name in sorted(needed - set(manifest.defaults)):
        problems.append(
            Problem(
                f"variable '{name}' is not declared in [defaults] of {manifest_shown}",
                shown,
                lines.get(name, 1),
            )
        )
    return sorted(problems, key=lambda p: (p.line or 0, p.message))


def declaration_problems(
    folder: Path, manifest: Manifest, manifest_text: str, shown: str
) -> list[Problem]:
    """Check that each declared filter and test is defined somewhere."""
    problems: list[Problem] = []
    defined: dict[str, int] = {}
    if manifest.plugins:
        plugins = folder / manifest.plugins
        outside = outside_target(folder, plugins)
        if outside is not None:
            message = (
                f"[jinja] plugins {quoted(manifest.plugins)} leads to {outside}, "
                "outside the extension; it is not read"
            )
            return [Problem(message, shown, _line_of(manifest_text, manifest.plugins))]
        try:
            defined = template_plugins.plugin_functions(plugins)
        except FileSyntaxError as exc:
            return [Problem(exc.detail, str(exc.path), exc.line, exc.column)]
    for kind, names, library in (
        ("filter", manifest.filters, template_plugins.FILTERS),
        ("test", manifest.tests, template_plugins.TESTS),
    ):
        for name in names:
            if name not in library and name not in defined:
                problems.append(
                    Problem(
                        f"{kind} '{name}' is declared but defined neither by "
                        "the template library nor by [jinja] plugins",
                        shown,
                        _line_of(manifest_text, name),
                    )
                )
    return problems


def kcl_problems(
    files: list[Path], shown: Callable[[Path | str], str]
) -> list[Problem]:
    """Compile the KCL files with kcl-lib, one package per folder."""
    from kcl_lib import api

    compiler = api.API()
    problems: list[Problem] = []
    folders: dict[Path, list[Path]] = {}
    for path in files:
        folders.setdefault(path.parent, []).append(path)
    for folder, group in sorted(folders.items()):
        paths = [str(p) for p in group]
        found = _kcl_diagnostics(compiler, api, paths, shown)
        if not found:
            found = _kcl_run(compiler, api, paths, folder, shown)
        problems += found
    return problems


def _kcl_diagnostics(compiler, api, paths: list[str], shown) -> list[Problem]:
    args = api.LoadPackageArgs(
        parse_args=api.ParseProgramArgs(paths=paths), resolve_ast=True
    )
    try:
        result = compiler.load_package(args)
    except Exception as exc:
        return [_kcl_failure(str(exc), paths[0], shown)]
    problems = []
    for error in [*result.parse_errors, *result.type_errors]:
        code = error.code.removeprefix("Error(").removeprefix("Warning(").rstrip(")")
        severity = "error" if error.level == "error" else "warning"
        for message in error.messages:
            problems.append(
                Problem(
                    f"KCL {code}: {message.msg}",
                    shown(message.pos.filename),
                    message.pos.line or 1,
                    message.pos.column + 1,
                    severity,
                )
            )
    return problems


def _kcl_run(compiler, api, paths: list[str], folder: Path, shown) -> list[Problem]:
    args = api.ExecProgramArgs(k_filename_list=paths, work_dir=str(folder))
    try:
        compiler.exec_program(args)
    except Exception as exc:
        return [_kcl_failure(str(exc), paths[0], shown)]
    return []


def _kcl_failure(text: str, fallback: str, shown) -> Problem:
    plain = _ANSI.sub("", text)
    where = _KCL_WHERE.search(plain)
    lines = [line.strip() for line in plain.splitlines() if line.strip()]
    headline = lines[0] if lines else "KCL failed"
    detail = next((ln for ln in reversed(lines) if ln.startswith("|")), "")
    message = f"KCL {headline.split(':', 1)[-1].strip()}"
    if detail.strip("| ^"):
        message += f": {detail.strip('| ^')}"
    if where:
        return Problem(message, shown(where[1]), int(where[2]), int(where[3]))
    return Problem(message, shown(fallback))


def yaml_problems(path: Path, shown: str, *, kubernetes: bool = True) -> list[Problem]:
    """Check YAML that must parse; a Kubernetes manifest needs apiVersion and kind.

    A manifest with no document at all (empty, or only comments and ``---``)
    is a problem too: it would deploy nothing.
    """
    import yaml

    try:
        text = safefs.read_regular(path).decode("utf-8")
        documents = list(yaml.safe_load_all(text))
    except UnreadableFile as exc:
        return [Problem(exc.detail, shown)]
    except UnicodeDecodeError:
        return [Problem("not UTF-8 text", shown)]
    except yaml.YAMLError as exc:
        mark = getattr(exc, "problem_mark", None)
        reason = getattr(exc, "problem", None) or str(exc).splitlines()[0]
        line = mark.line + 1 if mark else None
        column = mark.column + 1 if mark else None
        return [Problem(f"YAML: {reason}", shown, line, column)]
    if kubernetes and all(document is None for document in documents):
        return [Problem("no document: a manifest needs apiVersion and kind", shown)]
    problems = []
    for index, document in enumerate(documents, start=1):
        if document is None or not kubernetes:
            continue
        if not isinstance(document, dict):
            problems.append(Problem(f"document {index} is not a mapping", shown))
            continue
        for key in ("apiVersion", "kind"):
            if key not in document:
                problems.append(Problem(f"document {index} has no '{key}'", shown))
    return problems


def python_problems(path: Path, shown: str) -> list[Problem]:
    """Compile a Python module without writing bytecode."""
    try:
        compile(safefs.read_regular(path), shown, "exec", dont_inherit=True)
    except UnreadableFile as exc:
        return [Problem(exc.detail, shown)]
    except SyntaxError as exc:
        return [Problem(f"Python: {exc.msg}", shown, exc.lineno, exc.offset)]
    except ValueError as exc:
        return [Problem(f"Python: {exc}", shown)]
    return []


def _structure_problems(
    folder: Path, kind: str, name: str, module: str, shown
) -> list[Problem]:
    problems = []
    for entry in required_files(kind, name, module):
        path = folder / entry.rstrip("/")
        present = path.is_dir() if entry.endswith("/") else path.is_file()
        if not present and safefs.entry_kind(path) not in SPECIAL_KINDS:
            what = "folder" if entry.endswith("/") else "file"
            problems.append(Problem(f"required {what} is missing", shown(path)))
    return problems


def _manifest(
    folder: Path, kind: str, name: str, shown
) -> tuple[Manifest | None, str, list[Problem]]:
    path = folder / MANIFEST_NAME
    if not path.is_file() or outside_target(folder, path) is not None:
        return None, "", []  # a link leading out is reported as a link
    try:
        text = read_bytes(folder, path).decode("utf-8-sig", errors="replace")
    except (UnreadableFile, OSError) as exc:
        detail = getattr(exc, "detail", None) or f"cannot read: {exc.strerror}"
        return None, "", [Problem(detail, shown(path))]
    try:
        manifest = parse_manifest(text, shown(path))
    except FileSyntaxError as exc:
        return None, text, [Problem(exc.detail, shown(path), exc.line, exc.column)]
    problems = []
    if manifest.kind != kind:
        problems.append(
            Problem(
                f"[extension] kind is {quoted(manifest.kind)}, expected {quoted(kind)}",
                shown(path),
                _line_of(text, manifest.kind),
            )
        )
    if manifest.name != name:
        problems.append(
            Problem(
                f"[extension] name is {quoted(manifest.name)}, expected the folder "
                f"name {quoted(name)}",
                shown(path),
                _line_of(text, manifest.name),
            )
        )
    return manifest, text, problems


def _toml_problems(folder: Path, path: Path, shown: str) -> list[Problem]:
    try:
        text = read_bytes(folder, path).decode("utf-8-sig")
        tomllib.loads(text)
    except UnreadableFile as exc:
        return [Problem(exc.detail, shown)]
    except UnicodeDecodeError:
        return [Problem("not UTF-8 text", shown)]
    except tomllib.TOMLDecodeError as exc:
        error = toml_error(shown, exc, text)
        return [Problem(f"TOML: {error.detail}", shown, error.line, error.column)]
    return []


def check_folder(
    folder: Path,
    kind: str,
    name: str,
    *,
    base: Path | None = None,
    find_taskserv: Callable[[str], Path | None] | None = None,
) -> list[Problem]:
    """Validate the extension in ``folder`` as extension ``kind``/``name``.

    Args:
        folder: the extension's folder.
        kind: providers, taskservs or clusters.
        name: the extension's name (its folder's name).
        base: problems name files relative to it when they lie inside.
        find_taskserv: for clusters, returns where a task service lives.
    """
    folder = Path(folder)
    shown = _Shown(base or folder)
    manifest, text, found = _manifest(folder, kind, name, shown)
    module = package_of(folder, name, manifest)
    problems = _structure_problems(folder, kind, name, module, shown)
    problems += found + link_problems(folder, shown)
    files = list_files(folder)
    if manifest is not None:
        manifest_shown = shown(folder / MANIFEST_NAME)
        problems += declaration_problems(folder, manifest, text, manifest_shown)
        problems += _template_files_problems(files, manifest, manifest_shown, shown)
        if kind == "clusters" and find_taskserv is not None:
            problems += _taskserv_problems(
                manifest, text, manifest_shown, find_taskserv
            )
    problems += kcl_problems([p for p in files if p.suffix == ".k"], shown)
    for path in files:
        problems += _file_problems(folder, path, shown)
    log.debug("validated %s/%s: %d problem(s)", kind, name, len(problems))
    return problems


def _template_files_problems(
    files: Iterable[Path], manifest: Manifest, manifest_shown: str, shown
) -> list[Problem]:
    problems = []
    for path in files:
        if path.suffix != ".j2":
            continue
        try:
            source = safefs.read_regular(path).decode("utf-8")
        except UnreadableFile as exc:
            problems.append(Problem(exc.detail, shown(path)))
            continue
        except UnicodeDecodeError:
            problems.append(Problem("not UTF-8 text", shown(path)))
            continue
        problems += template_problems(source, shown(path), manifest, manifest_shown)
    return problems


def _taskserv_problems(
    manifest: Manifest, text: str, shown: str, find: Callable[[str], Path | None]
) -> list[Problem]:
    problems = []
    for taskserv in manifest.taskservs:
        if find(taskserv) is None:
            problems.append(
                Problem(
                    f"task service '{taskserv}' is not found (user, shared or core)",
                    shown,
                    _line_of(text, taskserv),
                )
            )
    return problems


def _file_problems(folder: Path, path: Path, shown) -> list[Problem]:
    relative = path.relative_to(folder)
    if path.suffix == ".py":
        return python_problems(path, shown(path))
    if relative.parts[0] == "manifests" and path.suffix in (".yaml", ".yml"):
        return yaml_problems(path, shown(path))
    if path.name == "kcl.mod":
        return _toml_problems(folder, path, shown(path))
    return []


def outside_location(ws: Workspace, extension: Extension) -> str | None:
    """Return where an extension's folder really is when that is out of bounds."""
    allowed = ws.core_root if extension.origin == "core" else ws.root
    real = extension.path.resolve()
    allowed = allowed.resolve()
    if real == allowed or allowed in real.parents:
        return None
    return str(real)


def taskserv_finder(ws: Workspace) -> Callable[[str], Path | None]:
    """Return a function finding a task service's folder by name, or None."""
    from workspace_tasks.errors import WorkspaceError

    def find(name: str) -> Path | None:
        try:
            return resolve_extension(ws, "taskservs", name).path
        except WorkspaceError:
            return None

    return find


def validate_extension(ws: Workspace, kind: str, name: str) -> list[Problem]:
    """Validate extension ``kind``/``name`` as discovery finds it.

    Returns every problem found; an empty list means the extension is valid.

    Raises:
        UsageError: the kind or name is not valid, or no such extension exists.
    """
    return validate_found(ws, resolve_extension(ws, kind, name))


def validate_found(ws: Workspace, extension: Extension) -> list[Problem]:
    """Validate the extension folder discovery found (any origin)."""
    outside = outside_location(ws, extension)
    if outside is not None:
        return [
            Problem(
                f"the extension folder leads to {outside}, outside the workspace; "
                "it is not read",
                str(extension.path),
            )
        ]
    base = ws.root if extension.origin != "core" else ws.core_root.parent
    return check_folder(
        extension.path,
        extension.kind,
        extension.name,
        base=base,
        find_taskserv=taskserv_finder(ws),
    )
