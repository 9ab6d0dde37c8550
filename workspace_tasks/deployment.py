"""``deploy-test``: render a cluster against an infrastructure, deploy nothing.

The cluster's templates and manifests, and those of each of its task
services, are rendered with the infrastructure's ``settings.toml`` into
``runtime/state/<user>/deployments/<cluster>-<infra>/`` beside a
``plan.json`` saying which server runs what. What was rendered is then
checked (TOML, YAML and JSON files parse; manifests have apiVersion and
kind). The folder is planned whole, written to a staging folder and renamed
over the previous one.
"""

from __future__ import annotations

import json
import logging
import tomllib
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

from workspace_tasks import extension_files, safefs, tomlfile
from workspace_tasks.context import Workspace
from workspace_tasks.errors import NotFoundError
from workspace_tasks.manifest import Manifest, load_manifest, toml_error
from workspace_tasks.names import check_name
from workspace_tasks.problems import Problem
from workspace_tasks.resolver import Extension, path_candidates, resolve_extension
from workspace_tasks.runtime import ensure_user_dir
from workspace_tasks.text import quoted
from workspace_tasks.validation import validate_extension, yaml_problems

log = logging.getLogger(__name__)

SETTINGS_FILE = "settings.toml"
INFRA_TYPES = ("infra", "infra/examples", "infra/local")


@dataclass
class Deployment:
    """A rendered, checked and undeployed cluster for one infrastructure."""

    cluster: str
    infra: str
    settings: str
    path: str
    taskservs: list[str] = field(default_factory=list)
    placement: dict[str, list[str]] = field(default_factory=dict)
    files: list[str] = field(default_factory=list)
    problems: list[Problem] = field(default_factory=list)
    deployed: bool = False

    @property
    def ok(self) -> bool:
        return not any(p.severity == "error" for p in self.problems)

    def to_dict(self) -> dict:
        data = asdict(self)
        data["problems"] = [p.to_dict() for p in self.problems]
        data["ok"] = self.ok
        return data


def find_infra_settings(ws: Workspace, infra: str) -> Path:
    """Return the ``settings.toml`` of infrastructure ``infra``.

    Looks in the user's, the shared, the example and the local infras, then
    the core ones.

    Raises:
        NotFoundError: no such infrastructure, naming the places looked at.
    """
    check_name(infra, "--infra")
    looked = []
    for type_ in INFRA_TYPES:
        places = path_candidates(ws, type_, infra, fallback_to_core=type_ == "infra")
        for place in places:
            looked.append(place)
            if (place / SETTINGS_FILE).is_file():
                return place / SETTINGS_FILE
    names = ", ".join(str(p) for p in looked)
    raise NotFoundError(
        f"--infra: no settings.toml for {quoted(infra)}; looked at: {names}"
    )


def _read_settings(path: Path) -> dict[str, Any]:
    """Read an infrastructure's ``settings.toml`` strictly (file:line:column).

    Raises:
        FileSyntaxError: it is not UTF-8 or not valid TOML.
        UnreadableFile: it is not a regular file or is too large.
    """
    return tomlfile.load(path)


def _render_extension(
    extension: Extension,
    manifest: Manifest,
    context: dict[str, Any],
    prefix: str,
    files: dict[str, bytes],
) -> list[Problem]:
    """Add the extension's rendered templates and manifests to ``files``."""
    import jinja2

    from workspace_tasks import template_plugins

    problems = []
    env = template_plugins.environment(extension.path, manifest)
    templates = extension.path / "templates"
    for template in sorted(p.name for p in templates.glob("*.j2")):
        try:
            text = env.get_template(template).render(**context)
        except jinja2.TemplateError as exc:
            line = getattr(exc, "lineno", None)
            problems.append(
                Problem(f"cannot render: {exc}", str(templates / template), line)
            )
            continue
        files[f"{prefix}/{manifest.output_name(template)}"] = text.encode("utf-8")
    for path in sorted((extension.path / "manifests").glob("*.y*ml")):
        data = extension_files.read_bytes(extension.path, path)
        files[f"{prefix}/manifests/{path.name}"] = data
    return problems


def _rendered_problems(
    folder: Path, files: dict[str, bytes], shown: str
) -> list[Problem]:
    """Check each rendered file by its kind; files are checked in ``folder``."""
    problems = []
    for relpath, data in files.items():
        where = f"{shown}/{relpath}"
        if relpath.endswith(".toml"):
            text = data.decode("utf-8")
            try:
                tomllib.loads(text)
            except tomllib.TOMLDecodeError as exc:
                error = toml_error(where, exc, text)
                problems.append(Problem(error.detail, where, error.line, error.column))
        elif relpath.endswith((".yaml", ".yml")):
            kubernetes = "/manifests/" in relpath
            problems += yaml_problems(folder / relpath, where, kubernetes=kubernetes)
    return problems


def deploy_test(ws: Workspace, name: str, infra: str) -> Deployment:
    """Render cluster ``name`` against infrastructure ``infra``; deploy nothing.

    Returns the deployment with every problem found in the sources (then
    nothing is rendered) or in what was rendered.

    Raises:
        UsageError: a bad name, an unknown cluster or infra, settings that
            do not parse.
    """
    cluster = resolve_extension(ws, "clusters", name)
    settings_path = find_infra_settings(ws, infra)
    settings = _read_settings(settings_path)
    target = ws.state_dir / "deployments" / f"{name}-{infra}"
    safefs.check_within(target, ws.root)
    result = Deployment(name, infra, str(settings_path), str(target))

    result.problems = validate_extension(ws, "clusters", name)
    manifest = load_manifest(cluster.path) if result.ok else None
    if manifest is not None:
        result.taskservs = list(manifest.taskservs)
        for taskserv in manifest.taskservs:
            result.problems += validate_extension(ws, "taskservs", taskserv)
    if manifest is None or not result.ok:
        return result

    files = _plan_files(ws, cluster, manifest, settings, infra, result)
    result.files = sorted(files)
    _write(ws, target, files)
    shown = str(target.relative_to(ws.root))
    result.problems += _rendered_problems(target, files, shown)
    log.info("rendered %s for %s into %s", name, infra, target)
    return result


def _plan_files(
    ws: Workspace,
    cluster: Extension,
    manifest: Manifest,
    settings: dict[str, Any],
    infra: str,
    result: Deployment,
) -> dict[str, bytes]:
    servers = [s for s in settings.get("servers", []) if isinstance(s, dict)]
    infra_table = {"name": infra, **settings.get("infra", {})}
    files: dict[str, bytes] = {}
    context = {
        **manifest.defaults,
        **settings.get("clusters", {}).get(cluster.name, {}),
        "infra": infra_table,
        "servers": servers,
        "taskservs": list(manifest.taskservs),
    }
    result.problems += _render_extension(cluster, manifest, context, "cluster", files)
    for taskserv in manifest.taskservs:
        extension = resolve_extension(ws, "taskservs", taskserv)
        own = load_manifest(extension.path)
        hosts = [s for s in servers if taskserv in s.get("taskservs", [])]
        result.placement[taskserv] = [str(s.get("hostname", "")) for s in hosts]
        if not hosts:
            result.problems.append(
                Problem(
                    f"no server of infra {quoted(infra)} runs task service "
                    f"{quoted(taskserv)}",
                    str(Path(result.settings)),
                    severity="warning",
                )
            )
        context = {
            **own.defaults,
            **settings.get("taskservs", {}).get(taskserv, {}),
            "infra": infra_table,
            "servers": hosts,
        }
        prefix = f"taskservs/{taskserv}"
        result.problems += _render_extension(extension, own, context, prefix, files)
    plan = {
        "cluster": cluster.name,
        "infra": infra,
        "settings": result.settings,
        "taskservs": result.taskservs,
        "placement": result.placement,
        "files": sorted(files),
        "deployed": False,
    }
    files["plan.json"] = (json.dumps(plan, indent=2) + "\n").encode("utf-8")
    return files


def _write(ws: Workspace, target: Path, files: dict[str, bytes]) -> None:
    """Write ``files`` to a staging folder, then replace ``target`` with it."""
    ensure_user_dir(ws, target.parent)
    staging = safefs.make_temp_dir(target.parent, f".{target.name}.", ws.root)
    try:
        for relpath, data in files.items():
            safefs.atomic_write(staging / relpath, data, root=staging)
        safefs.set_mode(staging, 0o755, ws.root)
    except BaseException:
        safefs.remove_path(staging, ws.root)
        raise
    safefs.remove_path(target, ws.root)
    safefs.rename(staging, target, ws.root)
    safefs.fsync_dir(target.parent)
