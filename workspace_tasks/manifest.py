"""The manifest of an extension (``extension.toml``) and the layout of each kind.

The manifest names the extension and declares what its Jinja2 templates may
rely on: the ``[defaults]`` that provide their variables and, under
``[jinja]``, the extra filters and tests they use (from the shipped library
in :mod:`workspace_tasks.template_plugins` or the extension's own plugins
module). Clusters also list their task services.
"""

from __future__ import annotations

import keyword
import re
import tomllib
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from workspace_tasks import extension_files
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


def module_name(name: str) -> str:
    """Return the Python package name of extension ``name``: ``my-aws`` → ``my_aws``.

    A name that would not be a Python identifier (``1abc``) or would be a
    keyword (``class``, ``import``) gets the prefix ``ext_``.
    """
    module = re.sub(r"[^a-z0-9_]", "_", name.lower())
    if not module.isidentifier() or keyword.iskeyword(module):
        return f"ext_{module}"
    return module


def required_files(kind: str, name: str) -> list[str]:
    """Return the files (and folders, ending in ``/``) ``kind`` requires."""
    module = module_name(name)
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
            "outputs": self.outputs,
        }

    def output_name(self, template: str) -> str:
        """Return the file name a template renders to (``[outputs]`` or no .j2)."""
        return self.outputs.get(template) or template.removesuffix(".j2")


def toml_error(path: object, exc: tomllib.TOMLDecodeError) -> FileSyntaxError:
    """Turn a TOML decoding error into a :class:`FileSyntaxError` with position."""
    text = str(exc)
    found = _TOML_POSITION.search(text)
    line, column = (int(found[1]), int(found[2])) if found else (1, 1)
    message = _TOML_POSITION.sub("", text).strip() or "invalid TOML"
    return FileSyntaxError(path, line, column, message)


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
        raise toml_error(path, exc) from None
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
    known = {"kind", "name", "version", "author", "description", "taskservs"}
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
