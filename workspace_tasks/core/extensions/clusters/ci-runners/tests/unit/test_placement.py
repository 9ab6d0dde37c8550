"""Unit tests of cluster ci-runners: task services placed on servers."""

import pytest
from ci_runners.cluster import PlacementError, placement, taskservs


def test_each_taskserv_gets_the_servers_that_run_it():
    servers = [
        {"hostname": "a", "taskservs": list(taskservs())},
        {"hostname": "b", "taskservs": []},
    ]
    assert placement(servers) == {name: ["a"] for name in taskservs()}


def test_a_taskserv_without_server_is_refused():
    with pytest.raises(PlacementError, match="no server runs"):
        placement([{"hostname": "a", "taskservs": []}])
