"""Pure codec for RFC 5176 Dynamic Authorization: Disconnect-Request and CoA-Request we send to
an AC, and the ACK/NAK it answers. No sockets or clocks here (the caller passes the ident, the
Event-Timestamp and the attributes).

* Request Authenticator = MD5(Code+Identifier+Length+16 zero octets+Attributes+Secret), as for
  Accounting-Request (RFC 5176 §2.3, RFC 2866 §3).
* Message-Authenticator, when included, is HMAC-MD5 over the packet with the Request
  Authenticator field and the MA value both zero (RFC 5176 §3.5 → RFC 3579 §3.2).
* Reply: Response Authenticator = MD5(Code+ID+Length+Request Authenticator+Attributes+Secret)
  (RFC 5176 §3.5 / RFC 2865 §3); a reply MA is computed with the Request Authenticator in place.
"""

from __future__ import annotations

import hashlib
import hmac
import ipaddress
import struct
from dataclasses import dataclass
from enum import IntEnum

from radius import wire
from radius.errors import BadReplyAuthenticator, MismatchedReply

__all__ = [
    "DynCode",
    "ErrorCause",
    "Reply",
    "decode_reply",
    "encode_request",
    "request_attrs",
]

_ZERO16 = bytes(16)


class DynCode(IntEnum):
    """Packet codes (RFC 5176 §3)."""

    DISCONNECT_REQUEST = 40
    DISCONNECT_ACK = 41
    DISCONNECT_NAK = 42
    COA_REQUEST = 43
    COA_ACK = 44
    COA_NAK = 45


class ErrorCause(IntEnum):
    """Error-Cause values (RFC 5176 §3.6) we act on."""

    RESIDUAL_SESSION_CONTEXT_REMOVED = 201
    UNSUPPORTED_ATTRIBUTE = 401
    MISSING_ATTRIBUTE = 402
    NAS_IDENTIFICATION_MISMATCH = 403
    INVALID_REQUEST = 404
    UNSUPPORTED_SERVICE = 405
    INVALID_ATTRIBUTE_VALUE = 407
    ADMINISTRATIVELY_PROHIBITED = 501
    SESSION_CONTEXT_NOT_FOUND = 503   # the user is already gone: success for a Disconnect
    SESSION_CONTEXT_NOT_REMOVABLE = 504
    RESOURCES_UNAVAILABLE = 506


def request_attrs(
    *,
    user_name: str | None,
    session_id: str | None,
    framed_ip: str | None,
    calling_station_id: str | None,
    nas_ip: str | None,
    event_timestamp: int,
    nas_identifier: str | None = None,
) -> list[tuple[int, bytes]]:
    """Session identification attributes (RFC 5176 §3) + Event-Timestamp (§3, SHOULD). Each
    value goes out as given: the caller passes what the NAS itself sent in accounting."""
    out: list[tuple[int, bytes]] = []
    if user_name:
        out.append((1, user_name.encode()[:253]))
    if session_id:
        out.append((44, session_id.encode()[:253]))
    if framed_ip:
        out.append((8, ipaddress.IPv4Address(framed_ip).packed))
    if calling_station_id:
        out.append((31, calling_station_id.encode()[:253]))
    if nas_ip and ":" not in nas_ip:  # an IPv6 AC: the session ids above suffice
        out.append((4, ipaddress.IPv4Address(nas_ip).packed))
    if nas_identifier:
        out.append((32, nas_identifier.encode()[:253]))
    out.append((55, struct.pack("!I", event_timestamp & 0xFFFFFFFF)))
    return out


def encode_request(
    code: int,
    ident: int,
    secret: bytes,
    attrs: list[tuple[int, bytes]] | tuple[tuple[int, bytes], ...],
    *,
    message_authenticator: bool = True,
) -> bytes:
    """A signed Disconnect-Request or CoA-Request."""
    parts = []
    for atype, value in attrs:
        if len(value) > 253:
            raise ValueError(f"attribute {atype} value too long ({len(value)} octets)")
        parts.append(bytes((atype, len(value) + 2)) + value)
    body = b"".join(parts)
    length = 20 + len(body) + (18 if message_authenticator else 0)
    if length > wire.MAX_PACKET:
        raise ValueError(f"request of {length} octets exceeds {wire.MAX_PACKET}")
    head = struct.pack("!BBH", code, ident & 0xFF, length)
    if message_authenticator:
        mac = hmac.new(secret, head + _ZERO16 + b"\x50\x12" + _ZERO16 + body, hashlib.md5).digest()
        body = b"\x50\x12" + mac + body
    authenticator = hashlib.md5(head + _ZERO16 + body + secret).digest()
    return head + authenticator + body


@dataclass(frozen=True, slots=True)
class Reply:
    code: int
    ident: int
    error_cause: int | None
    attrs: tuple[tuple[int, bytes], ...]
    zero_vector_ma: bool = False     # its Message-Authenticator used the pre-3.2.4 FreeRADIUS form

    @property
    def acked(self) -> bool:
        return self.code in (DynCode.DISCONNECT_ACK, DynCode.COA_ACK)


def decode_reply(data: bytes, request: bytes, secret: bytes, *, zero_vector_ma: bool = False) -> Reply:
    """Decode and verify a reply to ``request`` (the bytes we sent). Raises MalformedPacket when
    it is not a valid, correctly signed ACK/NAK for that request (``code`` says why: malformed,
    dm_reply_mismatch, dm_reply_bad_authenticator).

    ``zero_vector_ma``: also accept a Message-Authenticator computed over sixteen zero octets
    instead of the request's authenticator. FreeRADIUS before 3.2.4 signs the ACK/NAKs it
    relays that way (its issue #5212, fixed in 3.2.4), so a Debian 12 proxy's every answer
    would otherwise be dropped. The Response Authenticator, which binds the reply to this
    request and the secret, is checked either way."""
    req = wire.decode(data)
    if req.ident != request[1]:
        raise MismatchedReply(f"reply identifier {req.ident} does not match {request[1]}")
    expected_codes = {
        DynCode.DISCONNECT_REQUEST: (DynCode.DISCONNECT_ACK, DynCode.DISCONNECT_NAK),
        DynCode.COA_REQUEST: (DynCode.COA_ACK, DynCode.COA_NAK),
    }.get(DynCode(request[0]), ())
    if req.code not in expected_codes:
        raise MismatchedReply(f"reply code {req.code} does not answer request code {request[0]}")
    raw = req.raw
    request_auth = request[4:20]
    expected = hashlib.md5(raw[:4] + request_auth + raw[20:] + secret).digest()
    if not hmac.compare_digest(expected, req.authenticator):
        raise BadReplyAuthenticator("bad Response Authenticator (wrong secret or forged reply)")
    if req.ma_offset >= 0:
        off = req.ma_offset
        vectors = (request_auth, _ZERO16) if zero_vector_ma else (request_auth,)
        matched = [v for v in vectors if hmac.compare_digest(
            hmac.new(secret, raw[:4] + v + raw[20:off] + _ZERO16 + raw[off + 16:], hashlib.md5).digest(),
            raw[off:off + 16])]
        if not matched:
            raise BadReplyAuthenticator("bad Message-Authenticator in reply")
        legacy = matched[0] is _ZERO16
    else:
        legacy = False
    cause = req.get(101)
    return Reply(
        code=req.code, ident=req.ident,
        error_cause=int.from_bytes(cause, "big") if cause is not None and len(cause) == 4 else None,
        attrs=req.attrs, zero_vector_ma=legacy,
    )
