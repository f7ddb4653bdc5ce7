"""Cluster safety beyond the re-run store tests: concurrency over several cluster clients, the
real-name log and AC registry through ``connect(cluster=True)``, and the script helper."""

from __future__ import annotations

import threading
import time
from typing import Any

import pytest

from portal.aaa.acs import AcRecord, AcRegistry
from portal.aaa.credentials import CredentialStore, ReusedCredential
from portal.legal.reallog import LoginRecord, RealNameLog
from portal.runtime.settings import RedisSettings
from portal.state import connect
from portal.state.scripts import is_cluster, queue_script
from tests.scale.cluster import RedisClusterProcs

PHONE = "18912345678"


def test_connect_builds_a_cluster_client(redis_cluster: RedisClusterProcs) -> None:
    client = connect(RedisSettings(url=redis_cluster.url, cluster=True))
    try:
        assert is_cluster(client) and is_cluster(client.pipeline())
        # Keys of many slots land on all three masters.
        for i in range(30):
            client.set(f"spread:{i}", i)
        per_node = [n.client().dbsize() for n in redis_cluster.nodes]
        assert all(n > 0 for n in per_node), per_node
    finally:
        client.close()


def test_concurrent_token_consumption_on_the_cluster_has_one_winner(
        redis_cluster: RedisClusterProcs, redis_client: Any) -> None:
    cred = CredentialStore(redis_client).mint_login_token(PHONE)
    outcomes: list[str] = []

    def attempt() -> None:
        client = redis_cluster.client()
        try:
            CredentialStore(client).check_pap(PHONE, cred.password, None)
            outcomes.append("ok")
        except ReusedCredential:
            outcomes.append("reused")
        finally:
            client.close()

    threads = [threading.Thread(target=attempt) for _ in range(6)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert sorted(outcomes) == ["ok"] + ["reused"] * 5


def test_real_name_log_and_ac_registry(redis_client: Any) -> None:
    log = RealNameLog(redis_client)
    rec = LoginRecord(phone=PHONE, mac="aa:bb:cc:dd:ee:01", ip="10.0.0.2", ac="ac1", ap="ap",
                      ssid="CityWiFi", venue="lib", kind="sms", plan="basic", at=time.time())
    log.append(rec)
    assert [r.phone for r in log.recent(5)] == [PHONE]
    acs = AcRegistry(redis_client)
    acs.put(AcRecord(name="ac1", addresses=("192.0.2.1",), secret="s3cret"))   # MULTI over {acs}
    found = acs.by_address("192.0.2.1")
    assert found is not None and found.name == "ac1"
    acs.delete("ac1")
    assert acs.get_or_none("ac1") is None


def test_queue_script_on_a_cluster_pipeline_uses_eval(redis_client: Any) -> None:
    script = redis_client.register_script("return redis.call('INCRBY', KEYS[1], ARGV[1])")
    pipe = redis_client.pipeline(transaction=False)
    pipe.set("{t}:a", 1)
    queue_script(pipe, script, ["{t}:a"], [41])
    assert pipe.execute() == [True, 42]


def test_a_script_over_two_slots_is_refused(redis_client: Any) -> None:
    """The failure these tests guard against: the cluster refuses cross-slot scripts."""
    import redis
    script = redis_client.register_script("return redis.call('MGET', KEYS[1], KEYS[2])")
    pipe = redis_client.pipeline(transaction=False)
    with pytest.raises((redis.RedisError, redis.RedisClusterException), match="slot"):
        queue_script(pipe, script, ["{a}:x", "{b}:y"], [])
        pipe.execute()
