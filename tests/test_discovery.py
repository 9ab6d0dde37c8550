"""Discovering extensions: user, then shared, then core, each with its origin."""

from __future__ import annotations

import json

from workspace_tasks.resolver import effective_extensions, resolve_extension


def test_user_extension_shadows_shared_and_core(cli, workspace):
    cli("tools", "create-extension", "providers/aws", "--root", workspace.root)
    cli(
        "tools",
        "create-extension",
        "providers/aws",
        "--shared",
        "--root",
        workspace.root,
    )

    found = resolve_extension(workspace, "providers", "aws")
    winners = {e.name: e.origin for e in effective_extensions(workspace, "providers")}

    assert (found.origin, found.path) == (
        "user",
        workspace.user_extensions_dir("providers") / "aws",
    )
    assert winners == {"aws": "user", "upcloud": "core"}


def test_list_extensions_shows_every_level_with_origin(cli, workspace):
    cli("tools", "create-extension", "taskservs/redis", "--root", workspace.root)
    cli(
        "tools",
        "create-extension",
        "taskservs/pg",
        "--shared",
        "--root",
        workspace.root,
    )

    own = cli(
        "resolve",
        "list-extensions",
        "taskservs",
        "--format",
        "json",
        "--root",
        workspace.root,
    )
    every = cli(
        "resolve",
        "list-extensions",
        "taskservs",
        "--include-core",
        "--format",
        "json",
        "--root",
        workspace.root,
    )

    assert [(e["name"], e["origin"]) for e in json.loads(own.out)] == [
        ("redis", "user"),
        ("pg", "shared"),
    ]
    assert [(e["name"], e["origin"]) for e in json.loads(every.out)] == [
        ("redis", "user"),
        ("pg", "shared"),
        ("containerd", "core"),
        ("kubernetes", "core"),
    ]


def test_core_cluster_resolves_from_the_command_line(cli, workspace):
    result = cli(
        "resolve",
        "extension",
        "clusters",
        "development-cluster",
        "--root",
        workspace.root,
    )

    assert result.code == 0
    assert result.out.strip().endswith(
        "core/extensions/clusters/development-cluster\tcore"
    )
