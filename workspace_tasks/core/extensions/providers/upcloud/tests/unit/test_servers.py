"""Unit tests of provider upcloud: server specs and credentials."""

import pytest
from upcloud.auth import TOKEN_VARIABLE, MissingCredentials, credentials_from
from upcloud.servers import ServerError, server_from_settings

DEFAULTS = {
    "plan": "small",
    "zone": "zone-1",
    "storage_gb": 20,
    "image": "debian",
    "image_version": "12",
    "labels": {"team": "infra"},
}
LIMITS = {"zones": ["zone-1", "zone-2"], "plans": ["small", "medium"]}


def test_server_takes_defaults_under_its_own_values():
    spec = server_from_settings(
        {"hostname": "web-01", "plan": "medium", "labels": {"role": "web"}},
        DEFAULTS,
        **LIMITS,
    )
    assert (spec.plan, spec.zone, spec.storage_gb) == ("medium", "zone-1", 20)
    assert spec.labels == {"team": "infra", "role": "web"}


@pytest.mark.parametrize(
    "entry, message",
    [
        ({"hostname": "Web_01"}, "not a DNS label"),
        ({"hostname": "web-01", "zone": "mars"}, "zone 'mars'"),
        ({"hostname": "web-01", "plan": "huge"}, "plan 'huge'"),
        ({"hostname": "web-01", "storage_gb": 5}, "at least 10"),
    ],
    ids=["hostname", "zone", "plan", "storage"],
)
def test_bad_server_is_refused(entry, message):
    with pytest.raises(ServerError, match=message):
        server_from_settings(entry, DEFAULTS, **LIMITS)


def test_credentials_need_a_token():
    with pytest.raises(MissingCredentials, match=TOKEN_VARIABLE):
        credentials_from({}, "https://api.example")
    found = credentials_from({TOKEN_VARIABLE: "s3cret"}, "https://api.example")
    assert found.headers() == {"Authorization": "Bearer s3cret"}
    assert "s3cret" not in repr(found)
