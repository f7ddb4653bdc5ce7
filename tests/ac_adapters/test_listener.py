"""The portal-side listener over real loopback UDP sockets (spec §1.2, §1.4, §1.9, §1.10.5, §2)."""

from __future__ import annotations

import dataclasses
import ipaddress
import socket
import threading
import time
from collections.abc import Callable, Iterator

import pytest

from ac_adapters.codec import (
    Attribute,
    PortalPacket,
    decode,
    encode,
    ip_attr,
    mac_attr,
    verify_authenticator,
)
from ac_adapters.constants import AttrType, PacketType
from ac_adapters.listener import AcPeer, BaseListenerHandler, PortalListener, user_sync_packets
from ac_adapters.profiles import PROFILES, HeaderForm

SECRET = b"s3cret-ac"


class RecordingHandler(BaseListenerHandler):
    """Peers by the address they send from (several may share one); records every call."""

    def __init__(self, *peers_by_address: tuple[str, AcPeer]) -> None:
        self.by_address = [(addr, dataclasses.replace(p, sources=(addr,))) for addr, p in peers_by_address]
        self.calls: list[tuple[str, str, object]] = []
        self.bound: set[str] = set()
        self.online: dict[str, list[str] | None] = {}
        self.heartbeat_peers: list[AcPeer] = []
        self.fail_on: set[str] = set()
        self.drops: list[tuple[str | None, str, str]] = []
        self.markers: dict[str, str] = {}       # user IP → the login online there
        self.ended: set[str] = set()            # user IPs whose accounting session has ended
        self.event = threading.Event()

    def acs_at(self, source_ip: str) -> list[AcPeer]:
        return [p for addr, p in self.by_address if addr == source_ip]

    def _record(self, kind: str, ac: AcPeer, what: object) -> None:
        if kind in self.fail_on:
            raise RuntimeError(f"{kind} failed on purpose")
        self.calls.append((kind, ac.name, what))
        self.event.set()

    def session_marker(self, ac: AcPeer, packet: PortalPacket) -> str | None:
        return self.markers.get(packet.user_ip)

    def logout_corroborated(self, ac: AcPeer, packet: PortalPacket) -> bool:
        return packet.user_ip in self.ended

    def on_unconfirmed_logout(self, ac: AcPeer, packet: PortalPacket) -> None:
        self._record("unconfirmed_logout", ac, packet.user_ip)

    def on_ntf_logout(self, ac: AcPeer, packet: PortalPacket) -> None:
        self._record("ntf_logout", ac, packet.user_ip)
        self.markers.pop(packet.user_ip, None)      # the login is over (unless _record failed)

    def on_mac_query(self, ac: AcPeer, mac: str, packet: PortalPacket) -> bool:
        self._record("mac_query", ac, mac)
        return mac in self.bound

    def on_user_logon(self, ac: AcPeer, packet: PortalPacket) -> None:
        self._record("user_logon", ac, packet.user_ip)

    def on_user_logout(self, ac: AcPeer, packet: PortalPacket) -> None:
        self._record("user_logout", ac, packet.user_ip)

    def on_user_sync_reply(self, ac: AcPeer, offline_ips: list[str]) -> None:
        self._record("user_sync_reply", ac, offline_ips)

    def online_user_ips(self, ac: AcPeer) -> list[str] | None:
        return self.online.get(ac.name)

    def peers_wanting_heartbeat(self) -> list[AcPeer]:
        return list(self.heartbeat_peers)

    def on_drop(self, ac: AcPeer | None, source_ip: str, reason: str) -> None:
        self.drops.append((ac.name if ac else None, source_ip, reason))

    def kinds(self, kind: str) -> list[object]:
        return [what for k, _, what in self.calls if k == kind]


def peer(name: str, flavour: str, host: str = "127.0.0.1", **kw: object) -> AcPeer:
    return AcPeer(name=name, profile=PROFILES[flavour], secret=SECRET, host=host, **kw)  # type: ignore[arg-type]


@pytest.fixture
def ac_sock() -> Iterator[socket.socket]:
    sock = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    sock.bind(("127.0.0.1", 0))
    sock.settimeout(2.0)
    try:
        yield sock
    finally:
        sock.close()


def start_listener(handler: RecordingHandler, **kw: object) -> PortalListener:
    return PortalListener("127.0.0.1", 0, handler, **kw).start()  # type: ignore[arg-type]


def ntf(flavour: str, *, serial: int = 0x1234, req_id: int = 0x0042, ip: str = "10.0.0.7",
        ptype: int = PacketType.NTF_LOGOUT, attrs: tuple[Attribute, ...] = (), pap: int = 1,
        secret: bytes = SECRET) -> bytes:
    prof = PROFILES[flavour]
    pkt = PortalPacket(type=ptype, version=prof.version, pap_chap=pap, serial_no=serial,
                       req_id=req_id, user_ip=ip, attrs=attrs)
    return encode(pkt, header=prof.header, secret=secret)


def wait_for(cond: Callable[[], bool], timeout: float = 3.0) -> bool:
    end = time.monotonic() + timeout
    while time.monotonic() < end:
        if cond():
            return True
        time.sleep(0.01)
    return cond()


def no_reply(sock: socket.socket, wait: float = 0.3) -> bool:
    sock.settimeout(wait)
    try:
        sock.recvfrom(4096)
    except TimeoutError:
        return True
    finally:
        sock.settimeout(2.0)
    return False


EXPECTED_REPLY = {
    "huawei-v2": PacketType.ACK_NTF_LOGOUT, "huawei-v1": PacketType.ACK_NTF_LOGOUT,
    "h3c": PacketType.ACK_NTF_LOGOUT, "cmcc": PacketType.ACK_LOGOUT,
    "ruijie": PacketType.ACK_LOGOUT, "hanming": PacketType.ACK_LOGOUT,
    "autelan": PacketType.ACK_LOGOUT,
}


@pytest.mark.parametrize("flavour", sorted(EXPECTED_REPLY))
def test_ntf_logout_reply_per_flavour(flavour: str, ac_sock: socket.socket) -> None:
    handler = RecordingHandler(("127.0.0.1", peer("ac1", flavour)))
    with start_listener(handler) as listener:
        data = ntf(flavour, attrs=(mac_attr(AttrType.USER_MAC, "aa:bb:cc:dd:ee:01"),))
        ac_sock.sendto(data, ("127.0.0.1", listener.port))
        raw, addr = ac_sock.recvfrom(4096)
        assert addr[1] == listener.port
        prof = PROFILES[flavour]
        reply = decode(raw, header=prof.header)
        assert reply.type == EXPECTED_REPLY[flavour]
        assert (reply.serial_no, reply.req_id, reply.user_ip) == (0x1234, 0x0042, "10.0.0.7")
        assert reply.pap_chap == 1 and reply.version == prof.version and reply.err_code == 0
        if prof.header is HeaderForm.LONG:
            # §1.2: a response, signed with the NTF's authenticator.
            assert verify_authenticator(raw, SECRET, data[16:32])
            assert not verify_authenticator(raw, SECRET, bytes(16))
            assert not verify_authenticator(raw, b"other", data[16:32])
        else:
            assert len(raw) == 16
        assert wait_for(lambda: handler.kinds("ntf_logout") == ["10.0.0.7"])
        assert listener.stats["handled.ntf_logout"] == 1


def test_bas_ip_chooses_among_acs_sharing_a_source(ac_sock: socket.socket) -> None:
    # Two ACs send from 127.0.0.1 (one NAT address): "far" has BAS-IP 10.20.0.1, "near" has the
    # shared address as its BAS-IP. The BAS-IP the packet names (in that AC's header form) picks.
    far = peer("far", "h3c", bas_ip="10.20.0.1")
    near = peer("near", "cmcc", bas_ip="127.0.0.1")
    handler = RecordingHandler(("127.0.0.1", far), ("127.0.0.1", near))
    with start_listener(handler) as listener:
        data = ntf("h3c", attrs=(ip_attr(AttrType.BAS_IP, "10.20.0.1"),))
        ac_sock.sendto(data, ("127.0.0.1", listener.port))
        reply = decode(ac_sock.recvfrom(4096)[0], header=32, secret=SECRET,
                       request_authenticator=data[16:32])
        assert reply.type == PacketType.ACK_NTF_LOGOUT
        assert wait_for(lambda: handler.calls != [])
        assert handler.calls == [("ntf_logout", "far", "10.0.0.7")]
        # An unknown BAS-IP falls back to the AC whose BAS-IP is the source address.
        data = ntf("cmcc", attrs=(ip_attr(AttrType.BAS_IP, "10.99.0.1"),))
        ac_sock.sendto(data, ("127.0.0.1", listener.port))
        assert decode(ac_sock.recvfrom(4096)[0], header=16).type == PacketType.ACK_LOGOUT
        assert wait_for(lambda: len(handler.calls) == 2)
        assert handler.calls[1][1] == "near"


def test_bas_ip_does_not_vouch_for_a_foreign_source(ac_sock: socket.socket) -> None:
    # The AC sends from 10.20.0.1; a packet from 127.0.0.1 naming its BAS-IP is not its packet.
    handler = RecordingHandler(("10.20.0.1", peer("far", "cmcc", bas_ip="10.20.0.1")))
    with start_listener(handler) as listener:
        ac_sock.sendto(ntf("cmcc", attrs=(ip_attr(AttrType.BAS_IP, "10.20.0.1"),)),
                       ("127.0.0.1", listener.port))
        assert no_reply(ac_sock)
        assert wait_for(lambda: listener.drops == {"unknown_ac": 1})
        assert handler.calls == []


def test_several_acs_at_one_source_and_no_bas_ip_to_choose_is_dropped(ac_sock: socket.socket) -> None:
    handler = RecordingHandler(("127.0.0.1", peer("a", "cmcc", bas_ip="10.0.0.1")),
                               ("127.0.0.1", peer("b", "cmcc", bas_ip="10.0.0.2")))
    with start_listener(handler) as listener:
        ac_sock.sendto(ntf("cmcc"), ("127.0.0.1", listener.port))
        ac_sock.sendto(ntf("cmcc", attrs=(ip_attr(AttrType.BAS_IP, "10.0.0.3"),)),
                       ("127.0.0.1", listener.port))
        assert no_reply(ac_sock)
        assert wait_for(lambda: listener.drops == {"ambiguous_ac": 2})
        ac_sock.sendto(ntf("cmcc", attrs=(ip_attr(AttrType.BAS_IP, "10.0.0.2"),)),
                       ("127.0.0.1", listener.port))
        assert decode(ac_sock.recvfrom(4096)[0], header=16).type == PacketType.ACK_LOGOUT
        assert wait_for(lambda: handler.calls == [("ntf_logout", "b", "10.0.0.7")])


def test_unknown_ac_dropped_and_counted(ac_sock: socket.socket) -> None:
    handler = RecordingHandler(("127.0.0.9", peer("other", "huawei-v2")))
    with start_listener(handler) as listener:
        for _ in range(3):
            ac_sock.sendto(ntf("huawei-v2"), ("127.0.0.1", listener.port))
        assert no_reply(ac_sock)
        assert wait_for(lambda: listener.drops.get("unknown_ac") == 3)
        assert listener.dropped_total == 3 and handler.calls == []
        assert handler.drops == [(None, "127.0.0.1", "unknown_ac")] * 3


def test_bad_authenticator_dropped_and_counted(ac_sock: socket.socket) -> None:
    handler = RecordingHandler(("127.0.0.1", peer("ac1", "huawei-v2")))
    with start_listener(handler) as listener:
        ac_sock.sendto(ntf("huawei-v2", secret=b"wrong"), ("127.0.0.1", listener.port))
        tampered = bytearray(ntf("huawei-v2"))
        tampered[9] ^= 1        # UserIP changed after signing
        ac_sock.sendto(bytes(tampered), ("127.0.0.1", listener.port))
        assert no_reply(ac_sock)
        assert wait_for(lambda: listener.drops.get("bad_authenticator") == 2)
        assert handler.calls == []
        # The listener is still alive and answers the genuine one.
        ac_sock.sendto(ntf("huawei-v2"), ("127.0.0.1", listener.port))
        assert decode(ac_sock.recvfrom(4096)[0], header=32).type == PacketType.ACK_NTF_LOGOUT


def test_duplicate_ntf_answered_twice_handled_once(ac_sock: socket.socket) -> None:
    handler = RecordingHandler(("127.0.0.1", peer("ac1", "huawei-v2")))
    with start_listener(handler) as listener:
        data = ntf("huawei-v2", serial=0)
        replies = []
        for _ in range(3):      # the AC retransmits every 2 s until it hears from us (§1.9)
            ac_sock.sendto(data, ("127.0.0.1", listener.port))
            replies.append(ac_sock.recvfrom(4096)[0])
        assert len(set(replies)) == 1
        assert decode(replies[0], header=32).type == PacketType.ACK_NTF_LOGOUT
        assert handler.kinds("ntf_logout") == ["10.0.0.7"]
        assert listener.stats["duplicates"] == 2
        # A different user with the same SerialNo 0 is a new notification.
        ac_sock.sendto(ntf("huawei-v2", serial=0, ip="10.0.0.8"), ("127.0.0.1", listener.port))
        ac_sock.recvfrom(4096)
        assert handler.kinds("ntf_logout") == ["10.0.0.7", "10.0.0.8"]


def test_identical_ntf_ending_a_newer_login_is_a_new_event(ac_sock: socket.socket) -> None:
    # EAG: SerialNo 0 and ReqID 0 in every NTF_LOGOUT (§1.6), so kick → re-login → kick gives
    # byte-identical datagrams within the retransmission window.
    handler = RecordingHandler(("127.0.0.1", peer("eag", "autelan")))
    handler.markers["10.0.0.7"] = "login-1"
    with start_listener(handler) as listener:
        data = ntf("autelan", serial=0, req_id=0)

        def send() -> None:
            ac_sock.sendto(data, ("127.0.0.1", listener.port))
            assert decode(ac_sock.recvfrom(4096)[0], header=32).type == PacketType.ACK_LOGOUT

        send()                                  # kick 1 ends login-1
        send()                                  # a retransmission of it: answered, not handled
        assert handler.kinds("ntf_logout") == ["10.0.0.7"]
        handler.markers["10.0.0.7"] = "login-2"  # the phone logged in again
        handler.ended.add("10.0.0.7")            # … and its accounting session has ended
        send()                                  # kick 2: same bytes, a new event
        assert handler.kinds("ntf_logout") == ["10.0.0.7", "10.0.0.7"]
        send()                                  # kick 2 retransmitted
        assert handler.kinds("ntf_logout") == ["10.0.0.7", "10.0.0.7"]
        assert listener.stats["duplicates"] == 2 and listener.stats["repeated_events"] == 1
        # The login the first NTF saw is still there (closing it failed): a repeat is a resend.
        other = ntf("autelan", serial=0, req_id=0, ip="10.0.0.8")
        handler.markers["10.0.0.8"] = "stuck"
        handler.fail_on.add("ntf_logout")
        for _ in range(2):
            ac_sock.sendto(other, ("127.0.0.1", listener.port))
            ac_sock.recvfrom(4096)
        assert handler.markers["10.0.0.8"] == "stuck"
        assert listener.stats["duplicates"] == 3 and listener.drops == {"handler_error": 1}


def test_drops_are_counted_by_reason_and_ac(ac_sock: socket.socket) -> None:
    handler = RecordingHandler(("127.0.0.1", peer("ac.one", "huawei-v2")))
    with start_listener(handler) as listener:
        for _ in range(2):
            ac_sock.sendto(ntf("huawei-v2", secret=b"wrong"), ("127.0.0.1", listener.port))
        ac_sock.sendto(b"\x02\x08", ("127.0.0.1", listener.port))
        assert wait_for(lambda: listener.dropped_total == 3)
        stats = listener.stats
        assert stats["dropped_ac.bad_authenticator.ac.one"] == 2
        assert stats["dropped.bad_authenticator"] == 2 and stats["dropped_ac.truncated.ac.one"] == 1


def test_dedup_expires_after_ttl(ac_sock: socket.socket) -> None:
    now = [100.0]
    handler = RecordingHandler(("127.0.0.1", peer("ac1", "cmcc")))
    with start_listener(handler, clock=lambda: now[0], dedup_ttl=8.0) as listener:
        data = ntf("cmcc")
        ac_sock.sendto(data, ("127.0.0.1", listener.port))
        ac_sock.recvfrom(4096)
        now[0] += 9.0
        ac_sock.sendto(data, ("127.0.0.1", listener.port))
        ac_sock.recvfrom(4096)
        # Past the window the same bytes are no retransmission: a new event if accounting agrees
        # (else a suspected replay: tests/security/test_ntf_replay.py).
        assert handler.kinds("ntf_logout") == ["10.0.0.7"]
        assert handler.kinds("unconfirmed_logout") == ["10.0.0.7"]
        handler.ended.add("10.0.0.7")
        now[0] += 9.0
        ac_sock.sendto(data, ("127.0.0.1", listener.port))
        ac_sock.recvfrom(4096)
        assert handler.kinds("ntf_logout") == ["10.0.0.7", "10.0.0.7"]


def test_handler_failure_still_answers_ntf_logout(ac_sock: socket.socket) -> None:
    handler = RecordingHandler(("127.0.0.1", peer("ac1", "autelan")))
    handler.fail_on.add("ntf_logout")
    with start_listener(handler) as listener:
        ac_sock.sendto(ntf("autelan"), ("127.0.0.1", listener.port))
        assert decode(ac_sock.recvfrom(4096)[0], header=32).type == PacketType.ACK_LOGOUT
        assert wait_for(lambda: listener.drops.get("handler_error") == 1)


@pytest.mark.parametrize("flavour", ["h3c", "autelan", "cmcc"])
def test_mac_trigger_bound_and_not_bound(flavour: str, ac_sock: socket.socket) -> None:
    handler = RecordingHandler(("127.0.0.1", peer("ac1", flavour)))
    handler.bound.add("aa:bb:cc:00:00:01")
    prof = PROFILES[flavour]
    with start_listener(handler) as listener:
        for mac, expected in (("AA-BB-CC-00-00-01", 0), ("aa:bb:cc:00:00:02", 1)):
            attrs = (mac_attr(AttrType.USER_MAC, mac), ip_attr(AttrType.BAS_IP, "127.0.0.1"),
                     Attribute(AttrType.NAS_ID, b"ac-sim"))
            pkt = PortalPacket(type=PacketType.REQ_MACBINDING_INFO, version=prof.version,
                               serial_no=77, user_ip="10.0.0.9", attrs=attrs)
            data = encode(pkt, header=prof.header, secret=SECRET)
            if prof.header is HeaderForm.LONG and not prof.verify_mac_trigger_auth:
                data = data[:16] + bytes(16) + data[32:]   # EAG leaves 0x30 unsigned (§1.2)
            ac_sock.sendto(data, ("127.0.0.1", listener.port))
            raw = ac_sock.recvfrom(4096)[0]
            reply = decode(raw, header=prof.header)
            assert reply.type == PacketType.ACK_MACBINDING_INFO
            assert reply.err_code == expected
            assert (reply.serial_no, reply.user_ip) == (77, "10.0.0.9")
            assert reply.get(AttrType.USER_MAC) == attrs[0].value
        assert handler.kinds("mac_query") == ["aa:bb:cc:00:00:01", "aa:bb:cc:00:00:02"]


def test_mac_trigger_signed_wherever_the_flavour_signs(ac_sock: socket.socket) -> None:
    # h3c (32-byte header): 0x30/0x32/0x34 are verified like everything else; only the EAG
    # profiles accept them unsigned (§1.2), and an AcPeer can still ask for verification there.
    assert PROFILES["h3c"].verify_mac_trigger_auth
    assert not PROFILES["autelan"].verify_mac_trigger_auth
    assert peer("x", "autelan", verify_mac_trigger_auth=True).verifies_mac_trigger
    handler = RecordingHandler(("127.0.0.1", peer("ac1", "h3c")))
    with start_listener(handler) as listener:
        attrs = (mac_attr(AttrType.USER_MAC, "aa:bb:cc:00:00:01"),)
        unsigned = bytearray(ntf("h3c", ptype=PacketType.REQ_MACBINDING_INFO, attrs=attrs))
        unsigned[16:32] = bytes(16)
        ac_sock.sendto(bytes(unsigned), ("127.0.0.1", listener.port))
        assert no_reply(ac_sock)
        assert listener.drops == {"bad_authenticator": 1}
        signed = ntf("h3c", ptype=PacketType.REQ_MACBINDING_INFO, attrs=attrs)
        ac_sock.sendto(signed, ("127.0.0.1", listener.port))
        raw = ac_sock.recvfrom(4096)[0]
        assert verify_authenticator(raw, SECRET, signed[16:32])
        # A 0x30 without a MAC cannot be answered.
        ac_sock.sendto(ntf("h3c", ptype=PacketType.REQ_MACBINDING_INFO), ("127.0.0.1", listener.port))
        assert no_reply(ac_sock)
        assert listener.drops == {"bad_authenticator": 1, "missing_attribute": 1}
        # An unsigned 0x34 would close a login: refused too.
        notice = bytearray(ntf("h3c", ptype=PacketType.NTF_USER_LOGOUT, attrs=attrs))
        notice[16:32] = bytes(16)
        ac_sock.sendto(bytes(notice), ("127.0.0.1", listener.port))
        assert wait_for(lambda: listener.drops.get("bad_authenticator") == 2)
        assert handler.kinds("user_logout") == []


def test_logon_logoff_notices_reach_handler_without_reply(ac_sock: socket.socket) -> None:
    handler = RecordingHandler(("127.0.0.1", peer("ac1", "autelan")))
    with start_listener(handler) as listener:
        for ptype, ip in ((PacketType.NTF_USER_LOGON, "10.0.0.20"),
                          (PacketType.NTF_USER_LOGOUT, "10.0.0.21")):
            data = bytearray(ntf("autelan", ptype=ptype, ip=ip,
                                 attrs=(mac_attr(AttrType.USER_MAC, "aa:bb:cc:00:00:03"),)))
            data[16:32] = bytes(16)     # unsigned, as EAG sends them
            ac_sock.sendto(bytes(data), ("127.0.0.1", listener.port))
        assert no_reply(ac_sock)
        assert wait_for(lambda: len(handler.calls) == 2)
        assert handler.kinds("user_logon") == ["10.0.0.20"]
        assert handler.kinds("user_logout") == ["10.0.0.21"]
        assert listener.dropped_total == 0


def test_notice_ack_when_the_profile_asks_for_it(ac_sock: socket.socket) -> None:
    prof = dataclasses.replace(PROFILES["h3c"], ack_mac_trigger_notices=True)
    handler = RecordingHandler(("127.0.0.1", AcPeer("ac1", profile=prof, secret=SECRET)))
    with start_listener(handler) as listener:
        data = ntf("h3c", ptype=PacketType.NTF_USER_LOGOUT, serial=55)
        ac_sock.sendto(data, ("127.0.0.1", listener.port))
        raw = ac_sock.recvfrom(4096)[0]
        assert raw[1] == PacketType.NTF_USER_LOGOUT + 1 and raw[4:6] == data[4:6]
        assert handler.kinds("user_logout") == ["10.0.0.7"]


def test_second_listener_cannot_share_the_port() -> None:
    with start_listener(RecordingHandler()) as listener, pytest.raises(OSError):
        PortalListener("127.0.0.1", listener.port, RecordingHandler())


def test_unexpected_type_dropped(ac_sock: socket.socket) -> None:
    handler = RecordingHandler(("127.0.0.1", peer("ac1", "cmcc")))
    with start_listener(handler) as listener:
        ac_sock.sendto(ntf("cmcc", ptype=PacketType.REQ_CHALLENGE), ("127.0.0.1", listener.port))
        ac_sock.sendto(ntf("cmcc", ptype=PacketType.ACK_NTF_USER_HEARTBEAT), ("127.0.0.1", listener.port))
        ac_sock.sendto(b"\x01\x08", ("127.0.0.1", listener.port))
        assert no_reply(ac_sock)
        assert wait_for(lambda: listener.dropped_total == 3)
        assert listener.drops == {"unexpected_type": 1, "unsolicited_reply": 1, "truncated": 1}


def _user_ips(n: int) -> list[str]:
    base = int(ipaddress.IPv4Address("10.1.0.1"))
    return [str(ipaddress.IPv4Address(base + i)) for i in range(n)]


def test_user_sync_packets_split_at_63_ips() -> None:
    serials = iter(range(1, 100))
    p = peer("ac1", "h3c", bas_ip="10.0.0.1")
    ips = _user_ips(400)
    packets = user_sync_packets(p, ips, lambda: next(serials))
    assert [len(pk.get_all(AttrType.USER_LIST)) for pk in packets] == [3, 3, 1]
    assert all(len(v) <= 63 * 4 for pk in packets for v in pk.get_all(AttrType.USER_LIST))
    assert all(len(encode(pk, header=32, secret=SECRET)) <= 1024 for pk in packets)
    listed = [str(ipaddress.IPv4Address(v[i:i + 4]))
              for pk in packets for v in pk.get_all(AttrType.USER_LIST) for i in range(0, len(v), 4)]
    assert listed == ips
    assert [pk.serial_no for pk in packets] == [1, 2, 3]
    assert all(pk.get(AttrType.BAS_IP) == bytes([10, 0, 0, 1]) for pk in packets)
    empty = user_sync_packets(p, [], lambda: 9)
    assert len(empty) == 1 and empty[0].get(AttrType.USER_LIST) is None


def test_heartbeat_and_user_sync_reach_the_ac_and_0x11_comes_back() -> None:
    ac = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    ac.bind(("127.0.0.1", 0))
    ac.settimeout(3.0)
    try:
        p = peer("h3c1", "h3c", port=ac.getsockname()[1], bas_ip="127.0.0.1",
                 heartbeat=True, user_sync=True)
        handler = RecordingHandler(("127.0.0.1", p))
        handler.heartbeat_peers = [p]
        ips = _user_ips(200)
        handler.online["h3c1"] = ips
        with start_listener(handler, heartbeat_interval=0.2, user_sync_interval=10.0) as listener:
            heartbeats: list[tuple[bytes, PortalPacket]] = []
            syncs: list[tuple[bytes, PortalPacket]] = []
            end = time.monotonic() + 5
            while (len(heartbeats) < 3 or len(syncs) < 2) and time.monotonic() < end:
                raw, addr = ac.recvfrom(4096)
                assert addr[1] == listener.port     # from the listener's own socket
                pkt = decode(raw, header=32, secret=SECRET)   # signed as requests
                (heartbeats if pkt.type == PacketType.NTF_HEARTBEAT else syncs).append((raw, pkt))
            assert len(heartbeats) >= 3
            assert all(pk.get(AttrType.BAS_IP) == bytes([127, 0, 0, 1]) for _, pk in heartbeats)
            assert [pk.type for _, pk in syncs] == [PacketType.NTF_USER_HEARTBEAT] * 2
            got = [str(ipaddress.IPv4Address(v[i:i + 4])) for _, pk in syncs
                   for v in pk.get_all(AttrType.USER_LIST) for i in range(0, len(v), 4)]
            assert got == ips
            assert [len(pk.get_all(AttrType.USER_LIST)) for _, pk in syncs] == [3, 1]
            # The AC answers the second sync packet: two of its IPs are not online here.
            raw, pk = syncs[1]
            offline = ips[-2:]
            ack = PortalPacket(type=PacketType.ACK_NTF_USER_HEARTBEAT, version=2,
                               serial_no=pk.serial_no, attrs=(Attribute(
                                   AttrType.USER_LIST,
                                   b"".join(ipaddress.IPv4Address(i).packed for i in offline)),))
            ac.sendto(encode(ack, header=32, secret=SECRET, request_authenticator=raw[16:32]),
                      ("127.0.0.1", listener.port))
            assert wait_for(lambda: handler.kinds("user_sync_reply") == [offline])
            # A 0x11 signed against the wrong request is dropped.
            ac.sendto(encode(ack, header=32, secret=SECRET, request_authenticator=bytes(16)),
                      ("127.0.0.1", listener.port))
            assert wait_for(lambda: listener.drops.get("bad_authenticator") == 1)
            assert listener.stats["sent.user_sync"] == 2
    finally:
        ac.close()


def test_peer_list_refresh_and_unknown_online_list_skips_sync() -> None:
    ac = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    ac.bind(("127.0.0.1", 0))
    ac.settimeout(0.5)
    try:
        p = peer("ac1", "cmcc", port=ac.getsockname()[1], user_sync=True)
        handler = RecordingHandler(("127.0.0.1", p))
        with start_listener(handler, user_sync_interval=0.1, peer_refresh_interval=0.1) as listener:
            handler.heartbeat_peers = [p]       # registry edit: picked up without restart
            assert wait_for(lambda: listener.stats.get("sync_skipped", 0) >= 1)
            with pytest.raises(TimeoutError):
                ac.recvfrom(4096)               # None = "don't know": never send an empty list
            handler.online["ac1"] = ["10.0.0.5"]
            pkt = decode(ac.recvfrom(4096)[0], header=16)
            assert pkt.type == PacketType.NTF_USER_HEARTBEAT
            assert pkt.get(AttrType.USER_LIST) == bytes([10, 0, 0, 5])
    finally:
        ac.close()
