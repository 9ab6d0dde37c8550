"""``deploy-test``: a cluster rendered against an infrastructure, nothing deployed."""

from __future__ import annotations

import json
import tomllib

import yaml


def test_cluster_renders_against_example_infra(cli, workspace):
    result = cli(
        "tools",
        "deploy-test",
        "clusters/development-cluster",
        "--infra",
        "development",
        "--root",
        workspace.root,
    )

    assert result.code == 0, result.out + result.err
    target = workspace.state_dir / "deployments" / "development-cluster-development"
    plan = json.loads((target / "plan.json").read_text())
    assert plan["deployed"] is False
    assert plan["placement"] == {
        "containerd": ["dev-cp-01", "dev-wk-01", "dev-wk-02"],
        "kubernetes": ["dev-cp-01"],
    }
    cluster = tomllib.loads((target / "cluster" / "cluster.toml").read_text())
    assert cluster["cluster"]["infra"] == "development"
    assert [s["hostname"] for s in cluster["cluster"]["servers"]][0] == "dev-cp-01"
    config = tomllib.loads((target / "taskservs/kubernetes/config.toml").read_text())
    assert config["service"]["port"] == 6443
    compose = yaml.safe_load((target / "taskservs/containerd/compose.yaml").read_text())
    assert "containerd" in compose["services"]


def test_infra_settings_override_taskserv_defaults(cli, workspace):
    infra = workspace.infra_dir / "dev" / "lab"
    infra.mkdir(parents=True)
    (infra / "settings.toml").write_text(
        '[infra]\nprovider = "local"\n\n'
        '[[servers]]\nhostname = "lab-01"\ntaskservs = ["containerd"]\n\n'
        "[taskservs.containerd]\nport = 9999\n"
    )

    result = cli(
        "tools",
        "deploy-test",
        "clusters/ci-runners",
        "--infra",
        "lab",
        "--root",
        workspace.root,
    )

    assert result.code == 0, result.err
    target = workspace.state_dir / "deployments" / "ci-runners-lab"
    config = tomllib.loads((target / "taskservs/containerd/config.toml").read_text())
    assert config["service"]["port"] == 9999


def test_unknown_infra_is_a_usage_error(cli, workspace):
    result = cli(
        "tools",
        "deploy-test",
        "clusters/ci-runners",
        "--infra",
        "nosuch",
        "--root",
        workspace.root,
    )

    assert result.code == 2
    assert "--infra: no settings.toml for 'nosuch'" in result.err
    assert not (workspace.state_dir / "deployments" / "ci-runners-nosuch").exists()


def test_broken_taskserv_stops_before_rendering(cli, workspace):
    cli("tools", "create-extension", "taskservs/containerd", "--root", workspace.root)
    shadow = workspace.user_extensions_dir("taskservs") / "containerd"
    (shadow / "templates" / "config.j2").write_text("port = {{ port\n")

    result = cli(
        "tools",
        "deploy-test",
        "clusters/ci-runners",
        "--infra",
        "minimal",
        "--root",
        workspace.root,
    )

    assert result.code == 1
    assert "extensions/taskservs/dev/containerd/templates/config.j2:" in result.out
    assert not (workspace.state_dir / "deployments" / "ci-runners-minimal").exists()


def test_rendered_yaml_that_does_not_parse_is_reported(cli, workspace):
    cli("tools", "create-extension", "clusters/c", "--root", workspace.root)
    cluster = workspace.user_extensions_dir("clusters") / "c"
    # Valid template, but what it renders is not TOML.
    (cluster / "templates" / "cluster.j2").write_text(
        "[cluster\nname = {{ namespace }}\n"
    )

    result = cli(
        "tools",
        "deploy-test",
        "clusters/c",
        "--infra",
        "minimal",
        "--root",
        workspace.root,
    )

    assert result.code == 1
    assert "deployments/c-minimal/cluster/cluster.toml:1:" in result.out


def test_deploy_test_takes_only_clusters(cli, workspace):
    result = cli(
        "tools",
        "deploy-test",
        "providers/aws",
        "--infra",
        "minimal",
        "--root",
        workspace.root,
    )

    assert result.code == 2
    assert "clusters/<name>" in result.err


def test_invalid_infra_settings_name_the_real_line_and_column(cli, workspace):
    infra = workspace.infra_dir / "dev" / "lab"
    infra.mkdir(parents=True)
    (infra / "settings.toml").write_text('[infra]\nprovider = "local"\nx = [')
    result = cli(
        "tools", "deploy-test", "clusters/ci-runners", "--infra", "lab",
        "--root", workspace.root,
    )  # fmt: skip
    assert result.code == 2
    assert result.err == (
        f"workspace: error: {infra / 'settings.toml'}:3:6: invalid TOML: "
        "invalid value\n"
    )
