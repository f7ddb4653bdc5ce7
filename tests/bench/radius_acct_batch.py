#!/usr/bin/env python3
"""CPU of the RADIUS accounting path without sockets: ``RadiusServer.handle_batch`` on batches of
pre-built Interim-Updates (signed Class, every update books new counters: nothing is a replay),
against a real Redis on a unix socket. Prints µs of CPU per record in this process and in Redis
(``INFO cpu``): on a shared machine these move far less than wall-clock rates.

    python3 tests/bench/radius_acct_batch.py [--sessions 500] [--rounds 10] [--batch 25]
    python3 tests/bench/radius_handle_batch.py --acct --callgrind   # instructions per record
"""

from __future__ import annotations

import argparse
import cProfile
import hashlib
import pstats
import struct
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
sys.path.insert(0, str(ROOT))

import redis  # noqa: E402

from portal.aaa.grants import ClassSigner  # noqa: E402
from portal.commands.radius import build_server  # noqa: E402
from portal.runtime.settings import RadiusSettings, RedisSettings, Settings  # noqa: E402
from portal.state import keys  # noqa: E402
from portal.state.embedded import EmbeddedRedis  # noqa: E402
from radius.server import ACCT  # noqa: E402
from tests.bench.radius_auth import SECRET, seed_policy  # noqa: E402

CLASS_KEY = "bench-class-key-0123456789abcdef"


def datagram(ident: int, attrs: list[tuple[int, bytes]]) -> bytes:
    body = b"".join(bytes((t, len(v) + 2)) + v for t, v in attrs)
    head = struct.pack("!BBH", 4, ident & 255, 20 + len(body))
    # RFC 2866 §3: MD5(Code + Identifier + Length + 16 zero octets + attributes + secret)
    return head + hashlib.md5(head + bytes(16) + body + SECRET.encode()).digest() + body


def redis_cpu(r: redis.Redis) -> float:
    info = r.info("cpu")
    return float(info["used_cpu_sys"]) + float(info["used_cpu_user"])


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--sessions", type=int, default=500)
    ap.add_argument("--rounds", type=int, default=10, help="Interim-Updates per session (≤ 14)")
    ap.add_argument("--batch", type=int, default=25)
    ap.add_argument("--profile", action="store_true", help="print a cProfile of the measured loop")
    ap.add_argument("--in-callgrind", action="store_true", help=argparse.SUPPRESS)
    args = ap.parse_args()
    base = Path(tempfile.mkdtemp(prefix="cw-acctbench-"))
    emb = EmbeddedRedis(base / "redis", port=None).start()
    try:
        r = redis.Redis.from_url(emb.url)
        seed_policy(r)
        settings = Settings(data_dir=base / "data", redis=RedisSettings(url=emb.url),
                            radius=RadiusSettings(class_key=CLASS_KEY))
        server = build_server(settings, reaper=False)
        signer = ClassSigner(CLASS_KEY.encode())
        now = time.time()
        classes = [signer.make(f"1380013{i:04d}", "basic", now - 3600, "bench-ac", i.to_bytes(4, "big"))
                   for i in range(args.sessions)]

        def record(i: int, status: int, t: int) -> bytes:
            return datagram(i, [
                (40, struct.pack("!I", status)), (44, f"bench-{i}".encode()),
                (1, f"1380013{i:04d}".encode()), (25, classes[i]), (4, bytes((127, 0, 0, 1))),
                (31, f"02-00-00-00-{i // 256:02X}-{i % 256:02X}".encode()),
                (8, bytes((10, 1, i // 256, i % 256))), (46, struct.pack("!I", t)),
                (42, struct.pack("!I", 1000 * t)), (43, struct.pack("!I", 5000 * t))])

        addr = ("127.0.0.1", 40000)
        # Sessions online for 50 minutes (logged in an hour ago); then one update per round, 20 s
        # of session time apart (compressed time: well within the plausibility checks' skew).
        starts = [(record(i, 3, 3000), addr) for i in range(args.sessions)]
        for k in range(0, len(starts), args.batch):
            server.handle_batch(starts[k:k + args.batch], ACCT)
        work = [[(record(i, 3, 3000 + 20 * (n + 1)), (addr[0], addr[1] + n))
                 for i in range(args.sessions)] for n in range(args.rounds)]
        profile = cProfile.Profile() if args.profile else None
        if args.in_callgrind:   # radius_handle_batch.py --acct --callgrind counts from here
            from tests.bench.radius_handle_batch import _callgrind_instrumentation
            _callgrind_instrumentation(True)
        r.config_resetstat()
        c0, r0, w0 = time.process_time(), redis_cpu(r), time.perf_counter()
        if profile is not None:
            profile.enable()
        answered = 0
        for rnd in work:
            for k in range(0, len(rnd), args.batch):
                answered += sum(1 for x in server.handle_batch(rnd[k:k + args.batch], ACCT) if x)
        if profile is not None:
            profile.disable()
        c1, r1, w1 = time.process_time(), redis_cpu(r), time.perf_counter()
        if args.in_callgrind:
            _callgrind_instrumentation(False)
        from tests.bench.radius_handle_batch import redis_command_usec
        redis_stats = redis_command_usec(r, args.sessions * args.rounds)
        if profile is not None:
            pstats.Stats(profile).sort_stats("tottime").print_stats(25)
        n = args.sessions * args.rounds
        assert answered == n, f"{answered} of {n} answered"
        refused = sum(1 for _, f in r.xrange(keys.acct_log(), count=1_000_000) if f.get(b"k") == b"rejected")
        print(f"REQUESTS {n}: Interim-Updates in batches of {args.batch}: server CPU "
              f"{(c1 - c0) / n * 1e6:.1f} us/record, Redis CPU {(r1 - r0) / n * 1e6:.1f} us/record, "
              f"{n / (w1 - w0):.0f}/s wall "
              f"(refused: {refused})")
        print(redis_stats)
        server.close()
    finally:
        emb.stop()
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
