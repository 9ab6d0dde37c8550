"""Create a workspace, or one user's isolated areas in an existing one.

``init`` plans every file from the template folders first, decides for each
one whether to create, keep or regenerate it, checks the whole plan for
obstacles (a file where a folder belongs, a folder it cannot write in), and
only then writes; a failure half-way takes back everything the run created
or replaced. With ``overwrite`` a file the user changed since ``init`` wrote
it (or a link standing where ``init`` writes a file) is kept in a new folder
``runtime/data/<user>/backups/overwritten-<time>/`` before it is replaced.
"""

from __future__ import annotations

import hashlib
import logging
import os
import stat
import tomllib
from dataclasses import asdict, dataclass, field, replace
from datetime import UTC, datetime
from pathlib import Path

from workspace_tasks import __version__, safefs, templating
from workspace_tasks.choices import TEMPLATE_CHOICES, UserChoices, user_choices
from workspace_tasks.context import (
    ENV_OF_TYPE,
    EXTENSION_KINDS,
    MANIFEST,
    MARKER,
    RESTORE_STAGING_PREFIX,
    WORKSPACE_TYPES,
    Workspace,
    area_name,
    check_user_areas_free,
)
from workspace_tasks.errors import UnsafeOperation, UsageError
from workspace_tasks.names import MAX_NAME_LENGTH, check_name
from workspace_tasks.records import read_record
from workspace_tasks.text import quoted

log = logging.getLogger(__name__)

# The code init generates: the workspace's copy of the tool, not a template's.
TOOL_CODE = ("lib/path_resolver.py", "tools/tasks.py", "tools/dodo.py")
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
    removed: list[str] = field(default_factory=list)
    not_regenerated: dict[str, str] = field(default_factory=dict)
    template_folders_kept: list[str] = field(default_factory=list)
    folders_created: list[str] = field(default_factory=list)

    def to_dict(self) -> dict:
        return asdict(self)


@dataclass(frozen=True)
class _Step:
    # create, regenerate, preserve, move-aside, unchanged, keep, skip, blocked;
    # for what an earlier template left (see _stale_steps): remove, move-aside
    action: str
    file: templating.PlannedFile
    why: str = ""


def default_infra_name(user: str, workspace_type: str) -> str:
    """Return the infra name used when ``--infra-name`` is not given.

    ``<user>-<env>``, the user part shortened so the name stays a valid one.
    """
    suffix = f"-{ENV_OF_TYPE[workspace_type]}"
    return f"{user[: MAX_NAME_LENGTH - len(suffix)]}{suffix}"


def with_recorded_choices(ws: Workspace, options: InitOptions) -> InitOptions:
    """Fill the choices not given with what is known of this user's ``init``.

    So ``init --overwrite`` regenerates the workspace the user has (its type,
    infra and template, a custom template's folder included), not a default
    one, even when ``settings.toml`` is lost (see
    :mod:`workspace_tasks.choices`). For a new user the defaults are
    development, ``<user>-<env>`` and minimal.

    Raises:
        UsageError: a known choice is not a valid one (naming its file and
            key), or the recorded custom template folder is gone.
    """
    known = user_choices(ws)
    workspace_type = (
        options.workspace_type
        or known.checked("type", "--workspace-type")
        or "development"
    )
    template = options.template or known.checked("template", "--template")
    template = template or "minimal"
    infra = options.infra_name
    same_type = options.workspace_type in (None, known.value("type"))
    if infra is None and same_type:
        infra = known.checked("infra_name", "--infra-name")  # a new type: its own
    template_dir = options.template_dir
    if template == "custom" and template_dir is None:
        template_dir = _recorded_template_dir(known)
    return replace(
        options,
        workspace_type=workspace_type,
        template=template,
        infra_name=infra,
        template_dir=template_dir,
    )


def _recorded_template_dir(known: UserChoices) -> Path | None:
    recorded = known.template_dir()
    if recorded is None:
        return None
    folder = Path(recorded.value)
    if not folder.is_dir():
        raise UsageError(
            f"--template-dir: the template folder {folder} recorded in "
            f"{recorded.source} is not a folder any more; pass --template-dir DIR"
        )
    return folder


def _check_options(options: InitOptions) -> None:
    if options.workspace_type not in WORKSPACE_TYPES:
        raise UsageError(
            f"--workspace-type: {quoted(options.workspace_type)} is not one of "
            + ", ".join(WORKSPACE_TYPES)
        )
    if options.template not in TEMPLATE_CHOICES:
        raise UsageError(
            f"--template: {quoted(options.template)} is not one of "
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


def _variables(
    ws: Workspace, options: InitOptions, infra: str, created: str | None = None
) -> dict:
    """Return the variables of the templates; ``created`` is the user's creation."""
    return {
        "user": ws.user,
        "infra_name": infra,
        "workspace_type": options.workspace_type,
        "env_name": ENV_OF_TYPE[options.workspace_type],
        "template": options.template,
        "template_dir": _shown_template_dir(options),
        "created": created or datetime.now(UTC).strftime("%Y-%m-%dT%H:%M:%SZ"),
        "tool_version": __version__,
        "kind_titles": KIND_TITLES,
        "root": str(ws.root),
    }


def _shown_template_dir(options: InitOptions) -> str:
    if options.template != "custom" or options.template_dir is None:
        return ""
    return os.path.abspath(options.template_dir)


def _custom_parts(folder: Path) -> tuple[Path | None, Path | None]:
    shared, user = folder / "shared", folder / "user"
    if shared.is_dir() or user.is_dir():
        return (shared if shared.is_dir() else None, user if user.is_dir() else None)
    return folder, None


def plan_files(ws: Workspace, options: InitOptions, variables: dict) -> list:
    """Return every file ``init`` would write, rendered and checked.

    Raises:
        UsageError: a template does not render, two files take one path,
            or a custom template is refused (see :func:`_custom_files`).
    """
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
    for folder in folders:
        plan.extend(templating.render_folder(folder, variables))
    if options.template == "custom":
        plan.files += _custom_files(ws, Path(options.template_dir), variables)
    # A later folder (a custom template) wins over an earlier one.
    unique = {f.relpath: f for f in plan.files}
    files = list(unique.values())
    templating.check_overlaps(files)
    return files


def _custom_files(
    ws: Workspace, folder: Path, variables: dict
) -> list[templating.PlannedFile]:
    """Plan a custom template folder's files, each where it may go.

    ``DIR/shared/`` (or all of ``DIR``) writes shared files, never into a
    user's areas; ``DIR/user/`` writes this user's files, only into this
    user's areas. No file may take a path the tool keeps for itself.

    Raises:
        UsageError: the folder holds the workspace or lies in it, or one
            of its files would go where it may not (naming that file).
    """
    templating.check_template_place(folder, ws.root, "--template-dir")
    shared, user = _custom_parts(folder)
    files = []
    for part, per_user in ((shared, False), (user, True)):
        if part is None:
            continue
        for planned in templating.render_folder(part, variables).files:
            _check_custom_output(ws, planned, per_user)
            files.append(planned)
    return files


def tool_owned(relpath: str) -> str | None:
    """Return what the tool keeps at ``relpath`` (None: a template may write it).

    The marker and the record of ``init``, a restore's staging folders, the
    tool's state, each user's settings, temporary files, log and backups,
    and the generated tool code.
    """
    parts = relpath.split("/")
    if relpath in (MARKER, MANIFEST):
        return "a file the workspace keeps for itself"
    if parts[0].startswith(RESTORE_STAGING_PREFIX):
        return "a restore's staging folder"
    if relpath in TOOL_CODE:
        return "the tool's own code"
    if parts[0] != "runtime" or len(parts) < 4:
        return None
    area, inside = parts[1], parts[3:]
    if area == "state":
        return "the tool's state"
    if area == "workspaces" and (
        inside in (["settings.toml"], ["current-infra"]) or inside[0] == "tmp"
    ):
        return "the user's settings and temporary files"
    if area == "logs" and inside[0].startswith("provisioning.log"):
        return "the tool's log"
    if area == "data" and inside[0] == "backups":
        return "the user's backups"
    return None


def _check_custom_output(
    ws: Workspace, planned: templating.PlannedFile, per_user: bool
) -> None:
    """Refuse a custom template file that would go where it may not."""
    relpath = planned.relpath
    why = tool_owned(relpath)
    if why is not None:
        raise UsageError(
            f"{planned.source}: renders to {relpath}, {why}; a template may "
            "not write there"
        )
    parts = relpath.split("/")
    if per_user and not in_user_area(parts, ws.user):
        raise UsageError(
            f"{planned.source}: renders to {relpath}, outside the areas of "
            f"'{ws.user}'; a file of the template's user/ folder goes into "
            "config/{{ user }}.toml, extensions/<kind>/{{ user }}/, "
            "infra/{{ user }}/ or runtime/<area>/{{ user }}/"
        )
    owner = area_name(parts)
    if not per_user and (
        parts[0] == "runtime"
        or (owner is not None and (owner == ws.user or ws.is_known_user(owner)))
    ):
        raise UsageError(
            f"{planned.source}: renders to {relpath}, in a user's area; a shared "
            "file of the template goes elsewhere (a user's files belong in its "
            "user/ folder)"
        )


def in_user_area(parts: list[str], user: str) -> bool:
    """Tell whether the path ``parts`` lies within ``user``'s own areas."""
    if parts[:1] == ["config"]:
        return parts == ["config", f"{user}.toml"]
    if parts[:1] == ["infra"]:
        return len(parts) >= 3 and parts[1] == user
    if parts[:1] in (["extensions"], ["runtime"]):
        return len(parts) >= 4 and area_name(parts) == user
    return False


def _digest(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()


def read_manifest(ws: Workspace) -> dict[str, str]:
    """Return the digests of the files ``init`` wrote last (relpath → sha256)."""
    return read_record(ws.root).files


def _user_record(options: InitOptions, variables: dict) -> dict[str, str]:
    """Return what the record keeps of this user's ``init``."""
    choices = {
        "type": options.workspace_type or "",
        "infra_name": variables["infra_name"],
        "template": options.template or "",
        "created": variables["created"],
    }
    if variables["template_dir"]:
        choices["template_dir"] = variables["template_dir"]
    return choices


def _decide(
    ws: Workspace, files: list, manifest: dict[str, str], options: InitOptions
) -> list[_Step]:
    filled = _filled_template_folders(ws, options)
    steps = []
    for planned in files:
        target = ws.root / planned.relpath
        safefs.check_within(target, ws.root)
        try:
            info = target.lstat()
        except (FileNotFoundError, NotADirectoryError):
            # Below a file, the obstacle check names that file.
            action = "skip" if _template_folder(planned.relpath) in filled else "create"
            steps.append(_Step(action, planned))
            continue
        steps.append(_decide_existing(target, info, planned, manifest, options))
    return steps


def _decide_existing(
    target: Path,
    info: os.stat_result,
    planned: templating.PlannedFile,
    manifest: dict[str, str],
    options: InitOptions,
) -> _Step:
    """Decide about a file ``init`` generates whose name is taken already."""
    if not options.overwrite or planned.relpath.startswith(SEED_PREFIXES):
        return _Step("keep", planned)
    if stat.S_ISLNK(info.st_mode):
        return _Step("move-aside", planned)
    if not stat.S_ISREG(info.st_mode):
        what = "a folder" if stat.S_ISDIR(info.st_mode) else "not a regular file"
        return _Step("blocked", planned, f"it is {what}; move it away to get it back")
    current = _digest(target.read_bytes())
    if current == _digest(planned.data):
        return _Step("unchanged", planned)
    if manifest.get(planned.relpath) == current:
        return _Step("regenerate", planned)
    return _Step("preserve", planned)


def _template_folder(relpath: str) -> str | None:
    """Return ``extensions/<kind>/template`` if ``relpath`` lies in one."""
    parts = relpath.split("/")
    if len(parts) > 3 and parts[0] == "extensions" and parts[2] == "template":
        return "/".join(parts[:3])
    return None


def _filled_template_folders(ws: Workspace, options: InitOptions) -> set[str]:
    """Return the extension template folders ``init`` must add nothing to.

    A template folder holds one template: the first ``init`` to fill it
    decides which (minimal's README or the full templates). Another user's
    ``init``, or a rerun, never adds files to one that holds anything, so
    templates are never mixed; only ``--template full --overwrite`` adds the
    full templates to a filled folder, as the minimal README advises.
    """
    if options.overwrite and options.template == "full":
        return set()
    filled = set()
    for kind in EXTENSION_KINDS:
        folder = ws.extension_kind_dir(kind) / "template"
        try:
            holds = folder.is_dir() and any(folder.iterdir())
        except OSError:
            holds = False
        if holds:
            filled.add(f"extensions/{kind}/template")
    return filled


def _stale_steps(
    ws: Workspace, steps: list[_Step], manifest: dict[str, str]
) -> list[_Step]:
    """Plan taking away what an earlier template left in a folder filled now.

    When ``--template full --overwrite`` fills an extension template folder
    that held the minimal README, that README is no part of the new
    template: the one ``init`` wrote, unchanged, is removed; one the user
    changed (or a link there) is kept aside as any replaced file is.
    """
    filled = {
        _template_folder(step.file.relpath) for step in steps if step.action != "skip"
    }
    planned = {step.file.relpath for step in steps}
    stale = []
    for relpath in sorted(manifest):
        if relpath in planned or _template_folder(relpath) not in filled - {None}:
            continue
        target = ws.root / relpath
        try:
            info = target.lstat()
        except (FileNotFoundError, NotADirectoryError):
            continue
        source = templating.PlannedFile(relpath, b"", 0, target)
        if stat.S_ISLNK(info.st_mode):
            stale.append(_Step("move-aside", source))
        elif stat.S_ISREG(info.st_mode):
            unchanged = manifest[relpath] == _digest(target.read_bytes())
            stale.append(_Step("remove" if unchanged else "move-aside", source))
    return stale


def _drop(
    ws: Workspace,
    undo: safefs.Undo,
    step: _Step,
    copies: _Copies,
    manifest: dict[str, str],
    result: InitResult,
) -> None:
    """Carry out a step of :func:`_stale_steps`: remove, or keep aside."""
    relpath = step.file.relpath
    target = ws.root / relpath
    if step.action == "remove":
        undo.remove_file(target)
        log.info("removed %s, which the new template replaces", relpath)
    else:
        copy = copies.place_for(relpath)
        undo.rename(target, copy)
        result.preserved[relpath] = str(copy)
        log.info("moved your %s aside to %s", relpath, copy)
    manifest.pop(relpath, None)
    result.removed.append(relpath)


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
    infra = known_setup(ws).infra_name
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


def known_setup(ws: Workspace) -> InitOptions:
    """Return the user's choices as known, defaults only for what is unknown.

    The type, infra and template ``settings.toml`` holds or, when it is
    lost, the record of the user's ``init`` and the other places of
    :mod:`workspace_tasks.choices`; the workspace's type and ``<user>-<env>``
    when nothing knows them. What a lost ``settings.toml`` is made again
    from, by every repair.
    """
    known = user_choices(ws)
    workspace_type = known.value("type") or _known_type(ws.type)
    infra = known.value("infra_name") or default_infra_name(ws.user, workspace_type)
    template = known.value("template") or "minimal"
    folder = known.template_dir() if template == "custom" else None
    return InitOptions(
        infra_name=infra,
        workspace_type=workspace_type,
        template=template,
        template_dir=Path(folder.value) if folder else None,
    )


def _generated_files(ws: Workspace) -> list[templating.PlannedFile]:
    setup = known_setup(ws)
    created = user_choices(ws).value("created")
    variables = _variables(ws, setup, setup.infra_name or "", created)
    # Minimal's files are the ones every template writes (a custom folder
    # may be gone); the settings still say which template the user has.
    return plan_files(ws, replace(setup, template="minimal"), variables)


def placeholder_digests(ws: Workspace, kind: str) -> dict[str, set[str]]:
    """Return the digests of the files ``init`` writes in a template folder.

    Per file of ``extensions/<kind>/template/`` (relative to it): the
    minimal template's placeholder as this version renders it, and what the
    record says ``init`` wrote there, so a copy of the folder tells the
    tool's own unchanged files from the user's.
    """
    setup = known_setup(ws)
    variables = _variables(ws, setup, setup.infra_name or "")
    folder = templating.template_path("workspace", "minimal", "extensions", kind)
    digests: dict[str, set[str]] = {}
    for planned in templating.render_folder(folder / "template", variables).files:
        digests.setdefault(planned.relpath, set()).add(_digest(planned.data))
    prefix = f"extensions/{kind}/template/"
    for relpath, digest in read_manifest(ws).items():
        if relpath.startswith(prefix):
            digests.setdefault(relpath[len(prefix) :], set()).add(digest)
    return digests


def init_workspace(
    ws: Workspace, options: InitOptions, now: datetime | None = None
) -> InitResult:
    """Create the workspace (or this user's part of it) as ``options`` say.

    Everything is planned and checked before the first folder is made; a
    failure while writing takes back what this run created or replaced.

    Raises:
        UsageError: a bad option; the user already has a workspace here and
            ``overwrite`` is not set; the user's name is a shared folder's;
            something stands in the way of the plan (nothing is written).
    """
    options = with_recorded_choices(ws, options)
    _check_options(options)
    if ws.user_initialised and not options.overwrite:
        raise UsageError(
            f"user '{ws.user}' already has a workspace at {ws.root}; "
            "pass --overwrite to regenerate it (files you changed are kept as copies)"
        )
    check_user_areas_free(ws, "--user-name")
    infra = options.infra_name or default_infra_name(ws.user, options.workspace_type)
    # A user made again keeps the time it was first made.
    created = user_choices(ws).value("created")
    variables = _variables(ws, options, infra, created)
    files = plan_files(ws, options, variables)
    from workspace_tasks.runtime import check_inside

    for folder in _runtime_folders(ws):
        check_inside(ws, folder)  # a link out of the workspace: nothing written
    record = read_record(ws.root)
    steps = _decide(ws, files, record.files, options)
    stale = _stale_steps(ws, steps, record.files)
    _check_plan(ws, options, infra, steps)

    stamp = (now or datetime.now(UTC)).strftime("%Y%m%d_%H%M%S")
    result = InitResult(
        str(ws.root), ws.user, options.workspace_type, infra, options.template
    )
    with safefs.Undo(ws.root) as undo:
        _make_folders(ws, undo, options, infra, result)
        copies = _Copies(ws, undo, f"overwritten-{stamp}")
        for step in stale:
            _drop(ws, undo, step, copies, record.files, result)
        for step in steps:
            _apply(ws, undo, step, copies, record.files, result)
        _write_marker(ws, undo, variables, options.overwrite)
        record.users[ws.user] = _user_record(options, variables)
        undo.write(ws.manifest, record.to_json())
    skipped = {_template_folder(s.file.relpath) for s in steps if s.action == "skip"}
    result.template_folders_kept = sorted(folder for folder in skipped if folder)
    log.info(
        "initialised %s for %s: %d created, %d regenerated, %d kept as copies",
        ws.root,
        ws.user,
        len(result.created),
        len(result.regenerated),
        len(result.preserved),
    )
    return result


# Checking the plan before anything is written.


def _check_plan(
    ws: Workspace, options: InitOptions, infra: str, steps: list[_Step]
) -> None:
    """Refuse the whole run if any folder or file of the plan cannot be made.

    Raises:
        UnsafeOperation: a folder of the plan leads out of the workspace.
        UsageError: a file stands where a folder belongs, a folder cannot be
            written in, or the marker or the record is not a file.
    """
    from workspace_tasks.runtime import check_inside

    for folder in _runtime_folders(ws):
        check_inside(ws, folder)  # a link out of the workspace: nothing written
    for special in (ws.marker, ws.manifest):
        if os.path.lexists(special) and not special.is_file():
            what = "a folder" if special.is_dir() else "not a regular file"
            raise UsageError(
                f"{_shown(ws, special)} is {what}, where init keeps a file; "
                "move it away and run init again"
            )
    writes = {"create", "regenerate", "preserve", "move-aside"}
    folders = _folders(ws, options, infra) + _shared_runtime(ws) + _runtime_folders(ws)
    targets = [(folder, True) for folder in folders]
    targets += [
        (ws.root / step.file.relpath, False) for step in steps if step.action in writes
    ]
    targets += [(ws.marker, False), (ws.manifest, False)]
    checked: set[Path] = set()
    for path, is_folder in targets:
        _check_reachable(ws, path, is_folder, checked)


def _check_reachable(
    ws: Workspace, path: Path, is_folder: bool, checked: set[Path]
) -> None:
    """Check that ``path`` can be made: folders on the way, and writable.

    A file's own name is replaced, never followed, so only the folders on
    its way must stay inside the workspace.
    """
    folder = path if is_folder else path.parent
    if not safefs.resolves_within(folder, ws.root):
        raise UnsafeOperation(
            f"refusing to create {path}: it leads outside {ws.root} "
            f"(to {os.path.realpath(folder)})"
        )
    missing = None
    for current in [*reversed(folder.parents), folder]:
        if current in checked:
            continue
        try:
            info = os.stat(current)
        except FileNotFoundError:
            missing = current
            break
        except OSError as exc:
            raise UsageError(
                f"{_shown(ws, current)}: cannot be reached ({exc.strerror}); "
                f"init needs it for {_shown(ws, path)}"
            ) from None
        if not stat.S_ISDIR(info.st_mode):
            needed = "" if current == path else f" (for {_shown(ws, path)})"
            raise UsageError(
                f"{_shown(ws, current)} is a file where init makes a folder"
                f"{needed}; move it away and run init again"
            )
        checked.add(current)
    if missing is not None or not is_folder:
        # Something new goes into the deepest folder that exists.
        parent = missing.parent if missing is not None else folder
        if not os.access(parent, os.W_OK | os.X_OK):
            raise UsageError(
                f"{_shown(ws, parent)}: permission denied; init must create "
                f"{_shown(ws, missing or path)} there (nothing was changed)"
            )


def _shown(ws: Workspace, path: Path) -> str:
    try:
        return path.relative_to(ws.root).as_posix() or "."
    except ValueError:
        return str(path)


# Writing.


def _shared_runtime(ws: Workspace) -> list[Path]:
    return [ws.runtime_root / area for area in RUNTIME_SUBFOLDERS]


def _make_folders(
    ws: Workspace,
    undo: safefs.Undo,
    options: InitOptions,
    infra: str,
    result: InitResult,
) -> None:
    """Create the missing folders; existing shared ones keep their modes."""
    for folder in _folders(ws, options, infra):
        if undo.make_dirs(folder):
            result.folders_created.append(_shown(ws, folder))
    for shared in _shared_runtime(ws):
        if undo.make_dirs(shared, 0o755):
            result.folders_created.append(_shown(ws, shared))
    for folder in _runtime_folders(ws):
        if undo.make_dirs(folder, safefs.PRIVATE_DIR):
            result.folders_created.append(_shown(ws, folder))
        else:
            safefs.make_private(folder)  # the user's own: private again


class _Copies:
    """The folder keeping what ``--overwrite`` replaces, made on first use.

    Its name is new each run (``overwritten-<time>``, then ``-2``...), so
    two runs in the same second never write into the same one.
    """

    def __init__(self, ws: Workspace, undo: safefs.Undo, name: str) -> None:
        self.ws = ws
        self.undo = undo
        self.name = name
        self.folder: Path | None = None

    def place_for(self, relpath: str) -> Path:
        """Return where the replaced ``relpath`` is kept, its folders made."""
        if self.folder is None:
            self.folder = self.undo.make_unique_dir(
                self.ws.backups_dir, self.name, safefs.PRIVATE_DIR
            )
        copy = self.folder / relpath
        self.undo.make_dirs(copy.parent, safefs.PRIVATE_DIR)
        return copy


def _apply(
    ws: Workspace,
    undo: safefs.Undo,
    step: _Step,
    copies: _Copies,
    manifest: dict[str, str],
    result: InitResult,
) -> None:
    planned = step.file
    target = ws.root / planned.relpath
    if step.action == "skip":
        return
    if step.action == "keep":
        result.kept.append(planned.relpath)
        return
    if step.action == "blocked":
        result.not_regenerated[planned.relpath] = step.why
        log.info("did not regenerate %s: %s", planned.relpath, step.why)
        return
    if step.action == "unchanged":
        result.unchanged.append(planned.relpath)
        manifest[planned.relpath] = _digest(planned.data)
        return
    if step.action == "preserve":
        copy = copies.place_for(planned.relpath)
        safefs.atomic_copy(target, copy, ws.root)
        result.preserved[planned.relpath] = str(copy)
        log.info("kept your changed %s as %s", planned.relpath, copy)
    elif step.action == "move-aside":
        copy = copies.place_for(planned.relpath)
        undo.rename(target, copy)  # the link itself, never what it points to
        result.preserved[planned.relpath] = str(copy)
        log.info("moved the link %s aside to %s", planned.relpath, copy)
    undo.write(target, planned.data, planned.mode)
    manifest[planned.relpath] = _digest(planned.data)
    if step.action == "create":
        result.created.append(planned.relpath)
    else:
        result.regenerated.append(planned.relpath)


def _write_marker(
    ws: Workspace, undo: safefs.Undo, variables: dict, overwrite: bool
) -> None:
    """Write the marker if missing; with ``overwrite`` bring its version up.

    Regenerating the workspace makes it this version's: the marker then
    names this version (the rest of it kept as it is), which is what
    health's version check compares.
    """
    if not ws.marker.is_file():
        source = templating.template_path("workspace", "marker.toml.jinja")
        text = templating.render_text(
            templating.environment(), source.read_text(), variables, str(source)
        )
        undo.write(ws.marker, text)
        return
    if overwrite:
        updated = _marker_with_version(ws, variables["tool_version"])
        if updated is not None:
            undo.write(ws.marker, updated)


def _marker_with_version(ws: Workspace, version: str) -> str | None:
    """Return the marker's text naming ``version`` (None: as it is, or unreadable).

    A marker that does not parse is left for health to report.
    """
    import tomlkit

    try:
        text = ws.marker.read_text(encoding="utf-8")
        table = tomllib.loads(text).get("workspace")
    except (OSError, UnicodeDecodeError, tomllib.TOMLDecodeError):
        return None
    if not isinstance(table, dict) or table.get("tool_version") == version:
        return None
    document = tomlkit.parse(text)
    document["workspace"]["tool_version"] = version  # type: ignore[index]
    return tomlkit.dumps(document)
