#!/usr/bin/env python3
"""CPU of the RADIUS auth hot path without sockets: ``RadiusServer.handle_batch`` on batches of
pre-built Access-Requests (per-MAC credentials, full policy, real Redis on a unix socket).

On a shared machine wall-clock throughput moves by ±10 % from run to run; the instruction count
under callgrind does not, so small changes to the Python hot path can be judged exactly:

    python3 tests/bench/radius_handle_batch.py                 # µs of CPU per request
    python3 tests/bench/radius_handle_batch.py --callgrind     # instructions per request
    python3 tests/bench/radius_handle_batch.py --profile       # cProfile, top functions
    python3 tests/bench/radius_handle_batch.py --callgrind --stages   # per stage: admit, decide, reply
    python3 tests/bench/radius_handle_batch.py --acct --callgrind   # per Interim-Update instead
    python3 tests/bench/radius_handle_batch.py --acct --replay --callgrind   # radius_auth.py's replays

Both print Redis's own time per request from ``INFO commandstats`` (``usec`` summed over the
measured loop's commands, per command too): it is what Redis spends executing them, which
stays put when other processes load the machine (``INFO cpu`` includes the event loop and
moves with scheduling).

``--acct`` counts the accounting path: tests/bench/radius_acct_batch.py's Interim-Updates
(signed Class, new counters each, batches of 25) under the same callgrind switch.

``--callgrind`` re-runs this script under ``valgrind --tool=callgrind`` with collection switched
on only around the measured loop (``callgrind_control -i on/off``); Debian package: valgrind.
Redis's own CPU per request is printed from ``INFO cpu`` (it is a separate process).
"""

from __future__ import annotations

import argparse
import cProfile
import hmac
import os
import pstats
import re
import struct
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[2]
sys.path.insert(0, str(ROOT))

import redis  # noqa: E402

from portal.aaa.credentials import CredentialStore  # noqa: E402
from portal.commands.radius import build_server  # noqa: E402
from portal.runtime.settings import Settings  # noqa: E402
from portal.state.embedded import EmbeddedRedis  # noqa: E402
from radius import wire  # noqa: E402
from radius.server import AUTH  # noqa: E402
from tests.bench.radius_auth import SECRET as BENCH_SECRET  # noqa: E402
from tests.bench.radius_auth import seed_policy  # noqa: E402

SECRET = BENCH_SECRET.encode()
PHONES = 100
WARMUP_BATCHES = 50


def access_request(i: int, password: str, ident: int) -> bytes:
    """A PAP Access-Request as an AC sends it, signed with Message-Authenticator."""
    phone, mac = f"1380013{i:04d}", f"02-00-00-00-{i // 256:02X}-{i % 256:02X}"
    authenticator = os.urandom(16)
    attrs = [(1, phone.encode()), (2, wire.encrypt_password(password.encode(), SECRET, authenticator)),
             (4, bytes((127, 0, 0, 1))), (5, struct.pack("!I", i)), (30, b"AC-01:CityWiFi"),
             (31, mac.encode()), (80, bytes(16))]
    body = b"".join(bytes((t, len(v) + 2)) + v for t, v in attrs)
    packet = bytearray(bytes((1, ident)) + struct.pack("!H", 20 + len(body)) + authenticator + body)
    offset = len(packet) - 16
    packet[offset:] = hmac.digest(SECRET, bytes(packet), "md5")
    return bytes(packet)


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--requests", type=int, default=60_000)
    ap.add_argument("--batch", type=int, default=12, help="requests per batch (radclient -p 25 gives ~12)")
    ap.add_argument("--callgrind", action="store_true", help="count instructions under valgrind")
    ap.add_argument("--profile", action="store_true", help="print a cProfile of the measured loop")
    ap.add_argument("--profile-lines", type=int, default=30, help="functions the profile lists")
    ap.add_argument("--acct", action="store_true",
                    help="with --callgrind: count Interim-Updates (tests/bench/radius_acct_batch.py)")
    ap.add_argument("--replay", action="store_true",
                    help="with --acct: radius_auth.py's Interim-Updates (100 sessions, counters again)")
    ap.add_argument("--stages", action="store_true",
                    help="with --callgrind: instructions per request of each stage apart (admit: "
                         "decode, AC, authenticators, dedup; decide: the policy with its Redis trip; "
                         "reply: encode and sign)")
    ap.add_argument("--in-callgrind", action="store_true", help=argparse.SUPPRESS)
    ap.add_argument("--stage", choices=STAGES, help=argparse.SUPPRESS)
    args = ap.parse_args()
    if args.callgrind:
        return run_under_callgrind(args)
    if args.acct:
        ap.error("--acct counts instructions only (add --callgrind); for CPU per record run "
                 "tests/bench/radius_acct_batch.py")

    base = Path(tempfile.mkdtemp(prefix="cw-handle-batch-"))
    emb = EmbeddedRedis(base / "redis", port=None).start()
    try:
        r = redis.Redis.from_url(emb.url)
        seed_policy(r)                    # the same AC and plan as radius_auth.py
        creds = CredentialStore(r)
        passwords = [creds.bind_mac(f"02-00-00-00-{i // 256:02X}-{i % 256:02X}", f"1380013{i:04d}",
                                    days=30).password for i in range(PHONES)]
        server = build_server(Settings(), emb.url, reaper=False)
        b = args.batch
        batches = [[(access_request(n % PHONES, passwords[n % PHONES], n % 256),
                     ("127.0.0.1", 40000 + n % 1000)) for n in range(k * b, k * b + b)]
                   for k in range(args.requests // b)]
        for batch in batches[:WARMUP_BATCHES]:
            server.handle_batch(batch, AUTH)
        measured = batches[WARMUP_BATCHES:]
        n = len(measured) * b
        if args.stage:
            staged(server, measured, args.stage)
            print(f"REQUESTS {n} in batches of {b}: stage {args.stage}")
            server.close()
            return 0
        r.config_resetstat()
        redis_cpu0 = _redis_cpu(r)
        profiler = cProfile.Profile() if args.profile else None
        if args.in_callgrind:
            _callgrind_instrumentation(True)
        t0 = time.process_time()
        if profiler is not None:
            profiler.enable()
        for batch in measured:
            server.handle_batch(batch, AUTH)
        if profiler is not None:
            profiler.disable()
        cpu = time.process_time() - t0
        if args.in_callgrind:
            _callgrind_instrumentation(False)
        accepted = server.metrics.get("auth.accept") - WARMUP_BATCHES * b
        assert accepted == n, f"{accepted} of {n} accepted: the benchmark is not measuring the accept path"
        print(f"REQUESTS {n} in batches of {b}: {cpu / n * 1e6:.1f} us CPU per request in the worker, "
              f"Redis {(_redis_cpu(r) - redis_cpu0) / n * 1e6:.1f} us per request")
        print(redis_command_usec(r, n))
        if profiler is not None:
            pstats.Stats(profiler).sort_stats("tottime").print_stats(args.profile_lines)
        server.close()
    finally:
        emb.stop()
    return 0


STAGES = ("admit", "decide", "reply")


def staged(server: Any, measured: list[list[tuple[bytes, Any]]], stage: str) -> None:
    """``RadiusServer.handle_batch``'s three steps over every measured batch, one step at a time,
    with callgrind counting only ``stage`` (switching it per batch would cost a process each)."""
    admitted = []
    _callgrind_instrumentation(stage == "admit")
    for batch in measured:
        admitted.append([server._admit(data, addr, AUTH) for data, addr in batch])
    _callgrind_instrumentation(stage == "decide")
    now = server.clock()
    decided = [server.auth_handler.handle_auth_batch([item[:3] for item in items], now) for items in admitted]
    _callgrind_instrumentation(stage == "reply")
    for items, decisions in zip(admitted, decided, strict=True):
        for (req, ac, secret, key), decision in zip(items, decisions, strict=True):
            server.dedup.finish(key, server._auth_reply(req, secret, decision, ac.name))
    _callgrind_instrumentation(False)
    accepted = sum(1 for decisions in decided for d in decisions if getattr(d, "code", 0) == 2)
    assert accepted == sum(map(len, measured)), "the benchmark is not measuring the accept path"


def _redis_cpu(r: redis.Redis) -> float:
    info = r.info("cpu")
    return float(info["used_cpu_user"]) + float(info["used_cpu_sys"])


def redis_command_usec(r: redis.Redis, n: int) -> str:
    """Redis's execution time per request by command since the last CONFIG RESETSTAT."""
    stats = {name.removeprefix("cmdstat_"): v for name, v in r.info("commandstats").items()
             if name.removeprefix("cmdstat_") not in ("info", "config|resetstat", "config")}
    total = sum(float(v["usec"]) for v in stats.values())
    parts = ", ".join(f"{name} {float(v['usec']) / n:.2f} ({int(v['calls']) / n:.2f} calls)"
                      for name, v in sorted(stats.items(), key=lambda kv: -float(kv[1]["usec"])))
    return f"REDIS {total / n:.2f} usec per request (INFO commandstats): {parts}"


def _callgrind_instrumentation(on: bool) -> None:
    subprocess.run(["callgrind_control", "-i", "on" if on else "off", str(os.getpid())],
                   check=True, capture_output=True)


def run_under_callgrind(args: argparse.Namespace) -> int:
    if args.stages and not args.acct:
        for stage in STAGES:
            args.stage = stage
            if _callgrind_once(args, f" [{stage}]"):
                return 1
        return 0
    args.stage = None
    return _callgrind_once(args, "")


def _callgrind_once(args: argparse.Namespace, label: str) -> int:
    out = Path(tempfile.mkdtemp(prefix="cw-callgrind-"))
    if args.acct:
        bench = [str(Path(__file__).with_name("radius_acct_batch.py")), "--in-callgrind"]
        if args.replay:
            bench += ["--replay", "--sessions", "100", "--rounds", "5"]
    else:
        bench = [__file__, "--in-callgrind", "--requests", str(args.requests), "--batch", str(args.batch)]
        if args.stage:
            bench += ["--stage", args.stage]
    cmd = ["valgrind", "--tool=callgrind", "--instr-atstart=no", f"--callgrind-out-file={out}/cg.out",
           sys.executable, *bench]
    proc = subprocess.run(cmd, capture_output=True, text=True)
    found = re.search(r"Collected : (\d+)", proc.stderr)
    measured = re.search(r"REQUESTS (\d+)", proc.stdout)
    if proc.returncode != 0 or found is None or measured is None:
        print(proc.stdout, proc.stderr, sep="\n", file=sys.stderr)
        return 1
    print(proc.stdout.strip())
    what = "Interim-Update" if args.acct else "Access-Request"
    print(f"INSTRUCTIONS {int(found.group(1)) / int(measured.group(1)):,.0f} per {what}{label} "
          f"(callgrind, measured loop only)")
    return 0


if __name__ == "__main__":
    sys.exit(main())
