#!/usr/bin/env python3
"""CPU of the RADIUS accounting path without sockets: ``RadiusServer.handle_batch`` on batches of
pre-built Interim-Updates (signed Class, every update books new counters: nothing is a replay),
against a real Redis on a unix socket. Prints µs of CPU per record in this process and in Redis
(``INFO cpu``): on a shared machine these move far less than wall-clock rates.

    python3 tests/bench/radius_acct_batch.py [--sessions 500] [--rounds 10] [--batch 25]
    python3 tests/bench/radius_handle_batch.py --acct --callgrind   # instructions per record
    python3 tests/bench/radius_acct_batch.py --redis-callgrind      # Redis's instructions per record
    python3 tests/bench/radius_acct_batch.py --replay               # the same counters every round

``--redis-callgrind`` runs redis-server under ``valgrind --tool=callgrind`` with collection on
only around the measured loop: Redis's own instructions per record (event loop, parsing, the
script, the AOF feed), which, unlike its ``usec``, do not move with the load of the machine.

``--replay`` sends every round the counters of the first (from a new source port, so the
packet cache does not answer them): what ``tests/bench/radius_auth.py`` measures, whose
radclient repeats the same 100 Interim-Updates; the accounting script finds nothing new in them
(its 'dup' path). Without it every update books new counters, as on a real network.
"""

from __future__ import annotations

import argparse
import cProfile
import hashlib
import pstats
import re
import shutil
import stat
import struct
import subprocess
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
from portal.state.embedded import EmbeddedRedis, find_redis_server  # noqa: E402
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


def _redis_callgrind(pid: int, out: Path, on: bool) -> int:
    """Switch collection in the redis-server under callgrind on (zeroing its counters) or off;
    when switching off, dump and return the instructions collected since it was switched on."""
    def control(*flags: str) -> None:
        subprocess.run(["callgrind_control", *flags, str(pid)], check=True, capture_output=True)
    if on:
        control("-z")
        control("-i", "on")
        return 0
    control("-i", "off")
    control("-d")
    dumps = sorted(out.parent.glob(out.name + "*"), key=lambda p: p.stat().st_mtime)
    found = re.search(r"^totals: (\d+)", dumps[-1].read_text(errors="replace"), re.M)
    assert found is not None, f"no totals in {dumps[-1]}"
    return int(found.group(1))


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--sessions", type=int, default=500)
    ap.add_argument("--rounds", type=int, default=10, help="Interim-Updates per session (≤ 14)")
    ap.add_argument("--batch", type=int, default=25)
    ap.add_argument("--profile", action="store_true", help="print a cProfile of the measured loop")
    ap.add_argument("--redis-callgrind", action="store_true",
                    help="count redis-server's instructions per record under valgrind")
    ap.add_argument("--replay", action="store_true",
                    help="every round repeats the first round's counters (the script's 'dup' path)")
    ap.add_argument("--in-callgrind", action="store_true", help=argparse.SUPPRESS)
    args = ap.parse_args()
    base = Path(tempfile.mkdtemp(prefix="cw-acctbench-"))
    binary, cg_out = "", base / "redis-cg.out"
    if args.redis_callgrind:
        wrapper = base / "redis-under-callgrind"
        wrapper.write_text("#!/bin/sh\nexec valgrind --tool=callgrind --instr-atstart=no "
                           f"--callgrind-out-file={cg_out} {find_redis_server()} \"$@\"\n")
        wrapper.chmod(wrapper.stat().st_mode | stat.S_IXUSR)
        binary = str(wrapper)
    emb = EmbeddedRedis(base / "redis", port=None, binary=binary).start(timeout=120)
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
        work = [[(record(i, 3, 3000 + 20 * (1 if args.replay else n + 1)), (addr[0], addr[1] + n))
                 for i in range(args.sessions)] for n in range(args.rounds + int(args.replay))]
        if args.replay:   # the first round books; the measured ones repeat it
            for k in range(0, len(work[0]), args.batch):
                server.handle_batch(work[0][k:k + args.batch], ACCT)
            work = work[1:]
        profile = cProfile.Profile() if args.profile else None
        if args.in_callgrind:   # radius_handle_batch.py --acct --callgrind counts from here
            from tests.bench.radius_handle_batch import _callgrind_instrumentation
            _callgrind_instrumentation(True)
        r.config_resetstat()
        redis_pid = emb.process.pid if emb.process is not None else 0
        if args.redis_callgrind:
            _redis_callgrind(redis_pid, cg_out, True)
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
        redis_instructions = _redis_callgrind(redis_pid, cg_out, False) if args.redis_callgrind else 0
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
        if args.redis_callgrind:
            print(f"REDIS INSTRUCTIONS {redis_instructions / n:,.0f} per Interim-Update "
                  "(redis-server under callgrind, measured loop only)")
        server.close()
    finally:
        emb.stop()
        shutil.rmtree(base, ignore_errors=True)   # Redis's files and, with --redis-callgrind, its dumps
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
