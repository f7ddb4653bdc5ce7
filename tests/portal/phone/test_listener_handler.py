"""The portal's listener handler against real Redis, driven through a real listener on loopback."""

from __future__ import annotations

import socket
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import redis

from ac_adapters.codec import Attribute, PortalPacket, decode, encode, ip_attr, mac_attr
from ac_adapters.constants import AttrType, PacketType
from ac_adapters.listener import PortalListener
from ac_adapters.profiles import PROFILES
from portal.aaa.acs import AcRecord, AcRegistry
from portal.aaa.blocklist import Blocklist
from portal.aaa.credentials import CredentialStore
from portal.aaa.sessions import OnlineSession, SessionRegistry
from portal.phone.listener_handler import PortalListenerHandler
from portal.state import keys
from portal.state.embedded import EmbeddedRedis

SECRET = "hq-secret"


@pytest.fixture
def ac_sock() -> Iterator[socket.socket]:
    sock = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    sock.bind(("127.0.0.1", 0))
    sock.settimeout(2.0)
    try:
        yield sock
    finally:
        sock.close()


def record(name: str = "hq", vendor: str = "huawei-v2", **kw: Any) -> AcRecord:
    kw.setdefault("addresses", ("127.0.0.1",))
    return AcRecord(name=name, secret=SECRET, vendor=vendor, **kw)


def ntf(vendor: str = "huawei-v2", *, ptype: int = PacketType.NTF_LOGOUT, ip: str = "10.0.0.7",
        serial: int = 9, attrs: tuple[Any, ...] = (), secret: str = SECRET) -> bytes:
    prof = PROFILES[vendor]
    pkt = PortalPacket(type=ptype, version=prof.version, serial_no=serial, req_id=3, user_ip=ip,
                       attrs=attrs)
    return encode(pkt, header=prof.header, secret=secret.encode())


def wait_for(cond: Any, timeout: float = 3.0) -> bool:
    end = time.monotonic() + timeout
    while time.monotonic() < end:
        if cond():
            return True
        time.sleep(0.01)
    return bool(cond())


def stats(redis_client: Any, name: str) -> dict[str, str]:
    return {k.decode(): v.decode() for k, v in redis_client.hgetall(keys.ac_stats(name)).items()}


def test_ntf_logout_closes_session_and_records_stats(redis_client: Any, ac_sock: socket.socket) -> None:
    AcRegistry(redis_client).put(record())
    closed: list[tuple[str, str, str | None, str]] = []
    handler = PortalListenerHandler(
        redis_client, on_session_closed=lambda *a: closed.append(a))
    with PortalListener("127.0.0.1", 0, handler) as listener:
        data = ntf(attrs=(mac_attr(AttrType.USER_MAC, "AA-BB-CC-00-11-22"),))
        before = time.time()
        ac_sock.sendto(data, ("127.0.0.1", listener.port))
        reply = decode(ac_sock.recvfrom(4096)[0], header=32, secret=SECRET.encode(),
                       request_authenticator=data[16:32])
        assert reply.type == PacketType.ACK_NTF_LOGOUT and reply.serial_no == 9
        assert wait_for(lambda: closed == [("hq", "10.0.0.7", "aa:bb:cc:00:11:22", "ntf_logout")])
    assert handler.flush()
    got = stats(redis_client, "hq")
    assert got["ntf_logout"] == "1"
    assert float(got["last_ntf_logout_at"]) >= before - 1
    assert got["last_packet_at"] == got["last_ntf_logout_at"]


def test_portal_sources_and_drop_statistics(redis_client: Any, ac_sock: socket.socket) -> None:
    # The AC's address is 10.5.5.5, but its portal packets come from 127.0.0.1 (NAT, spec §6):
    # that is what portal_sources says. Nothing else vouches for a packet, BAS-IP included.
    AcRegistry(redis_client).put(record("far", "h3c", addresses=("10.5.5.5",),
                                        portal_sources=("127.0.0.1",)))
    handler = PortalListenerHandler(redis_client)
    stranger = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    stranger.bind(("127.0.0.2", 0))
    with PortalListener("127.0.0.1", 0, handler) as listener, stranger:
        good = ntf("h3c", attrs=(ip_attr(AttrType.BAS_IP, "10.5.5.5"),))
        ac_sock.sendto(good, ("127.0.0.1", listener.port))
        assert decode(ac_sock.recvfrom(4096)[0], header=32).type == PacketType.ACK_NTF_LOGOUT
        bad = ntf("h3c", attrs=(ip_attr(AttrType.BAS_IP, "10.5.5.5"),), secret="wrong")
        ac_sock.sendto(bad, ("127.0.0.1", listener.port))
        stranger.sendto(good, ("127.0.0.1", listener.port))     # right bytes, wrong source
        assert wait_for(lambda: listener.dropped_total == 2)
        assert listener.drops == {"bad_authenticator": 1, "unknown_ac": 1}
    handler.flush()
    assert stats(redis_client, "far")["bad_auth"] == "1"
    glob = {k.decode(): v.decode() for k, v in redis_client.hgetall(keys.listener_stats()).items()}
    assert glob["unknown_ac"] == "1" and glob["last_unknown_source"] == "127.0.0.2"
    assert [p.name for p in handler.acs_at("127.0.0.1")] == ["far"]
    assert handler.acs_at("10.5.5.5") == []     # its own address is not a portal source now


def test_disabled_ac_is_unknown(redis_client: Any, ac_sock: socket.socket) -> None:
    AcRegistry(redis_client).put(record(enabled=False))
    handler = PortalListenerHandler(redis_client)
    with PortalListener("127.0.0.1", 0, handler) as listener:
        ac_sock.sendto(ntf(), ("127.0.0.1", listener.port))
        assert wait_for(lambda: listener.drops.get("unknown_ac") == 1)
    assert handler.acs_at("127.0.0.1") == []


def test_registry_edits_apply_after_cache_ttl(redis_client: Any) -> None:
    now = [0.0]
    registry = AcRegistry(redis_client)
    registry.put(record())
    handler = PortalListenerHandler(redis_client, cache_ttl=5.0, clock=lambda: now[0])
    [peer] = handler.acs_at("127.0.0.1")
    assert peer.secret == SECRET.encode() and peer.port == 2000 and peer.sources == ("127.0.0.1",)
    registry.put(record(enabled=False))
    assert handler.acs_at("127.0.0.1") != []      # still cached
    now[0] = 6.0
    assert handler.acs_at("127.0.0.1") == []


def test_mac_query_answers_from_bindings(redis_client: Any, ac_sock: socket.socket) -> None:
    registry = AcRegistry(redis_client)
    registry.put(record("silent", "autelan", mac_auth=True))
    registry.put(record("plain", "h3c", addresses=("127.0.0.2",)))
    creds = CredentialStore(redis_client)
    creds.bind_mac("aa:bb:cc:00:00:01", "13800138000", days=30)
    creds.bind_mac("aa:bb:cc:00:00:03", "13800138001", days=30)
    Blocklist(redis_client).block("mac", "aa:bb:cc:00:00:03", "stolen")
    bound_calls: list[tuple[str, str, str, object]] = []
    handler = PortalListenerHandler(
        redis_client, on_mac_bound=lambda *a: bound_calls.append(a))
    plain_sock = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    plain_sock.bind(("127.0.0.2", 0))
    plain_sock.settimeout(2.0)
    try:
        with PortalListener("127.0.0.1", 0, handler) as listener:
            def ask(sock: socket.socket, vendor: str, mac: str) -> int:
                data = bytearray(ntf(vendor, ptype=PacketType.REQ_MACBINDING_INFO, ip="10.0.0.50",
                                     attrs=(mac_attr(AttrType.USER_MAC, mac),)))
                if vendor == "autelan":
                    data[16:32] = bytes(16)     # unsigned, as EAG sends it (§1.2)
                sock.sendto(bytes(data), ("127.0.0.1", listener.port))
                reply = decode(sock.recvfrom(4096)[0], header=32)
                assert reply.type == PacketType.ACK_MACBINDING_INFO
                return reply.err_code
            assert ask(ac_sock, "autelan", "AA:BB:CC:00:00:01") == 0       # bound
            assert ask(ac_sock, "autelan", "aa:bb:cc:00:00:02") == 1       # never bound
            assert ask(ac_sock, "autelan", "aa:bb:cc:00:00:03") == 1       # blocked by the NOC
            assert ask(plain_sock, "h3c", "aa:bb:cc:00:00:01") == 1        # AC without silent login
    finally:
        plain_sock.close()
    assert [(c[0], c[1], c[2]) for c in bound_calls] == [("silent", "aa:bb:cc:00:00:01", "10.0.0.50")]
    handler.flush()
    assert stats(redis_client, "silent")["mac_query"] == "3"
    assert stats(redis_client, "silent")["mac_bound"] == "1"


def test_mac_query_says_not_bound_where_the_venue_forbids_silent_login(
    redis_client: Any, ac_sock: socket.socket
) -> None:
    AcRegistry(redis_client).put(record("silent", "autelan", mac_auth=True))
    CredentialStore(redis_client).bind_mac("aa:bb:cc:00:00:01", "13800138000", days=30)
    asked: list[tuple[str, str]] = []
    allowed = {"Mall": True, "Library": False}

    def venue_allows(ac_name: str, ssid: str) -> bool:
        asked.append((ac_name, ssid))
        return allowed[ssid]

    bound_calls: list[tuple[str, str, str, object]] = []
    handler = PortalListenerHandler(redis_client, on_mac_bound=lambda *a: bound_calls.append(a),
                                    silent_login_allowed=venue_allows)
    with PortalListener("127.0.0.1", 0, handler) as listener:
        def ask(ssid: str) -> int:
            data = bytearray(ntf("autelan", ptype=PacketType.REQ_MACBINDING_INFO, ip="10.0.0.50",
                                 attrs=(mac_attr(AttrType.USER_MAC, "aa:bb:cc:00:00:01"),
                                        Attribute(AttrType.SSID, ssid.encode()))))
            data[16:32] = bytes(16)
            ac_sock.sendto(bytes(data), ("127.0.0.1", listener.port))
            return decode(ac_sock.recvfrom(4096)[0], header=32).err_code
        assert ask("Library") == 1       # bound, but this venue does not allow silent login
        assert ask("Mall") == 0
    assert asked == [("silent", "Library"), ("silent", "Mall")]
    assert len(bound_calls) == 1         # the silent login is started only where allowed


def test_user_logout_notice_closes_session(redis_client: Any, ac_sock: socket.socket) -> None:
    AcRegistry(redis_client).put(record("eag", "autelan"))
    closed: list[tuple[str, str, str | None, str]] = []
    handler = PortalListenerHandler(
        redis_client, on_session_closed=lambda *a: closed.append(a))
    with PortalListener("127.0.0.1", 0, handler) as listener:
        for ptype in (PacketType.NTF_USER_LOGON, PacketType.NTF_USER_LOGOUT):
            data = bytearray(ntf("autelan", ptype=ptype,
                                 attrs=(mac_attr(AttrType.USER_MAC, "aa:bb:cc:00:00:09"),)))
            data[16:32] = bytes(16)
            ac_sock.sendto(bytes(data), ("127.0.0.1", listener.port))
        assert wait_for(lambda: closed == [("eag", "10.0.0.7", "aa:bb:cc:00:00:09", "user_logout")])
    handler.flush()
    got = stats(redis_client, "eag")
    assert got["user_logon"] == "1" and got["user_logout"] == "1"


def test_user_sync_lists_sessions_and_heartbeat_peers(redis_client: Any) -> None:
    registry = AcRegistry(redis_client)
    registry.put(record("sync", "huawei-v2", user_sync=True))
    registry.put(record("hb", "h3c", addresses=("127.0.0.2",)))    # h3c profile: heartbeat on
    registry.put(record("quiet", "cmcc", addresses=("127.0.0.3",)))
    registry.put(record("off", "h3c", addresses=("127.0.0.4",), enabled=False))
    sessions = SessionRegistry(redis_client)
    for i, ip in enumerate(["10.0.0.2", "10.0.0.1", None]):
        sessions.open(OnlineSession(ac="sync", session_id=f"s{i}", phone=f"1380013800{i}", ip=ip))
    sessions.open(OnlineSession(ac="hb", session_id="x", phone="13900000000", ip="10.9.0.1"))
    handler = PortalListenerHandler(redis_client)
    peers = {p.name: p for p in handler.peers_wanting_heartbeat()}
    assert sorted(peers) == ["hb", "sync"]
    assert peers["sync"].user_sync and not peers["sync"].heartbeat
    assert peers["hb"].heartbeat
    assert handler.online_user_ips(peers["sync"]) == ["10.0.0.1", "10.0.0.2"]


def test_redis_outage_keeps_answering_cached_acs(tmp_path: Path, ac_sock: socket.socket) -> None:
    server = EmbeddedRedis(tmp_path / "r", port=0).start()
    client = redis.Redis.from_url(server.url, socket_timeout=0.5, socket_connect_timeout=0.5)
    try:
        AcRegistry(client).put(record())
        handler = PortalListenerHandler(client, cache_ttl=0.0)     # every lookup goes to Redis
        with PortalListener("127.0.0.1", 0, handler) as listener:
            ac_sock.sendto(ntf(serial=1), ("127.0.0.1", listener.port))
            ac_sock.recvfrom(4096)
            server.stop()
            for serial in (2, 3):
                ac_sock.sendto(ntf(serial=serial), ("127.0.0.1", listener.port))
                reply = decode(ac_sock.recvfrom(4096)[0], header=32)
                assert (reply.type, reply.serial_no) == (PacketType.ACK_NTF_LOGOUT, serial)
            assert handler.stats["state_unavailable"] >= 2
            # An AC never seen before cannot be resolved: dropped, counted.
            other = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
            other.bind(("127.0.0.5", 0))
            try:
                other.sendto(ntf(), ("127.0.0.1", listener.port))
                assert wait_for(lambda: listener.drops.get("handler_error") == 1)
            finally:
                other.close()
        assert not handler.flush()      # kept for later, not lost, not raised
    finally:
        client.close()
        server.stop()
