"""Fixtures for the scale-out tests: a three-master Redis Cluster for the whole session.

Inside ``tests/scale`` the ``redis_client`` fixture is a ``RedisCluster`` client on that cluster
(flushed before each test), so store tests imported here run unchanged against a cluster: any
Lua script or MULTI that touches keys of two slots fails with CROSSSLOT.
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import pytest

from tests.scale.cluster import RedisClusterProcs


@pytest.fixture(scope="session")
def redis_cluster(tmp_path_factory: pytest.TempPathFactory) -> Iterator[RedisClusterProcs]:
    cluster = RedisClusterProcs(tmp_path_factory.mktemp("cluster")).start()
    try:
        yield cluster
    finally:
        cluster.stop()


@pytest.fixture
def redis_client(redis_cluster: RedisClusterProcs) -> Iterator[Any]:
    redis_cluster.flushall()
    client = redis_cluster.client()
    try:
        yield client
    finally:
        client.close()
