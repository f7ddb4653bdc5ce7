#!/usr/bin/env python3
"""Redis memory per online session, by key type: the sessions tests/bench/radius_auth.py
writes for its memory figure (same shape: 50 ACs, 200 venues, one SSID, each session's
login-claim key), in an embedded Redis, then ``MEMORY USAGE`` (all samples) of every key,
grouped by key pattern, with each group's encoding.

    python3 tests/bench/session_memory.py [--sessions 100000] [--hash-max-value 64]

``--hash-max-value`` overrides ``hash-max-ziplist-value`` (the embedded Redis and
deploy/redis/*.conf set 256) to compare with Redis's default of 64.
"""

from __future__ import annotations

import argparse
import collections
import re
import shutil
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
sys.path.insert(0, str(ROOT))

import redis  # noqa: E402

from portal.aaa.sessions import OnlineSession, SessionRegistry  # noqa: E402
from portal.state import keys  # noqa: E402
from portal.state.embedded import EmbeddedRedis  # noqa: E402


def write_sessions(r: redis.Redis, n: int) -> None:
    """radius_auth.py's memory sessions (keep the two in step)."""
    registry = SessionRegistry(r)
    now = int(time.time())
    pipe = r.pipeline(transaction=False)
    for i in range(n):
        registry.open_in(pipe, OnlineSession(
            ac=f"ac-{i % 50}", session_id=f"{i:08x}-{now:x}", phone=f"13{i:09d}",
            mac=f"02:00:{(i >> 24) & 255:02x}:{(i >> 16) & 255:02x}:{(i >> 8) & 255:02x}:{i & 255:02x}",
            ip=f"10.{(i >> 16) & 255}.{(i >> 8) & 255}.{i & 255}", started=now, updated=now,
            interim=300, plan="basic", session_time=600, input_octets=123456, output_octets=7654321,
            ssid="CityWiFi-Free", venue=f"venue-{i % 200}"))
        pipe.set(keys.login_claim(f"13{i:09d}", f"{i:08x}"), f"ac-{i % 50}|{i:08x}-{now:x}",
                 ex=21600 + 900)
        if i % 2000 == 1999:
            pipe.execute()
    pipe.execute()


def _group(key: bytes) -> bytes:
    name = re.sub(rb"\{p:\d+\}", b"{p:<phone>}", key)
    name = re.sub(rb":lc:.*$", b":lc:<login>", name)
    name = re.sub(rb"(ac|venue)-\d+", rb"\1-<n>", name)
    return re.sub(rb"(smac|sip):\d+", rb"\1:<bucket>", name)


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--sessions", type=int, default=100_000)
    ap.add_argument("--hash-max-value", type=int, default=0, help="hash-max-ziplist-value to set")
    args = ap.parse_args()
    n = args.sessions
    base = Path(tempfile.mkdtemp(prefix="cw-session-memory-"))
    emb = EmbeddedRedis(base / "redis", port=None).start()
    try:
        r = redis.Redis.from_url(emb.url)
        if args.hash_max_value:
            r.config_set("hash-max-ziplist-value", args.hash_max_value)
        before = int(r.info("memory")["used_memory"])
        write_sessions(r, n)
        after = int(r.info("memory")["used_memory"])
        print(f"MEMORY {n} sessions: {(after - before) / n:.0f} bytes per session (used_memory), "
              f"hash-max-ziplist-value {r.config_get('hash-max-ziplist-value')['hash-max-ziplist-value']}")
        usage: collections.Counter[bytes] = collections.Counter()
        count: collections.Counter[bytes] = collections.Counter()
        encoding: dict[bytes, bytes] = {}
        for key in r.scan_iter(count=5000):
            group = _group(key)
            usage[group] += int(r.memory_usage(key, samples=0) or 0)
            count[group] += 1
            encoding.setdefault(group, r.object("encoding", key) or b"?")
        for group, total in usage.most_common():
            print(f"{total / n:8.1f} B/session {count[group]:8d} keys  {encoding[group].decode():10s} "
                  f"{group.decode()}")
        print("(MEMORY USAGE leaves out the expires-table entry of keys with a TTL)")
    finally:
        emb.stop()
        shutil.rmtree(base, ignore_errors=True)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
