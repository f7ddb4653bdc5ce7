#!/usr/bin/env python3
"""NOC online-session search at scale: N sessions (default 100,000) over 20 ACs and 2 SSIDs,
each with its real-name login record, in a throwaway redis-server. Prints the time of a
search per kind (the NOC page / ``GET /api/v1/sessions``, 50 rows enriched with usage and
what is left; median of ``--repeat`` searches after one warm-up) and the Redis memory per
session.

Sessions carry the SSID and venue accounting records at their start (per-venue index);
``--legacy`` opens them without, as an older version did, so SSID/venue come from the login
records and a venue filter scans.

    python3 tests/bench/noc_sessions.py [--sessions 100000] [--repeat 5] [--legacy]
"""

from __future__ import annotations

import argparse
import cProfile
import os
import pstats
import statistics
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[2]
sys.path.insert(0, str(ROOT))

import redis  # noqa: E402

from portal.aaa.plans import Plan, PlanStore  # noqa: E402
from portal.aaa.sessions import OnlineSession, SessionRegistry  # noqa: E402
from portal.aaa.usage import UsageBook  # noqa: E402
from portal.legal.reallog import LoginRecord  # noqa: E402
from portal.noc.session_search import SessionFilter, SessionQuery  # noqa: E402
from portal.state import keys  # noqa: E402
from portal.state.embedded import EmbeddedRedis  # noqa: E402
from portal.venues.venue_store import Venue, VenueStore  # noqa: E402


def main() -> int:
    ap = argparse.ArgumentParser()
    ap.add_argument("--sessions", type=int, default=100_000)
    ap.add_argument("--repeat", type=int, default=5, help="searches per kind (median shown)")
    ap.add_argument("--legacy", action="store_true", help="sessions without recorded SSID/venue")
    ap.add_argument("--profile", metavar="CASE", default="",
                    help="cProfile the searches of the case whose name starts with CASE (e.g. SSID)")
    args = ap.parse_args()
    n = args.sessions
    with tempfile.TemporaryDirectory() as tmp:
        server = EmbeddedRedis(tmp, port=0, appendonly=False).start()
        try:
            r = redis.Redis.from_url(server.url)
            plans = PlanStore(r, cache_ttl=60)
            plans.put(Plan(name="basic", up_kbps=2000, down_kbps=8000, daily_time=4 * 3600))
            venues = VenueStore(r)
            venues.put(Venue(id="library", ssids=("CityWiFi",)))
            venues.put(Venue(id="mall", ssids=("Mall",)))
            reg = SessionRegistry(r)
            now = int(time.time())
            base = int(r.info("memory")["used_memory"])
            pipe = r.pipeline(transaction=False)
            for i in range(n):
                started = now - 3600 + i * 3600 // n
                s = OnlineSession(f"ac{i % 20}", f"{i:08x}", f"189{i:08d}",
                                  mac=f"02:00:{(i >> 16) & 255:02x}:{(i >> 8) & 255:02x}:{i & 255:02x}:01",
                                  ip=f"10.{i >> 16}.{(i >> 8) & 255}.{i & 255}", started=started,
                                  updated=now, plan="basic", session_time=now - started,
                                  ssid="" if args.legacy else ("Mall" if i % 2 else "CityWiFi"),
                                  venue="" if args.legacy else ("mall" if i % 2 else "library"))
                reg.open_in(pipe, s)
                if i % 1000 == 999:
                    pipe.execute()
            pipe.execute()
            per_session = (int(r.info("memory")["used_memory"]) - base) / n
            for i in range(n):
                started = now - 3600 + i * 3600 // n
                mac = f"02:00:{(i >> 16) & 255:02x}:{(i >> 8) & 255:02x}:{i & 255:02x}:01"
                rec = LoginRecord(f"189{i:08d}", mac,
                                  f"10.{i >> 16}.{(i >> 8) & 255}.{i & 255}", f"ac{i % 20}", "",
                                  "Mall" if i % 2 else "CityWiFi", "mall" if i % 2 else "library",
                                  "sms", "basic", started - 1.0)
                # Stream ids as they would have been at login time (the NOC reads by id).
                fields: dict[Any, Any] = rec.fields()
                pipe.xadd(keys.real_name_log(), fields, id=f"{int(rec.at * 1000)}-{i}")
                if i % 1000 == 999:
                    pipe.execute()
            pipe.execute()
            query = SessionQuery(r, plans=plans, usage=UsageBook(r))
            mid = n // 2
            cases = [
                ("no filter (newest 50)", SessionFilter()),
                ("phone", SessionFilter(phone=f"189{mid:08d}")),
                ("AC (1/20 of all)", SessionFilter(ac="ac7")),
                ("MAC (index)", SessionFilter(
                    mac=f"02:00:{(mid >> 16) & 255:02x}:{(mid >> 8) & 255:02x}:{mid & 255:02x}:01")),
                ("IP (index)", SessionFilter(ip=f"10.{mid >> 16}.{(mid >> 8) & 255}.{mid & 255}")),
                ("SSID (half of all)", SessionFilter(ssid="Mall")),
                ("venue (half of all)", SessionFilter(venue="mall")),
                ("AC + venue", SessionFilter(ac="ac3", venue="mall")),
            ]
            print(f"{n} sessions; Redis memory per session {per_session:.0f} bytes (records + indexes); "
                  f"load average {os.getloadavg()[0]:.2f}")
            for name, flt in cases:
                page = query.search(flt, 0, 50)     # warm-up (connection, script and plan caches)
                took = []
                profile = cProfile.Profile() if args.profile and name.startswith(args.profile) else None
                for _ in range(max(1, args.repeat)):
                    if profile is not None:
                        profile.enable()
                    t0 = time.perf_counter()
                    page = query.search(flt, 0, 50)
                    took.append((time.perf_counter() - t0) * 1000)
                    if profile is not None:
                        profile.disable()
                if profile is not None:
                    pstats.Stats(profile).sort_stats("cumtime").print_stats(25)
                print(f"  {name:30s} {statistics.median(took):8.1f} ms  (min {min(took):.1f}, "
                      f"max {max(took):.1f})  total={page.total}")
        finally:
            server.stop()
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
