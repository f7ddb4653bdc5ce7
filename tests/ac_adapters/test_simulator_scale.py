"""Thousands of simulated users online at once, logged in through the real PortalClient."""

from __future__ import annotations

import time
from concurrent.futures import ThreadPoolExecutor

from ac_adapters.client import AcEndpoint, PortalClient
from ac_adapters.profiles import PROFILES
from ac_adapters.simulator import SimConfig, SimulatedAc

USERS = 2000


def test_two_thousand_users_online_at_once() -> None:
    ac = SimulatedAc(SimConfig(radius_host=None, local_users={"13800138000": "123456"}, coa_port=None,
                               local_reply={"Session-Timeout": 3600}, require_lease=True)).start()
    ips = [f"10.{100 + i // 250}.{i % 250}.{(i * 7) % 250 + 1}" for i in range(USERS)]
    for n, ip in enumerate(ips):
        ac.add_user(ip, f"02:aa:00:00:{n >> 8:02x}:{n & 0xFF:02x}")
    endpoint = AcEndpoint("127.0.0.1", ac.port, profile=PROFILES["huawei-v2"], secret=b"testing123",
                          timeout=3.0, retries=3)
    client = PortalClient(source_host="127.0.0.1")
    try:
        started = time.monotonic()
        with ThreadPoolExecutor(max_workers=32) as pool:
            results = list(pool.map(lambda ip: client.login(endpoint, ip, "13800138000", "123456"), ips))
        elapsed = time.monotonic() - started
        failed = [r for r in results if not r.ok]
        assert not failed, failed[:3]
        online = ac.online()
        assert len(online) == USERS
        assert len({u.session_id for u in online.values()}) == USERS       # Acct-Session-Id unique
        assert ac.stats["acct_start"] == USERS
        assert elapsed < 60, f"{USERS} logins took {elapsed:.1f} s"
        # Everybody is still online and answerable; a few logouts work in the crowd.
        for ip in ips[:20]:
            assert client.logout(endpoint, ip).ok
        assert len(ac.online()) == USERS - 20
    finally:
        client.close()
        ac.stop(send_stop=False)
