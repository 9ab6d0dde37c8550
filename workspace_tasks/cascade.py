"""Find the configuration layers of a workspace and merge them key by key.

The cascade, lowest first:

1. ``core``: the core system defaults, ``<core>/config/config.defaults.toml``;
2. ``workspace``: the workspace defaults, ``config/dev-defaults.toml``;
3. ``environment``: ``config/<env>-defaults.toml`` for the workspace type
   (testing: ``test``, production: ``prod``; for development it is layer 2);
4. ``user``: ``config/<user>.toml``;

and, with ``include_overrides``, above them all:

5. ``local-overrides``: ``config/local-overrides.toml`` when present;
6. ``environment-variables``: ``PROVISIONING__SECTION__KEY=value``, each
   ``__`` a level deeper (``PROVISIONING__HTTP__TIMEOUT=45`` sets
   ``http.timeout``). The value is read as a TOML value (``45`` an integer,
   ``true`` a boolean, ``"x"`` a string); text that is not one stays a string,
   and so does any value whose key holds a string in the layers below.

Tables merge key by key at any depth; scalars and arrays replace what is
below them. Each key keeps its history: the layer it came from and the
values it overrode. References (``${a.b}``) are expanded after merging, so a
lower layer's reference overridden by a higher layer is never looked at.
"""

from __future__ import annotations

import copy
import hashlib
import json
import logging
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from workspace_tasks import safefs, tomlfile
from workspace_tasks.context import ENV_OF_TYPE, WORKSPACE_TYPES, Workspace
from workspace_tasks.errors import FileSyntaxError, UsageError
from workspace_tasks.interpolation import (
    Builtins,
    InterpolationProblem,
    git_environ,
    git_revision,
    interpolate,
)
from workspace_tasks.problems import Problem
from workspace_tasks.text import quoted

log = logging.getLogger(__name__)

KeyPath = tuple[str, ...]
ENV_PREFIX = "PROVISIONING__"
ENV_LAYER = "environment-variables"
CONFIG_NAMES = ("user", *WORKSPACE_TYPES, "merged")
SIGNATURE_PREFIX = "# cascade-signature: "
INPUTS_PREFIX = "# cascade-inputs: "


@dataclass(frozen=True)
class LayerSource:
    """Where a layer comes from: its name in the cascade and its file."""

    name: str
    path: Path | None


@dataclass
class Layer:
    """One parsed layer: its values and, for files, its text (for positions)."""

    name: str
    source: str
    data: dict[str, Any]
    path: Path | None = None
    text: str | None = None
    variables: dict[KeyPath, str] = field(default_factory=dict)
    _positions: dict[KeyPath, tuple[int, int]] | None = None

    def position(self, key: KeyPath) -> tuple[int | None, int | None]:
        """Return the line and column where this layer sets ``key``."""
        if self.text is None:
            return None, None
        if self._positions is None:
            self._positions = tomlfile.key_positions(self.text)
        return self._positions.get(key, (None, None))

    def origin_of(self, key: KeyPath) -> str:
        """Return ``file:line`` (or the variable) that sets ``key`` here."""
        if key in self.variables:
            return self.variables[key]
        line, _ = self.position(key)
        return f"{self.source}:{line}" if line else self.source

    def to_dict(self) -> dict[str, Any]:
        return {"name": self.name, "source": self.source}


@dataclass
class Setting:
    """One key of the merged configuration with where it came from."""

    key: KeyPath
    value: Any
    layer: Layer
    overridden: list[tuple[Layer, Any]] = field(default_factory=list)

    @property
    def dotted(self) -> str:
        """The key as TOML writes it: ``a."b.c"`` stays unambiguous."""
        return tomlfile.dotted_key(self.key)

    def to_dict(self) -> dict[str, Any]:
        return {
            "key": self.dotted,
            "value": self.value,
            "layer": self.layer.name,
            "origin": self.layer.origin_of(self.key),
            "overrides": [
                {"layer": layer.name, "origin": layer.origin_of(self.key), "value": v}
                for layer, v in self.overridden
            ],
        }


@dataclass
class Cascade:
    """The merged configuration of one user, before and after interpolation."""

    layers: list[Layer]
    merged: dict[str, Any]
    settings: dict[KeyPath, Setting]
    values: dict[str, Any]
    interpolation: list[InterpolationProblem]
    sources: dict[KeyPath, frozenset[KeyPath]] = field(default_factory=dict)

    def problems(self) -> list[Problem]:
        """Return the interpolation problems placed at the key that holds them."""
        return [self.problem_at(p.key, p.message) for p in self.interpolation]

    def problem_at(self, key: KeyPath, message: str) -> Problem:
        """Return a problem about ``key``, placed in the layer that set it."""
        setting = self.settings.get(key) or _first_below(self.settings, key)
        if setting is None:
            return Problem(f"{'.'.join(key)}: {message}")
        layer = setting.layer
        line, column = layer.position(key)
        source = layer.variables.get(key, layer.source)
        return Problem(f"{'.'.join(key)}: {message}", source, line, column)

    def check(self) -> Cascade:
        """Raise :class:`UsageError` listing the interpolation problems, if any."""
        if self.interpolation:
            raise UsageError("\n".join(str(p) for p in self.problems()))
        return self

    def to_dict(self) -> dict[str, Any]:
        return {
            "layers": [layer.to_dict() for layer in self.layers],
            "values": self.values,
        }


def _first_below(settings: dict[KeyPath, Setting], key: KeyPath) -> Setting | None:
    return next((s for k, s in settings.items() if k[: len(key)] == key), None)


def display_path(ws: Workspace, path: Path) -> str:
    """Name ``path`` relative to the workspace root when it lies inside it."""
    try:
        return str(path.relative_to(ws.root))
    except ValueError:
        return str(path)


def env_defaults_for(ws: Workspace, workspace_type: str) -> Path:
    """Return ``config/<env>-defaults.toml`` for a workspace type."""
    return ws.config_dir / f"{ENV_OF_TYPE[workspace_type]}-defaults.toml"


def layer_sources(
    ws: Workspace, name: str = "user", *, include_overrides: bool = False
) -> list[LayerSource]:
    """Return the layers of configuration ``name``, lowest first.

    ``name`` is ``user`` or ``merged`` (the whole cascade), or a workspace
    type (``development``, ``testing``, ``production``): that environment's
    defaults with what they inherit.
    """
    if name not in CONFIG_NAMES:
        raise UsageError(
            f"NAME: {quoted(name)} is not one of {', '.join(CONFIG_NAMES)}; "
            "try 'workspace resolve config user'"
        )
    env_type = ws.type if name in ("user", "merged") else name
    files = [
        LayerSource("core", ws.core_defaults),
        LayerSource("workspace", ws.workspace_defaults),
        LayerSource("environment", env_defaults_for(ws, env_type)),
    ]
    if name in ("user", "merged"):
        files.append(LayerSource("user", ws.user_config))
    if include_overrides:
        files.append(LayerSource("local-overrides", ws.local_overrides))
    unique = {source.path: source for source in reversed(files)}
    ordered = [s for s in files if unique[s.path] is s]
    if include_overrides:
        ordered.append(LayerSource(ENV_LAYER, None))
    return ordered


def read_layer(
    ws: Workspace, source: LayerSource, read_from: Path | None = None
) -> Layer | None:
    """Parse one file layer strictly; None when its file does not exist.

    With ``read_from`` the text comes from that file (an edited copy) while
    the layer keeps its own name in messages.

    Raises:
        FileSyntaxError: the file is not valid TOML (file, line, column).
    """
    assert source.path is not None
    shown = display_path(ws, source.path)
    try:
        text = tomlfile.read_text(read_from or source.path, shown)
    except FileNotFoundError:
        log.debug("layer %s: %s does not exist", source.name, source.path)
        return None
    data = tomlfile.loads(text, shown)
    return Layer(source.name, shown, data, source.path, text)


def environment_layer(environ: Mapping[str, str], below: Mapping[str, Any]) -> Layer:
    """Build the layer of ``PROVISIONING__SECTION__KEY`` variables.

    Names match the keys below them whatever their case; new keys are lower
    case. A value is a TOML value unless the key below holds a string.

    Raises:
        FileSyntaxError: a value (with the parts of its name) nests more
            than :data:`tomlfile.MAX_NESTING` levels deep, as a file may
            not; named by the variable, with the column in its value.
    """
    data: dict[str, Any] = {}
    variables: dict[KeyPath, str] = {}
    for variable in sorted(environ):
        if not variable.startswith(ENV_PREFIX):
            continue
        parts = variable[len(ENV_PREFIX) :].split("__")
        if not all(parts):
            log.debug("ignoring %s: an empty part in its name", variable)
            continue
        key, lower = _match_key(parts, below)
        raw = environ[variable]
        if len(key) > tomlfile.MAX_NESTING:
            message = f"nesting too deep (more than {tomlfile.MAX_NESTING} levels)"
            raise FileSyntaxError(variable, 1, 1, message)
        if isinstance(lower, str):
            value: Any = raw
        else:
            value = tomlfile.parse_value(raw, variable, len(key))
        _set_path(data, key, value)
        variables[key] = variable
        log.debug("%s overrides %s with %r", variable, ".".join(key), value)
    return Layer(ENV_LAYER, "environment", data, variables=variables)


def _match_key(parts: list[str], below: Mapping[str, Any]) -> tuple[KeyPath, Any]:
    key: list[str] = []
    node: Any = below
    for part in parts:
        spelled = part.lower()
        if isinstance(node, Mapping):
            spelled = next((k for k in node if k.lower() == part.lower()), spelled)
            node = node.get(spelled)
        else:
            node = None
        key.append(spelled)
    return tuple(key), node


def _set_path(data: dict[str, Any], key: KeyPath, value: Any) -> None:
    node = data
    for part in key[:-1]:
        child = node.get(part)
        if not isinstance(child, dict):
            child = node[part] = {}
        node = child
    node[key[-1]] = value


def merge_layers(layers: list[Layer]) -> tuple[dict[str, Any], dict[KeyPath, Setting]]:
    """Merge ``layers`` (lowest first) key by key; return values and history."""
    merged: dict[str, Any] = {}
    settings: dict[KeyPath, Setting] = {}
    for layer in layers:
        _merge_into(merged, layer.data, (), layer, settings)
    return merged, settings


def _merge_into(
    target: dict[str, Any],
    upper: Mapping[str, Any],
    prefix: KeyPath,
    layer: Layer,
    settings: dict[KeyPath, Setting],
) -> None:
    for name, value in upper.items():
        key = (*prefix, name)
        below = target.get(name)
        if isinstance(value, dict) and isinstance(below, dict) and value:
            _merge_into(below, value, key, layer, settings)
            continue
        history = _take_history(settings, key, below)
        target[name] = copy.deepcopy(value)
        for leaf, leaf_value in _leaves(value, key):
            settings[leaf] = Setting(leaf, leaf_value, layer, list(history))


def _take_history(
    settings: dict[KeyPath, Setting], key: KeyPath, below: Any
) -> list[tuple[Layer, Any]]:
    """Remove the settings at or under ``key``; return what they held, newest first.

    The settings under ``key`` are the leaves of ``below``, the value it
    replaces: looking them up there, not among every setting, keeps a merge
    linear in the number of keys.
    """
    history: list[tuple[Layer, Any]] = []
    leaves = _leaves(below, key) if key in settings or isinstance(below, dict) else []
    for leaf, _ in leaves:
        old = settings.pop(leaf, None)
        if old is not None:
            history = [(old.layer, old.value), *old.overridden, *history]
    return history


def _leaves(value: Any, key: KeyPath) -> list[tuple[KeyPath, Any]]:
    if isinstance(value, dict) and value:
        found: list[tuple[KeyPath, Any]] = []
        for name, child in value.items():
            found += _leaves(child, (*key, name))
        return found
    return [(key, value)]


def builtins_for(ws: Workspace) -> Builtins:
    """Return the built-in values of ``ws`` for interpolation."""
    return Builtins(user=ws.user, type=ws.type, root=ws.root, environ=ws.environ)


def load_cascade(
    ws: Workspace,
    name: str = "user",
    *,
    include_overrides: bool = False,
    skip_broken: bool = False,
) -> Cascade:
    """Read, merge and interpolate configuration ``name`` of ``ws``.

    With ``skip_broken`` a layer that does not parse (or cannot be read) is
    left out, as if it did not exist: see :func:`broken_layers`.

    Raises:
        FileSyntaxError: a layer is not valid TOML (without ``skip_broken``).
    """
    layers: list[Layer] = []
    for source in layer_sources(ws, name, include_overrides=include_overrides):
        if source.path is None:
            below, _ = merge_layers(layers)
            layers.append(environment_layer(ws.environ, below))
            continue
        try:
            layer = read_layer(ws, source)
        except UsageError as exc:
            if not skip_broken:
                raise
            log.debug("layer %s left out: %s", source.name, exc)
            continue
        if layer is not None:
            layers.append(layer)
    merged, settings = merge_layers(layers)
    expanded = interpolate(merged, builtins_for(ws))
    for setting in settings.values():
        setting.value = _value_at(expanded.data, setting.key, setting.value)
    log.debug("config %s of %s: %d layers", name, ws.user, len(layers))
    return Cascade(
        layers, merged, settings, expanded.data, expanded.problems, expanded.sources
    )


def broken_layers(ws: Workspace) -> list[UsageError]:
    """Return the error of each layer of the user's cascade that does not parse.

    Each names its file, line and column (or why it cannot be read).
    """
    broken = []
    for source in layer_sources(ws):
        try:
            read_layer(ws, source)
        except UsageError as exc:
            broken.append(exc)
    return broken


def _value_at(data: Mapping[str, Any], key: KeyPath, default: Any) -> Any:
    node: Any = data
    for part in key:
        if not isinstance(node, Mapping) or part not in node:
            return default
        node = node[part]
    return node


def resolve_config(
    ws: Workspace, name: str = "user", *, include_overrides: bool = False
) -> dict[str, Any]:
    """Return configuration ``name`` merged and interpolated.

    ``name``: ``user`` or ``merged`` (the user's whole cascade),
    ``development``, ``testing`` or ``production`` (those defaults with what
    they inherit). With ``include_overrides``, ``local-overrides.toml`` and
    the ``PROVISIONING__*`` variables sit above them all.

    Raises:
        FileSyntaxError: a layer is not valid TOML.
        UsageError: an unknown name, or a reference that cannot be expanded.
    """
    return load_cascade(ws, name, include_overrides=include_overrides).check().values


@dataclass(frozen=True)
class CacheInputs:
    """What the merged cache depends on besides its layer files.

    ``env``: the environment variables its references read (``${env.X}``,
    directly or through other keys, set or not); ``git``: whether it reads
    ``git.branch`` or ``git.commit``; ``timestamp``: whether it reads
    ``build.timestamp``, which makes it stale as soon as it is written;
    ``exact``: whether TOML could hold every value as it is (a byte that is
    not UTF-8, from ``workspace.root`` or a variable, is written visibly
    instead, see :func:`tomlfile.visible`, and such a cache is never fresh,
    so readers merge anew and see the real value).
    The ``PROVISIONING__*`` variables are not among them: the cache holds
    the cascade without the override layers.
    """

    env: tuple[str, ...] = ()
    git: bool = False
    timestamp: bool = False
    exact: bool = True

    @property
    def reusable(self) -> bool:
        """Tell whether a cache made from these inputs can ever be fresh."""
        return self.exact and not self.timestamp

    @classmethod
    def of(cls, cascade: Cascade) -> CacheInputs:
        """Return the inputs the references of ``cascade`` drew on."""
        used = {name for names in cascade.sources.values() for name in names}
        env = sorted(n[1] for n in used if len(n) == 2 and n[0] == "env")
        git = any(n in used for n in (("git", "branch"), ("git", "commit")))
        exact = not tomlfile.has_raw_bytes(cascade.values)
        return cls(tuple(env), git, ("build", "timestamp") in used, exact)

    def to_line(self) -> str:
        """Return the header line recording these inputs (names, no values)."""
        data = {"env": list(self.env), "git": self.git, "timestamp": self.timestamp}
        if not self.exact:
            data["exact"] = False
        return INPUTS_PREFIX + json.dumps(data)

    @classmethod
    def from_line(cls, line: str) -> CacheInputs | None:
        """Read :meth:`to_line`'s line back; None when it is not one."""
        if not line.startswith(INPUTS_PREFIX):
            return None
        try:
            data = json.loads(line[len(INPUTS_PREFIX) :])
            env = tuple(str(name) for name in data["env"])
            exact = bool(data.get("exact", True))
            return cls(env, bool(data["git"]), bool(data["timestamp"]), exact)
        except (ValueError, KeyError, TypeError):
            return None


def freshness_inputs(ws: Workspace) -> CacheInputs:
    """Return what the user's configuration reads besides its layer files.

    The inputs the ``doit config`` cache recorded when it is fresh, else
    those of a new merge; a configuration that does not load reads
    nothing more (its problem is reported where it is loaded).
    """
    text = _cache_text(ws)
    if text is not None:
        first, second, _ = (text.split("\n", 2) + ["", ""])[:3]
        if _fresh(ws, first, second):
            recorded = CacheInputs.from_line(second)
            if recorded is not None:
                return recorded
    try:
        return CacheInputs.of(load_cascade(ws))
    except UsageError as exc:
        log.debug("configuration of %s does not load: %s", ws.user, exc)
        return CacheInputs()


def cascade_signature(
    ws: Workspace,
    inputs: CacheInputs | None = None,
    revision: tuple[str, str] | None = None,
) -> str:
    """Return a fingerprint of what the user's merged configuration is made of.

    The layer files (paths, sizes, times) always count: the fingerprint
    changes whenever a layer is written, created or removed. With
    ``inputs``, so do the values of the environment variables it names and,
    when it reads ``git.*``, the repository's branch and commit (``revision``,
    else asked now). The merged cache records it to tell whether it is
    still fresh.
    """
    parts = []
    for source in layer_sources(ws):
        assert source.path is not None
        try:
            info = source.path.stat()
            parts.append(f"{source.path}:{info.st_mtime_ns}:{info.st_size}")
        except FileNotFoundError:
            parts.append(f"{source.path}:-")
    if inputs is not None:
        parts += [f"env:{n}={json.dumps(ws.environ.get(n))}" for n in inputs.env]
        if inputs.git:
            parts.append("git:{}:{}".format(*(revision or current_revision(ws))))
    text = "\n".join(parts).encode("utf-8", "surrogateescape")  # names as bytes
    return hashlib.sha256(text).hexdigest()[:32]


def current_revision(ws: Workspace) -> tuple[str, str]:
    """Return the branch and commit of the repository holding ``ws`` right now.

    Not the answer remembered for the process: a freshness check must see a
    commit made since.
    """
    return git_revision.__wrapped__(str(ws.root), git_environ(ws.environ))


def load_for_cache(ws: Workspace) -> tuple[Cascade, list[str]]:
    """Load the user's cascade for the merged cache, with the cache's header.

    The header (signature and inputs, see :func:`cache_is_fresh`) describes
    exactly what was merged: git is asked afresh and its answer used for
    both, and a layer changed while merging leaves a signature that never
    matches, so the next reader merges again.
    """
    git_revision.cache_clear()
    before = cascade_signature(ws)
    cascade = load_cascade(ws)
    inputs = CacheInputs.of(cascade)
    revision = git_revision(str(ws.root), git_environ(ws.environ))
    signature = cascade_signature(ws, inputs, revision)
    if cascade_signature(ws) != before:
        log.debug("a layer of %s changed while merging", ws.user)
        signature = "changed-while-merging"
    return cascade, [SIGNATURE_PREFIX + signature, inputs.to_line()]


def cache_is_fresh(ws: Workspace) -> bool:
    """Tell whether the merged cache still holds what merging would give now.

    Fresh means: written from the current layer files, with the same values
    of the environment variables its references read and the same git
    branch and commit if it reads them; never, when it reads
    ``build.timestamp`` (the time of each merge).
    """
    text = _cache_text(ws)
    if text is None:
        return False
    first, second, _ = (text.split("\n", 2) + ["", ""])[:3]
    return _fresh(ws, first, second)


def _cache_text(ws: Workspace) -> str | None:
    """Return the text of the merged cache, None when it cannot be read.

    Only a regular file inside the workspace is read (never a fifo or a
    device left at its name).
    """
    if not safefs.resolves_within(ws.merged_config, ws.root):
        log.debug("%s leads outside the workspace; not read", ws.merged_config)
        return None
    try:
        return safefs.read_regular_text(ws.merged_config)
    except (OSError, UsageError) as exc:
        log.debug("merged config cache of %s not read: %s", ws.user, exc)
        return None


def _fresh(ws: Workspace, first: str, second: str) -> bool:
    inputs = CacheInputs.from_line(second)
    if inputs is None or not inputs.reusable:
        return False
    return first == SIGNATURE_PREFIX + cascade_signature(ws, inputs)


def read_cached(ws: Workspace) -> dict[str, Any] | None:
    """Return the merged values from the cache file when it is fresh, else None.

    Fresh as :func:`cache_is_fresh` decides. A cache reached through a link
    leading out of the workspace is ignored.
    """
    text = _cache_text(ws)
    if text is None:
        return None
    first, second, _ = (text.split("\n", 2) + ["", ""])[:3]
    if not _fresh(ws, first, second):
        log.debug("merged config cache of %s is stale", ws.user)
        return None
    try:
        return tomlfile.loads(text, ws.merged_config)
    except UsageError:
        log.debug("merged config cache of %s does not parse", ws.user)
        return None
