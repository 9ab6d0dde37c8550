"""Integration tests of task service containerd: every template renders."""

import tomllib

import yaml
from containerd.install import install_plan, write_files
from containerd.taskserv import render_all


def test_templates_render_to_valid_files():
    rendered = render_all({"environment": {"MODE": "test"}})
    config = tomllib.loads(rendered["config.j2"])
    assert config["service"]["name"] == "containerd"
    assert config["environment"] == {"MODE": "test"}
    compose = yaml.safe_load(rendered["compose.j2"])
    service = compose["services"]["containerd"]
    assert service["environment"] == {"MODE": "test"}
    assert "Environment=MODE=test" in rendered["systemd.j2"]


def test_install_files_land_under_a_staging_root(tmp_path):
    written = write_files(install_plan(), tmp_path)
    assert sorted(p.relative_to(tmp_path).as_posix() for p in written) == [
        "etc/containerd/config.toml",
        "etc/systemd/system/containerd.service",
    ]
