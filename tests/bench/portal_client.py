"""Benchmark: CHAP logins per second through one PortalClient against the fake AC.

The fake AC runs in its own process (so it does not share the client's GIL).
Run: ``python3 tests/bench/portal_client.py [logins] [threads] [flavour]``
"""

from __future__ import annotations

import multiprocessing
import statistics
import sys
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[2]))

from ac_adapters.client import AcEndpoint, PortalClient
from ac_adapters.profiles import PROFILES

SECRET = b"bench-secret"


def _serve(n: int, flavour: str, port_out: multiprocessing.connection.Connection,
           stop: multiprocessing.synchronize.Event) -> None:
    from tests.fakes.portal_ac import fake_ac
    with fake_ac(flavour, secret=SECRET, users={f"u{i}": f"p{i}" for i in range(n)}) as ac:
        port_out.send(ac.port)
        stop.wait()


def main() -> None:
    n = int(sys.argv[1]) if len(sys.argv) > 1 else 2000
    threads = int(sys.argv[2]) if len(sys.argv) > 2 else 50
    flavour = sys.argv[3] if len(sys.argv) > 3 else "huawei-v2"
    ctx = multiprocessing.get_context("spawn")
    recv, send = ctx.Pipe(duplex=False)
    stop = ctx.Event()
    server = ctx.Process(target=_serve, args=(n, flavour, send, stop))
    server.start()
    try:
        port = recv.recv()
        ep = AcEndpoint("127.0.0.1", port, profile=PROFILES[flavour], secret=SECRET, timeout=5.0)
        with PortalClient(source_host="127.0.0.1") as client:
            def one(i: int) -> float:
                res = client.login(ep, f"10.{i // 65000}.{i // 250 % 256}.{i % 250 + 1}", f"u{i}", f"p{i}")
                assert res.ok, res.diagnostic
                return res.timings["total"]

            t0 = time.perf_counter()
            with ThreadPoolExecutor(max_workers=threads) as pool:
                lat = list(pool.map(one, range(n)))
            elapsed = time.perf_counter() - t0
            stats = client.stats
        lat.sort()
        print(f"{n} CHAP logins ({flavour}), {threads} threads, one client: {elapsed:.2f} s, "
              f"{n / elapsed:.0f} logins/s; latency p50 {statistics.median(lat) * 1000:.1f} ms, "
              f"p99 {lat[int(len(lat) * 0.99) - 1] * 1000:.1f} ms; retransmitted {stats['retransmitted']}")
    finally:
        stop.set()
        server.join(timeout=10)


if __name__ == "__main__":
    main()
