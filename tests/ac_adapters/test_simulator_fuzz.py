"""10,000 random and mutated datagrams at the simulator: no crash, every drop counted exactly."""

from __future__ import annotations

import random
import socket
import time

import pytest

from ac_adapters.codec import (
    Attribute,
    PortalPacket,
    chap_password,
    decode,
    encode,
    text_attr,
    verify_authenticator,
)
from ac_adapters.constants import AttrType, PacketType
from ac_adapters.errors import DecodeError
from ac_adapters.profiles import get_profile
from ac_adapters.simulator import HANDLED_REQUESTS, SimConfig, SimulatedAc
from tests.ac_adapters.sim_portal import MiniPortal, wait_for

SECRET = b"fuzz-secret"


def valid_packet(rng: random.Random, version: int) -> PortalPacket:
    ip = f"10.{rng.randrange(4)}.{rng.randrange(256)}.{rng.randrange(1, 255)}"
    kind = rng.choice([
        PacketType.REQ_CHALLENGE, PacketType.REQ_AUTH, PacketType.REQ_LOGOUT, PacketType.REQ_INFO,
        PacketType.AFF_ACK_AUTH, PacketType.NTF_HEARTBEAT, PacketType.ACK_NTF_LOGOUT, PacketType.NTF_LOGOUT,
    ])
    attrs: tuple[Attribute, ...] = ()
    pap = 0
    if kind == PacketType.REQ_AUTH:
        pap = rng.randrange(2)
        challenge = rng.randbytes(16)
        attrs = (text_attr(AttrType.USER_NAME, "13800138000"),
                 Attribute(AttrType.PASSWORD, b"123456") if pap else
                 Attribute(AttrType.CHAP_PASSWORD, chap_password(rng.randrange(1, 9), b"123456", challenge)))
    return PortalPacket(type=kind, version=version, pap_chap=pap, serial_no=rng.randrange(65536),
                        req_id=rng.randrange(4), user_ip=ip, err_code=rng.randrange(2), attrs=attrs)


def mutate(rng: random.Random, data: bytes) -> bytes:
    buf = bytearray(data)
    how = rng.randrange(5)
    if how == 0 and buf:
        for _ in range(rng.randrange(1, 4)):
            buf[rng.randrange(len(buf))] ^= 1 << rng.randrange(8)
    elif how == 1:
        buf = buf[: rng.randrange(len(buf) + 1)]
    elif how == 2:
        buf += rng.randbytes(rng.randrange(1, 20))
    elif how == 3 and buf:
        buf[rng.randrange(len(buf))] = rng.randrange(256)
    else:
        buf[1:2] = bytes((rng.randrange(256),)) if len(buf) > 1 else b""
    return bytes(buf)


def expected_drop(data: bytes, flavour: str) -> bool:
    """The simulator's contract: drop what does not decode, has another version, is not a
    request the AC handles (no unsolicited request is outstanding here), or is badly signed."""
    profile = get_profile(flavour)
    try:
        packet = decode(data, header=profile.header)
    except DecodeError:
        return True
    if packet.version != profile.version or packet.type not in HANDLED_REQUESTS:
        return True
    return profile.has_authenticator and not verify_authenticator(data, SECRET)


@pytest.mark.parametrize("flavour", ["huawei-v2", "cmcc"])
def test_fuzz_no_crash_and_exact_drop_count(flavour: str) -> None:
    total = 5000   # × 2 flavours = 10,000 datagrams
    rng = random.Random(f"sim-fuzz-{flavour}")
    profile = get_profile(flavour)
    ac = SimulatedAc(SimConfig(flavour=flavour, secret=SECRET, radius_host=None,
                               local_users={"13800138000": "123456"}, coa_port=None, portal_port=9)).start()
    sock = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    sock.bind(("127.0.0.1", 0))
    sock.setblocking(False)
    try:
        drops = 0
        started = time.monotonic()
        for i in range(total):
            choice = rng.random()
            if choice < 0.3:
                data = rng.randbytes(rng.randrange(0, 120))
            else:
                data = encode(valid_packet(rng, profile.version), header=profile.header, secret=SECRET,
                              request_authenticator=bytes(16))
                if choice < 0.8:
                    data = mutate(rng, data)
            if i % 500 == 0:
                data = rng.randbytes(5000)     # oversized
            drops += expected_drop(data, flavour)
            sock.sendto(data, ("127.0.0.1", ac.port))
            if i % 100 == 99:   # let the AC keep up so the kernel never drops for us
                assert wait_for(lambda n=i + 1: ac.stats["received"] >= n, timeout=10)
                while True:
                    try:
                        sock.recv(65535)
                    except BlockingIOError:
                        break
        assert wait_for(lambda: ac.stats["received"] == total, timeout=10)
        assert ac.stats["dropped"] == drops
        assert ac.stats["handled"] == total - drops
        assert 0 < drops < total
        assert ac._portal.errors == 0
        assert time.monotonic() - started < 20
        portal = MiniPortal(ac.port, flavour, SECRET)       # still serving
        try:
            ack = portal.challenge("10.200.0.1")
            assert ack is not None and ack.err_code == 0
        finally:
            portal.close()
    finally:
        sock.close()
        ac.stop(wait=0.1)
