"""A plan's ``max_sessions`` holds when devices authorise at the same instant.

The slot is reserved atomically at Access-Accept (portal/aaa/device_slots.py), in the Lua step that
spends the login token; the device's Accounting-Start takes it over, a Stop of that login frees
it, and with no accounting it expires after ``quota.slot_hold``.

Real parts: ``citywifi radius`` processes (2 workers; and two nodes on one Redis), 20 devices of
one phone sending real UDP Access-Requests at once from their own sockets (so the kernel spreads
them over both workers), and Debian's radclient sending 20 in parallel.
"""

from __future__ import annotations

import json
import socket
import threading
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from pyrad.packet import AccessAccept

from portal.aaa.blocklist import normalise_mac
from portal.aaa.credentials import CredentialStore
from portal.aaa.device_slots import RELEASE_LUA, RESERVE_LUA
from portal.aaa.grants import parse_class
from portal.aaa.plans import Plan, PlanStore
from portal.state import keys
from portal.state.embedded import EmbeddedRedis
from radius.wire import Attr, Code
from tests.radius.serverkit import (
    HAVE_RADCLIENT,
    PHONE,
    SECRET,
    access_request,
    acct_request,
    exchange,
    register,
)
from tests.radius.test_token_replay import Node

HOLD = 8.0          # quota.slot_hold of the nodes (seconds)
DEVICES = 20
CLASS_KEY = "device-slots-test-class-key-0123456789"


def mac_of(i: int) -> str:
    return f"02-00-5e-00-{i // 256:02x}-{i % 256:02x}"


def limit_plan(redis_client: Any, max_sessions: int = 2) -> None:
    register(redis_client)
    store = PlanStore(redis_client)
    store.put(Plan(name="duo", session_timeout=7200, interim_interval=300, max_sessions=max_sessions))
    store.assign("default", "", "duo")


@pytest.fixture(scope="module")
def nodes(redis_server: EmbeddedRedis, tmp_path_factory: pytest.TempPathFactory) -> Iterator[list[Node]]:
    import redis

    root = tmp_path_factory.mktemp("slot-nodes")
    started = [Node(redis_server.url, root / f"node{i}", CITYWIFI_RADIUS_WORKERS="2",
                    CITYWIFI_QUOTA_SLOT_HOLD=str(HOLD), CITYWIFI_RADIUS_CLASS_KEY=CLASS_KEY)
               for i in range(2)]
    try:
        with redis.Redis.from_url(redis_server.url) as client:
            register(client)
        for node in started:
            node.wait_ready()
        yield started
    finally:
        for node in started:
            node.stop()


def login_request(token: str, mac: str) -> bytes:
    pkt = access_request(password=token, User_Name=PHONE, Calling_Station_Id=mac,
                         NAS_IP_Address="127.0.0.1")
    return bytes(pkt.RequestPacket())


def burst(ports: list[int], requests: list[bytes]) -> list[bytes | None]:
    """Send every request at the same instant, each from its own socket (its own source port),
    request i to ports[i % len(ports)]; the replies in order (None = no reply)."""
    replies: list[bytes | None] = [None] * len(requests)
    ready = threading.Barrier(len(requests))

    def one(i: int) -> None:
        with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as sock:
            sock.bind(("127.0.0.1", 0))
            ready.wait()
            replies[i] = exchange(ports[i % len(ports)], requests[i], sock=sock, timeout=5.0)

    threads = [threading.Thread(target=one, args=(i,)) for i in range(len(requests))]
    for t in threads:
        t.start()
    for t in threads:
        t.join(30)
    return replies


def tokens_for(redis_client: Any, n: int, start: int = 0) -> list[tuple[str, str]]:
    store = CredentialStore(redis_client)
    return [(store.mint_login_token(PHONE, mac=mac_of(i)).password, mac_of(i))
            for i in range(start, start + n)]


def accepted(replies: list[bytes | None]) -> list[int]:
    assert all(r is not None for r in replies), "a request got no reply"
    return [i for i, r in enumerate(replies) if r is not None and r[0] == Code.ACCESS_ACCEPT]


def class_of(reply: bytes) -> bytes:
    pos = 20
    while pos < len(reply):
        kind, length = reply[pos], reply[pos + 1]
        if kind == Attr.CLASS:
            return reply[pos + 2 : pos + length]
        pos += length
    raise AssertionError("no Class in the Accept")


def accounting(port: int, status: str, mac: str, cls: bytes, sid: str) -> bytes | None:
    pkt = acct_request(User_Name=PHONE, Acct_Status_Type=status, Acct_Session_Id=sid,
                       Calling_Station_Id=mac, NAS_IP_Address="127.0.0.1", Class=cls,
                       Acct_Session_Time=0 if status == "Start" else 30)
    return exchange(port, bytes(pkt.RequestPacket()), timeout=3.0)


def test_twenty_simultaneous_logins_on_two_workers_get_exactly_two_accepts(
        nodes: list[Node], redis_client: Any) -> None:
    limit_plan(redis_client)
    logins = tokens_for(redis_client, DEVICES)
    replies = burst([nodes[0].auth_port], [login_request(t, m) for t, m in logins])
    winners = accepted(replies)
    assert len(winners) == 2, [r[0] if r else None for r in replies]
    refused = [r for r in replies if r is not None and r[0] == Code.ACCESS_REJECT]
    assert len(refused) == DEVICES - 2
    assert all("同时在线设备已达上限".encode() in r for r in refused)
    held = redis_client.hgetall(keys.device_slots(PHONE))
    assert sorted(held) == sorted(normalise_mac(logins[i][1]).encode() for i in winners), held
    # A refused device's token was not spent (the refusal changed nothing).
    loser = next(i for i in range(DEVICES) if i not in winners)
    assert redis_client.hexists(keys.login_tokens(PHONE), logins[loser][0])

    # The token replay (same AC, device and token, new source port) repeats the Accept and takes
    # no second slot: a third device is still refused.
    first = winners[0]
    again = burst([nodes[1].auth_port], [login_request(*logins[first])])[0]
    assert again is not None and again[0] == Code.ACCESS_ACCEPT
    assert class_of(again) == class_of(replies[first])  # type: ignore[arg-type]
    assert len(redis_client.hgetall(keys.device_slots(PHONE))) == 2
    third = burst([nodes[1].auth_port], [login_request(*logins[loser])])[0]
    assert third is not None and third[0] == Code.ACCESS_REJECT

    # Accounting-Start: the session takes the slot over (reservation gone, still counted).
    port = nodes[0].acct_port
    cls = class_of(replies[first])  # type: ignore[arg-type]
    assert accounting(port, "Start", logins[first][1], cls, "s-1") is not None
    held = redis_client.hgetall(keys.device_slots(PHONE))
    assert len(held) == 1 and len(redis_client.hgetall(keys.phone_sessions(PHONE))) == 1
    third = burst([nodes[0].auth_port], [login_request(*logins[loser])])[0]
    assert third is not None and third[0] == Code.ACCESS_REJECT

    # Stop: the slot is free again, and the refused device (its token intact) gets in.
    assert accounting(port, "Stop", logins[first][1], cls, "s-1") is not None
    assert redis_client.hlen(keys.phone_sessions(PHONE)) == 0
    third = burst([nodes[1].auth_port], [login_request(*logins[loser])])[0]
    assert third is not None and third[0] == Code.ACCESS_ACCEPT


def test_twenty_simultaneous_logins_across_two_nodes_and_expiry(nodes: list[Node],
                                                               redis_client: Any) -> None:
    limit_plan(redis_client)
    logins = tokens_for(redis_client, DEVICES)
    ports = [nodes[0].auth_port, nodes[1].auth_port]
    replies = burst(ports, [login_request(t, m) for t, m in logins])
    winners = accepted(replies)
    assert len(winners) == 2
    # No accounting follows: after slot_hold the reservations lapse and two more devices get in.
    losers = [i for i in range(DEVICES) if i not in winners]
    time.sleep(HOLD + 0.5)
    later = burst(ports, [login_request(*logins[i]) for i in losers[:6]])
    assert len(accepted(later)) == 2


def test_twenty_bound_devices_at_once_get_exactly_two_accepts(nodes: list[Node],
                                                                redis_client: Any) -> None:
    """Bound devices (per-MAC credentials) spend no token: their Accepts reserve the slot in a
    separate EVALSHA the worker encodes itself (radius/batch_reads.py). The same limit holds,
    across both nodes, and each reservation names its Accept's login (the Class nonce)."""
    limit_plan(redis_client)
    redis_client.script_flush()   # the workers' first reservations meet NOSCRIPT and reload
    store = CredentialStore(redis_client)
    macs = [mac_of(400 + i) for i in range(DEVICES)]
    secrets = [store.bind_mac(m, PHONE, days=30).password for m in macs]
    before = time.time()
    replies = burst([nodes[0].auth_port, nodes[1].auth_port],
                    [login_request(p, m) for p, m in zip(secrets, macs, strict=True)])
    winners = accepted(replies)
    assert len(winners) == 2, [r[0] if r else None for r in replies]
    refused = [r for r in replies if r is not None and r[0] == Code.ACCESS_REJECT]
    assert len(refused) == DEVICES - 2
    assert all("同时在线设备已达上限".encode() in r for r in refused)
    held = redis_client.hgetall(keys.device_slots(PHONE))
    assert sorted(held) == sorted(normalise_mac(macs[i]).encode() for i in winners), held
    for i in winners:
        info = parse_class(class_of(replies[i]))  # type: ignore[arg-type]
        assert info is not None
        expiry, _, login = held[normalise_mac(macs[i]).encode()].decode().partition("|")
        assert login == info.login
        assert before + HOLD - 1 <= float(expiry) <= time.time() + HOLD + 1
    # A winner asking again keeps its own slot (it does not count itself): still accepted.
    again = burst([nodes[1].auth_port], [login_request(secrets[winners[0]], macs[winners[0]])])[0]
    assert again is not None and again[0] == Code.ACCESS_ACCEPT
    assert len(redis_client.hgetall(keys.device_slots(PHONE))) == 2


@pytest.mark.needs_radclient
@pytest.mark.skipif(not HAVE_RADCLIENT, reason="radclient not installed")
def test_radclient_twenty_in_parallel_gets_exactly_two_accepts(nodes: list[Node], redis_client: Any,
                                                               tmp_path: Path) -> None:
    import subprocess

    limit_plan(redis_client)
    logins = tokens_for(redis_client, DEVICES, start=100)
    requests = "\n".join(
        f'User-Name="{PHONE}", User-Password="{t}", Calling-Station-Id="{m}", '
        "Message-Authenticator=0x00\n" for t, m in logins)
    out = subprocess.run(["radclient", "-p", str(DEVICES), "-t", "3", "-r", "1",
                          f"127.0.0.1:{nodes[1].auth_port}", "auth", SECRET],
                         input=requests, capture_output=True, text=True, timeout=60)
    text = out.stdout + out.stderr
    assert text.count("Received Access-Accept") == 2, text
    assert text.count("Received Access-Reject") == DEVICES - 2, text


# --- the scripts themselves (real Redis) ----------------------------------------------------

def test_reservation_counts_sessions_and_holds_and_skips_the_own_device(redis_client: Any) -> None:
    reserve = redis_client.register_script(RESERVE_LUA)
    release = redis_client.register_script(RELEASE_LUA)
    ses, slots = keys.phone_sessions(PHONE), keys.device_slots(PHONE)
    now = 1_000_000.0
    mac = [f"02:00:00:00:00:0{i}" for i in range(6)]

    def ask(i: int, at: float = now, login: str = "aa") -> Any:
        return reserve(keys=[ses, slots], args=[2, mac[i], mac[i], at, 30, 60, login])

    def session(field: str, i: int, updated: float) -> None:
        redis_client.hset(ses, field, json.dumps({"m": mac[i], "u": int(updated), "ii": 300}))

    def free(i: int, login: str, kind: str, field: str = "ac1|s9") -> Any:
        return release(keys=[slots, ses], args=[mac[i], login, field, kind])

    session("ac1|s0", 1, now)                        # device 1 online
    assert ask(2) == [b"ok"]                         # device 2 reserves the second slot
    assert ask(3) == [b"full", 2]
    session("ac1|s0", 1, now - 700)
    assert ask(3, login="bb") == [b"ok"]             # a silent session (2 × interim + grace) is gone
    assert ask(4) == [b"full", 2]
    assert ask(2) == [b"ok"]                         # a device's own reservation does not count
    # A Stop of another login leaves the reservation; one of the same login frees it.
    assert free(3, "cc", "stop") == 0
    assert free(3, "bb", "stop") == 1
    # A Start frees it only once the accounting script really stored the session.
    assert ask(3, login="dd") == [b"ok"]
    assert free(3, "dd", "start") == 0
    session("ac1|s9", 3, now)
    assert free(3, "dd", "start") == 1
    # Device 3 online + device 2 reserved: full; a device with both a session and a
    # reservation counts once.
    assert ask(4) == [b"full", 2]
    assert ask(3) == [b"ok"]
    assert ask(4) == [b"full", 2]
    # Past the hold, reservations lapse (and are dropped when counted); the session stays.
    assert ask(4, at=now + 31) == [b"ok"]
    assert redis_client.hget(slots, mac[2]) is None
    assert 0 < redis_client.pttl(slots) <= 31_000


def test_accept_class_names_the_reservation_login(nodes: list[Node], redis_client: Any) -> None:
    """The reservation's login is the nonce of the Accept's Class (a Stop frees it by login)."""
    limit_plan(redis_client, max_sessions=1)
    token, mac = tokens_for(redis_client, 1, start=300)[0]
    reply = burst([nodes[0].auth_port], [login_request(token, mac)])[0]
    assert reply is not None and reply[0] == AccessAccept
    info = parse_class(class_of(reply))
    assert info is not None
    (value,) = redis_client.hgetall(keys.device_slots(PHONE)).values()
    assert value.decode().endswith("|" + info.login)
