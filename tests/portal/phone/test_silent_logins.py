"""The bounded silent-login pool: fixed threads, a bounded queue, one job per (AC, MAC), stale
jobs dropped, every outcome counted per AC; and the listener answering "not bound" when the pool
refuses (real Redis, real listener on loopback UDP)."""

from __future__ import annotations

import socket
import threading
import time
from typing import Any

from ac_adapters.codec import decode, mac_attr
from ac_adapters.constants import AttrType, PacketType
from ac_adapters.listener import PortalListener
from portal.aaa.acs import AcRecord, AcRegistry
from portal.aaa.credentials import CredentialStore
from portal.phone.listener_handler import PortalListenerHandler
from portal.phone.silent_logins import SilentLoginQueue
from portal.state import keys
from tests.portal.phone.test_listener_handler import SECRET, ntf, wait_for


def _pool_threads() -> int:
    """This pool's threads alive now (counting every thread of the process failed when an earlier
    test's daemon thread ended in the middle)."""
    return sum(1 for t in threading.enumerate() if t.name.startswith("silent-login-"))


def test_pool_bounds_threads_queue_and_duplicates() -> None:
    release = threading.Event()
    ran: list[tuple[str, str, str]] = []

    def login(ac: str, mac: str, ip: str) -> bool:
        ran.append((ac, mac, ip))
        release.wait(5)
        return mac != "bad"

    before = _pool_threads()
    with SilentLoginQueue(login, workers=2, capacity=3, delay=0.0) as pool:
        assert _pool_threads() == before + 2
        assert pool.offer("ac1", "m0", "10.0.0.0") and pool.offer("ac1", "m1", "10.0.0.1")
        assert wait_for(lambda: len(ran) == 2)             # both workers busy
        offers = [pool.offer("ac1", f"m{i}", f"10.0.0.{i}") for i in range(2, 8)]
        # Three queued; the rest refused at once (no thread, no wait).
        assert offers == [True] * 3 + [False] * 3 and _pool_threads() == before + 2
        assert not pool.offer("ac1", "m0", "10.0.0.99")        # already running
        assert not pool.offer("ac1", "m4", "10.0.0.99")        # already queued
        assert pool.offer("ac2", "m0", "10.0.0.99") is False   # queue still full
        release.set()
        assert wait_for(lambda: pool.stats.get("silent_login.succeeded.ac1") == 5)
        assert pool.offer("ac1", "bad", "10.0.0.50")
        assert wait_for(lambda: pool.stats.get("silent_login.failed.ac1") == 1)
    assert pool.stats == {
        "silent_login.queued.ac1": 6, "silent_login.succeeded.ac1": 5, "silent_login.failed.ac1": 1,
        "silent_login.queue_full.ac1": 3, "silent_login.in_flight.ac1": 2,
        "silent_login.queue_full.ac2": 1,
    }
    assert _pool_threads() == before
    assert not pool.offer("ac1", "late", "10.0.0.51")          # stopped
    assert pool.stats["silent_login.stopped.ac1"] == 1


def test_stale_jobs_are_dropped_and_errors_counted() -> None:
    now = [0.0]
    gate = threading.Event()
    calls: list[str] = []

    def login(ac: str, mac: str, ip: str) -> bool:
        calls.append(mac)
        if mac == "first":
            gate.wait(5)
        if mac == "boom":
            raise RuntimeError("AC unreachable")
        return True

    with SilentLoginQueue(login, workers=1, capacity=4, max_age=5.0, delay=0.0,
                          clock=lambda: now[0]) as pool:
        assert pool.offer("ac", "first", "10.0.0.1")
        assert wait_for(lambda: calls == ["first"])
        assert pool.offer("ac", "stale", "10.0.0.2")
        now[0] = 6.0                    # the AC stopped waiting for this one
        assert pool.offer("ac", "boom", "10.0.0.3")
        gate.set()
        assert wait_for(lambda: pool.stats.get("silent_login.error.ac") == 1)
    assert calls == ["first", "boom"]
    assert pool.stats["silent_login.expired.ac"] == 1


def test_listener_answers_not_bound_when_the_pool_refuses(redis_client: Any) -> None:
    AcRegistry(redis_client).put(AcRecord(name="eag", addresses=("127.0.0.1",), secret=SECRET,
                                          vendor="autelan", mac_auth=True))
    CredentialStore(redis_client).bind_mac("aa:bb:cc:00:00:01", "18900000001", days=7)
    gate = threading.Event()
    pool = SilentLoginQueue(lambda *_a: gate.wait(5), workers=1, capacity=1, delay=0.0).start()
    handler = PortalListenerHandler(redis_client,
                                    on_mac_bound=lambda ac, mac, ip, _b: pool.offer(ac, mac, ip))
    sock = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    sock.bind(("127.0.0.1", 0))
    sock.settimeout(2.0)
    try:
        with PortalListener("127.0.0.1", 0, handler) as listener:
            def ask(ip: str, serial: int) -> int:
                data = bytearray(ntf("autelan", ptype=PacketType.REQ_MACBINDING_INFO, ip=ip, serial=serial,
                                     attrs=(mac_attr(AttrType.USER_MAC, "aa:bb:cc:00:00:01"),)))
                data[16:32] = bytes(16)
                sock.sendto(bytes(data), ("127.0.0.1", listener.port))
                return decode(sock.recvfrom(4096)[0], header=32).err_code

            assert ask("10.0.0.1", 1) == 0          # started
            time.sleep(0.1)
            assert ask("10.0.0.1", 2) == 1          # the same device again: already running
    finally:
        gate.set()
        pool.stop()
        sock.close()
    handler.flush()
    got = {k.decode(): v.decode() for k, v in redis_client.hgetall(keys.ac_stats("eag")).items()}
    assert got["mac_bound"] == "1" and got["mac_not_bound"] == "1"
