"""Expand ``${a.b}`` references in the strings of a merged configuration.

A reference names a key of the configuration or a built-in value:
``workspace.user``, ``workspace.type``, ``workspace.root``, ``git.branch``,
``git.commit`` (of the repository holding the workspace, ``unknown`` outside
one), ``build.timestamp`` (UTC, ISO 8601) and ``env.NAME``. References nest;
a cycle is reported with its chain (``a.b -> a.c -> a.b``); ``$${`` writes a
literal ``${``. A reference whose first part is neither a key of the
configuration nor a built-in namespace (``${change.type}``) is kept verbatim,
for the tool that fills it in later. Only strings are expanded.

References can double a value at each step, so sizes are bounded: a value
may not expand to more than ``MAX_VALUE`` characters (1 MiB), and all the
expansions together may not add more than ``MAX_GROWTH`` (16 MiB) to the
configuration. Past either limit the key is reported and kept as written.
"""

from __future__ import annotations

import functools
import logging
import re
import subprocess
from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

log = logging.getLogger(__name__)

KeyPath = tuple[str, ...]
BUILTIN_NAMESPACES = ("workspace", "git", "build", "env")
MAX_VALUE = 1 << 20
MAX_GROWTH = 16 << 20
_REFERENCE = re.compile(r"\$\$\{|\$\{([^{}]*)\}")


@dataclass
class Builtins:
    """The built-in values; git is asked only when a reference needs it."""

    user: str
    type: str
    root: Path
    environ: Mapping[str, str] = field(default_factory=dict)
    timestamp: str = field(
        default_factory=lambda: datetime.now(UTC).strftime("%Y-%m-%dT%H:%M:%SZ")
    )

    def lookup(self, parts: KeyPath) -> str | None:
        """Return the built-in value named by ``parts``, or None if none is."""
        if len(parts) != 2:
            return None
        namespace, name = parts
        if namespace == "env":
            return self.environ.get(name)
        if namespace == "workspace":
            return {"user": self.user, "type": self.type, "root": str(self.root)}.get(
                name
            )
        if namespace == "git" and name in ("branch", "commit"):
            branch, commit = git_revision(str(self.root), git_environ(self.environ))
            return branch if name == "branch" else commit
        if (namespace, name) == ("build", "timestamp"):
            return self.timestamp
        return None


def git_environ(environ: Mapping[str, str]) -> tuple[tuple[str, str], ...]:
    """Return the environment git runs in: ``environ`` without ``GIT_*``, C locale."""
    kept = {k: v for k, v in environ.items() if not k.startswith("GIT_")}
    kept["LC_ALL"] = "C"
    return tuple(sorted(kept.items()))


@functools.lru_cache(maxsize=32)
def git_revision(root: str, environ: tuple[tuple[str, str], ...]) -> tuple[str, str]:
    """Return ``(branch, commit)`` of the repository holding ``root``.

    Both are ``unknown`` outside a repository, without commits or without git.
    """
    try:
        done = subprocess.run(
            ["git", "-C", root, "rev-parse", "HEAD", "--abbrev-ref", "HEAD"],
            capture_output=True,
            text=True,
            env=dict(environ),
            check=False,
        )
    except OSError:
        log.debug("git is not available; git.* values are unknown")
        return "unknown", "unknown"
    lines = done.stdout.split()
    if done.returncode != 0 or len(lines) != 2:
        log.debug("no git revision for %s: %s", root, done.stderr.strip())
        return "unknown", "unknown"
    return lines[1], lines[0]


@dataclass(frozen=True)
class InterpolationProblem:
    """A reference that cannot be expanded, against the key that holds it."""

    key: KeyPath
    message: str


@dataclass
class Interpolated:
    """The configuration with its strings expanded, and what could not be.

    ``sources`` gives, for each key whose value used references (an array
    counts as one value), every name it drew on, nested ones included:
    keys of the configuration and built-ins such as ``("env", "TOKEN")``.
    Redaction uses it to hide a value copied from a secret.
    """

    data: dict[str, Any]
    problems: list[InterpolationProblem]
    sources: dict[KeyPath, frozenset[KeyPath]] = field(default_factory=dict)


class _Failed(Exception):
    """A key whose expansion failed (already reported once)."""


class _Cycle(Exception):
    def __init__(self, chain: list[KeyPath]) -> None:
        super().__init__(" -> ".join(".".join(k) for k in chain))
        self.chain = chain


class _Unresolved(Exception):
    """A reference names a key that does not exist."""


class _TooLarge(_Unresolved):
    """An expansion past :data:`MAX_VALUE` or :data:`MAX_GROWTH`."""


def interpolate(data: Mapping[str, Any], builtins: Builtins) -> Interpolated:
    """Return ``data`` with every ``${...}`` expanded and the problems found.

    A string that cannot be expanded is kept as written and reported.
    """
    return _Expander(data, builtins).run()


def format_scalar(value: Any) -> str:
    """Write a non-string value the way TOML writes it (``true``, ``30``)."""
    if isinstance(value, bool):
        return "true" if value else "false"
    if hasattr(value, "isoformat"):
        return value.isoformat()
    return str(value)


class _Expander:
    def __init__(self, data: Mapping[str, Any], builtins: Builtins) -> None:
        self.data = data
        self.builtins = builtins
        self.done: dict[KeyPath, str] = {}
        self.failed: set[KeyPath] = set()
        self.problems: list[InterpolationProblem] = []
        self.sources: dict[KeyPath, set[KeyPath]] = {}
        self.growth = 0

    def run(self) -> Interpolated:
        data = self._walk(self.data, ())
        sources = {key: frozenset(used) for key, used in self.sources.items() if used}
        return Interpolated(data, self.problems, sources)

    def _walk(self, node: Any, path: KeyPath, in_array: bool = False) -> Any:
        """Expand the strings under ``node``, the value of the key ``path``.

        Inside an array, a string is not a key others can refer to: it is
        expanded on its own and counted as part of the array's key.
        """
        if isinstance(node, Mapping):
            return {
                k: self._walk(v, path if in_array else (*path, k), in_array)
                for k, v in node.items()
            }
        if isinstance(node, list):
            return [self._walk(item, path, True) for item in node]
        if isinstance(node, str):
            return self._item(path, node) if in_array else self._string_of(path, node)
        return node

    def _item(self, path: KeyPath, text: str) -> str:
        """Expand a string inside the array held by the key ``path``."""
        used = self.sources.setdefault(path, set())
        try:
            return self._grown(text, self._expand(text, [], used))
        except _Cycle as cycle:
            self._report(cycle.chain[0], f"interpolation cycle: {cycle}")
        except _Unresolved as exc:
            self._report(path, str(exc))
        except _Failed:
            pass  # already reported where it failed
        return text

    def _string_of(self, path: KeyPath, text: str) -> str:
        try:
            return self._resolve(path, [])
        except _Cycle as cycle:
            self._report(cycle.chain[0], f"interpolation cycle: {cycle}")
        except _Failed:
            return text  # already reported where it failed
        return text

    def _report(self, key: KeyPath, message: str) -> None:
        problem = InterpolationProblem(key, message)
        if problem not in self.problems:
            log.debug("interpolation problem at %s: %s", ".".join(key), message)
            self.problems.append(problem)

    def _resolve(self, path: KeyPath, stack: list[KeyPath]) -> str:
        """Return the expanded string at ``path`` (a key holding a string)."""
        if path in self.done:
            return self.done[path]
        if path in stack:
            raise _Cycle([*stack[stack.index(path) :], path])
        if path in self.failed:
            raise _Failed
        # What a key drew on counts even when it fails: an unset variable
        # it reads must still make a cache of the configuration stale.
        used = self.sources.setdefault(path, set())
        try:
            text = self._value_at(path)
            value = self._grown(text, self._expand(text, [*stack, path], used))
        except _Cycle as cycle:
            self.failed.add(path)
            raise cycle from None
        except _Unresolved as exc:
            self.failed.add(path)
            self._report(path, str(exc))
            raise _Failed from None
        except _Failed:
            self.failed.add(path)
            raise
        self.done[path] = value
        return value

    def _value_at(self, path: KeyPath) -> Any:
        node: Any = self.data
        for part in path:
            node = node[part]
        return node

    def _grown(self, text: str, value: str) -> str:
        """Count what expanding ``text`` into ``value`` added to the whole."""
        if self.growth > MAX_GROWTH:
            raise _Failed  # reported once, where the limit was passed
        self.growth += max(0, len(value) - len(text))
        if self.growth > MAX_GROWTH:
            raise _TooLarge(
                f"the expanded configuration grows by more than {MAX_GROWTH} "
                "characters (16 MiB), the limit of interpolation"
            )
        return value

    def _expand(self, text: str, stack: list[KeyPath], used: set[KeyPath]) -> str:
        """Expand the references of ``text``; add the names used to ``used``.

        Raises:
            _TooLarge: the result would be longer than :data:`MAX_VALUE`.
        """
        pieces: list[str] = []
        size = 0
        position = 0
        for match in _REFERENCE.finditer(text):
            pieces.append(text[position : match.start()])
            position = match.end()
            if match.group(0) == "$${":
                pieces.append("${")
            else:
                pieces.append(self._reference(match, stack, used))
            size += len(pieces[-2]) + len(pieces[-1])
            if size > MAX_VALUE:
                raise _TooLarge(
                    f"expands to more than {MAX_VALUE} characters (1 MiB), "
                    "the limit of an interpolated value"
                )
        pieces.append(text[position:])
        return "".join(pieces)

    def _reference(
        self, match: re.Match[str], stack: list[KeyPath], used: set[KeyPath]
    ) -> str:
        name = match.group(1).strip()
        parts = tuple(name.split("."))
        if parts[0] in BUILTIN_NAMESPACES:
            used.add(parts)  # even when unset: setting it changes the value
        builtin = self.builtins.lookup(parts)
        if builtin is not None:
            return builtin
        namespace = parts[0]
        if namespace in self.data:
            return self._key_reference(name, parts, stack, used)
        if namespace == "env" and len(parts) == 2:
            raise _Unresolved(
                f"${{{name}}}: environment variable {parts[1]} is not set"
            )
        if namespace in BUILTIN_NAMESPACES:
            raise _Unresolved(f"${{{name}}}: no such built-in value or key")
        return match.group(0)

    def _key_reference(
        self, name: str, parts: KeyPath, stack: list[KeyPath], used: set[KeyPath]
    ) -> str:
        node: Any = self.data
        for part in parts:
            if not isinstance(node, Mapping) or part not in node:
                raise _Unresolved(f"${{{name}}}: no such key in the configuration")
            node = node[part]
        if isinstance(node, Mapping | list):
            kind = "a table" if isinstance(node, Mapping) else "an array"
            raise _Unresolved(f"${{{name}}}: refers to {kind}, not a value")
        used.add(parts)
        if isinstance(node, str):
            value = self._resolve(parts, stack)
            used.update(self.sources.get(parts, ()))
            return value
        return format_scalar(node)
