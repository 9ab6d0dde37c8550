"""The manifest of an extension (``extension.toml``) and the layout of each kind.

The manifest names the extension and declares what its Jinja2 templates may
rely on: the ``[defaults]`` that provide their variables and, under
``[jinja]``, the extra filters and tests they use (from the shipped library
in :mod:`workspace_tasks.template_plugins` or the extension's own plugins
module). Clusters also list their task services.
"""

from __future__ import annotations

import importlib.util
import keyword
import re
import sys
import tomllib
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from workspace_tasks import extension_files, tomlfile
from workspace_tasks.errors import FileSyntaxError

MANIFEST_NAME = "extension.toml"

# Files and folders (ending in "/") every extension of a kind must hold;
# "{module}" is the extension's Python package.
REQUIRED_FILES: dict[str, tuple[str, ...]] = {
    "providers": (
        MANIFEST_NAME,
        "README.md",
        "kcl/kcl.mod",
        "kcl/provider.k",
        "kcl/server.k",
        "kcl/version.k",
        "{module}/__init__.py",
        "{module}/provider.py",
        "{module}/servers.py",
        "{module}/auth.py",
        "templates/server.j2",
        "templates/network.j2",
        "tests/unit/",
        "tests/integration/",
    ),
    "taskservs": (
        MANIFEST_NAME,
        "README.md",
        "kcl/kcl.mod",
        "kcl/taskserv.k",
        "kcl/version.k",
        "{module}/__init__.py",
        "{module}/taskserv.py",
        "{module}/install.py",
        "{module}/uninstall.py",
        "{module}/check_updates.py",
        "templates/config.j2",
        "templates/systemd.j2",
        "templates/compose.j2",
        "manifests/deployment.yaml",
        "manifests/service.yaml",
        "tests/unit/",
        "tests/integration/",
    ),
    "clusters": (
        MANIFEST_NAME,
        "README.md",
        "kcl/kcl.mod",
        "kcl/cluster.k",
        "kcl/version.k",
        "{module}/__init__.py",
        "{module}/cluster.py",
        "templates/cluster.j2",
        "manifests/namespace.yaml",
        "tests/unit/",
        "tests/integration/",
    ),
}

_TOML_POSITION = re.compile(r"\(at line (\d+), column (\d+)\)")
_TOML_END = re.compile(r"\(at end of document\)")


# Folders of every extension's layout, which its package cannot also be.
LAYOUT_FOLDERS = frozenset({"kcl", "templates", "tests", "manifests"})


def plain_module_name(name: str) -> str:
    """Return ``name`` spelt as a Python name: ``my-aws`` → ``my_aws``."""
    return re.sub(r"[^a-z0-9_]", "_", name.lower())


def module_name(name: str) -> str:
    """Return the Python package name for a new extension ``name``.

    ``my-aws`` → ``my_aws``. A name Python would not import as the
    extension's package gets the prefix ``ext_``: one that is no identifier
    (``1abc``), a keyword (``class``), a folder of the layout (``tests``),
    or a module Python finds first, from the standard library (``os``,
    ``json``) or installed beside this tool (``jinja2``, ``pytest``, which
    also run the extension's tests). The answer depends on what is
    installed, so ``create-extension`` records it in the manifest.
    """
    module = plain_module_name(name)
    while _taken(module):
        module = f"ext_{module}"
    return module


def _taken(module: str) -> bool:
    if not module.isidentifier() or keyword.iskeyword(module):
        return True
    if module in LAYOUT_FOLDERS or module in sys.stdlib_module_names:
        return True
    if module in sys.builtin_module_names:
        return True
    try:
        return importlib.util.find_spec(module) is not None
    except (ImportError, ValueError):
        return True


def package_of(folder: Path, name: str, manifest: Manifest | None) -> str:
    """Return the Python package of the extension ``name`` in ``folder``.

    The manifest's ``module`` when it names one; else whichever of the plain
    and the prefixed spelling the folder holds, so an extension made before
    the manifest recorded it keeps its package whatever is installed since.
    """
    if manifest is not None and manifest.module:
        return manifest.module
    plain, chosen = plain_module_name(name), module_name(name)
    for candidate in (plain, f"ext_{plain}", chosen):
        if (Path(folder) / candidate).is_dir():
            return candidate
    return chosen


def required_files(kind: str, name: str, module: str | None = None) -> list[str]:
    """Return the files (and folders, ending in ``/``) ``kind`` requires."""
    module = module or module_name(name)
    return [entry.format(module=module) for entry in REQUIRED_FILES[kind]]


@dataclass(frozen=True)
class Manifest:
    """What ``extension.toml`` says about an extension."""

    kind: str
    name: str
    version: str = "0.1.0"
    author: str = ""
    description: str = ""
    defaults: dict[str, Any] = field(default_factory=dict)
    filters: tuple[str, ...] = ()
    tests: tuple[str, ...] = ()
    plugins: str | None = None
    taskservs: tuple[str, ...] = ()
    module: str | None = None
    outputs: dict[str, str] = field(default_factory=dict)
    extra: dict[str, Any] = field(default_factory=dict)

    def to_dict(self) -> dict[str, Any]:
        return {
            "kind": self.kind,
            "name": self.name,
            "version": self.version,
            "author": self.author,
            "description": self.description,
            "defaults": self.defaults,
            "filters": list(self.filters),
            "tests": list(self.tests),
            "plugins": self.plugins,
            "taskservs": list(self.taskservs),
            "module": self.module,
            "outputs": self.outputs,
        }

    def output_name(self, template: str) -> str:
        """Return the file name a template renders to (``[outputs]`` or no .j2)."""
        return self.outputs.get(template) or template.removesuffix(".j2")


def toml_error(
    path: object, exc: tomllib.TOMLDecodeError, text: str
) -> FileSyntaxError:
    """Turn a TOML decoding error on ``text`` into a :class:`FileSyntaxError`.

    The position is the one ``tomllib`` names; an error at the end of the
    document is placed just past its last character.
    """
    line, column, _ = tomlfile.error_position(str(exc), text)
    message = _TOML_POSITION.sub("", str(exc))
    message = _TOML_END.sub("", message).strip()
    return FileSyntaxError(path, line, column, message or "invalid TOML")


def _names(value: Any, path: object, key: str) -> tuple[str, ...]:
    if not isinstance(value, list) or not all(isinstance(v, str) for v in value):
        raise FileSyntaxError(path, 1, 1, f"{key} must be a list of names")
    return tuple(value)


def parse_manifest(data: bytes | str, path: object) -> Manifest:
    """Parse the text of an ``extension.toml``.

    Raises:
        FileSyntaxError: the TOML does not parse or a table has the wrong type.
    """
    text = data.decode("utf-8-sig") if isinstance(data, bytes) else data
    try:
        document = tomllib.loads(text)
    except tomllib.TOMLDecodeError as exc:
        raise toml_error(path, exc, text) from None
    head = document.get("extension", {})
    defaults = document.get("defaults", {})
    jinja = document.get("jinja", {})
    outputs = document.get("outputs", {})
    tables = (
        ("extension", head),
        ("defaults", defaults),
        ("jinja", jinja),
        ("outputs", outputs),
    )
    for key, table in tables:
        if not isinstance(table, dict):
            raise FileSyntaxError(path, 1, 1, f"[{key}] must be a table")
    plugins = jinja.get("plugins")
    if plugins is not None and not isinstance(plugins, str):
        raise FileSyntaxError(path, 1, 1, "[jinja] plugins must be a file name")
    module = head.get("module")
    if module is not None and not (isinstance(module, str) and module.isidentifier()):
        raise FileSyntaxError(
            path, 1, 1, "[extension] module must be a Python package name"
        )
    known = {"kind", "name", "version", "author", "description", "taskservs", "module"}
    return Manifest(
        kind=str(head.get("kind", "")),
        name=str(head.get("name", "")),
        version=str(head.get("version", "0.1.0")),
        author=str(head.get("author", "")),
        description=str(head.get("description", "")),
        defaults=dict(defaults),
        filters=_names(jinja.get("filters", []), path, "[jinja] filters"),
        tests=_names(jinja.get("tests", []), path, "[jinja] tests"),
        plugins=plugins,
        taskservs=_names(head.get("taskservs", []), path, "[extension] taskservs"),
        module=module,
        outputs={str(k): str(v) for k, v in outputs.items()},
        extra={k: v for k, v in head.items() if k not in known},
    )


def load_manifest(folder: Path) -> Manifest:
    """Read ``extension.toml`` of the extension in ``folder``.

    Raises:
        FileSyntaxError: the manifest is missing or does not parse.
        OutsideExtension: it is a link leading out of the extension.
    """
    path = Path(folder) / MANIFEST_NAME
    try:
        data = extension_files.read_bytes(folder, path)
    except OSError as exc:
        raise FileSyntaxError(path, 1, 1, f"cannot read: {exc.strerror}") from None
    return parse_manifest(data, path)
