"""What is known of a user's ``init`` choices: type, infra, template, creation.

``runtime/workspaces/<user>/settings.toml`` keeps them. When it is lost (or
lacks one), each is found in the first place that still knows it: the
record of the user's ``init`` (``.provisioning-generated.json``), the
``[workspace]`` table of ``config/<user>.toml``, the
``runtime/workspaces/<user>/current-infra`` file and the one folder of
``infra/<user>/``. ``init --overwrite`` regenerates with these choices, and
the repairs that make a lost ``settings.toml`` again (``health
--fix-issues``, ``runtime init``) write them back, so a production user
never comes back as a development one; defaults are for what nothing knows.
"""

from __future__ import annotations

import logging
import tomllib
from dataclasses import dataclass, field

from workspace_tasks import safefs
from workspace_tasks.context import WORKSPACE_TYPES, Workspace
from workspace_tasks.errors import InvalidName, UsageError
from workspace_tasks.names import check_name
from workspace_tasks.records import RECORD_NAME, read_record
from workspace_tasks.text import quoted

log = logging.getLogger(__name__)

TEMPLATE_CHOICES = ("minimal", "full", "custom")
FIELDS = ("type", "infra_name", "template", "template_dir", "created")


@dataclass(frozen=True)
class Known:
    """One value found for a choice, and where it was found."""

    value: str
    source: str  # a file relative to the workspace, and the key in it

    def problem(self, name: str) -> str | None:
        """Return why the value cannot be choice ``name`` (None when it can)."""
        if name == "type" and self.value not in WORKSPACE_TYPES:
            return f"is not one of {', '.join(WORKSPACE_TYPES)}"
        if name == "template" and self.value not in TEMPLATE_CHOICES:
            return f"is not one of {', '.join(TEMPLATE_CHOICES)}"
        if name == "infra_name":
            try:
                check_name(self.value, "infra_name")
            except InvalidName:
                return "is not a valid name"
        if not self.value:
            return "is empty"
        return None


@dataclass
class UserChoices:
    """Every value found for each choice of one user, the surest first."""

    user: str
    found: dict[str, list[Known]] = field(default_factory=dict)

    def value(self, name: str) -> str | None:
        """Return the first usable value of choice ``name`` (None: unknown)."""
        for known in self.found.get(name, []):
            if known.problem(name) is None:
                return known.value
            log.debug("%s: %s %s; not used", known.source, quoted(known.value), name)
        return None

    def checked(self, name: str, flag: str) -> str | None:
        """Return the surest value of choice ``name``, refusing a bad one.

        Raises:
            UsageError: the value is not usable, naming its file and key,
                and ``flag``, which gives another value.
        """
        values = self.found.get(name, [])
        if not values:
            return None
        known = values[0]
        why = known.problem(name)
        if why is not None:
            raise UsageError(
                f"{known.source}: {quoted(known.value)} {why}; correct it there "
                f"or pass {flag}"
            )
        return known.value

    def template_dir(self) -> Known | None:
        """Return the template folder recorded beside the chosen template."""
        for template, folder in zip(
            self.found.get("template", []),
            self.found.get("_template_dir_beside", []),
            strict=False,
        ):
            if template.problem("template") is None:
                return folder if folder.value else None
        return None


def user_choices(ws: Workspace) -> UserChoices:
    """Return what each place knows of ``ws.user``'s choices, surest first."""
    choices = UserChoices(ws.user)
    settings = _workspace_table(ws, ws.settings_file)
    record = read_record(ws.root).users.get(ws.user, {})
    config = _workspace_table(ws, ws.user_config)
    shown_settings = _shown(ws, ws.settings_file)
    for table, source in (
        (settings, f"{shown_settings} [workspace]"),
        (record, f"{RECORD_NAME} users.{ws.user}"),
    ):
        for name in FIELDS:
            value = table.get(name)
            if isinstance(value, str):
                _add(choices, name, value, f"{source} {name}")
        if isinstance(table.get("template"), str):
            beside = table.get("template_dir")
            folder = beside if isinstance(beside, str) else ""
            _add(choices, "_template_dir_beside", folder, f"{source} template_dir")
    config_source = f"{_shown(ws, ws.user_config)} [workspace]"
    for name in ("type", "infra_name"):
        value = config.get(name)
        if isinstance(value, str):
            _add(choices, name, value, f"{config_source} {name}")
    current = _current_infra(ws)
    if current:
        _add(choices, "infra_name", current, _shown(ws, _current_infra_file(ws)))
    only = _only_infra_folder(ws)
    if only:
        _add(choices, "infra_name", only, f"the one folder of infra/{ws.user}/")
    return choices


def _add(choices: UserChoices, name: str, value: str, source: str) -> None:
    choices.found.setdefault(name, []).append(Known(value, source))


def _shown(ws: Workspace, path) -> str:
    return path.relative_to(ws.root).as_posix()


def _workspace_table(ws: Workspace, path) -> dict:
    try:
        table = tomllib.loads(safefs.read_regular_text(path)).get("workspace", {})
    except (OSError, UsageError, tomllib.TOMLDecodeError):
        return {}
    return table if isinstance(table, dict) else {}


def _current_infra_file(ws: Workspace):
    return ws.workspace_data_dir / "current-infra"


def _current_infra(ws: Workspace) -> str:
    try:
        text = safefs.read_regular_text(_current_infra_file(ws))
    except (OSError, UsageError):
        return ""
    return text.strip()


def _only_infra_folder(ws: Workspace) -> str:
    """Return the name of the user's only infrastructure folder, if just one."""
    folder = ws.infra_dir / ws.user
    try:
        names = [p.name for p in folder.iterdir() if p.is_dir() and not p.is_symlink()]
    except OSError:
        return ""
    valid = []
    for name in names:
        try:
            valid.append(check_name(name, "infra"))
        except InvalidName:
            continue
    return valid[0] if len(valid) == 1 else ""
