"""radius.wire (lean codec) cross-checked against pyrad, plus the RFC 5080 dedup cache."""

from __future__ import annotations

import contextlib
import hmac
import os

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from pyrad.packet import AcctPacket, AuthPacket

from radius import wire
from radius.dedup import DedupCache, Lookup
from radius.dictionary import load_dictionary
from radius.errors import MalformedPacket, OversizedPacket

SECRET = b"codec-secret"


def pyrad_request(**attrs: object) -> AuthPacket:
    pkt = AuthPacket(secret=SECRET, dict=load_dictionary())
    for k, v in attrs.items():
        pkt[k.replace("_", "-")] = v
    pkt.add_message_authenticator()
    return pkt


def test_decode_matches_pyrad_and_verifies_ma() -> None:
    pkt = pyrad_request(User_Name="13800138000", Calling_Station_Id="aa-bb", NAS_Port=7)
    pkt["User-Password"] = pkt.PwCrypt("pw-123")
    raw = pkt.RequestPacket()
    req = wire.decode(raw)
    assert (req.code, req.ident, req.authenticator) == (1, pkt.id, pkt.authenticator)
    assert req.text(wire.Attr.USER_NAME) == "13800138000"
    assert req.get(wire.Attr.NAS_PORT) == (7).to_bytes(4, "big")
    hidden = req.get(wire.Attr.USER_PASSWORD) or b""
    assert wire.decrypt_password(hidden, SECRET, req.authenticator) == b"pw-123"
    assert wire.verify_message_authenticator(req, SECRET)
    assert not wire.verify_message_authenticator(req, b"other")


@given(st.binary(min_size=0, max_size=128))
@settings(max_examples=200, deadline=None)
def test_password_hiding_round_trips_and_matches_pyrad(password: bytes) -> None:
    password = password.rstrip(b"\x00")
    auth = os.urandom(16)
    hidden = wire.encrypt_password(password, SECRET, auth)
    assert wire.decrypt_password(hidden, SECRET, auth) == password
    ref = AuthPacket(secret=SECRET, authenticator=auth)
    assert hidden == ref.PwCrypt(password)


def test_reply_verifies_with_pyrad_ma_first() -> None:
    req = pyrad_request(User_Name="u")
    req.AddAttribute("Proxy-State", b"ps")
    raw = wire.encode_reply(2, req.id, req.authenticator, SECRET,
                            [(27, wire.integer(60)), (18, "你好".encode())], [b"ps"])
    reply = req.CreateReply(packet=raw)
    assert req.VerifyReply(reply, raw, enforce_ma=True)
    assert raw[20] == 80 and reply["Session-Timeout"] == [60]
    acct = AcctPacket(secret=SECRET, dict=load_dictionary(), Acct_Status_Type=1)
    acct_raw = acct.RequestPacket()
    assert wire.verify_accounting_authenticator(wire.decode(acct_raw), SECRET)
    resp = wire.encode_reply(5, acct.id, acct.authenticator, SECRET, (), message_authenticator=False)
    assert acct.VerifyReply(acct.CreateReply(packet=resp), resp)


@pytest.mark.parametrize(
    ("data", "error"),
    [
        (b"\x01\x02\x00", MalformedPacket),                                   # short header
        (b"\x01\x02\x00\x10" + bytes(16), MalformedPacket),                   # Length < 20
        (b"\x01\x02\x00\x30" + bytes(16), MalformedPacket),                   # Length > datagram
        (b"\x01\x02\x00\x17" + bytes(16) + b"\x01\x01\x00", MalformedPacket),  # attr length 1
        (b"\x01\x02\x00\x17" + bytes(16) + b"\x01\x05\x00", MalformedPacket),  # attr overruns
        (b"\x01\x02\x00\x16" + bytes(16) + b"\x50\x02", MalformedPacket),     # MA not 16 octets
        (b"\x01\x02\x10\x01" + bytes(4097), OversizedPacket),
    ],
)
def test_malformed_packets_raise_typed_errors(data: bytes, error: type[Exception]) -> None:
    with pytest.raises(error):
        wire.decode(data)


def test_padding_after_length_is_ignored() -> None:
    raw = pyrad_request(User_Name="u").RequestPacket()
    req = wire.decode(raw + b"\x00" * 10)
    assert req.raw == raw and wire.verify_message_authenticator(req, SECRET)


@given(st.binary(max_size=300))
@settings(max_examples=500, deadline=None)
def test_decode_never_raises_untyped(data: bytes) -> None:
    with contextlib.suppress(MalformedPacket):
        wire.decode(data)


@settings(max_examples=300)
@given(key=st.binary(min_size=0, max_size=130), message=st.binary(max_size=600))
def test_hmac_md5_equals_the_standard_library(key: bytes, message: bytes) -> None:
    # Keys longer than the 64-octet block are hashed first (RFC 2104 §2): both branches covered.
    assert wire.hmac_md5(key, message) == hmac.digest(key, message, "md5")
    assert wire.hmac_md5(key, message) == hmac.digest(key, message, "md5")   # cached states reused


def test_dedup_stays_constant_time_when_full() -> None:
    # A full cache evicts one entry per new request. Guard against eviction that scans (a plain
    # dict emptied from its front makes every "oldest" lookup walk the holes: ~100x slower).
    import time

    def per_request(cache: DedupCache, start: int, count: int) -> float:
        t0 = time.perf_counter()
        for i in range(start, start + count):
            key = ("10.0.0.1", i, i & 0xFF, b"", 0)
            cache.begin(key, b"r")
            cache.finish(key, b"x")
        return (time.perf_counter() - t0) / count

    cache = DedupCache(ttl=30, max_entries=20_000)
    filling = per_request(cache, 0, 20_000)
    full = per_request(cache, 20_000, 40_000)
    assert len(cache) == 20_000
    assert full < 5 * filling, (filling, full)


def test_split_vsa() -> None:
    assert wire.split_vsa(b"\x00\x00\x07\xdb\x02\x06\x00\x00\x00\x01") == (2011, [(2, b"\x00\x00\x00\x01")])
    assert wire.split_vsa(b"\x00\x00\x07\xdb\x02\x09") is None
    assert wire.split_vsa(b"\x00\x00") is None


def test_dedup_states_and_expiry() -> None:
    now = [0.0]
    cache = DedupCache(ttl=30, max_entries=3, clock=lambda: now[0])
    key = ("1.2.3.4", 1000, 7, b"a" * 16, 0)
    assert cache.lookup(key, b"req") == (Lookup.NEW, None)
    cache.begin(key, b"req")
    assert cache.lookup(key, b"req") == (Lookup.IN_PROGRESS, None)
    cache.finish(key, b"reply")
    assert cache.lookup(key, b"req") == (Lookup.REPLAY, b"reply")
    assert cache.lookup(key, b"other bytes") == (Lookup.NEW, None)
    now[0] = 31
    assert cache.lookup(key, b"req") == (Lookup.NEW, None)
    cache.abort(key)
    assert len(cache) == 0
    for i in range(5):
        cache.begin(("ip", i, 0, b"", 0), b"r")
    assert len(cache) == 3


def test_first_value_of_a_repeated_attribute_is_the_first_on_the_wire() -> None:
    # decode builds ``first`` from the attribute list after its loop (reversed, in C): the first
    # occurrence must win, as RFC 2865 readers expect for single-valued attributes.
    body = b"\x01\x04ab" + b"\x1f\x04mm" + b"\x01\x04cd" + b"\x21\x04p1" + b"\x21\x04p2"
    req = wire.decode(b"\x01\x07" + (20 + len(body)).to_bytes(2, "big") + bytes(16) + body)
    assert req.get(1) == b"ab" and req.get(31) == b"mm" and req.all(33) == [b"p1", b"p2"]
    assert req.attrs == ((1, b"ab"), (31, b"mm"), (1, b"cd"), (33, b"p1"), (33, b"p2"))


def test_reply_attributes_encode_the_same_when_remembered() -> None:
    # encode_reply remembers encoded attributes by (type, value); a second reply with the same
    # attributes must be byte-identical, and an overlong value still refused every time.
    attrs = [(27, wire.integer(60)), (85, wire.integer(300)), (25, b"cw2|x"), wire.vsa(2011, 2, b"\x00\x01")]
    first = wire.encode_reply(2, 9, bytes(16), SECRET, attrs)
    assert wire.encode_reply(2, 9, bytes(16), SECRET, attrs) == first
    req = pyrad_request(User_Name="u")
    raw = wire.encode_reply(2, req.id, req.authenticator, SECRET, attrs)
    assert req.VerifyReply(req.CreateReply(packet=raw), raw, enforce_ma=True)
    for _ in range(2):
        with pytest.raises(ValueError, match="too long"):
            wire.encode_reply(2, 9, bytes(16), SECRET, [(18, b"x" * 254)])
