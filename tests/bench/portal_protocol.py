"""Benchmark: portal-protocol codec speed, and complete CHAP logins/s through the AC simulator.

    python3 tests/bench/portal_protocol.py [logins] [threads]

1. codec: encode + decode (with authenticator verification) of a CHAP REQ_AUTH and an ACK_AUTH
   in the huawei-v2 32-byte form, operations/s on one core.
2. logins: REQ_CHALLENGE → ACK_CHALLENGE → REQ_AUTH → (AC asks RADIUS) → ACK_AUTH → AFF_ACK_AUTH
   from ``threads`` threads through one ``PortalClient`` to the simulator running in a second
   process; the simulator decides (a) with ``local_users`` and (b) by a real Access-Request to
   Debian's FreeRADIUS (started like the test fixture; skipped when not installed), including
   Accounting Start per login.
"""

from __future__ import annotations

import multiprocessing as mp
import sys
import tempfile
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parents[2]))

from ac_adapters.client import AcEndpoint, PortalClient
from ac_adapters.codec import Attribute, PortalPacket, chap_password, decode, encode, text_attr
from ac_adapters.constants import AttrType, PacketType
from ac_adapters.profiles import PROFILES

SECRET = b"bench-secret"


def bench_codec(seconds: float = 2.0) -> tuple[float, float]:
    challenge = bytes(range(16))
    req = PortalPacket(
        type=PacketType.REQ_AUTH, version=2, serial_no=1234, req_id=77, user_ip="10.1.2.3",
        attrs=(text_attr(AttrType.USER_NAME, "13800138000"), Attribute(AttrType.CHALLENGE, challenge),
               Attribute(AttrType.CHAP_PASSWORD, chap_password(77, b"123456", challenge)),
               Attribute(AttrType.USER_MAC, bytes.fromhex("aabbccddeeff")),
               Attribute(AttrType.BAS_IP, bytes((127, 0, 0, 1)))),
    )
    req_raw = encode(req, header=32, secret=SECRET)
    ack = PortalPacket(type=PacketType.ACK_AUTH, version=2, serial_no=1234, req_id=77, user_ip="10.1.2.3",
                       attrs=(text_attr(AttrType.TEXT_INFO, "ok"),))
    results = []
    for make in (
        lambda: decode(encode(req, header=32, secret=SECRET), header=32, secret=SECRET),
        lambda: decode(encode(ack, header=32, secret=SECRET, request_authenticator=req_raw[16:32]),
                       header=32, secret=SECRET, request_authenticator=req_raw[16:32]),
    ):
        n = 0
        start = time.perf_counter()
        while time.perf_counter() - start < seconds:
            for _ in range(500):
                make()
            n += 500
        results.append(n / (time.perf_counter() - start))
    return results[0], results[1]


def _serve(conn: Any, radius: tuple[int, int] | None) -> None:
    import logging

    from ac_adapters.simulator import SimConfig, SimulatedAc

    logging.disable(logging.CRITICAL)
    if radius is None:
        cfg = SimConfig(secret=SECRET, radius_host=None, local_users={"13800138000": "123456"},
                        coa_port=None, portal_port=9)
    else:
        cfg = SimConfig(secret=SECRET, radius_auth_port=radius[0], radius_acct_port=radius[1],
                        coa_port=None, portal_port=9, radius_timeout=3.0)
    ac = SimulatedAc(cfg).start()
    conn.send(ac.port)
    conn.recv()
    conn.send((len(ac.online()), dict(ac.stats)))
    ac.stop(send_stop=False)


def bench_logins(
    count: int, threads: int, radius: tuple[int, int] | None, user: tuple[str, str]
) -> dict[str, Any]:
    parent, child = mp.Pipe()
    proc = mp.get_context("fork").Process(target=_serve, args=(child, radius), daemon=True)
    proc.start()
    port = parent.recv()
    endpoint = AcEndpoint("127.0.0.1", port, profile=PROFILES["huawei-v2"], secret=SECRET, timeout=3.0)
    client = PortalClient(source_host="127.0.0.1")
    ips = [f"10.{(i >> 16) & 0xFF}.{(i >> 8) & 0xFF}.{i & 0xFF}" for i in range(1, count + 1)]
    latencies: list[float] = []
    try:
        start = time.perf_counter()
        with ThreadPoolExecutor(max_workers=threads) as pool:
            results = list(pool.map(lambda ip: client.login(endpoint, ip, user[0], user[1]), ips))
        elapsed = time.perf_counter() - start
        latencies = sorted(r.timings.get("total", 0.0) for r in results)
        ok = sum(r.ok for r in results)
        stats = client.stats
    finally:
        client.close()
        parent.send("stop")
        online, ac_stats = parent.recv()
        proc.join(timeout=10)
    return {
        "rate": count / elapsed, "ok": ok, "online": online, "p50": latencies[len(latencies) // 2],
        "p99": latencies[int(len(latencies) * 0.99) - 1], "retransmitted": stats["retransmitted"],
        "acct_start": ac_stats.get("acct_start", 0), "acct_responses": ac_stats.get("acct_responses", 0),
    }


def main() -> None:
    count = int(sys.argv[1]) if len(sys.argv) > 1 else 3000
    threads = int(sys.argv[2]) if len(sys.argv) > 2 else 50
    req_rate, ack_rate = bench_codec()
    print(f"codec encode+decode (huawei-v2, signed): REQ_AUTH CHAP {req_rate:,.0f}/s, "
          f"ACK_AUTH {ack_rate:,.0f}/s")

    local = bench_logins(count, threads, None, ("13800138000", "123456"))
    print(f"CHAP logins via simulator (local_users): {local['rate']:,.0f}/s  ok={local['ok']}/{count} "
          f"online={local['online']} p50={local['p50'] * 1000:.1f} ms p99={local['p99'] * 1000:.1f} ms "
          f"retransmitted={local['retransmitted']}")

    sys.path.insert(0, str(Path(__file__).resolve().parents[2]))
    try:
        from tests.ac_adapters.freeradius import FREERADIUS_USER, start_freeradius
    except ImportError:
        return
    if not Path("/etc/freeradius/3.0").is_dir():
        print("FreeRADIUS not installed: skipping the RADIUS figure")
        return
    with tempfile.TemporaryDirectory() as tmp:
        server = start_freeradius(Path(tmp))
        try:
            fr = bench_logins(count, threads, (server.auth_port, server.acct_port), FREERADIUS_USER)
        finally:
            server.stop()
    print(f"CHAP logins via simulator → FreeRADIUS (Access-Request + Accounting Start): {fr['rate']:,.0f}/s  "
          f"ok={fr['ok']}/{count} online={fr['online']} p50={fr['p50'] * 1000:.1f} ms "
          f"p99={fr['p99'] * 1000:.1f} ms retransmitted={fr['retransmitted']} "
          f"acct {fr['acct_responses']}/{fr['acct_start']} answered")


if __name__ == "__main__":
    main()
