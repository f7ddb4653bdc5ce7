"""Status-Server is answered only when the server can actually serve.

Attack/fault: Redis answers PING but refuses every write (full under ``noeviction``,
``min-replicas-to-write`` unmet, a replica left read-only). The old health check only pinged, so
RADIUS told every AC "alive" via Status-Server (RFC 5997) and attracted logins it then dropped.
Now the check is a small cached write. Debian's radclient against the real server, a real Redis.
"""

from __future__ import annotations

import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import redis as redislib

from portal.commands.radius import HealthCheck
from portal.state.embedded import EmbeddedRedis
from tests.radius.serverkit import HAVE_RADCLIENT, radclient, register, running_server

pytestmark = [
    pytest.mark.needs_radclient,
    pytest.mark.skipif(not HAVE_RADCLIENT, reason="radclient/radtest not installed"),
]

STATUS = "Message-Authenticator=0x00"


@pytest.fixture
def own_redis(tmp_path: Path) -> Iterator[tuple[EmbeddedRedis, Any]]:
    """A Redis of this test alone (its write refusal must not disturb the session's)."""
    server = EmbeddedRedis(tmp_path, port=0).start()
    client = redislib.Redis.from_url(server.url)
    try:
        register(client)
        yield server, client
    finally:
        client.close()
        server.stop()


def _answered(port: int, kind: str) -> bool:
    return "Received" in radclient(port, kind, STATUS, timeout=0.5)


def _refuse_writes(client: Any, how: str) -> None:
    if how == "min-replicas":        # a master cut off from its replicas
        client.config_set("min-replicas-to-write", 1)
    else:                            # full, and nothing may be evicted
        client.config_set("maxmemory-policy", "noeviction")
        client.config_set("maxmemory", 1)


def _accept_writes(client: Any) -> None:
    client.config_set("min-replicas-to-write", 0)
    client.config_set("maxmemory", 0)


@pytest.mark.parametrize("how", ["min-replicas", "maxmemory"])
def test_status_server_is_not_answered_while_redis_refuses_writes(
        own_redis: tuple[EmbeddedRedis, Any], how: str) -> None:
    server, client = own_redis
    with running_server(server.url) as srv:
        # Answered while Redis takes writes (a first probe right after start may miss radclient's
        # 0.5 s on a busy box: the server's first write check connects to Redis).
        for port in (srv.auth_port, srv.acct_port):
            deadline = time.monotonic() + 5
            while not _answered(port, "status"):
                assert time.monotonic() < deadline, "Status-Server not answered with a healthy Redis"
        _refuse_writes(client, how)
        try:
            assert client.ping()                        # what the old check looked at
            with pytest.raises(redislib.ResponseError):
                client.set("probe", "x")
            time.sleep(1.2)                             # past the cached good answer
            assert not _answered(srv.auth_port, "status")
            assert not _answered(srv.acct_port, "status")
            assert srv.metrics.get("drop.state_unavailable") >= 2
        finally:
            _accept_writes(client)
        # Writes work again: within the check's interval it says "alive" again.
        deadline = time.monotonic() + 5
        while not _answered(srv.auth_port, "status"):
            assert time.monotonic() < deadline, "Status-Server not answered after Redis recovered"


def test_readiness_reason_names_the_refused_write(own_redis: tuple[EmbeddedRedis, Any]) -> None:
    # The same check backs the radius metrics port's /readyz.
    _, client = own_redis
    check = HealthCheck(client, interval=0.0)
    assert check.problem() is None and check()
    client.config_set("min-replicas-to-write", 1)
    try:
        problem = check.problem()
        assert problem is not None and "NOREPLICAS" in problem and not check()
    finally:
        _accept_writes(client)
    assert check.problem() is None


def test_a_burst_of_status_server_costs_one_write_per_interval(own_redis: tuple[EmbeddedRedis, Any]) -> None:
    _, client = own_redis
    check = HealthCheck(client, interval=5.0)
    before = int(client.info("stats")["total_commands_processed"])
    assert all(check() for _ in range(200))
    after = int(client.info("stats")["total_commands_processed"])
    assert after - before <= 2        # one SET (+ the INFO itself)
