"""Hypothesis properties of the portal codec (docs/protocols/portal-protocol.md §1) plus hand-derived
vectors for the packets the issue names. Vectors are written byte by byte from the rules of
§1.1 (header), §1.2 (authenticator), §1.7 (attributes) and §1.8 (CHAP); only MD5 is computed."""

from __future__ import annotations

import contextlib
import hashlib
from dataclasses import replace

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from ac_adapters.codec import (
    MAX_USER_LIST,
    Attribute,
    PortalPacket,
    attr_u32,
    attr_u64,
    chap_password,
    decode,
    encode,
    ip_attr,
    ip_from_attr,
    mac_attr,
    parse_user_list,
    text_attr,
    u32_attr,
    u64_attr,
    user_list_attr,
    user_list_attrs,
    user_list_from,
    verify_authenticator,
)
from ac_adapters.constants import RESPONSE_TYPES, AttrType, PacketType
from ac_adapters.errors import BadAuthenticator, DecodeError, EncodeError, LengthMismatch
from ac_adapters.profiles import PROFILES, HeaderForm, VendorProfile

SECRET = b"testing123"
ALL_TYPES = list(PacketType)
PROFILE_LIST = list(PROFILES.values())
FAST = settings(max_examples=40, deadline=None, suppress_health_check=[HealthCheck.too_slow])

# --- strategies --------------------------------------------------------------------------

u8 = st.integers(0, 0xFF)
u16 = st.integers(0, 0xFFFF)
ipv4 = st.integers(0, 0xFFFFFFFF).map(
    lambda n: ".".join(str((n >> s) & 0xFF) for s in (24, 16, 8, 0))
)
# Known and unknown attribute codes, values from empty up to the 253-byte cap (§1.1).
attr_value = st.one_of(
    st.just(b""), st.just(b"\xAB" * 253), st.binary(max_size=253),
)
attribute = st.builds(Attribute, type=st.one_of(st.sampled_from(list(AttrType)).map(int), u8),
                      value=attr_value)
attributes = st.lists(attribute, max_size=12).map(tuple)
secrets_ = st.binary(min_size=0, max_size=40)


@st.composite
def packet_fields(draw: st.DrawFn) -> dict[str, object]:
    return {
        "pap_chap": draw(st.sampled_from([0, 1, 2, 0xFF])),
        "rsv": draw(u8),
        "serial_no": draw(u16),
        "req_id": draw(u16),
        "user_ip": draw(ipv4),
        "user_port": draw(u16),
        "err_code": draw(u8),
        "attrs": draw(attributes),
    }


def _encode_for(profile: VendorProfile, packet: PortalPacket, secret: bytes,
                req_auth: bytes) -> bytes:
    return encode(packet, header=profile.header, secret=secret, request_authenticator=req_auth)


# --- round trips ---------------------------------------------------------------------------

@pytest.mark.parametrize("profile", PROFILE_LIST, ids=lambda p: p.name)
@FAST
@given(fields=packet_fields(), secret=secrets_, req_auth=st.binary(min_size=16, max_size=16))
def test_round_trip_every_type_in_every_profile(
    profile: VendorProfile, fields: dict[str, object], secret: bytes, req_auth: bytes
) -> None:
    for ptype in ALL_TYPES:
        packet = PortalPacket(type=int(ptype), version=profile.version, **fields)  # type: ignore[arg-type]
        wire = _encode_for(profile, packet, secret, req_auth)
        assert len(wire) == profile.header.value + sum(2 + len(a.value) for a in packet.attrs)
        assert wire[15] == len(packet.attrs)
        if profile.header is HeaderForm.LONG:
            decoded = decode(wire, header=profile.header, secret=secret,
                             request_authenticator=req_auth)
            assert decoded.authenticator == wire[16:32]
            assert decoded == replace(packet, authenticator=wire[16:32])
        else:
            decoded = decode(wire, header=profile.header, secret=secret)
            assert decoded == packet       # authenticator stays None in the 16-byte form
        # Encoding the decoded packet again gives the same bytes (canonical form).
        assert _encode_for(profile, decoded, secret, req_auth) == wire


@FAST
@given(ips=st.lists(ipv4, max_size=200))
def test_user_list_round_trip(ips: list[str]) -> None:
    attrs = user_list_attrs(ips)
    assert all(len(a.value) <= 4 * MAX_USER_LIST for a in attrs)
    assert len(attrs) == -(-len(ips) // MAX_USER_LIST)
    packet = PortalPacket(type=PacketType.NTF_USER_HEARTBEAT, attrs=attrs)
    wire = encode(packet, header=32, secret=SECRET)
    assert user_list_from(decode(wire, header=32, secret=SECRET)) == ips


@FAST
@given(n32=st.integers(0, 2**32 - 1), n64=st.integers(0, 2**64 - 1))
def test_integer_attribute_helpers(n32: int, n64: int) -> None:
    assert attr_u32(u32_attr(AttrType.SESSION_TIME, n32).value) == n32
    assert attr_u64(u64_attr(AttrType.UP_LINK_FLUX, n64).value) == n64


def test_value_helper_edges() -> None:
    with pytest.raises(EncodeError):
        u32_attr(AttrType.SESSION_TIME, 2**32)
    with pytest.raises(EncodeError):
        u64_attr(AttrType.UP_LINK_FLUX, -1)
    with pytest.raises(LengthMismatch):
        attr_u64(b"\x00" * 4)
    with pytest.raises(LengthMismatch):
        attr_u32(b"")
    with pytest.raises(LengthMismatch):
        parse_user_list(b"\x0a\x00\x00\x01\x0a")
    with pytest.raises(EncodeError):
        user_list_attr(["10.0.0.1"] * (MAX_USER_LIST + 1))
    with pytest.raises(EncodeError):
        user_list_attr(["not-an-ip"])
    with pytest.raises(EncodeError):
        text_attr(AttrType.TEXT_INFO, "长" * 85)     # 255 bytes of UTF-8
    assert ip_from_attr(b"\x0a\x00\x00\x01") == "10.0.0.1"
    assert ip_from_attr(b"\x0a") is None
    assert parse_user_list(b"") == []


# --- authenticator properties (§1.2) -------------------------------------------------------

@st.composite
def signed_packet(draw: st.DrawFn) -> tuple[bytes, bytes, bytes | None]:
    """(wire, secret, request authenticator or None) of a valid 32-byte-header packet."""
    ptype = draw(st.sampled_from(ALL_TYPES))
    secret = draw(st.binary(min_size=1, max_size=32))
    packet = PortalPacket(type=int(ptype), version=2, **draw(packet_fields()))  # type: ignore[arg-type]
    req_auth = draw(st.binary(min_size=16, max_size=16)) if ptype in RESPONSE_TYPES else None
    return encode(packet, header=32, secret=secret, request_authenticator=req_auth), secret, req_auth


@FAST
@given(case=signed_packet(), data=st.data())
def test_any_single_bit_flip_fails_verification(
    case: tuple[bytes, bytes, bytes | None], data: st.DataObject
) -> None:
    wire, secret, req_auth = case
    assert verify_authenticator(wire, secret, req_auth)
    bit = data.draw(st.integers(0, len(wire) * 8 - 1))
    mutated = bytearray(wire)
    mutated[bit // 8] ^= 1 << (bit % 8)
    assert not verify_authenticator(bytes(mutated), secret, req_auth)
    with pytest.raises(DecodeError):
        decode(bytes(mutated), header=32, secret=secret, request_authenticator=req_auth)


@FAST
@given(case=signed_packet(), other=st.binary(max_size=32))
def test_wrong_secret_fails(case: tuple[bytes, bytes, bytes | None], other: bytes) -> None:
    wire, secret, req_auth = case
    if other == secret:
        return
    assert not verify_authenticator(wire, other, req_auth)
    with pytest.raises(BadAuthenticator):
        decode(wire, header=32, secret=other, request_authenticator=req_auth)


@FAST
@given(fields=packet_fields(), ptype=st.sampled_from(sorted(RESPONSE_TYPES)),
       right=st.binary(min_size=16, max_size=16), wrong=st.binary(min_size=16, max_size=16))
def test_response_needs_the_right_request_authenticator(
    fields: dict[str, object], ptype: int, right: bytes, wrong: bytes
) -> None:
    packet = PortalPacket(type=int(ptype), version=2, **fields)  # type: ignore[arg-type]
    wire = encode(packet, header=32, secret=SECRET, request_authenticator=right)
    assert verify_authenticator(wire, SECRET, right)
    assert not verify_authenticator(wire, SECRET, None)
    if wrong != right:
        assert not verify_authenticator(wire, SECRET, wrong)
        with pytest.raises(BadAuthenticator):
            decode(wire, header=32, secret=SECRET, request_authenticator=wrong)
    with pytest.raises(BadAuthenticator):
        decode(wire, header=32, secret=SECRET)
    with pytest.raises(EncodeError):
        encode(packet, header=32, secret=SECRET)


# --- hostile input only raises DecodeError -------------------------------------------------

def _decode_all_ways(data: bytes) -> None:
    for header in (16, 32):
        for secret, req_auth in ((None, None), (SECRET, None), (SECRET, bytes(16))):
            with contextlib.suppress(DecodeError):
                decode(data, header=header, secret=secret, request_authenticator=req_auth)
        # verify_authenticator never raises on any bytes either
        assert verify_authenticator(data, SECRET, bytes(16)) in (True, False)


@settings(max_examples=300, deadline=None)
@given(data=st.binary(max_size=600))
def test_arbitrary_bytes_raise_only_decode_errors(data: bytes) -> None:
    _decode_all_ways(data)


@settings(max_examples=200, deadline=None)
@given(head=st.tuples(st.sampled_from([1, 2]), st.sampled_from(ALL_TYPES).map(int)),
       rest=st.binary(min_size=14, max_size=400))
def test_plausible_headers_with_garbage_raise_only_decode_errors(
    head: tuple[int, int], rest: bytes
) -> None:
    # A valid Ver/Type gets the decoder past the cheap checks into the attribute walk.
    _decode_all_ways(bytes(head) + rest)


mutation = st.one_of(
    st.tuples(st.just("set"), st.integers(0, 10_000), u8),
    st.tuples(st.just("insert"), st.integers(0, 10_000), u8),
    st.tuples(st.just("delete"), st.integers(0, 10_000), st.just(0)),
    st.tuples(st.just("truncate"), st.integers(0, 10_000), st.just(0)),
    st.tuples(st.just("append"), st.just(0), u8),
)


@settings(max_examples=300, deadline=None)
@given(case=signed_packet(), mutations=st.lists(mutation, min_size=1, max_size=4))
def test_mutated_valid_packets_raise_only_decode_errors(
    case: tuple[bytes, bytes, bytes | None], mutations: list[tuple[str, int, int]]
) -> None:
    buf = bytearray(case[0])
    for kind, pos, val in mutations:
        at = pos % (len(buf) + 1)
        if kind == "set" and buf:
            buf[at % len(buf)] = val
        elif kind == "insert":
            buf.insert(at, val)
        elif kind == "delete" and buf:
            del buf[at % len(buf)]
        elif kind == "truncate":
            del buf[at:]
        elif kind == "append":
            buf.append(val)
    _decode_all_ways(bytes(buf))
    if bytes(buf) != case[0]:
        # A changed signed packet never verifies under its secret.
        with pytest.raises(DecodeError):
            decode(bytes(buf), header=32, secret=case[1], request_authenticator=case[2])


# --- hand-derived vectors ------------------------------------------------------------------

def _md5(*parts: bytes) -> bytes:
    return hashlib.md5(b"".join(parts)).digest()


CHALLENGE = bytes(range(16))
REQ_AUTH_HEAD = bytes.fromhex(
    "02"            # Ver 2 (Huawei v2)
    "03"            # REQ_AUTH
    "00"            # CHAP
    "00"            # Rsv
    "0a0b"          # SerialNo
    "0123"          # ReqID from ACK_CHALLENGE
    "0a141e28"      # UserIP 10.20.30.40
    "0000"          # UserPort
    "00"            # ErrCode
    "05"            # AttrNum
)
CHAP = _md5(b"\x23", b"123456", CHALLENGE)          # ChapID = low byte of ReqID 0x0123 (§1.8)
REQ_AUTH_ATTRS = (
    bytes.fromhex("010d") + b"13800138000"          # UserName, Len 2+11
    + bytes.fromhex("0312") + CHALLENGE             # Challenge, Len 18
    + bytes.fromhex("0412") + CHAP                  # ChapPassWord, Len 18
    + bytes.fromhex("0a06" "0a000001")              # BAS-IP 10.0.0.1
    + bytes.fromhex("0b08" "aabbccddeeff")          # UserMac (Session-ID)
)
REQ_AUTH_WIRE = REQ_AUTH_HEAD + _md5(REQ_AUTH_HEAD, bytes(16), REQ_AUTH_ATTRS, SECRET) + REQ_AUTH_ATTRS


def test_vector_chap_req_auth_v2_with_bas_ip_and_mac() -> None:
    packet = PortalPacket(
        type=PacketType.REQ_AUTH, version=2, serial_no=0x0A0B, req_id=0x0123,
        user_ip="10.20.30.40",
        attrs=(
            text_attr(AttrType.USER_NAME, "13800138000"),
            Attribute(AttrType.CHALLENGE, CHALLENGE),
            Attribute(AttrType.CHAP_PASSWORD, chap_password(0x0123, b"123456", CHALLENGE)),
            ip_attr(AttrType.BAS_IP, "10.0.0.1"),
            mac_attr(AttrType.USER_MAC, "AA-BB-CC-DD-EE-FF"),
        ),
    )
    assert encode(packet, header=32, secret=SECRET) == REQ_AUTH_WIRE
    decoded = decode(REQ_AUTH_WIRE, header=32, secret=SECRET)
    assert decoded.chap and decoded.req_id == 0x0123
    assert decoded.get(AttrType.CHAP_PASSWORD) == CHAP


def test_vector_ack_auth_with_text_info() -> None:
    req_auth = REQ_AUTH_WIRE[16:32]
    head = bytes.fromhex("02" "04" "00" "00" "0a0b" "0123" "0a141e28" "0000" "01" "01")
    attrs = bytes.fromhex("050e") + b"bad password"
    wire = head + _md5(head, req_auth, attrs, SECRET) + attrs
    packet = decode(wire, header=32, secret=SECRET, request_authenticator=req_auth)
    assert (packet.type, packet.err_code, packet.text()) == (PacketType.ACK_AUTH, 1, "bad password")
    assert encode(replace(packet, authenticator=None), header=32, secret=SECRET,
                  request_authenticator=req_auth) == wire


def test_vector_ntf_logout_and_ack_ntf_logout_v2() -> None:
    # AC → portal: SerialNo 0, ReqID 0x0042, BAS-IP (mandatory in H3C unsolicited packets).
    ntf_head = bytes.fromhex("02" "08" "00" "00" "0000" "0042" "0a141e28" "0000" "00" "01")
    ntf_attrs = bytes.fromhex("0a06" "0a000001")
    ntf = ntf_head + _md5(ntf_head, bytes(16), ntf_attrs, SECRET) + ntf_attrs
    got = decode(ntf, header=32, secret=SECRET)
    assert got.type == PacketType.NTF_LOGOUT and ip_from_attr(got.get(AttrType.BAS_IP) or b"") == "10.0.0.1"
    # Portal → AC: ACK_NTF_LOGOUT 0x0E echoing SN/ReqID/UserIP, response authenticator (§1.10.5).
    ack_head = bytes.fromhex("02" "0e" "00" "00" "0000" "0042" "0a141e28" "0000" "00" "00")
    ack = ack_head + _md5(ack_head, ntf[16:32], SECRET)
    reply = PortalPacket(type=PROFILES["huawei-v2"].ntf_logout_reply, version=2,
                         serial_no=got.serial_no, req_id=got.req_id, user_ip=got.user_ip)
    assert encode(reply, header=32, secret=SECRET, request_authenticator=got.authenticator) == ack


def test_vector_cmcc_ntf_logout_and_ack_logout() -> None:
    ntf = bytes.fromhex("01" "08" "00" "00" "0000" "0000" "c0a80a14" "0000" "00" "00")
    got = decode(ntf, header=16)
    assert (got.version, got.type, got.user_ip, got.authenticator) == (1, 8, "192.168.10.20", None)
    reply = PortalPacket(type=PROFILES["cmcc"].ntf_logout_reply, version=1,
                         serial_no=got.serial_no, req_id=got.req_id, user_ip=got.user_ip)
    assert encode(reply, header=16) == bytes.fromhex("0106000000000000c0a80a1400000000")


def test_vector_req_macbinding_info() -> None:
    wire = bytes.fromhex(
        "01" "30" "00" "00" "0005" "0000" "0a141e28" "0000" "00" "03"
        "0b08" "001122334455"          # UserMac
        "0a06" "0a000001"              # BAS-IP
        "300b"                         # NAS-ID, Len 2+9
    ) + b"eag-ac-01"
    packet = decode(wire, header=16)
    assert packet.type_name == "REQ_MACBINDING_INFO"
    assert packet.get(AttrType.NAS_ID) == b"eag-ac-01"
    built = PortalPacket(type=PacketType.REQ_MACBINDING_INFO, version=1, serial_no=5,
                         user_ip="10.20.30.40",
                         attrs=(mac_attr(AttrType.USER_MAC, "00:11:22:33:44:55"),
                                ip_attr(AttrType.BAS_IP, "10.0.0.1"),
                                text_attr(AttrType.NAS_ID, "eag-ac-01")))
    assert encode(built, header=16) == wire


def test_vector_ntf_user_heartbeat_with_user_list() -> None:
    head = bytes.fromhex("02" "10" "00" "00" "1001" "0000" "00000000" "0000" "00" "01")
    attrs = bytes.fromhex("0d0e" "0a000002" "0a000003" "c0a80001")
    wire = head + _md5(head, bytes(16), attrs, SECRET) + attrs
    packet = PortalPacket(type=PacketType.NTF_USER_HEARTBEAT, version=2, serial_no=0x1001,
                          attrs=(user_list_attr(["10.0.0.2", "10.0.0.3", "192.168.0.1"]),))
    assert encode(packet, header=32, secret=SECRET) == wire
    assert user_list_from(decode(wire, header=32, secret=SECRET)) == [
        "10.0.0.2", "10.0.0.3", "192.168.0.1"]


def test_vector_status_notify_and_ack() -> None:
    head = bytes.fromhex("02" "81" "00" "00" "0007" "0000" "00000000" "0000" "00" "00")
    wire = head + _md5(head, bytes(16), SECRET)
    assert encode(PortalPacket(type=PacketType.STATUS_NOTIFY, serial_no=7), header=32,
                  secret=SECRET) == wire
    ack_head = bytes.fromhex("02" "82" "00" "00" "0007" "0000" "00000000" "0000" "00" "00")
    ack = ack_head + _md5(ack_head, wire[16:32], SECRET)
    assert decode(ack, header=32, secret=SECRET, request_authenticator=wire[16:32]).type_name == (
        "ACK_STATUS_NOTIFY")


def test_vector_req_info_with_empty_attrs() -> None:
    wire = bytes.fromhex(
        "01" "09" "00" "00" "0003" "0000" "0a141e28" "0000" "00" "03" "0802" "0602" "0702")
    packet = decode(wire, header=16)
    assert [(a.type, a.value) for a in packet.attrs] == [(8, b""), (6, b""), (7, b"")]
    assert encode(packet, header=16) == wire
    bare = bytes.fromhex("01" "09" "00" "00" "0003" "0000" "0a141e28" "0000" "00" "00")
    assert decode(bare, header=16).attrs == ()


def test_vector_heartbeat_and_ack_info_flux() -> None:
    head = bytes.fromhex("02" "0f" "00" "00" "0009" "0000" "00000000" "0000" "00" "00")
    assert encode(PortalPacket(type=PacketType.NTF_HEARTBEAT, serial_no=9), header=32,
                  secret=SECRET) == head + _md5(head, bytes(16), SECRET)
    info = bytes.fromhex("01" "0a" "00" "00" "0003" "0000" "0a141e28" "0000" "00" "02"
                         "060a" "0000000100000000" "070a" "00000000000003e8")
    packet = decode(info, header=16)
    assert attr_u64(packet.get(AttrType.UP_LINK_FLUX) or b"") == 2**32
    assert attr_u64(packet.get(AttrType.DOWN_LINK_FLUX) or b"") == 1000
