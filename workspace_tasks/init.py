"""Create a workspace, or one user's isolated areas in an existing one.

``init`` plans every file from the template folders first, decides for each
one whether to create, keep or regenerate it, and only then writes. With
``overwrite`` a file the user changed since ``init`` wrote it is copied to
``runtime/data/<user>/backups/overwritten-<time>/`` before it is replaced.
"""

from __future__ import annotations

import hashlib
import json
import logging
import tomllib
from dataclasses import asdict, dataclass, field, replace
from datetime import UTC, datetime
from pathlib import Path

from workspace_tasks import __version__, safefs, templating
from workspace_tasks.context import (
    ENV_OF_TYPE,
    EXTENSION_KINDS,
    MARKER,
    WORKSPACE_TYPES,
    Workspace,
)
from workspace_tasks.errors import UsageError
from workspace_tasks.names import MAX_NAME_LENGTH, check_name

log = logging.getLogger(__name__)

TEMPLATE_CHOICES = ("minimal", "full", "custom")
EXAMPLES = ("minimal", "development", "testing")
KIND_TITLES = {
    "providers": "Provider",
    "taskservs": "Task service",
    "clusters": "Cluster",
}
RUNTIME_SUBFOLDERS = {
    "workspaces": ("extensions", "tmp"),
    "cache": ("providers", "images", "downloads"),
    "state": ("deployments", "workflows"),
    "logs": ("extensions",),
    "data": ("backups",),
}
# Files that hold the user's data once created: seeded once, never regenerated.
SEED_PREFIXES = ("runtime/logs/", "runtime/data/")


@dataclass(frozen=True)
class InitOptions:
    """The flags of ``workspace init``."""

    infra_name: str | None = None
    workspace_type: str | None = None  # None: as recorded, else development
    template: str | None = None  # None: as recorded, else minimal
    template_dir: Path | None = None
    overwrite: bool = False
    create_examples: bool = False


@dataclass
class InitResult:
    """What ``init`` did, file by file."""

    root: str
    user: str
    workspace_type: str
    infra_name: str
    template: str
    created: list[str] = field(default_factory=list)
    regenerated: list[str] = field(default_factory=list)
    unchanged: list[str] = field(default_factory=list)
    kept: list[str] = field(default_factory=list)
    preserved: dict[str, str] = field(default_factory=dict)
    folders_created: list[str] = field(default_factory=list)

    def to_dict(self) -> dict:
        return asdict(self)


@dataclass(frozen=True)
class _Step:
    action: str  # create, regenerate, preserve, unchanged, keep
    file: templating.PlannedFile


def default_infra_name(user: str, workspace_type: str) -> str:
    """Return the infra name used when ``--infra-name`` is not given.

    ``<user>-<env>``, the user part shortened so the name stays a valid one.
    """
    suffix = f"-{ENV_OF_TYPE[workspace_type]}"
    return f"{user[: MAX_NAME_LENGTH - len(suffix)]}{suffix}"


def with_recorded_choices(ws: Workspace, options: InitOptions) -> InitOptions:
    """Fill the choices not given with what this user's ``init`` recorded.

    So ``init --overwrite`` regenerates the workspace the user has (its type,
    infra and template), not a default one. For a new user the defaults are
    development, ``<user>-<env>`` and minimal.
    """
    recorded = {}
    if ws.user_initialised:
        try:
            with ws.settings_file.open("rb") as handle:
                recorded = tomllib.load(handle).get("workspace", {})
        except (OSError, tomllib.TOMLDecodeError):
            recorded = {}
    workspace_type = options.workspace_type or recorded.get("type") or "development"
    template = options.template or recorded.get("template") or "minimal"
    infra = options.infra_name
    same_type = options.workspace_type in (None, recorded.get("type"))
    if infra is None and same_type:
        infra = recorded.get("infra_name")  # a new type brings its own default
    return replace(
        options, workspace_type=workspace_type, template=template, infra_name=infra
    )


def _check_options(options: InitOptions) -> None:
    if options.workspace_type not in WORKSPACE_TYPES:
        raise UsageError(
            f"--workspace-type: {options.workspace_type!r} is not one of "
            + ", ".join(WORKSPACE_TYPES)
        )
    if options.template not in TEMPLATE_CHOICES:
        raise UsageError(
            f"--template: {options.template!r} is not one of "
            + ", ".join(TEMPLATE_CHOICES)
        )
    if options.template == "custom":
        if options.template_dir is None:
            raise UsageError("--template custom needs --template-dir DIR")
        if not Path(options.template_dir).is_dir():
            raise UsageError(f"--template-dir: {options.template_dir} is not a folder")
    elif options.template_dir is not None:
        raise UsageError("--template-dir goes with --template custom")
    if options.infra_name is not None:
        check_name(options.infra_name, "--infra-name")


def _variables(ws: Workspace, options: InitOptions, infra: str) -> dict:
    return {
        "user": ws.user,
        "infra_name": infra,
        "workspace_type": options.workspace_type,
        "env_name": ENV_OF_TYPE[options.workspace_type],
        "template": options.template,
        "created": datetime.now(UTC).strftime("%Y-%m-%dT%H:%M:%SZ"),
        "tool_version": __version__,
        "kind_titles": KIND_TITLES,
        "root": str(ws.root),
    }


def _custom_parts(folder: Path) -> tuple[Path | None, Path | None]:
    shared, user = folder / "shared", folder / "user"
    if shared.is_dir() or user.is_dir():
        return (shared if shared.is_dir() else None, user if user.is_dir() else None)
    return folder, None


def plan_files(ws: Workspace, options: InitOptions, variables: dict) -> list:
    """Return every file ``init`` would write, rendered and checked."""
    plan = templating.RenderPlan()
    folders = [templating.template_path("workspace", "shared")]
    if options.template == "full":
        for kind in EXTENSION_KINDS:
            source = templating.template_path("extensions", kind)
            copied = templating.render_folder(source, variables, render=False)
            prefix = f"extensions/{kind}/template/"
            plan.files.extend(
                templating.PlannedFile(prefix + f.relpath, f.data, f.mode, f.source)
                for f in copied.files
            )
    else:
        folders.append(templating.template_path("workspace", "minimal"))
    if options.create_examples or options.template == "full":
        folders.append(templating.template_path("workspace", "examples"))
    folders.append(templating.template_path("workspace", "user"))
    if options.template == "custom":
        folders.extend(p for p in _custom_parts(Path(options.template_dir)) if p)
    for folder in folders:
        plan.extend(templating.render_folder(folder, variables))
    # A later folder (a custom template) wins over an earlier one.
    unique = {f.relpath: f for f in plan.files}
    return list(unique.values())


def _digest(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()


def read_manifest(ws: Workspace) -> dict[str, str]:
    """Return the digests of the files ``init`` wrote last (relpath → sha256)."""
    try:
        return json.loads(ws.manifest.read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return {}


def _decide(
    ws: Workspace, files: list, manifest: dict[str, str], overwrite: bool
) -> list[_Step]:
    steps = []
    for planned in files:
        target = ws.root / planned.relpath
        safefs.check_within(target, ws.root)
        if not target.exists() and not target.is_symlink():
            steps.append(_Step("create", planned))
            continue
        seed = planned.relpath.startswith(SEED_PREFIXES)
        if not overwrite or seed or not target.is_file() or target.is_symlink():
            steps.append(_Step("keep", planned))
            continue
        current = _digest(target.read_bytes())
        if current == _digest(planned.data):
            steps.append(_Step("unchanged", planned))
        elif manifest.get(planned.relpath) == current:
            steps.append(_Step("regenerate", planned))
        else:
            steps.append(_Step("preserve", planned))
    return steps


def _folders(ws: Workspace, options: InitOptions, infra: str) -> list[Path]:
    root = ws.root
    wanted = [root / "config", root / "lib", root / "tools", root / "infra" / "local"]
    for kind in EXTENSION_KINDS:
        wanted.append(ws.extension_kind_dir(kind) / "template")
        wanted.append(ws.user_extensions_dir(kind))
    wanted += [root / "infra" / "examples" / name for name in EXAMPLES]
    wanted.append(root / "infra" / ws.user / infra)
    return wanted


def _runtime_folders(ws: Workspace) -> list[Path]:
    folders = []
    for area, subfolders in RUNTIME_SUBFOLDERS.items():
        folders.append(ws.runtime(area))
        folders += [ws.runtime(area) / sub for sub in subfolders]
    return folders


def expected_folders(ws: Workspace) -> list[Path]:
    """Return every folder ``init`` makes for ``ws``'s user, parents first.

    The user's runtime folders (private, mode 0700) are the last ones; see
    :func:`private_folders`.
    """
    infra = ws.infra or default_infra_name(ws.user, _known_type(ws.type))
    shared = [ws.runtime_root / area for area in RUNTIME_SUBFOLDERS]
    return _folders(ws, InitOptions(), infra) + shared + _runtime_folders(ws)


def private_folders(ws: Workspace) -> list[Path]:
    """Return the user's runtime folders, which ``init`` makes private (0700)."""
    return _runtime_folders(ws)


def _known_type(workspace_type: str) -> str:
    return workspace_type if workspace_type in WORKSPACE_TYPES else "development"


def generated_file(ws: Workspace, relpath: str) -> templating.PlannedFile | None:
    """Return the file ``init`` writes at ``relpath`` for ``ws``'s user, if any.

    Rendered exactly as ``init`` would (the user's type and infra), so a
    missing generated file can be put back as it was made.
    """
    return next((f for f in _generated_files(ws) if f.relpath == relpath), None)


def runtime_seed_files(ws: Workspace) -> list[templating.PlannedFile]:
    """Return the files ``init`` seeds in ``ws``'s user's runtime tree.

    ``settings.toml`` and ``current-infra`` of ``runtime/workspaces/<user>``,
    the first logs and the database, rendered as :func:`generated_file` does.
    """
    prefix = "runtime/"
    return [f for f in _generated_files(ws) if f.relpath.startswith(prefix)]


def _generated_files(ws: Workspace) -> list[templating.PlannedFile]:
    options = InitOptions(
        infra_name=ws.infra or None, workspace_type=_known_type(ws.type)
    )
    infra = options.infra_name or default_infra_name(ws.user, options.workspace_type)
    return plan_files(ws, options, _variables(ws, options, infra))


def init_workspace(
    ws: Workspace, options: InitOptions, now: datetime | None = None
) -> InitResult:
    """Create the workspace (or this user's part of it) as ``options`` say.

    Raises:
        UsageError: a bad option, or the user already has a workspace here
            and ``overwrite`` is not set.
    """
    options = with_recorded_choices(ws, options)
    _check_options(options)
    if ws.user_initialised and not options.overwrite:
        raise UsageError(
            f"user '{ws.user}' already has a workspace at {ws.root}; "
            "pass --overwrite to regenerate it (files you changed are kept as copies)"
        )
    infra = options.infra_name or default_infra_name(ws.user, options.workspace_type)
    variables = _variables(ws, options, infra)
    files = plan_files(ws, options, variables)
    from workspace_tasks.runtime import check_inside

    for folder in _runtime_folders(ws):
        check_inside(ws, folder)  # a link out of the workspace: nothing written
    manifest = read_manifest(ws)
    steps = _decide(ws, files, manifest, options.overwrite)

    stamp = (now or datetime.now(UTC)).strftime("%Y%m%d_%H%M%S")
    result = InitResult(
        str(ws.root), ws.user, options.workspace_type, infra, options.template
    )
    for folder in _folders(ws, options, infra):
        if safefs.ensure_dir(folder):
            result.folders_created.append(str(folder.relative_to(ws.root)))
    for area in RUNTIME_SUBFOLDERS:
        safefs.ensure_dir(ws.runtime_root / area, 0o755)
    for folder in _runtime_folders(ws):
        if safefs.ensure_dir(folder, safefs.PRIVATE_DIR):
            result.folders_created.append(str(folder.relative_to(ws.root)))
    backup_dir = ws.backups_dir / f"overwritten-{stamp}"
    for step in steps:
        _apply(ws, step, backup_dir, manifest, result)
    _write_marker(ws, variables)
    safefs.atomic_write(
        ws.manifest, json.dumps(manifest, indent=1, sort_keys=True) + "\n"
    )
    log.info(
        "initialised %s for %s: %d created, %d regenerated, %d kept as copies",
        ws.root,
        ws.user,
        len(result.created),
        len(result.regenerated),
        len(result.preserved),
    )
    return result


def _apply(
    ws: Workspace,
    step: _Step,
    backup_dir: Path,
    manifest: dict[str, str],
    result: InitResult,
) -> None:
    planned = step.file
    target = ws.root / planned.relpath
    if step.action == "keep":
        result.kept.append(planned.relpath)
        return
    if step.action == "unchanged":
        result.unchanged.append(planned.relpath)
        manifest[planned.relpath] = _digest(planned.data)
        return
    if step.action == "preserve":
        from workspace_tasks.runtime import ensure_user_dir

        copy = backup_dir / planned.relpath
        ensure_user_dir(ws, copy.parent)
        safefs.atomic_copy(target, copy, ws.root)
        result.preserved[planned.relpath] = str(copy)
        log.info("kept your changed %s as %s", planned.relpath, copy)
    safefs.atomic_write(target, planned.data, planned.mode)
    manifest[planned.relpath] = _digest(planned.data)
    if step.action == "create":
        result.created.append(planned.relpath)
    else:
        result.regenerated.append(planned.relpath)


def _write_marker(ws: Workspace, variables: dict) -> None:
    if (ws.root / MARKER).is_file():
        return
    source = templating.template_path("workspace", "marker.toml.jinja")
    text = templating.render_text(
        templating.environment(), source.read_text(), variables, str(source)
    )
    safefs.atomic_write(ws.root / MARKER, text)
