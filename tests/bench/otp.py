"""Benchmark: one-time codes issued + verified per second through a real Redis.

Each round trip is the full path a phone takes: number normalisation and policy check, blocklist,
the five limit families (phone, MAC, IP, AC, global budget — one Lua reservation each), storing
the HMAC, then verify (attempt script, constant-time compare, consume script).

    python3 tests/bench/otp.py [--count 3000] [--threads 1,4] [--unix]

Starts its own redis-server (TCP loopback, or a unix socket with --unix) and stops it at the end.
"""

from __future__ import annotations

import argparse
import sys
import tempfile
import threading
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[2]))

import redis

from portal.aaa.blocklist import Blocklist
from portal.phone.otp import OtpService
from portal.phone.phone_policy import build_number_policy
from portal.runtime.settings import NumberPolicySettings, OtpSettings
from portal.state.embedded import EmbeddedRedis

BIG = 10**9
CFG = OtpSettings(per_phone_hour=BIG, per_phone_day=BIG, per_mac_hour=BIG, per_mac_day=BIG,
                  per_ip_hour=BIG, per_ip_day=BIG, per_ac_minute=BIG, global_per_minute=BIG)


def run(url: str, count: int, threads: int) -> float:
    pool = redis.BlockingConnectionPool.from_url(url, max_connections=threads + 2)
    client = redis.Redis(connection_pool=pool)
    client.flushall()
    policy = build_number_policy(NumberPolicySettings(), client)
    svc = OtpService(client, CFG, b"b" * 32, policy=policy, blocklist=Blocklist(client))
    per_thread = count // threads

    def work(t: int) -> None:
        for i in range(per_thread):
            n = t * per_thread + i
            phone = f"189{n:08d}"
            mac = f"02:00:{(n >> 24) & 255:02x}:{(n >> 16) & 255:02x}:{(n >> 8) & 255:02x}:{n & 255:02x}"
            ip = f"10.{(n >> 16) & 255}.{(n >> 8) & 255}.{n & 255}"
            issued = svc.request_code(phone, mac, ip, f"ac{n % 16}")
            svc.verify(phone, issued.code, mac, ip)

    workers = [threading.Thread(target=work, args=(t,)) for t in range(threads)]
    started = time.perf_counter()
    for w in workers:
        w.start()
    for w in workers:
        w.join()
    elapsed = time.perf_counter() - started
    client.close()
    pool.disconnect()
    return per_thread * threads / elapsed


def main() -> int:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--count", type=int, default=3000, help="codes per run")
    parser.add_argument("--threads", default="1,4", help="comma-separated thread counts")
    parser.add_argument("--unix", action="store_true", help="talk to Redis over a unix socket")
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        server = EmbeddedRedis(tmp, port=None if args.unix else 0, appendonly=False).start()
        try:
            print(f"redis-server {server.binary} via {'unix socket' if args.unix else 'TCP loopback'}")
            for threads in (int(x) for x in args.threads.split(",")):
                rate = run(server.url, args.count, threads)
                print(f"threads={threads:2d}  codes issued+verified: {rate:8.0f}/s  ({args.count} codes)")
        finally:
            server.stop()
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
