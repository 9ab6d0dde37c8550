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
        "user-name": "user identifier (default: PROVISIONING_WORKSPACE_USER, "
        "USER, the login name)",
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
        "action": "show, validate, hierarchy, merge or edit",
        "output": "the file 'merge' writes",
        "include-overrides": "add local-overrides.toml and PROVISIONING__* variables",
        "show-secrets": "show tokens, passwords, webhooks and keys",
        "format": "text or json",
    }
)
def config(
    c,
    action,
    workspace_user=None,
    output=None,
    include_overrides=False,
    show_secrets=False,
    format="text",
):
    """Show, validate, trace, merge or edit the configuration cascade."""
    _run(
        c,
        "config",
        action,
        *_opt("--workspace-user", workspace_user),
        *_opt("--output", output),
        *_opt("--include-overrides", include_overrides),
        *_opt("--show-secrets", show_secrets),
        "--format",
        format,
    )


@task(
    help={
        "extension": "KIND/NAME, e.g. providers/my-aws",
        "author": "author (default: the user)",
        "service-type": "task services: e.g. database",
        "cluster-type": "clusters: e.g. web-stack",
        "shared": "create it in the shared area",
    }
)
def create_extension(
    c,
    extension,
    author=None,
    service_type=None,
    cluster_type=None,
    shared=False,
    workspace_user=None,
):
    """Create an extension from its kind's template."""
    _run(
        c,
        "tools",
        "create-extension",
        extension,
        *_opt("--author", author),
        *_opt("--service-type", service_type),
        *_opt("--cluster-type", cluster_type),
        *_opt("--shared", shared),
        *_opt("--workspace-user", workspace_user),
    )


@task(help={"extension": "KIND/NAME", "format": "text or json"})
def validate_extension(c, extension, format="text", workspace_user=None):
    """Validate an extension's structure, KCL, templates, manifests and Python."""
    _run(
        c,
        "tools",
        "validate-extension",
        extension,
        "--format",
        format,
        *_opt("--workspace-user", workspace_user),
    )


@task(help={"extension": "KIND/NAME", "dry-run": "render the templates instead"})
def test_extension(c, extension, dry_run=False, workspace_user=None):
    """Run an extension's unit and integration tests."""
    _run(
        c,
        "tools",
        "test-extension",
        extension,
        *_opt("--dry-run", dry_run),
        *_opt("--workspace-user", workspace_user),
    )


@task(help={"extension": "clusters/NAME", "infra": "the infrastructure"})
def deploy_test(c, extension, infra, workspace_user=None):
    """Render a cluster against an infrastructure; deploy nothing."""
    _run(
        c,
        "tools",
        "deploy-test",
        extension,
        "--infra",
        infra,
        *_opt("--workspace-user", workspace_user),
    )


@task(
    help={
        "name": "the backup's name (default: workspace-<user>-<time>)",
        "compress": "zstd or gzip",
        "encrypt": "encrypt with age (keys from [backup] in the config)",
        "remote": "also upload to s3://bucket/prefix or file://",
    }
)
def backup(c, name=None, compress=None, encrypt=False, remote=None):
    """Back up your workspace into one archive."""
    _run(
        c,
        "backup",
        *_opt("--name", name),
        *_opt("--compress", compress),
        *_opt("--encrypt", encrypt),
        *_opt("--remote", remote),
    )


@task(name="list-backups")
def list_backups(c):
    """List your backups, newest first."""
    _run(c, "restore", "--list-backups")


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


TASKS = [
    init,
    status,
    list_,
    resolve,
    config,
    create_extension,
    validate_extension,
    test_extension,
    deploy_test,
    backup,
    list_backups,
    health,
]


def collection_for(root: Path | None) -> Collection:
    """Return the task collection, bound to the workspace at ``root`` if given."""
    collection = Collection(*TASKS)
    if root is not None:
        collection.configure({"workspace_root": str(root)})
    return collection
