"""Short task names for ``invoke``: each runs the ``workspace`` command.

``collection_for(root)`` binds the tasks to one workspace (the one holding a
workspace's ``tools/`` folder); with ``None`` they find it as the command does.
"""

from __future__ import annotations

from pathlib import Path

from invoke import Collection, Exit, task


def _run(c, *argv: str | None) -> None:
    from workspace_tasks.cli import main

    args = [a for a in argv if a is not None]
    root = c.config.get("workspace_root")
    if root:
        args += ["--root", root]
    code = main(args)
    if code:
        raise Exit(code=code)


def _opt(flag: str, value: object) -> list[str]:
    if value is None or value is False:
        return []
    if value is True:
        return [flag]
    return [flag, str(value)]


@task(
    help={
        "user-name": "user identifier (default: PROVISIONING_WORKSPACE_USER, USER)",
        "infra-name": "infrastructure name",
        "workspace-type": "development, testing or production",
        "template": "minimal, full or custom",
        "template-dir": "your own template folder (with --template custom)",
        "overwrite": "regenerate, keeping copies of changed files",
        "create-examples": "create the example infrastructures",
    }
)
def init(
    c,
    user_name=None,
    infra_name=None,
    workspace_type=None,
    template=None,
    template_dir=None,
    overwrite=False,
    create_examples=False,
):
    """Create the workspace, or your areas in an existing one."""
    _run(
        c,
        "init",
        *_opt("--user-name", user_name),
        *_opt("--infra-name", infra_name),
        *_opt("--workspace-type", workspace_type),
        *_opt("--template", template),
        *_opt("--template-dir", template_dir),
        *_opt("--overwrite", overwrite),
        *_opt("--create-examples", create_examples),
    )


@task(help={"detailed": "add runtime sizes", "format": "text or json"})
def status(c, detailed=False, format="text", workspace_user=None):
    """Show the workspace of a user."""
    _run(
        c,
        "status",
        *_opt("--detailed", detailed),
        "--format",
        format,
        *_opt("--workspace-user", workspace_user),
    )


@task(name="list", help={"format": "text or json"})
def list_(c, format="text", workspace_user=None):
    """List users, extensions, infrastructures and config files."""
    _run(c, "list", "--format", format, *_opt("--workspace-user", workspace_user))


@task(
    help={
        "fallback-to-core": "look in the core root last",
        "create-missing": "create the user's path when nothing exists",
    }
)
def resolve(
    c, type, name, workspace_user=None, fallback_to_core=False, create_missing=False
):
    """Resolve TYPE/NAME along user, shared, template and core paths."""
    _run(
        c,
        "resolve",
        "path",
        type,
        name,
        *_opt("--workspace-user", workspace_user),
        *_opt("--fallback-to-core", fallback_to_core),
        *_opt("--create-missing", create_missing),
    )


@task(
    help={
        "detailed": "add each component's details and figures",
        "fix-issues": "repair what can be repaired safely",
        "report-format": "text or json",
        "check": "one component: directories, config, runtime, extensions, "
        "resources or integration",
    }
)
def health(
    c,
    detailed=False,
    fix_issues=False,
    report_format="text",
    workspace_user=None,
    check=None,
):
    """Check the workspace's health; exit 1 unless healthy."""
    _run(
        c,
        "health",
        *([f"check-{check}"] if check else []),
        *_opt("--detailed", detailed),
        *_opt("--fix-issues", fix_issues),
        "--report-format",
        report_format,
        *_opt("--workspace-user", workspace_user),
    )


TASKS = [init, status, list_, resolve, health]


def collection_for(root: Path | None) -> Collection:
    """Return the task collection, bound to the workspace at ``root`` if given."""
    collection = Collection(*TASKS)
    if root is not None:
        collection.configure({"workspace_root": str(root)})
    return collection
