"""A lean RADIUS codec for the server's hot path: pure functions over bytes.

pyrad's ``Packet`` decodes every attribute through its dictionary and builds replies through
several layers; that costs most of the ~100 µs per request measured in docs/protocols/radius.md §4.4.
The server only needs a handful of attributes per Access-Request, so it splits the packet into
raw ``(type, value)`` pairs once, checks lengths strictly, and encodes replies directly.
Accounting-Requests take the same path: the accounting processor reads the decoded ``Request``
(``radius.acct_record.AcctRecord.from_packet``). Of pyrad the server uses only the dictionary parser,
to learn which attributes the shipped dictionaries define (``radius.dictionary``).

No sockets, clocks or randomness in here.
"""

from __future__ import annotations

import hashlib
import hmac
import struct
from enum import IntEnum
from typing import Any, NamedTuple

from radius.errors import MalformedPacket, OversizedPacket

try:
    # CPython's own MD5 (the module hashlib falls back to): for the short messages of RADIUS
    # (a packet, a secret and 16 octets) it costs ~3,400 instructions per hash against ~5,400
    # for OpenSSL's through hashlib, whose per-call EVP set-up outweighs its faster rounds;
    # six MD5s per Access-Request (callgrind, docs/benchmarks.md). Same digests either way.
    from _md5 import md5 as _md5
except ImportError:   # a build without it (``--with-builtin-hashlib-hashes`` leaving it out)
    _md5 = hashlib.md5

__all__ = [
    "MAX_PACKET",
    "Attr",
    "Code",
    "Request",
    "decode",
    "decrypt_password",
    "encode_reply",
    "encrypt_password",
    "hmac_md5",
    "integer",
    "split_vsa",
    "verify_accounting_authenticator",
    "verify_message_authenticator",
    "vsa",
]

MAX_PACKET = 4096          # RFC 2865 §3: maximum length
_ZERO16 = bytes(16)


class Code(IntEnum):
    """Packet codes (RFC 2865 §3, RFC 2866 §3, RFC 5997)."""

    ACCESS_REQUEST = 1
    ACCESS_ACCEPT = 2
    ACCESS_REJECT = 3
    ACCOUNTING_REQUEST = 4
    ACCOUNTING_RESPONSE = 5
    ACCESS_CHALLENGE = 11
    STATUS_SERVER = 12


class Attr(IntEnum):
    """Attribute types the server reads or writes (RFC 2865 §5, RFC 2866 §5, RFC 2869 §5)."""

    USER_NAME = 1
    USER_PASSWORD = 2
    CHAP_PASSWORD = 3
    NAS_IP_ADDRESS = 4
    NAS_PORT = 5
    REPLY_MESSAGE = 18
    CLASS = 25
    VENDOR_SPECIFIC = 26
    SESSION_TIMEOUT = 27
    IDLE_TIMEOUT = 28
    CALLED_STATION_ID = 30
    CALLING_STATION_ID = 31
    NAS_IDENTIFIER = 32
    PROXY_STATE = 33
    ACCT_STATUS_TYPE = 40
    ACCT_SESSION_ID = 44
    EVENT_TIMESTAMP = 55
    CHAP_CHALLENGE = 60
    EAP_MESSAGE = 79
    MESSAGE_AUTHENTICATOR = 80
    ACCT_INTERIM_INTERVAL = 85


class Request(NamedTuple):
    """A decoded request: header fields, attributes in wire order, first value per type.

    A NamedTuple, not a frozen dataclass: one is built per datagram, and a frozen dataclass sets
    each field through ``object.__setattr__`` (callgrind: ~11,000 instructions for seven fields,
    ~3,600 for a NamedTuple; docs/benchmarks.md)."""

    code: int
    ident: int
    authenticator: bytes
    raw: bytes                              # the packet up to its Length field
    attrs: tuple[tuple[int, bytes], ...]
    first: dict[int, bytes]
    ma_offset: int                          # offset of Message-Authenticator's value, -1 if none

    def get(self, attr: int) -> bytes | None:
        return self.first.get(attr)

    def text(self, attr: int) -> str | None:
        """A string attribute as text (invalid UTF-8 replaced, never raising)."""
        value = self.first.get(attr)
        return None if value is None else value.decode("utf-8", "replace")

    def all(self, attr: int) -> list[bytes]:
        if attr not in self.first:   # the usual case (e.g. no Proxy-State): skip the scan
            return []
        return [v for t, v in self.attrs if t == attr]


def decode(data: bytes) -> Request:
    """Split a datagram into a Request; raise MalformedPacket if any length is inconsistent.

    Octets after the Length field are padding and ignored (RFC 2865 §3).
    """
    n = len(data)
    if n < 20:
        raise MalformedPacket(f"packet of {n} octets is shorter than the 20-octet header")
    if n > MAX_PACKET:
        raise OversizedPacket(f"datagram of {n} octets exceeds {MAX_PACKET}")
    code, ident, length = data[0], data[1], (data[2] << 8) | data[3]
    if length < 20 or length > n:
        raise MalformedPacket(f"Length field {length} does not fit a {n}-octet datagram")
    if length > MAX_PACKET:
        raise OversizedPacket(f"Length field {length} exceeds {MAX_PACKET}")
    raw = data[:length] if length != n else data
    # Per attribute as few bytecodes as possible (this loop was ~10 % of an Access-Request's
    # instructions): a header cut short shows as an IndexError of raw[pos + 1] (raw ends at
    # Length), and the first value of each type is taken after the loop, in C.
    attrs: list[tuple[int, bytes]] = []
    append = attrs.append
    ma = -1
    pos = 20
    try:
        while pos < length:
            atype = raw[pos]
            end = pos + raw[pos + 1]
            if end < pos + 2 or end > length:
                raise MalformedPacket(f"attribute {atype} at offset {pos} has bad length {end - pos}")
            if atype == 80:
                if end - pos != 18 or ma >= 0:
                    raise MalformedPacket("Message-Authenticator must appear once with 16 octets")
                ma = pos + 2
            append((atype, raw[pos + 2 : end]))
            pos = end
    except IndexError:
        raise MalformedPacket(f"truncated attribute header at offset {pos}") from None
    # Reversed, so that the first value of a repeated type is the one left in the dict.
    first = dict(reversed(attrs))
    return Request(code, ident, raw[4:20], raw, tuple(attrs), first, ma)


def split_vsa(value: bytes) -> tuple[int, list[tuple[int, bytes]]] | None:
    """Vendor-Specific (RFC 2865 §5.26) → (vendor id, [(type, value)]); None if not in the
    recommended format (then it is kept opaque, never an error)."""
    if len(value) < 6:
        return None
    vendor = int.from_bytes(value[:4], "big")
    subs = []
    pos = 4
    n = len(value)
    while pos < n:
        if pos + 2 > n:
            return None
        alen = value[pos + 1]
        if alen < 2 or pos + alen > n:
            return None
        subs.append((value[pos], value[pos + 2 : pos + alen]))
        pos += alen
    return vendor, subs


_IPAD = bytes(b ^ 0x36 for b in range(256))    # translate() tables: key XOR ipad / opad (RFC 2104)
_OPAD = bytes(b ^ 0x5C for b in range(256))
_HMAC_STATES: dict[bytes, tuple[Any, Any]] = {}


def hmac_md5(key: bytes, message: bytes) -> bytes:
    """HMAC-MD5 (RFC 2104), equal to ``hmac.digest(key, message, "md5")``.

    The MD5 states after the padded key's inner and outer blocks depend on the key alone, so
    they are computed once per shared secret and copied per packet; ``hmac.digest`` rebuilds
    them on every call, which measured more than twice as slow (two HMACs per Access-Request).
    """
    states = _HMAC_STATES.get(key)
    if states is None:
        block = (_md5(key).digest() if len(key) > 64 else key).ljust(64, b"\0")
        states = (_md5(block.translate(_IPAD)), _md5(block.translate(_OPAD)))
        if len(_HMAC_STATES) >= 4096:   # bounded: one entry per AC secret in practice
            _HMAC_STATES.clear()
        _HMAC_STATES[key] = states
    inner = states[0].copy()
    inner.update(message)
    outer = states[1].copy()
    outer.update(inner.digest())
    return outer.digest()


def verify_message_authenticator(req: Request, secret: bytes) -> bool:
    """RFC 2869 §5.14 / RFC 3579 §3.2: HMAC-MD5 over the packet with the MA value zeroed."""
    off = req.ma_offset
    if off < 0:
        return False
    raw = req.raw
    expected = hmac_md5(secret, raw[:off] + _ZERO16 + raw[off + 16 :])
    return hmac.compare_digest(expected, raw[off : off + 16])


def verify_accounting_authenticator(req: Request, secret: bytes) -> bool:
    """RFC 2866 §3: Request Authenticator = MD5(Code+ID+Length + 16 zero octets + attrs + secret)."""
    raw = req.raw
    expected = _md5(raw[:4] + _ZERO16 + raw[20:] + secret).digest()
    return hmac.compare_digest(expected, req.authenticator)


def decrypt_password(value: bytes, secret: bytes, authenticator: bytes) -> bytes:
    """Undo User-Password hiding (RFC 2865 §5.2); trailing NUL padding removed."""
    if not value or len(value) % 16 or len(value) > 128:
        raise MalformedPacket(f"User-Password of {len(value)} octets is not 16..128 in steps of 16")
    if len(value) == 16:   # the usual case (a password of up to 16 octets): one block, no loop
        key = _md5(secret + authenticator).digest()
        return (int.from_bytes(key, "big") ^ int.from_bytes(value, "big")).to_bytes(16, "big").rstrip(b"\x00")
    out = bytearray()
    last = authenticator
    for i in range(0, len(value), 16):
        block = value[i : i + 16]
        key = _md5(secret + last).digest()
        out += (int.from_bytes(key, "big") ^ int.from_bytes(block, "big")).to_bytes(16, "big")
        last = block
    return bytes(out).rstrip(b"\x00")


def encrypt_password(password: bytes, secret: bytes, authenticator: bytes) -> bytes:
    """User-Password hiding (RFC 2865 §5.2), for clients and tests."""
    padded = password + b"\x00" * (-len(password) % 16) if password else bytes(16)
    out = bytearray()
    last = authenticator
    for i in range(0, len(padded), 16):
        key = _md5(secret + last).digest()
        last = (int.from_bytes(key, "big") ^ int.from_bytes(padded[i : i + 16], "big")).to_bytes(16, "big")
        out += last
    return bytes(out)


def integer(value: int) -> bytes:
    """A 32-bit unsigned integer attribute value (clamped: an AC must never see a wrapped value)."""
    return max(0, min(value, 0xFFFFFFFF)).to_bytes(4, "big")


def vsa(vendor: int, vtype: int, value: bytes) -> tuple[int, bytes]:
    """A Vendor-Specific attribute (RFC 2865 §5.26) carrying one sub-attribute."""
    if len(value) > 247:
        raise ValueError(f"vendor attribute {vendor}/{vtype} value too long ({len(value)} octets)")
    return 26, vendor.to_bytes(4, "big") + bytes((vtype, len(value) + 2)) + value


# Encoded attributes of replies, by (type, value): most of an Accept's attributes repeat for
# every phone on a plan (timeouts, rates), and formatting each one cost ~2,000 instructions
# against ~1,000 for the look-up (callgrind). Bounded: cleared when full.
_ENCODED: dict[tuple[int, bytes], bytes] = {}


def encode_reply(
    code: int,
    ident: int,
    request_authenticator: bytes,
    secret: bytes,
    attrs: list[tuple[int, bytes]] | tuple[tuple[int, bytes], ...],
    proxy_states: list[bytes] | tuple[bytes, ...] = (),
    *,
    message_authenticator: bool = True,
) -> bytes:
    """Encode and sign a reply.

    Message-Authenticator goes first (BlastRADIUS, CVE-2024-3596; docs/protocols/radius.md §5) and is
    computed with the Request Authenticator (RFC 3579 §3.2, RFC 5997 §3). Proxy-State is copied
    last, in order (RFC 2865 §5.33). The Response Authenticator is
    MD5(Code+ID+Length+RequestAuth+Attributes+Secret) (RFC 2865 §3).
    """
    parts: list[bytes] = []
    append = parts.append
    for pair in attrs:
        encoded = _ENCODED.get(pair)
        if encoded is None:
            atype, value = pair
            if len(value) > 253:
                raise ValueError(f"attribute {atype} value too long ({len(value)} octets)")
            encoded = b"%c%c%b" % (atype, len(value) + 2, value)
            if atype != 25:   # a Class is new in every Accept: never worth remembering
                if len(_ENCODED) >= 4096:
                    _ENCODED.clear()
                _ENCODED[pair] = encoded
        append(encoded)
    for state in proxy_states:
        parts.append(b"%c%c%b" % (33, len(state) + 2, state))
    body = b"".join(parts)
    if message_authenticator:
        length = 20 + 18 + len(body)
        head = struct.pack("!BBH", code, ident, length)
        mac = hmac_md5(secret, head + request_authenticator + b"\x50\x12" + _ZERO16 + body)
        body = b"\x50\x12" + mac + body
    else:
        length = 20 + len(body)
        head = struct.pack("!BBH", code, ident, length)
    if length > MAX_PACKET:
        raise ValueError(f"reply of {length} octets exceeds {MAX_PACKET}")
    response_auth = _md5(head + request_authenticator + body + secret).digest()
    return head + response_auth + body
