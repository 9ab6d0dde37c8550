"""Create extensions from template folders: ``create-extension``, ``init-extension``.

Both plan every file first (rendering the ``.jinja`` files and checking each
``.j2`` template of the new extension against its manifest's declarations),
so a bad template leaves nothing behind. ``create-extension`` writes the new
extension into a hidden staging folder and renames it into place;
``init-extension`` renders a copied template folder where it stands.
"""

from __future__ import annotations

import hashlib
import logging
import os
from dataclasses import asdict, dataclass, field
from pathlib import Path

from workspace_tasks import __version__, safefs, templating
from workspace_tasks.context import EXTENSION_KINDS, Workspace, require_user
from workspace_tasks.errors import UsageError
from workspace_tasks.manifest import (
    MANIFEST_NAME,
    Manifest,
    module_name,
    parse_manifest,
    required_files,
)
from workspace_tasks.names import check_name
from workspace_tasks.problems import Problem
from workspace_tasks.text import quoted

log = logging.getLogger(__name__)

KIND_FLAGS = {
    "providers": "--provider-name",
    "taskservs": "--service-name",
    "clusters": "--cluster-name",
}
KIND_TITLES = {
    "providers": "provider",
    "taskservs": "task service",
    "clusters": "cluster",
}
TEMPLATE_MARK = MANIFEST_NAME + templating.RENDER_SUFFIX
# What the commands and their messages call the extension argument.
REFERENCE = "KIND/NAME"


@dataclass(frozen=True)
class ExtensionOptions:
    """The flags of ``create-extension`` and ``init-extension``."""

    author: str | None = None
    description: str | None = None
    service_type: str | None = None
    cluster_type: str | None = None
    shared: bool = False
    template_dir: Path | None = None
    dry_run: bool = False


@dataclass
class ScaffoldResult:
    """What creating or initialising an extension wrote (or would write)."""

    kind: str
    name: str
    path: str
    written: list[str] = field(default_factory=list)
    removed: list[str] = field(default_factory=list)
    dry_run: bool = False

    def to_dict(self) -> dict:
        return asdict(self)


def parse_reference(reference: str, flag: str = REFERENCE) -> tuple[str, str]:
    """Split ``<kind>/<name>`` and check both parts.

    Raises:
        UsageError: the kind is unknown or the name is not a valid name.
    """
    kind, _, name = reference.partition("/")
    if kind not in EXTENSION_KINDS:
        raise UsageError(
            f"{flag}: {quoted(reference)} must be <kind>/<name> with kind one of "
            + ", ".join(EXTENSION_KINDS)
        )
    return kind, check_name(name, flag)


def _check_options(kind: str, options: ExtensionOptions) -> None:
    if options.service_type is not None and kind != "taskservs":
        raise UsageError("--service-type goes with taskservs/<name>")
    if options.cluster_type is not None and kind != "clusters":
        raise UsageError("--cluster-type goes with clusters/<name>")
    if options.service_type is not None:
        check_name(options.service_type, "--service-type")
    if options.cluster_type is not None:
        check_name(options.cluster_type, "--cluster-type")


def variables(ws: Workspace, kind: str, name: str, options: ExtensionOptions) -> dict:
    """Return the variables a template folder of ``kind`` is rendered with."""
    title = KIND_TITLES[kind]
    return {
        "name": name,
        "module": module_name(name),
        "kind": kind,
        "kind_title": title,
        "author": options.author or ws.user,
        "description": options.description or f"The {name} {title}.",
        "service_type": options.service_type or "service",
        "cluster_type": options.cluster_type or "generic",
        "tool_version": __version__,
    }


def _template_problems(plan: templating.RenderPlan) -> list[Problem]:
    """Check the planned ``.j2`` files against the planned manifest."""
    from workspace_tasks.validation import template_problems

    by_path = {planned.relpath: planned for planned in plan.files}
    manifest_file = by_path.get(MANIFEST_NAME)
    if manifest_file is None:
        manifest = Manifest(kind="", name="")
        shown = f"{MANIFEST_NAME} (none in the template)"
    else:
        shown = str(manifest_file.source)
        manifest = parse_manifest(manifest_file.data, shown)
    problems = []
    for planned in plan.files:
        if not planned.relpath.endswith(".j2"):
            continue
        try:
            source = planned.data.decode("utf-8")
        except UnicodeDecodeError:
            problems.append(Problem("not UTF-8 text", str(planned.source)))
            continue
        problems += template_problems(source, str(planned.source), manifest, shown)
    return problems


def plan_extension(
    template: Path, variables_: dict, kind: str, name: str, skip: set[str] = frozenset()
) -> templating.RenderPlan:
    """Render ``template`` into a plan, refusing a template with problems.

    ``skip`` names files of the template (relative to it) left out of the
    plan (see :func:`init_extension`).

    Raises:
        UsageError: a ``.jinja`` file fails to render, a ``.j2`` template
            uses a variable, filter or test its manifest does not declare, or
            a file or folder the kind requires is not in the template.
    """
    if not template.is_dir():
        raise UsageError(f"--template: {template} is not a folder")
    plan = templating.render_folder(template, variables_, skip=skip)
    missing = _missing_required(plan, kind, name)
    if missing:
        raise UsageError(
            f"cannot create {kind}/{name} from {template}: it lacks what a "
            f"{KIND_TITLES[kind]} requires: {', '.join(missing)}"
        )
    problems = [p for p in _template_problems(plan) if p.severity == "error"]
    if problems:
        details = "; ".join(str(p) for p in problems)
        raise UsageError(
            f"cannot create {kind}/{name} from {template}: {details}; "
            "declare the names in the template's extension.toml"
        )
    return plan


def _missing_required(plan: templating.RenderPlan, kind: str, name: str) -> list[str]:
    """Return the required files and folders of ``kind`` the plan lacks."""
    by_path = {planned.relpath: planned for planned in plan.files}
    module = None
    manifest_file = by_path.get(MANIFEST_NAME)
    if manifest_file is not None:
        try:
            module = parse_manifest(manifest_file.data, MANIFEST_NAME).module
        except UsageError:
            module = None  # the validation of the result names the error
    folders = set(plan.folders)
    for relpath in by_path:
        parts = relpath.split("/")
        folders.update("/".join(parts[:depth]) for depth in range(1, len(parts)))
    missing = []
    for entry in required_files(kind, name, module):
        wanted = entry.rstrip("/")
        present = wanted in folders if entry.endswith("/") else wanted in by_path
        if not present:
            missing.append(entry)
    return missing


def check_shared_name(ws: Workspace, kind: str, name: str) -> None:
    """Refuse a shared extension whose name is a user's area or the template.

    ``extensions/<kind>/<user>`` is that user's area and
    ``extensions/<kind>/template`` the kind's template: a shared extension of
    that name would be taken for one of them (and they for it).

    Raises:
        UsageError: naming the extension and what its name belongs to.
    """
    if name == "template":
        raise UsageError(
            f"{REFERENCE}: 'template' is the name of extensions/{kind}/template, "
            "the shared template folder; choose another name"
        )
    if ws.is_known_user(name):
        raise UsageError(
            f"{REFERENCE}: {quoted(name)} is the name of a user, whose area is "
            f"extensions/{kind}/{name}; choose another name"
        )


def _destination(ws: Workspace, kind: str, name: str, shared: bool) -> Path:
    if shared:
        check_shared_name(ws, kind, name)
    else:
        # extensions/<kind>/<name> of no user would be taken for a shared one.
        require_user(ws)
    base = ws.extension_kind_dir(kind) if shared else ws.user_extensions_dir(kind)
    target = base / name
    safefs.check_within(target, ws.root)
    if target.exists() or target.is_symlink():
        raise UsageError(
            f"{kind}/{name} already exists at {target}; choose another name "
            "or remove it first"
        )
    return target


def create_extension(
    ws: Workspace, kind: str, name: str, options: ExtensionOptions
) -> ScaffoldResult:
    """Create extension ``kind``/``name`` from its template (or ``template_dir``).

    The user's area is ``extensions/<kind>/<user>/``; with ``shared`` the
    extension goes to ``extensions/<kind>/``.

    Raises:
        UsageError: a bad name or flag, an existing extension, a bad template.
        NotFoundError: without ``shared``, the user is no user of the
            workspace (see :func:`~workspace_tasks.context.require_user`).
    """
    check_name(name, REFERENCE)
    _check_options(kind, options)
    target = _destination(ws, kind, name, options.shared)
    if options.template_dir is not None:
        templating.check_template_place(options.template_dir, ws.root, "--template")
    template = options.template_dir or templating.template_path("extensions", kind)
    plan = plan_extension(
        Path(template), variables(ws, kind, name, options), kind, name
    )

    result = ScaffoldResult(kind, name, str(target), dry_run=options.dry_run)
    result.written = sorted(planned.relpath for planned in plan.files)
    if options.dry_run:
        return result
    _write_staged(ws, target, plan, kind, name)
    log.info("created %s/%s at %s (%d files)", kind, name, target, len(plan.files))
    return result


def _write_staged(
    ws: Workspace, target: Path, plan: templating.RenderPlan, kind: str, name: str
) -> None:
    """Write the plan into a hidden sibling folder, then rename it into place.

    The staged extension is validated first: one that would not pass its
    own validation is removed again and never appears.

    Raises:
        UsageError: the staged extension is not valid (its first problem).
    """
    safefs.make_dirs(target.parent, root=ws.root)
    staging = safefs.make_temp_dir(target.parent, f".{target.name}.", ws.root)
    try:
        for folder in plan.folders:
            safefs.make_dirs(staging / folder, root=staging)
        for planned in plan.files:
            safefs.check_within(staging / planned.relpath, staging)
            safefs.atomic_write(staging / planned.relpath, planned.data, planned.mode)
        _check_staged(ws, staging, kind, name)
        safefs.set_mode(staging, 0o755, ws.root)
        # A rename is atomic: the extension appears whole or not at all.
        safefs.rename(staging, target, ws.root)
    except BaseException:
        safefs.remove_path(staging, ws.root)
        raise
    safefs.fsync_dir(target.parent)


def _check_staged(ws: Workspace, staging: Path, kind: str, name: str) -> None:
    """Refuse a staged extension that does not pass validation."""
    from workspace_tasks.validation import check_folder, taskserv_finder

    problems = check_folder(
        staging, kind, name, base=staging, find_taskserv=taskserv_finder(ws)
    )
    errors = [problem for problem in problems if problem.severity == "error"]
    if not errors:
        return
    more = f" (and {len(errors) - 1} more)" if len(errors) > 1 else ""
    raise UsageError(
        f"cannot create {kind}/{name}: the result would not be a valid "
        f"extension: {errors[0]}{more}; nothing was written"
    )


def _check_copied_template(ws: Workspace, folder: Path, kind: str, name: str) -> None:
    allowed = {ws.extension_kind_dir(kind), ws.user_extensions_dir(kind)}
    if folder.parent not in allowed or folder.name != name:
        raise UsageError(
            f"{folder} is not extensions/{kind}/{name} or "
            f"extensions/{kind}/{ws.user}/{name} of {ws.root}; copy the template "
            "there and run init-extension inside the copy"
        )
    if name == "template":
        raise UsageError("the template itself is not initialised; copy it first")
    if folder.parent == ws.extension_kind_dir(kind):
        check_shared_name(ws, kind, name)
    else:
        require_user(ws)
    if not (folder / TEMPLATE_MARK).is_file():
        raise UsageError(
            f"{folder} holds no {TEMPLATE_MARK}: it is not a copied template "
            "(initialised already?)"
        )


def init_extension(
    ws: Workspace,
    kind: str,
    name: str,
    folder: Path,
    options: ExtensionOptions,
) -> ScaffoldResult:
    """Render a copied template folder in place as extension ``kind``/``name``.

    Every file is planned first; then the rendered files are written and the
    template's own files (``*.jinja`` and ``{{ }}`` names) removed.

    Raises:
        UsageError: the folder is not a copied template of this workspace, or
            the template has problems.
    """
    check_name(name, REFERENCE)
    _check_options(kind, options)
    folder = Path(os.path.abspath(folder))
    safefs.check_within(folder, ws.root)
    _check_copied_template(ws, folder, kind, name)
    values = variables(ws, kind, name, options)
    replaced = _replaced_plain_files(ws, folder, kind, values)
    plan = plan_extension(folder, values, kind, name, skip=replaced)

    planned = {p.relpath for p in plan.files}
    sources = _template_sources(folder)
    result = ScaffoldResult(kind, name, str(folder), dry_run=options.dry_run)
    result.written = sorted(planned)
    result.removed = sorted(rel for rel in sources if rel not in planned)
    if options.dry_run:
        return result
    for item in plan.files:
        safefs.atomic_write(folder / item.relpath, item.data, item.mode, root=ws.root)
    for relpath in result.removed:
        safefs.remove_path(folder / relpath, ws.root)
    _remove_template_folders(ws, folder)
    log.info("initialised %s/%s in %s", kind, name, folder)
    return result


def _replaced_plain_files(
    ws: Workspace, folder: Path, kind: str, values: dict
) -> set[str]:
    """Return the plain files of a copied template its ``.jinja`` files replace.

    ``README.md.jinja`` renders to ``README.md``; a ``README.md`` beside it
    (the minimal template's placeholder, copied with the folder) is replaced
    by the rendered one when it is the tool's own unchanged file or the
    very text the template renders to. Any other file of that name is the
    user's, and the clash is reported as such.
    """
    from workspace_tasks.init import placeholder_digests

    placeholders = placeholder_digests(ws, kind)
    replaced = set()
    for dirpath, _, filenames in os.walk(folder):
        for name in filenames:
            plain = name[: -len(templating.RENDER_SUFFIX)]
            if not name.endswith(templating.RENDER_SUFFIX) or plain not in filenames:
                continue
            here = Path(dirpath)
            relpath = (here / plain).relative_to(folder).as_posix()
            data = (here / plain).read_bytes()
            ours = hashlib.sha256(data).hexdigest() in placeholders.get(relpath, set())
            if ours or data == _rendered(here / name, values):
                replaced.add(relpath)
    return replaced


def _rendered(source: Path, values: dict) -> bytes | None:
    """Return what the ``.jinja`` file ``source`` renders to (None: it fails)."""
    try:
        text = source.read_text(encoding="utf-8")
        env = templating.environment()
        return templating.render_text(env, text, values, str(source)).encode()
    except (OSError, UnicodeDecodeError, UsageError):
        return None


def _template_sources(folder: Path) -> list[str]:
    found = []
    for dirpath, dirnames, filenames in os.walk(folder):
        dirnames[:] = [d for d in dirnames if d != "__pycache__"]
        for name in filenames:
            found.append((Path(dirpath) / name).relative_to(folder).as_posix())
    return found


def _remove_template_folders(ws: Workspace, folder: Path) -> None:
    """Remove folders whose names were templates (now rendered elsewhere)."""
    for dirpath, dirnames, _ in os.walk(folder, topdown=False):
        for name in dirnames:
            if "{{" in name:
                safefs.remove_path(Path(dirpath) / name, ws.root)
