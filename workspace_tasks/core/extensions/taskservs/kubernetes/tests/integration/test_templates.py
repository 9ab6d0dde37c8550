"""Integration tests of task service kubernetes: every template renders."""

import tomllib

import yaml
from kubernetes.install import install_plan, write_files
from kubernetes.taskserv import render_all


def test_templates_render_to_valid_files():
    rendered = render_all({"environment": {"MODE": "test"}})
    config = tomllib.loads(rendered["config.j2"])
    assert config["service"]["name"] == "kubernetes"
    assert config["environment"] == {"MODE": "test"}
    compose = yaml.safe_load(rendered["compose.j2"])
    service = compose["services"]["kubernetes"]
    assert service["environment"] == {"MODE": "test"}
    assert "Environment=MODE=test" in rendered["systemd.j2"]


def test_install_files_land_under_a_staging_root(tmp_path):
    written = write_files(install_plan(), tmp_path)
    assert sorted(p.relative_to(tmp_path).as_posix() for p in written) == [
        "etc/kubernetes/config.toml",
        "etc/systemd/system/kubernetes.service",
    ]
