"""Redis Sentinel: a master, a replica and three sentinels on loopback. citywifi connects
through ``redis.sentinels`` settings, writes, the master is killed, and the same client follows
the failover to the promoted replica — data written before the kill is still there."""

from __future__ import annotations

import time
from pathlib import Path

import redis

from portal.aaa.plans import Plan, PlanStore
from portal.phone.otp import OtpService
from portal.runtime.settings import OtpSettings, RedisSettings
from portal.state import connect
from radius.accounting import AccountingProcessor
from tests.scale.cluster import SentinelGroup


def test_client_follows_a_sentinel_failover(tmp_path: Path) -> None:
    group = SentinelGroup(tmp_path).start()
    try:
        cfg = RedisSettings(sentinels=group.addresses, sentinel_master=group.name, socket_timeout=1.0)
        client = connect(cfg)
        plans = PlanStore(client, cache_ttl=0.0)
        plans.put(Plan(name="basic", title_zh="基础套餐", max_sessions=1))
        otp = OtpService(client, OtpSettings(hmac_key="h" * 32), b"h" * 32)
        issued = otp.request_code("18912345678", "aa:bb:cc:dd:ee:01", "10.0.0.2", "ac1")
        assert client.connection_pool.get_master_address()[1] == group.master.port
        assert client.wait(1, 2000) == 1             # the replica has everything so far
        old_master = group.master.port
        group.master.kill()
        t0 = time.monotonic()
        wrote = None
        while time.monotonic() - t0 < 30:
            try:
                client.set("after-failover", "yes")
                wrote = time.monotonic() - t0
                break
            except (redis.ConnectionError, redis.TimeoutError, redis.ReadOnlyError):
                time.sleep(0.2)
        assert wrote is not None, "client never reached the promoted master"
        assert group.master_port() == group.replica.port != old_master
        assert client.connection_pool.get_master_address()[1] == group.replica.port
        assert client.get("after-failover") == b"yes"
        # State written before the kill survived on the promoted replica.
        plan = PlanStore(client, cache_ttl=0.0).plan_named("basic")
        assert plan is not None and plan.max_sessions == 1
        assert otp.verify("18912345678", issued.code, "aa:bb:cc:dd:ee:01", "10.0.0.2")
        # The accounting processor's scripts load on the new master (NOSCRIPT → reload).
        AccountingProcessor(client)
        print(f"sentinel failover: client writing again after {wrote:.1f}s")
        client.close()
    finally:
        group.stop()
