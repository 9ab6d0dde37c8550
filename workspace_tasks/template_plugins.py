"""Extra Jinja2 filters and tests extension templates may declare, and their env.

Real-world templates use a few helpers Jinja2 lacks (``comment``,
``mandatory``, the ``version`` test). An extension lists the ones it uses
under ``[jinja]`` in its manifest; each comes from this library or, when
the manifest names a ``plugins`` file, from a function of that name there.
"""

from __future__ import annotations

import ast
import json
import re
import types
from collections.abc import Callable
from pathlib import Path
from typing import Any

from workspace_tasks import extension_files, safefs
from workspace_tasks.errors import FileSyntaxError, UnreadableFile, UsageError
from workspace_tasks.manifest import Manifest
from workspace_tasks.text import quoted

_VERSION_PART = re.compile(r"(\d+)|([a-z]+)")
_OPERATORS = {
    "==": lambda a, b: a == b,
    "eq": lambda a, b: a == b,
    "!=": lambda a, b: a != b,
    "ne": lambda a, b: a != b,
    "<": lambda a, b: a < b,
    "lt": lambda a, b: a < b,
    "<=": lambda a, b: a <= b,
    "le": lambda a, b: a <= b,
    ">": lambda a, b: a > b,
    "gt": lambda a, b: a > b,
    ">=": lambda a, b: a >= b,
    "ge": lambda a, b: a >= b,
}


def comment(text: Any, prefix: str = "# ") -> str:
    """Prefix every line of ``text`` with ``prefix`` (a comment block)."""
    lines = str(text).splitlines() or [""]
    return "\n".join(f"{prefix}{line}".rstrip() for line in lines)


def mandatory(value: Any, message: str | None = None) -> Any:
    """Return ``value``; fail the rendering when it is undefined or None."""
    import jinja2

    if isinstance(value, jinja2.Undefined) or value is None:
        name = getattr(value, "_undefined_name", None) or "a value"
        raise jinja2.UndefinedError(message or f"mandatory variable {name} is not set")
    return value


def to_json(value: Any, indent: int | None = None) -> str:
    """Dump ``value`` as strict JSON (non-finite floats as "nan", "inf")."""
    from workspace_tasks.output import json_safe

    safe = json_safe(value)
    return json.dumps(safe, indent=indent, sort_keys=True, allow_nan=False)


def to_yaml(value: Any) -> str:
    """Dump ``value`` as block-style YAML."""
    import yaml

    return yaml.safe_dump(value, default_flow_style=False, sort_keys=False).rstrip()


def _version_key(text: Any) -> tuple:
    parts = _VERSION_PART.findall(str(text).lower().lstrip("v"))
    # Numbers sort above words so that 1.0 > 1.0rc1.
    return tuple((1, int(n), "") if n else (0, 0, w) for n, w in parts)


def version(value: Any, other: Any, operator: str = "==") -> bool:
    """Compare two dotted versions: ``{% if v is version('2.0', '>=') %}``."""
    try:
        compare = _OPERATORS[operator]
    except KeyError:
        raise ValueError(f"unknown version operator {quoted(operator)}") from None
    return compare(_version_key(value), _version_key(other))


FILTERS: dict[str, Callable[..., Any]] = {
    "comment": comment,
    "mandatory": mandatory,
    "to_json": to_json,
    "to_yaml": to_yaml,
}
TESTS: dict[str, Callable[..., Any]] = {"version": version}


def plugin_functions(path: Path) -> dict[str, int]:
    """Return the top-level functions a plugins file defines, without running it.

    Raises:
        FileSyntaxError: the file does not parse as Python.
    """
    try:
        source = safefs.read_regular(path)
        tree = ast.parse(source, filename=str(path))
    except UnreadableFile as exc:
        raise FileSyntaxError(path, 1, 1, exc.detail) from None
    except OSError as exc:
        raise FileSyntaxError(path, 1, 1, f"cannot read: {exc.strerror}") from None
    except SyntaxError as exc:
        raise FileSyntaxError(path, exc.lineno or 1, exc.offset or 1, exc.msg) from None
    except ValueError as exc:  # null bytes, on older Pythons
        raise FileSyntaxError(path, 1, 1, str(exc)) from None
    return {
        node.name: node.lineno
        for node in tree.body
        if isinstance(node, ast.FunctionDef | ast.AsyncFunctionDef)
    }


def _load_module(folder: Path, path: Path) -> Any:
    """Run the plugins file ``path`` of the extension ``folder`` as a module.

    Its source is read by the rule of :mod:`~workspace_tasks.extension_files`
    (a regular file inside the extension), then compiled and run.
    """
    source = extension_files.read_bytes(folder, path)
    module = types.ModuleType(f"_plugins_{abs(hash(path))}")
    module.__file__ = str(path)
    exec(compile(source, str(path), "exec", dont_inherit=True), module.__dict__)
    return module


def environment(folder: Path, manifest: Manifest) -> Any:
    """Return a Jinja2 environment for the extension in ``folder``.

    Templates load from its ``templates/`` folder, by the rule of
    :mod:`~workspace_tasks.extension_files` (nothing leading out of the
    extension is read); undefined variables fail; the declared filters and
    tests are installed.

    Raises:
        UsageError: a declared filter or test is defined nowhere; the
            plugins file leads out of the extension.
    """
    import jinja2

    env = jinja2.Environment(
        loader=extension_files.template_loader(folder),
        undefined=jinja2.StrictUndefined,
        keep_trailing_newline=True,
        autoescape=False,
    )
    module = None
    if manifest.plugins:
        plugins = Path(folder) / manifest.plugins
        module = _load_module(folder, plugins)
    for names, library, table in (
        (manifest.filters, FILTERS, env.filters),
        (manifest.tests, TESTS, env.tests),
    ):
        for name in names:
            function = getattr(module, name, None) or library.get(name)
            if function is None:
                raise UsageError(
                    f"{Path(folder) / 'extension.toml'}: '{name}' is declared "
                    "but defined neither by the template library nor by plugins"
                )
            table[name] = function
    return env
