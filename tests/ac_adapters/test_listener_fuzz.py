"""Fuzz the listener with ≥ 10,000 random and mutated datagrams over loopback UDP.

Each datagram is classified beforehand by an independent reading of the rules (codec decode,
accepted types, authenticator per spec §1.2, MAC present in 0x30), so afterwards the listener's
drop counters must add up to exactly the number of invalid datagrams, and it must still answer.
"""

from __future__ import annotations

import random
import socket
import time

import pytest

from ac_adapters.codec import Attribute, PortalPacket, decode, encode, verify_authenticator
from ac_adapters.constants import AttrType, PacketType
from ac_adapters.errors import DecodeError
from ac_adapters.listener import AcPeer, BaseListenerHandler, PortalListener
from ac_adapters.profiles import PROFILES, HeaderForm

SECRET = b"fuzz-secret"
ACCEPTED = {0x08, 0x30, 0x32, 0x34}
MAC_TRIGGER = {0x30, 0x32, 0x34}
TYPES = [0x08, 0x08, 0x08, 0x30, 0x30, 0x32, 0x34, 0x11, 0x01, 0x06, 0x0E, 0x81]
ATTR_TYPES = [0x01, 0x05, 0x0A, 0x0B, 0x0C, 0x0D, 0x30, 0x3B, 0xF1, 0xFF, 0x26]


class CountingHandler(BaseListenerHandler):
    def __init__(self, peer: AcPeer) -> None:
        self.peer = peer
        self.handled = 0

    def acs_at(self, source_ip: str) -> list[AcPeer]:
        return [self.peer]      # one AC at 127.0.0.1: every datagram is "from" it

    def on_ntf_logout(self, ac: AcPeer, packet: PortalPacket) -> None:
        self.handled += 1

    def on_mac_query(self, ac: AcPeer, mac: str, packet: PortalPacket) -> bool:
        self.handled += 1
        return mac.endswith("1")

    def on_user_logon(self, ac: AcPeer, packet: PortalPacket) -> None:
        self.handled += 1

    def on_user_logout(self, ac: AcPeer, packet: PortalPacket) -> None:
        self.handled += 1


def is_valid(data: bytes, header: HeaderForm, signs_mac_trigger: bool) -> bool:
    try:
        pkt = decode(data, header=header)
    except DecodeError:
        return False
    if pkt.type not in ACCEPTED:
        return False        # includes 0x11: no user-sync packet of ours is pending
    if (header is HeaderForm.LONG and (signs_mac_trigger or pkt.type not in MAC_TRIGGER)
            and not verify_authenticator(data, SECRET)):
        return False
    if pkt.type == 0x30:
        return any(a.type in (0x0B, 0xFF) and len(a.value) == 6 for a in pkt.attrs)
    return True


def valid_packet(rng: random.Random, header: HeaderForm, version: int) -> bytes:
    attrs = []
    for _ in range(rng.randrange(0, 5)):
        a_type = rng.choice(ATTR_TYPES)
        size = 6 if a_type in (0x0B, 0xFF) and rng.random() < 0.8 else rng.randrange(0, 40)
        attrs.append(Attribute(a_type, rng.randbytes(size)))
    ptype = rng.choice(TYPES)
    if ptype == 0x30 and rng.random() < 0.7:
        attrs.insert(0, Attribute(AttrType.USER_MAC, rng.randbytes(6)))
    pkt = PortalPacket(
        type=ptype, version=version, pap_chap=rng.randrange(2), serial_no=rng.randrange(0x10000),
        req_id=rng.randrange(0x10000), user_ip=f"10.{rng.randrange(256)}.{rng.randrange(256)}.9",
        err_code=rng.randrange(3), attrs=tuple(attrs),
    )
    return encode(pkt, header=header, secret=SECRET, request_authenticator=bytes(16))


def mutate(rng: random.Random, header: HeaderForm, version: int) -> bytes:
    base = valid_packet(rng, header, version)
    kind = rng.random()
    if kind < 0.15:
        return base
    if kind < 0.45:                                     # valid, then bit-flipped
        data = bytearray(base)
        for _ in range(rng.randrange(1, 4)):
            data[rng.randrange(len(data))] ^= 1 << rng.randrange(8)
        return bytes(data)
    if kind < 0.6:                                      # truncated
        return base[:rng.randrange(len(base))]
    if kind < 0.75:                                     # random bytes, random length
        return rng.randbytes(rng.choice([rng.randrange(0, 40), rng.randrange(0, 700)]))
    if kind < 0.9:                                      # valid header, garbage attributes
        head = bytearray(base[:header.value])
        head[15] = rng.randrange(256)
        return bytes(head) + rng.randbytes(rng.randrange(0, 300))
    if kind < 0.95:                                     # padded
        return base + rng.randbytes(rng.randrange(1, 8))
    return rng.randbytes(rng.randrange(4097, 5000))     # oversized


@pytest.mark.parametrize(("flavour", "count"), [("huawei-v2", 10_000), ("cmcc", 3_000), ("autelan", 2_000)])
def test_listener_survives_fuzz_with_exact_drop_count(flavour: str, count: int) -> None:
    prof = PROFILES[flavour]
    peer = AcPeer("fuzz-ac", profile=prof, secret=SECRET, host="127.0.0.1")
    handler = CountingHandler(peer)
    rng = random.Random(20240611)
    sock = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    sock.bind(("127.0.0.1", 0))
    sock.setblocking(False)
    started = time.monotonic()
    with PortalListener("127.0.0.1", 0, handler) as listener:
        invalid = 0
        for start in range(0, count, 100):
            for _ in range(min(100, count - start)):
                data = mutate(rng, prof.header, prof.version)
                invalid += not is_valid(data, prof.header, prof.verify_mac_trigger_auth)
                sock.sendto(data, ("127.0.0.1", listener.port))
            # Pace the sender so the kernel never drops a datagram for a full buffer.
            deadline = time.monotonic() + 10
            while listener.stats.get("received", 0) < start + 100 and time.monotonic() < deadline:
                if listener.stats.get("received", 0) >= count:
                    break
                time.sleep(0.002)
            while True:     # drain the replies
                try:
                    sock.recv(8192)
                except BlockingIOError:
                    break
        assert listener.stats["received"] == count
        assert 0 < invalid < count
        assert listener.dropped_total == invalid, listener.drops
        assert listener.stats.get("internal_error", 0) == 0
        assert "handler_error" not in listener.drops
        # Every valid datagram reached the handler exactly once (or was a retransmission).
        assert handler.handled + listener.stats.get("duplicates", 0) == count - invalid
        assert {"truncated", "attribute_overflow", "length_mismatch", "unexpected_type",
                "oversized", "missing_attribute"} <= set(listener.drops)
        if prof.header is HeaderForm.LONG:
            assert listener.drops["bad_authenticator"] > 0
        # Still alive: a genuine NTF_LOGOUT gets its reply.
        sock.setblocking(True)
        sock.settimeout(2.0)
        ntf = encode(PortalPacket(type=PacketType.NTF_LOGOUT, version=prof.version, serial_no=4242,
                                  user_ip="10.200.0.1"), header=prof.header, secret=SECRET)
        sock.sendto(ntf, ("127.0.0.1", listener.port))
        while True:
            reply = decode(sock.recv(8192), header=prof.header)
            if reply.serial_no == 4242 and reply.user_ip == "10.200.0.1":
                break
        assert reply.type == prof.ntf_logout_reply
    sock.close()
    assert time.monotonic() - started < 30
