"""Benchmark: online-session memory, authorize() and accounting throughput on a real local Redis.

Run: ``python3 tests/bench/quota.py [sessions]`` (default 100,000). Prints bytes of Redis memory
per online session (record + indexes, and with the phone's usage hash), authorize() calls/s
(one thread, plan cache warm) and Interim-Updates/s through AccountingProcessor.process().
"""

from __future__ import annotations

import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[2]))

import redis

from portal.aaa.acs import AcRecord
from portal.aaa.authorizer import Authorizer
from portal.aaa.grants import ClassSigner
from portal.aaa.plans import Plan, PlanStore
from portal.aaa.sessions import OnlineSession, SessionRegistry
from portal.runtime.settings import QuotaSettings
from portal.state import keys
from portal.state.embedded import EmbeddedRedis
from radius.accounting import AccountingProcessor, AcctRecord, AcctStatus


def main() -> None:
    n = int(sys.argv[1]) if len(sys.argv) > 1 else 100_000
    server = EmbeddedRedis(Path(tempfile.mkdtemp()), port=None).start()  # unix socket
    try:
        r = redis.Redis.from_url(server.url)
        reg = SessionRegistry(r)
        now = int(time.time())
        base = r.info("memory")["used_memory"]
        for start in range(0, n, 2000):
            pipe = r.pipeline(transaction=False)
            for i in range(start, min(start + 2000, n)):
                phone = f"138{i:08d}"
                reg.open_in(pipe, OnlineSession(
                    f"ac{i % 50}", f"80{i:014X}", phone,
                    mac=f"aa:bb:cc:{i >> 16 & 255:02x}:{i >> 8 & 255:02x}:{i & 255:02x}",
                    ip=f"10.{i >> 16 & 255}.{i >> 8 & 255}.{i & 255}", started=now, updated=now,
                    interim=300, plan="basic", session_time=1234, input_octets=123456789,
                    output_octets=987654321, ssid="CityWiFi-Free", venue=f"venue-{i % 200}"))
            pipe.execute()
        per_session = (r.info("memory")["used_memory"] - base) / n
        print(f"sessions: {n}, Redis memory per online session: {per_session:.0f} bytes")
        r.flushall()

        store = PlanStore(r, cache_ttl=0)
        store.put(Plan("basic", daily_time=7200, total_volume=10**12, max_sessions=3))
        store.assign("default", "", "basic")
        ac = AcRecord(name="ac1", addresses=("127.0.0.1",), secret="s")
        auth = Authorizer(r, QuotaSettings(plan_cache_ttl=60))
        count = 20_000
        t0 = time.perf_counter()
        for i in range(count):
            auth.authorize(f"139{i % 5000:08d}", "aa:bb:cc:dd:ee:ff", ac, "CityWiFi", time.time())
        rate = count / (time.perf_counter() - t0)
        print(f"authorize(): {rate:,.0f}/s (one thread, 5,000 phones)")

        signer = ClassSigner(b"bench-class-key-0123456789abcdef")
        proc = AccountingProcessor(r, settings=QuotaSettings(plan_cache_ttl=60), class_signer=signer)
        phones = [f"137{i:08d}" for i in range(2000)]
        classes = {p: signer.make(p, "basic", now, ac.name) for p in phones}   # as the Accept carried
        for p in phones:
            proc.process(ac, AcctRecord(status=int(AcctStatus.START), session_id=p, user_name=p,
                                        class_=classes[p]), now)
        count = 20_000
        t0 = time.perf_counter()
        for i in range(count):
            # One Interim-Update per session and simulated minute (the plausibility checks
            # compare the session time with the time since the session started).
            p, minute = phones[i % len(phones)], i // len(phones) + 1
            proc.process(ac, AcctRecord(
                status=int(AcctStatus.INTERIM_UPDATE), session_id=p, user_name=p,
                class_=classes[p], session_time=60 * minute,
                input_octets=1000 * minute, output_octets=5000 * minute), now + 60 * minute)
        rate = count / (time.perf_counter() - t0)
        refused = sum(1 for _, f in r.xrange(keys.acct_log()) if f.get(b"k") == b"rejected")
        assert refused == 0, f"{refused} records refused: the figure would measure refusals"
        print(f"accounting Interim-Update: {rate:,.0f}/s (one thread, durable log + Lua)")
    finally:
        server.stop()


if __name__ == "__main__":
    main()
