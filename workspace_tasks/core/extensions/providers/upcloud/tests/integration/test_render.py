"""Integration tests of provider upcloud: settings to rendered definitions."""

import tomllib

import pytest
from upcloud.auth import TOKEN_VARIABLE, MissingCredentials
from upcloud.provider import create_server, plan_servers, render_network

INFRA = {"servers": [{"hostname": "app-01", "labels": {"role": "app"}}]}


def test_server_definition_is_valid_toml():
    (spec,) = plan_servers(INFRA)
    step = create_server(spec, {}, dry_run=True)
    server = tomllib.loads(step["definition"])["server"]
    assert server["hostname"] == "app-01"
    assert server["provider"] == "upcloud"
    assert server["cloud_init"] is True
    assert server["labels"] == {"role": "app"}
    assert "request" not in step


def test_network_definition_is_valid_toml():
    network = tomllib.loads(render_network())["network"]
    assert network["name"] == "upcloud-private"


def test_real_run_prepares_an_authenticated_request():
    (spec,) = plan_servers(INFRA)
    with pytest.raises(MissingCredentials):
        create_server(spec, {}, dry_run=False)
    step = create_server(spec, {TOKEN_VARIABLE: "t0ken"}, dry_run=False)
    assert step["request"]["headers"]["Authorization"] == "Bearer t0ken"
    assert step["request"]["url"].endswith("/servers")
