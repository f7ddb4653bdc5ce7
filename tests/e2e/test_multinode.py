"""Two web nodes, two RADIUS nodes, one listener and one sms-worker as real processes, one AC
simulator using both RADIUS nodes — against one Redis, against a three-master Redis Cluster,
and through Redis Sentinel across a master failover.

Logins work through either node (and across them: landing on one, login on the other), the
concurrency limit and the volume quota hold across nodes, and a session opened through node A
is kicked by the enforcement path built from node B's settings.
"""

from __future__ import annotations

import time
from collections import Counter
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import requests

from portal.aaa.plans import Plan, PlanStore
from portal.aaa.sessions import SessionRegistry
from portal.admin.apitokens import ApiTokenStore
from portal.legal.reallog import RealNameLog
from portal.runtime.settings import load_settings
from portal.state import connect
from portal.state.embedded import EmbeddedRedis
from radius.enforcement import Enforcer
from tests.e2e.multinode import MultiNode, Outcome, device, phone, wait_for
from tests.scale.cluster import RedisClusterProcs, SentinelGroup


@pytest.fixture(params=["redis", "cluster"])
def system(request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory) -> Iterator[MultiNode]:
    """The system on one Redis or on a three-master cluster. Function-scoped, used by ONE test
    per backend: under ``pytest -n 2`` a module-scoped one would be started by both workers."""
    root = tmp_path_factory.mktemp(f"multinode-{request.param}")
    store: Any
    if request.param == "cluster":
        store = RedisClusterProcs(root / "cluster").start()
    else:
        store = EmbeddedRedis(root / "redis", port=0).start()
    try:
        with MultiNode(root, store.url, cluster=request.param == "cluster") as mn:
            plans = PlanStore(mn.redis, cache_ttl=0.0)
            plans.put(Plan(name="solo", title_zh="单设备", max_sessions=1))
            plans.put(Plan(name="tiny", title_zh="小流量", daily_volume=20_000, max_sessions=3))
            yield mn
            assert not mn.tracebacks(), mn.tracebacks()
    finally:
        store.stop()


def test_several_nodes_share_one_state(system: MultiNode) -> None:
    """Logins through either node; concurrency limit and volume quota across nodes; a session
    opened through node A kicked by node B (its enforcer, and its NOC API)."""
    _logins_through_either_node(system)
    _concurrency_limit_holds_across_nodes(system)
    _volume_quota_holds_across_nodes(system)
    _kick_from_the_other_node(system)
    _kick_through_the_api_of_the_other_web_node(system)


def _logins_through_either_node(system: MultiNode) -> None:
    outcomes = [system.journey(phone(100 + i), 100 + i, landing_node=i % 2, login_node=(i // 2) % 2)
                for i in range(8)]
    assert all(o.ok for o in outcomes), [(o.phone, o.stage, o.error) for o in outcomes]
    registry = SessionRegistry(system.redis)

    def one_session_each() -> bool:
        return all(len(registry.by_phone(o.phone)) == 1 for o in outcomes)

    assert wait_for(one_session_each), [(o.phone, registry.by_phone(o.phone)) for o in outcomes]
    logged = {r.phone for r in RealNameLog(system.redis).recent(200)}
    assert {o.phone for o in outcomes} <= logged
    # The simulator spread its RADIUS traffic over both RADIUS nodes, and both answered.
    assert system.ac is not None and system.ac.radius is not None
    assert all(n > 0 for n in system.ac.radius.replies_by_server), \
        (system.ac.radius.replies_by_server, system.ac.radius.stats)


def _concurrency_limit_holds_across_nodes(system: MultiNode) -> None:
    number = phone(200)
    PlanStore(system.redis).assign_user(number, "solo")
    first = system.journey(number, 200, landing_node=0)
    assert first.ok, first
    registry = SessionRegistry(system.redis)
    assert wait_for(lambda: len(registry.by_phone(number)) == 1)
    second = system.journey(number, 201, landing_node=1)        # another device, the other node
    assert not second.ok and second.stage == "login" and second.error == "too_many_devices", second
    assert system.ac is not None and device(201)[0] not in system.ac.online()


def _volume_quota_holds_across_nodes(system: MultiNode) -> None:
    number = phone(300)
    PlanStore(system.redis).assign_user(number, "tiny")
    first = system.journey(number, 300, landing_node=0)
    assert first.ok, first
    registry = SessionRegistry(system.redis)
    assert wait_for(lambda: len(registry.by_phone(number)) == 1)
    assert system.ac is not None
    # The simulated phone downloads 40 kB/s; after a second it is past the 20 kB daily quota.
    assert wait_for(lambda: system.ac is not None and system.ac.online()[first.ip].output_octets > 20_000, 5)
    assert system.ac.kick(first.ip)                              # Stop books the usage (via RADIUS)
    assert wait_for(lambda: not registry.by_phone(number))
    second = system.journey(number, 301, landing_node=1)
    assert not second.ok and second.error == "daily_volume_used", second


def _kick_from_the_other_node(system: MultiNode) -> None:
    number = phone(400)
    opened = system.journey(number, 400, landing_node=0, login_node=0)
    assert opened.ok, opened
    registry = SessionRegistry(system.redis)
    assert wait_for(lambda: len(registry.by_phone(number)) == 1)
    # Node B's view: its own settings (environment) and its own Redis client.
    settings_b = load_settings(path=None, environ=system.nodes["web1"].env)
    client_b = connect(settings_b.redis)
    try:
        results = Enforcer.from_settings(client_b, settings_b).kick_phone(number)
    finally:
        client_b.close()
    assert [(r.ok, r.method) for r in results] == [(True, "dm")], results
    assert system.ac is not None
    assert wait_for(lambda: system.ac is not None and opened.ip not in system.ac.online())
    assert wait_for(lambda: not registry.by_phone(number))


def _kick_through_the_api_of_the_other_web_node(system: MultiNode) -> None:
    number = phone(410)
    opened = system.journey(number, 410, landing_node=0, login_node=0)
    assert opened.ok, opened
    registry = SessionRegistry(system.redis)
    assert wait_for(lambda: len(registry.by_phone(number)) == 1)
    _token, secret = ApiTokenStore(system.redis).create("multinode-test", "write", "cli:test")
    answer = requests.post(f"http://127.0.0.1:{system.web_ports[1]}/api/v1/users/{number}/kick",
                           headers={"Authorization": f"Bearer {secret}"}, timeout=15)
    assert answer.status_code == 202, answer.text
    # The kick runs as a job on node B; its record is in Redis, so node A answers for it too.
    status_url = answer.json()["status_url"]
    job: dict[str, Any] = {}

    def finished() -> bool:
        job.update(requests.get(f"http://127.0.0.1:{system.web_ports[0]}{status_url}",
                                headers={"Authorization": f"Bearer {secret}"}, timeout=5).json())
        return bool(job["finished"])

    assert wait_for(finished, 15), job
    outcomes = job["result"]["kicks"]
    assert [(o["ok"], o["method"]) for o in outcomes] == [(True, "dm")], outcomes
    assert wait_for(lambda: system.ac is not None and opened.ip not in system.ac.online())
    assert wait_for(lambda: not registry.by_phone(number))


def test_sentinel_failover_while_phones_log_in(tmp_path: Path) -> None:
    """Every process reaches Redis through three Sentinels; the master is killed; after the
    failover, logins work again through both nodes with no process restarted, and sessions
    written before the kill (replicated) are still there."""
    group = SentinelGroup(tmp_path / "sentinel").start()
    try:
        with MultiNode(tmp_path, "", sentinels=group.addresses, sentinel_master=group.name) as mn:
            registry = SessionRegistry(mn.redis)
            before = [mn.journey(phone(500 + i), 500 + i, landing_node=i % 2, login_node=1 - i % 2)
                      for i in range(2)]
            assert all(o.ok for o in before), before
            assert wait_for(lambda: all(registry.by_phone(o.phone) for o in before))
            assert mn.redis.wait(1, 5000) == 1          # the replica has it all
            old = group.master.port
            group.master.kill()
            killed = time.monotonic()
            after: list[Outcome] = []           # phones keep coming during the failover
            n = 600
            while time.monotonic() - killed < 40 and sum(o.ok for o in after[-2:]) < 2:
                after.append(mn.journey(phone(n), n, landing_node=n % 2, login_node=1 - n % 2,
                                        timeout=10))
                n += 1
                time.sleep(0.2)                 # a new phone every ~0.2 s
            seen = Counter(f"{o.stage}:{o.error}" for o in after if not o.ok)
            assert sum(o.ok for o in after[-2:]) == 2, seen
            assert group.master_port() == group.replica.port
            recovered = after[-2].started - killed
            print(f"sentinel failover: master {old} → {group.replica.port}; "
                  f"logins work again {recovered:.1f} s after the kill; "
                  f"phones on the way saw {dict(seen) or 'no error'}")
            assert all(registry.by_phone(o.phone) for o in before)
            assert wait_for(lambda: all(registry.by_phone(o.phone) for o in after if o.ok))
    finally:
        group.stop()
