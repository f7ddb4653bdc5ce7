"""Hand-derived vectors for the codec (rules of docs/protocols/portal-protocol.md §1.1, §1.2, §1.8)."""

import hashlib

import pytest

from ac_adapters.codec import (
    Attribute,
    PortalPacket,
    chap_password,
    decode,
    encode,
    ip_attr,
    mac_attr,
    mac_from_attr,
)
from ac_adapters.constants import AttrType, PacketType
from ac_adapters.errors import (
    AttributeOverflow,
    BadAuthenticator,
    EncodeError,
    LengthMismatch,
    Truncated,
    UnknownType,
    UnsupportedVersion,
)

SECRET = b"testing123"


def test_v1_req_challenge_vector() -> None:
    pkt = PortalPacket(type=PacketType.REQ_CHALLENGE, version=1, serial_no=0x1234,
                       user_ip="10.0.0.5")
    wire = encode(pkt, header=16)
    # Ver 01, Type 01, CHAP 00, Rsv 00, SN 1234, ReqID 0000, IP 0a000005, port 0000, Err 00, n 00
    assert wire.hex() == "01010000123400000a00000500000000"
    assert decode(wire, header=16) == pkt


def test_v2_request_authenticator_is_md5_over_zeroes() -> None:
    pkt = PortalPacket(type=PacketType.REQ_AUTH, version=2, serial_no=7, req_id=0x0102,
                       user_ip="192.168.1.10",
                       attrs=(Attribute(AttrType.USER_NAME, b"13300000001"),))
    wire = encode(pkt, header=32, secret=SECRET)
    head = bytes([2, 3, 0, 0, 0, 7, 1, 2, 192, 168, 1, 10, 0, 0, 0, 1])
    attrs = bytes([1, 13]) + b"13300000001"
    assert wire[:16] == head
    assert wire[16:32] == hashlib.md5(head + bytes(16) + attrs + SECRET).digest()
    assert wire[32:] == attrs
    decoded = decode(wire, header=32, secret=SECRET)
    assert decoded.get(AttrType.USER_NAME) == b"13300000001"
    with pytest.raises(BadAuthenticator):
        decode(wire, header=32, secret=b"wrong")


def test_v2_response_authenticator_uses_request_authenticator() -> None:
    req = encode(PortalPacket(type=PacketType.REQ_CHALLENGE, serial_no=1, user_ip="10.1.1.1"),
                 header=32, secret=SECRET)
    req_auth = req[16:32]
    ack = PortalPacket(type=PacketType.ACK_CHALLENGE, serial_no=1, req_id=9, user_ip="10.1.1.1",
                       attrs=(Attribute(AttrType.CHALLENGE, bytes(range(16))),))
    wire = encode(ack, header=32, secret=SECRET, request_authenticator=req_auth)
    assert wire[16:32] == hashlib.md5(wire[:16] + req_auth + wire[32:] + SECRET).digest()
    assert decode(wire, header=32, secret=SECRET, request_authenticator=req_auth).req_id == 9
    with pytest.raises(BadAuthenticator):   # a response cannot verify without its request
        decode(wire, header=32, secret=SECRET)
    with pytest.raises(EncodeError):
        encode(ack, header=32, secret=SECRET)


def test_chap_uses_low_byte_of_req_id() -> None:
    challenge = bytes(range(16))
    assert chap_password(0x0305, b"pw", challenge) == hashlib.md5(b"\x05pw" + challenge).digest()


@pytest.mark.parametrize(
    ("wire", "error"),
    [
        (bytes.fromhex("0101000012340000"), Truncated),
        (bytes.fromhex("01010000123400000a00000500000001"), Truncated),
        (bytes.fromhex("01010000123400000a000005000000010105"), AttributeOverflow),
        (bytes.fromhex("01010000123400000a000005000000010101"), AttributeOverflow),
        (bytes.fromhex("01010000123400000a0000050000000000"), LengthMismatch),
        (bytes.fromhex("01990000123400000a00000500000000"), UnknownType),
        (bytes.fromhex("07010000123400000a00000500000000"), UnsupportedVersion),
    ],
)
def test_hostile_bytes_raise_typed_errors(wire: bytes, error: type[Exception]) -> None:
    with pytest.raises(error):
        decode(wire, header=16)


def test_attribute_helpers() -> None:
    assert ip_attr(AttrType.BAS_IP, "10.0.0.1").value == b"\x0a\x00\x00\x01"
    mac = mac_attr(AttrType.USER_MAC, "AA-BB-CC-DD-EE-0F")
    assert mac_from_attr(mac.value) == "aa:bb:cc:dd:ee:0f"
    with pytest.raises(EncodeError):
        mac_attr(AttrType.USER_MAC, "aa:bb")
    with pytest.raises(EncodeError):
        encode(PortalPacket(type=1, attrs=(Attribute(1, b"x" * 254),)), header=16)
