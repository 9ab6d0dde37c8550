"""The value object describing one workspace for one user, and how to find it.

Everything below the command line receives a :class:`Workspace`; only
:func:`locate` (called at the edge) reads the current directory and the
environment.
"""

from __future__ import annotations

import logging
import os
import tomllib
from collections.abc import Mapping
from dataclasses import dataclass, field, replace
from pathlib import Path

from workspace_tasks import tomlfile
from workspace_tasks.errors import (
    FileSyntaxError,
    InvalidName,
    NotFoundError,
    UsageError,
)
from workspace_tasks.names import RESERVED_USER_NAMES, check_name, check_user_name
from workspace_tasks.records import RECORD_NAME, read_record
from workspace_tasks.text import quoted

MARKER = ".provisioning-workspace.toml"
MANIFEST = RECORD_NAME
# Hidden folders a restore stages into, at the workspace top.
RESTORE_STAGING_PREFIX = ".workspace-restore-"
WORKSPACE_TYPES = ("development", "testing", "production")
ENV_OF_TYPE = {"development": "dev", "testing": "test", "production": "prod"}
EXTENSION_KINDS = ("providers", "taskservs", "clusters")
RUNTIME_AREAS = ("workspaces", "cache", "state", "logs", "data")
PACKAGE_DIR = Path(__file__).resolve().parent

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class Workspace:
    """One workspace as seen by one user, with every path the spec names."""

    root: Path
    user: str
    core_root: Path
    type: str = "development"
    infra: str = ""
    environ: Mapping[str, str] = field(default_factory=dict, compare=False)
    # Settings are read without the configuration layers that do not parse:
    # backup, restore and reset must work to repair a broken config.
    lenient_config: bool = field(default=False, compare=False)
    # What named the user (a flag, a variable), for messages about the user.
    user_source: str = field(default="--workspace-user", compare=False)

    # Top-level folders.
    @property
    def marker(self) -> Path:
        return self.root / MARKER

    @property
    def manifest(self) -> Path:
        return self.root / MANIFEST

    @property
    def config_dir(self) -> Path:
        return self.root / "config"

    @property
    def extensions_dir(self) -> Path:
        return self.root / "extensions"

    @property
    def infra_dir(self) -> Path:
        return self.root / "infra"

    @property
    def lib_dir(self) -> Path:
        return self.root / "lib"

    @property
    def tools_dir(self) -> Path:
        return self.root / "tools"

    @property
    def runtime_root(self) -> Path:
        return self.root / "runtime"

    # Configuration files.
    @property
    def env_name(self) -> str:
        return ENV_OF_TYPE.get(self.type, "dev")

    @property
    def user_config(self) -> Path:
        return self.config_dir / f"{self.user}.toml"

    @property
    def env_defaults(self) -> Path:
        return self.config_dir / f"{self.env_name}-defaults.toml"

    @property
    def workspace_defaults(self) -> Path:
        return self.config_dir / "dev-defaults.toml"

    @property
    def local_overrides(self) -> Path:
        return self.config_dir / "local-overrides.toml"

    @property
    def core_config_dir(self) -> Path:
        return self.core_root / "config"

    @property
    def core_defaults(self) -> Path:
        return self.core_config_dir / "config.defaults.toml"

    # Per-user runtime areas.
    def runtime(self, area: str) -> Path:
        """Return ``runtime/<area>/<user>``."""
        if area not in RUNTIME_AREAS:
            raise ValueError(f"unknown runtime area {area!r}")
        return self.runtime_root / area / self.user

    @property
    def workspace_data_dir(self) -> Path:
        return self.runtime("workspaces")

    @property
    def cache_dir(self) -> Path:
        return self.runtime("cache")

    @property
    def state_dir(self) -> Path:
        return self.runtime("state")

    @property
    def logs_dir(self) -> Path:
        return self.runtime("logs")

    @property
    def data_dir(self) -> Path:
        return self.runtime("data")

    @property
    def backups_dir(self) -> Path:
        return self.data_dir / "backups"

    @property
    def log_file(self) -> Path:
        return self.logs_dir / "provisioning.log"

    @property
    def settings_file(self) -> Path:
        return self.workspace_data_dir / "settings.toml"

    @property
    def merged_config(self) -> Path:
        return self.state_dir / "merged-config.toml"

    @property
    def doit_dep_file(self) -> Path:
        return self.state_dir / "doit-state.json"

    # Extensions.
    def extension_kind_dir(self, kind: str) -> Path:
        return self.extensions_dir / kind

    def user_extensions_dir(self, kind: str) -> Path:
        return self.extensions_dir / kind / self.user

    @property
    def exists(self) -> bool:
        return self.marker.is_file()

    @property
    def user_initialised(self) -> bool:
        return self.settings_file.is_file()

    def user_areas(self) -> list[Path]:
        """Return the tops of the user's own areas, present or not.

        ``config/<user>.toml``, ``extensions/<kind>/<user>``, ``infra/<user>``
        and ``runtime/<area>/<user>``.
        """
        areas = [self.user_config, self.infra_dir / self.user]
        areas += [self.user_extensions_dir(kind) for kind in EXTENSION_KINDS]
        return areas + [self.runtime(area) for area in RUNTIME_AREAS]

    def has_areas(self) -> bool:
        """Tell whether the user has any area in the workspace (a link counts)."""
        return any(os.path.lexists(path) for path in self.user_areas())

    def for_user(self, user: str) -> Workspace:
        """Return the same workspace seen by another user (read as leniently)."""
        other = load_workspace(self.root, user, self.core_root, self.environ)
        return replace(other, lenient_config=self.lenient_config)

    def expand_home(self, text: str) -> Path:
        """Return ``text`` as a path, a leading ``~`` being this context's HOME."""
        return expand_home(text, self.environ)

    def known_users(self) -> list[str]:
        """Return the users of this workspace, sorted.

        A user is one whose ``init`` is recorded (see
        :mod:`workspace_tasks.records`) or who has a
        ``runtime/workspaces/<user>/settings.toml``; a name no user may have
        (``Bad Name``, ``template``) is none. Areas alone make no user: a
        folder a mistyped name left is not taken for one.
        """
        names = set(read_record(self.root).users)
        names |= {p.name for p in self._user_folders() if _has_settings(p)}
        return sorted(name for name in names if user_name_problem(name) is None)

    def foreign_user_folders(self) -> list[str]:
        """Return why each folder of ``runtime/workspaces`` is not a user's."""
        recorded = read_record(self.root).users
        reasons = []
        for folder in self._user_folders():
            why = user_name_problem(folder.name)
            if (
                why is None
                and folder.name not in recorded
                and not _has_settings(folder)
            ):
                why = "no settings.toml and no recorded init"
            if why is not None:
                shown = folder.relative_to(self.root)
                reasons.append(f"{shown}: {why}; not listed as a user")
        return reasons

    def _user_folders(self) -> list[Path]:
        base = self.runtime_root / "workspaces"
        if not base.is_dir():
            return []
        return sorted(p for p in base.iterdir() if p.is_dir())

    def is_known_user(self, user: str) -> bool:
        """Tell whether ``user`` is a user here (see :meth:`known_users`)."""
        if user_name_problem(user) is not None:
            return False
        folder = self.runtime_root / "workspaces" / user
        return _has_settings(folder) or user in read_record(self.root).users

    def shared_folder_named(self, user: str) -> tuple[Path, str] | None:
        """Return a shared folder standing where ``user``'s areas would go.

        ``extensions/<kind>/<user>`` and ``infra/<user>`` are the areas of a
        user who has a runtime area; for a name that is no user yet, what is
        there is shared (an extension, an infrastructure), and making a user
        of that name would turn it into the user's own. Returns the folder
        and what it is, or None when the name is free.
        """
        if self.is_known_user(user):
            return None
        places = [
            (self.extension_kind_dir(kind) / user, "shared extension")
            for kind in EXTENSION_KINDS
        ]
        places.append((self.infra_dir / user, "shared infrastructure"))
        for place, what in places:
            if place.exists() or place.is_symlink():
                return place, what
        return None


def _has_settings(folder: Path) -> bool:
    return (folder / "settings.toml").is_file()


def area_name(parts: tuple[str, ...] | list[str]) -> str | None:
    """Return the name in a user's area's place along ``parts``, if any.

    ``parts`` is a path inside the workspace, split: the second part of
    ``infra/…``, the third of ``extensions/<kind>/…`` and of
    ``runtime/<area>/…``, or the stem of ``config/<name>.toml``.
    """
    parts = list(parts)
    if len(parts) >= 2 and parts[0] == "infra":
        return parts[1]
    if len(parts) >= 3 and parts[0] == "extensions" and parts[1] in EXTENSION_KINDS:
        return parts[2]
    if len(parts) >= 3 and parts[0] == "runtime" and parts[1] in RUNTIME_AREAS:
        return parts[2]
    if len(parts) == 2 and parts[0] == "config" and parts[1].endswith(".toml"):
        return parts[1][: -len(".toml")]
    return None


def user_name_problem(name: str) -> str | None:
    """Return why ``name`` cannot be a user's (None when it can)."""
    try:
        check_name(name, "name")
    except InvalidName:
        return "not a valid name"
    if name in RESERVED_USER_NAMES:
        return "a name reserved for a shared folder"
    return None


def check_user_areas_free(ws: Workspace, flag: str) -> None:
    """Refuse to give ``ws.user`` areas where a shared folder of that name is.

    Raises:
        UsageError: naming ``flag`` and the shared folder in the way.
    """
    taken = ws.shared_folder_named(ws.user)
    if taken is None:
        return
    place, what = taken
    raise UsageError(
        f"{flag}: {quoted(ws.user)} is the name of {place.relative_to(ws.root)}, "
        f"a {what}; choose another user name"
    )


def expand_home(text: str, environ: Mapping[str, str]) -> Path:
    """Return ``text`` as a path, a leading ``~`` made the HOME of ``environ``.

    Without HOME there, ``~`` is the current account's home folder; ``~name``
    is the home of account ``name``, as the shell has them. The process's
    own environment is never read.
    """
    if text != "~" and not text.startswith("~/"):
        return Path(text).expanduser() if text.startswith("~") else Path(text)
    home = environ.get("HOME") or _account_home()
    if home is None:
        return Path(text)
    return Path(home) / text[2:]


def _account_home() -> str | None:
    import pwd

    try:
        return pwd.getpwuid(os.getuid()).pw_dir
    except KeyError:
        return None


def default_core_root(environ: Mapping[str, str]) -> Path:
    """Return the core root: ``PROVISIONING_CORE_ROOT`` or the shipped one."""
    override = environ.get("PROVISIONING_CORE_ROOT")
    if override:
        return expand_home(override, environ).resolve()
    return PACKAGE_DIR / "core"


def check_core_root(core_root: Path, environ: Mapping[str, str]) -> Path:
    """Return ``core_root`` when it holds ``config/config.defaults.toml``.

    Raises:
        UsageError: naming ``PROVISIONING_CORE_ROOT`` when it set the root.
    """
    defaults = core_root / "config" / "config.defaults.toml"
    if defaults.is_file():
        return core_root
    how = (
        "PROVISIONING_CORE_ROOT"
        if environ.get("PROVISIONING_CORE_ROOT")
        else "the shipped core root"
    )
    if not core_root.is_dir():
        raise UsageError(f"{how}: {core_root} is not a folder")
    raise UsageError(f"{how}: {core_root} has no config/config.defaults.toml")


def _read_workspace_table(path: Path, root: Path) -> dict:
    """Return the ``[workspace]`` table of the marker or a settings file.

    A file that is missing or does not parse gives an empty table (the
    health check reports it); a ``type`` that is not a workspace type is an
    error here, where every command reads it.

    Raises:
        FileSyntaxError: ``type`` is not one of :data:`WORKSPACE_TYPES`,
            naming the file (relative to ``root``), line and column.
    """
    try:
        text = tomlfile.read_text(path)
        table = tomllib.loads(text).get("workspace", {})
    except (OSError, UsageError, tomllib.TOMLDecodeError):
        return {}
    if not isinstance(table, dict):
        return {}
    kind = table.get("type")
    if kind is not None and kind not in WORKSPACE_TYPES:
        line, column = tomlfile.key_positions(text).get(("workspace", "type"), (1, 1))
        shown = path.relative_to(root) if path.is_relative_to(root) else path
        raise FileSyntaxError(
            shown,
            line,
            column,
            f"[workspace] type: {quoted(kind)} is not one of "
            + ", ".join(WORKSPACE_TYPES),
        )
    return table


def load_workspace(
    root: Path,
    user: str,
    core_root: Path,
    environ: Mapping[str, str] | None = None,
) -> Workspace:
    """Build the :class:`Workspace` for ``user``, reading its saved settings.

    The type is the user's ``settings.toml`` one, else the marker's, else
    development.

    Raises:
        FileSyntaxError: the marker or the settings name an unknown type.
    """
    environ = dict(environ or {})
    root = Path(root).resolve()
    marker = _read_workspace_table(root / MARKER, root)
    ws = Workspace(root=root, user=user, core_root=core_root, environ=environ)
    settings = _read_workspace_table(ws.settings_file, root)
    ws_type = settings.get("type") or marker.get("type")
    infra = settings.get("infra_name", "")
    return replace(ws, type=ws_type or "development", infra=infra)


def find_root(start: Path) -> Path | None:
    """Find the nearest workspace at or above ``start``, as git finds a repo.

    A folder is the workspace when it holds the marker file, and holds one
    when its ``workspace/`` sub-folder does.
    """
    start = start.resolve()
    for folder in (start, *start.parents):
        if (folder / MARKER).is_file():
            return folder
        if (folder / "workspace" / MARKER).is_file():
            return folder / "workspace"
    return None


def _refuse_inside_workspace(chosen: Path, how: str, creating: bool) -> None:
    """Refuse a folder that lies inside a workspace without being one.

    Raises:
        UsageError: naming what chose the folder and the workspace holding
            it; ``init`` (``creating``) would make a workspace in it.
    """
    outer = next((f for f in chosen.parents if (f / MARKER).is_file()), None)
    if outer is None:
        return
    if creating:
        raise UsageError(
            f"{how}: {chosen} lies inside the workspace {outer}; a workspace "
            "cannot hold another: choose a folder outside it"
        )
    raise UsageError(
        f"{how}: {chosen} lies inside the workspace {outer} and is not one; "
        f"pass --root {outer}"
    )


USER_VARIABLES = ("PROVISIONING_WORKSPACE_USER", "USER", "LOGNAME")


def pick_user(explicit: str | None, environ: Mapping[str, str], flag: str) -> str:
    """Return the user: the flag, else PROVISIONING_WORKSPACE_USER, USER, LOGNAME.

    Without any of them (a service, ``env -i``), the login name of the
    account running the program, as ``id -un`` gives it. Each is checked as
    a user name, and an error names where the bad one came from.

    Raises:
        UsageError: no user anywhere, or the one found is not a valid name.
    """
    name, _ = _user_and_source(explicit, environ, flag)
    return name


def _user_and_source(
    explicit: str | None, environ: Mapping[str, str], flag: str
) -> tuple[str, str]:
    """Return the user and what named it (the flag, a variable, the account)."""
    if explicit is not None:
        return check_user_name(explicit, flag), flag
    for variable in USER_VARIABLES:
        value = environ.get(variable)
        if value:
            return check_user_name(value, variable), variable
    account = login_name()
    if account is not None:
        source = f"the login name of uid {os.getuid()}"
        return check_user_name(account, source), source
    raise UsageError(
        f"no user given: pass {flag}, or set PROVISIONING_WORKSPACE_USER or USER "
        f"(uid {os.getuid()} has no login name)"
    )


def login_name() -> str | None:
    """Return the login name of the account running the program, if it has one."""
    import pwd

    try:
        return pwd.getpwuid(os.getuid()).pw_name or None
    except KeyError:
        return None


def require_areas(ws: Workspace, source: str | None = None) -> None:
    """Refuse a user who has no area in the workspace (a mistyped name, say).

    Args:
        ws: the workspace and user.
        source: what named the user (a flag or a variable), for the message;
            by default what named it when the workspace was located.

    Raises:
        NotFoundError: none of :meth:`Workspace.user_areas` exists.
    """
    if ws.has_areas():
        return
    source = source or ws.user_source
    users = ", ".join(ws.known_users()) or "none"
    raise NotFoundError(
        f"{source}: user '{ws.user}' has no areas in {ws.root} (users: {users}); "
        f"run 'workspace init --user-name {ws.user}' to create them"
    )


def require_user(ws: Workspace, source: str | None = None) -> None:
    """Refuse a name that is no user here (see :meth:`Workspace.known_users`).

    For commands that create something in the user's areas: areas a
    mistyped name left behind do not make it a user, and nothing more is
    added to them.

    Args:
        ws: the workspace and user.
        source: what named the user (a flag or a variable), for the message;
            by default what named it when the workspace was located.

    Raises:
        NotFoundError: ``ws.user`` is not a known user.
    """
    if ws.is_known_user(ws.user):
        return
    source = source or ws.user_source
    users = ", ".join(ws.known_users()) or "none"
    raise NotFoundError(
        f"{source}: '{ws.user}' is not a user of {ws.root} (users: {users}); "
        f"run 'workspace init --user-name {ws.user}' to create the user"
    )


def locate(
    *,
    root: str | None,
    user: str | None,
    environ: Mapping[str, str],
    cwd: Path,
    user_flag: str = "--workspace-user",
    must_exist: bool = True,
    existing_user: bool = False,
    known_user: bool = False,
) -> Workspace:
    """Find the workspace and the user once, at the edge of the program.

    Order: ``root`` (``--root``), ``PROVISIONING_WORKSPACE_ROOT``, the nearest
    workspace upwards from ``cwd``; with ``must_exist`` false, ``./workspace``.
    With ``existing_user``, a user without any area there is refused (see
    :func:`require_areas`): commands working on a user's areas never create
    them for a mistyped name. With ``known_user``, a name that is no user
    (see :func:`require_user`) is refused: commands creating something in
    the user's areas never start a user's areas of their own.
    """
    chosen: Path | None = None
    if root is not None and not root.strip():
        raise UsageError("--root: the folder name is empty; pass a folder, e.g. ./ws")
    if root:
        chosen, how = expand_home(root, environ), "--root"
    elif environ.get("PROVISIONING_WORKSPACE_ROOT"):
        chosen = expand_home(environ["PROVISIONING_WORKSPACE_ROOT"], environ)
        how = "PROVISIONING_WORKSPACE_ROOT"
    else:
        chosen, how = find_root(cwd), f"a search upwards from {cwd}"
    if chosen is None:
        if must_exist:
            raise NotFoundError(
                f"no workspace found in {cwd} or above; "
                "run 'workspace init' or pass --root DIR"
            )
        chosen, how = cwd / "workspace", "the default ./workspace"
    chosen = (cwd / chosen).resolve()
    log.debug("workspace %s chosen by %s", chosen, how)
    if chosen.exists() and not chosen.is_dir():
        raise UsageError(f"{how}: {chosen} is a file, not a workspace folder")
    if not (chosen / MARKER).is_file():
        _refuse_inside_workspace(chosen, how, creating=not must_exist)
    if must_exist and not (chosen / MARKER).is_file():
        raise NotFoundError(
            f"{chosen} is not a workspace (no {MARKER}); "
            f"run 'workspace init --root {chosen}'"
        )
    name, source = _user_and_source(user, environ, user_flag)
    core_root = check_core_root(default_core_root(environ), environ)
    ws = replace(load_workspace(chosen, name, core_root, environ), user_source=source)
    log.debug("user %s, type %s, core root %s", ws.user, ws.type, ws.core_root)
    if existing_user:
        require_areas(ws, source)
    if known_user:
        require_user(ws, source)
    return ws
