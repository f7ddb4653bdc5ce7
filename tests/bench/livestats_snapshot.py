"""What the NOC dashboard costs: LiveStats writes per second and one snapshot (60 and 1440
minutes of buckets, 100 ACs with 20,000 online sessions) against a throwaway redis-server.

    python3 tests/bench/livestats_snapshot.py
"""

from __future__ import annotations

import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[2]))

import redis

from portal.aaa.acs import AcRecord, AcRegistry
from portal.aaa.sessions import OnlineSession, SessionRegistry
from portal.noc.livestats import LiveStats
from portal.state.embedded import EmbeddedRedis


def main() -> None:
    with tempfile.TemporaryDirectory() as tmp:
        server = EmbeddedRedis(Path(tmp), port=0).start()
        try:
            client = redis.Redis.from_url(server.url)
            stats = LiveStats(client)
            n = 5000
            t = time.perf_counter()
            for i in range(n):
                stats.record_login(("sms", "returning", "silent")[i % 3], f"venue{i % 20}")
            per = (time.perf_counter() - t) / n
            print(f"record_login: {per * 1e6:.0f} µs each ({1 / per:,.0f}/s, one pipeline)")
            registry = AcRegistry(client)
            sessions = SessionRegistry(client)
            for a in range(100):
                registry.put(AcRecord(name=f"ac{a}", addresses=(f"10.1.{a}.1",),
                                      secret="s3cret-for-bench-16"))
            pipe = client.pipeline(transaction=False)
            for i in range(20_000):
                sessions.open_in(pipe, OnlineSession(ac=f"ac{i % 100}", session_id=f"s{i}",
                                                     phone=f"133{i:08d}", started=1, updated=2))
            pipe.execute()
            # Fill a day of minutes so the long window reads real buckets.
            now = time.time()
            for m in range(1440):
                LiveStats(client, lambda m=m: now - m * 60).record_login("sms", "v")
            for minutes in (60, 1440):
                stats.snapshot(minutes)
                t = time.perf_counter()
                for _ in range(20):
                    snap = stats.snapshot(minutes)
                per = (time.perf_counter() - t) / 20
                print(f"snapshot({minutes}): {per * 1000:.1f} ms (online {snap['online']['total']}, "
                      f"{len(snap['online']['by_ac'])} ACs)")
            client.close()
        finally:
            server.stop()


if __name__ == "__main__":
    main()
