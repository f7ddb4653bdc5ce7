"""Every process says "not ready" while Redis refuses writes.

Fault: Redis at its ``maxmemory`` under ``noeviction`` still answers PING but refuses writes
(console sign-in and code requests answer 503). RADIUS's ``/readyz`` said so; the web's,
the ac-listener's and the sms-worker's pinged, and said "ready", so a load balancer kept
sending phones to a portal that could not serve them. Now all four share one probe, a tiny
cached write (``portal.runtime.metrics_http.WriteProbe``). The real processes, a Redis of this test
alone whose maxmemory is set below what it already uses.
"""

from __future__ import annotations

import json
import subprocess
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import redis as redislib

from portal.runtime.metrics_http import redis_ready
from portal.state.embedded import EmbeddedRedis
from tests.conftest import free_tcp_port, free_udp_port
from tests.portal.runtime.test_process_metrics import get, spawn, stop, wait_for


@pytest.fixture
def own_redis(tmp_path: Path) -> Iterator[tuple[EmbeddedRedis, Any]]:
    """A Redis of this test alone (its write refusal must not disturb the session's)."""
    server = EmbeddedRedis(tmp_path / "redis", port=0).start()
    client = redislib.Redis.from_url(server.url)
    try:
        yield server, client
    finally:
        client.close()
        server.stop()


def _full(client: Any) -> None:
    """maxmemory below what Redis already uses, nothing evictable: writes refused with OOM."""
    used = int(client.info("memory")["used_memory"])
    client.config_set("maxmemory-policy", "noeviction")
    client.config_set("maxmemory", used // 2)
    with pytest.raises(redislib.ResponseError, match="maxmemory"):
        client.set("probe", "x")
    assert client.ping()                    # what a PING-only readiness looked at


def _processes(url: str, tmp_path: Path) -> dict[str, tuple[subprocess.Popen[str], int]]:
    env = {"CITYWIFI_REDIS_URL": url, "CITYWIFI_DATA_DIR": str(tmp_path)}
    web, listener, sms, radius = (free_tcp_port() for _ in range(4))
    return {
        "web": (spawn("web", "--host", "127.0.0.1", "--port", str(web), "--workers", "1",
                      env={**env, "CITYWIFI_WEB_SECRET_KEY": "readiness-test",
                           "CITYWIFI_WEB_PUBLIC_URL": f"http://127.0.0.1:{web}"}), web),
        "ac-listener": (spawn("ac-listener", "--host", "127.0.0.1", "--port", str(free_udp_port()),
                              env={**env, "CITYWIFI_LISTENER_METRICS_PORT": str(listener)}), listener),
        "sms-worker": (spawn("sms-worker", "--consumer", "r1",
                             env={**env, "CITYWIFI_SMS_METRICS_PORT": str(sms)}), sms),
        "radius": (spawn("radius", "--workers", "1", "--host", "127.0.0.1", "--auth-port",
                         str(free_udp_port()), "--acct-port", str(free_udp_port()),
                         env={**env, "CITYWIFI_RADIUS_METRICS_PORT": str(radius)}), radius),
    }


def test_every_process_is_not_ready_while_redis_refuses_writes(
        own_redis: tuple[EmbeddedRedis, Any], tmp_path: Path) -> None:
    server, client = own_redis
    procs = _processes(server.url, tmp_path)
    try:
        for name, (_proc, port) in procs.items():
            wait_for(lambda p=port: get(p, "/readyz")[0] == 200, 60, f"{name} ready")
        _full(client)
        for name, (_proc, port) in procs.items():
            _, body = wait_for(lambda p=port: (r := get(p, "/readyz"))[0] == 503 and r, 10,
                               f"{name} not ready")
            reply = json.loads(body)
            assert reply["status"] == "unavailable" and "maxmemory" in reply["reason"], (name, reply)
            assert get(port, "/healthz")[0] == 200, name         # alive, only not ready
        client.config_set("maxmemory", 0)
        for name, (_proc, port) in procs.items():
            wait_for(lambda p=port: get(p, "/readyz")[0] == 200, 10, f"{name} ready again")
    finally:
        outputs = {name: stop(proc) for name, (proc, _port) in procs.items()}
    for name, (proc, _port) in procs.items():
        assert proc.returncode == 0, (name, outputs[name][-2000:])


def test_the_shared_check_is_cached_and_says_why(own_redis: tuple[EmbeddedRedis, Any]) -> None:
    _, client = own_redis
    ready = redis_ready(client, "web", cache=30.0)
    before = int(client.info("stats")["total_commands_processed"])
    assert all(ready() is None for _ in range(100))
    assert int(client.info("stats")["total_commands_processed"]) - before <= 2   # one SET (+ INFO)
    check = redis_ready(client, "web", cache=0.0)
    _full(client)
    try:
        reason = check()
        assert reason is not None and "redis refuses writes" in reason and "maxmemory" in reason
    finally:
        client.config_set("maxmemory", 0)
    assert check() is None
