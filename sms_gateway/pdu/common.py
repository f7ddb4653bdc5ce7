"""Building blocks shared by the SMGP, CMPP and SMPP codecs (docs/protocols/sms.md §1.2).

Pure functions over bytes: no sockets, clocks or randomness. Every decoder raises
:class:`~sms_gateway.errors.PduError` on malformed input, never ``struct.error``/``IndexError``.
"""

from __future__ import annotations

import hashlib
import struct
from dataclasses import dataclass

from sms_gateway.errors import PduError

__all__ = [
    "HEADER12",
    "RESP_BIT",
    "LoginProof",
    "Reader",
    "Tlv",
    "decode_tlvs",
    "encode_tlvs",
    "md5",
    "octets",
    "split_header12",
    "timestamp_int",
    "timestamp_str",
]

RESP_BIT = 0x80000000  # §1.2: a response id is 0x80000000 | request id
HEADER12 = struct.Struct(">III")  # §1.2: total length, command id, sequence id
MAX_PDU = 64 * 1024  # a sane upper bound; real PDUs are < 3 KB


def octets(value: str | bytes, size: int, encoding: str = "ascii") -> bytes:
    """A fixed-length "Octet String": left-aligned, right-padded with NUL (§1.2).

    Refuses values that do not fit instead of silently truncating a phone number.
    """
    raw = value.encode(encoding) if isinstance(value, str) else value
    if len(raw) > size:
        raise PduError(f"field value {raw!r} longer than {size} bytes")
    return raw.ljust(size, b"\0")


def md5(*parts: bytes) -> bytes:
    return hashlib.md5(b"".join(parts)).digest()


@dataclass(frozen=True, slots=True)
class LoginProof:
    """How a CMPP CONNECT or an SMGP Login proves both ends know the shared secret.

    The two protocols use one recipe (China Mobile CMPP V3.0.0, CMPP_CONNECT and
    CMPP_CONNECT_RESP; China Telecom SMGP V3.0.3, Login and Login_Resp):

    * the client's authenticator is MD5(account id + ``id_zeros`` bytes 0x00 + secret +
      ``"MMDDHHMMSS"``); the zeros pad the account id to 15 bytes (CMPP: 6 + 9, SMGP: 8 + 7);
    * the server's is MD5(Status as sent in the response + client authenticator + secret).
    """

    id_zeros: int

    def client(self, account: str, secret: str, timestamp: str) -> bytes:
        return md5(account.encode(), bytes(self.id_zeros), secret.encode(), timestamp.encode())

    def server(self, status: bytes, client_auth: bytes, secret: str) -> bytes:
        """``status`` is the Status field's wire bytes (its width differs between versions)."""
        return md5(status, client_auth, secret.encode())


def timestamp_str(month: int, day: int, hour: int, minute: int, second: int) -> str:
    """The ``MMDDHHMMSS`` string used inside login authenticators (§1.3, §1.4)."""
    return f"{month:02d}{day:02d}{hour:02d}{minute:02d}{second:02d}"


def timestamp_int(ts: str) -> int:
    """The integer on the wire whose decimal digits are the ``MMDDHHMMSS`` string."""
    return int(ts)


def split_header12(data: bytes) -> tuple[int, int, int, bytes]:
    """Split one complete CMPP/SMGP PDU into (total length, command id, sequence, body)."""
    if len(data) < HEADER12.size:
        raise PduError(f"PDU shorter than its 12-byte header ({len(data)} bytes)")
    total, command, seq = HEADER12.unpack_from(data)
    if total != len(data):
        raise PduError(f"PDU length field {total} != {len(data)} bytes received")
    return total, command, seq, data[HEADER12.size:]


class Reader:
    """Sequential reader over a body that raises PduError instead of running off the end."""

    __slots__ = ("data", "pos")

    def __init__(self, data: bytes, pos: int = 0) -> None:
        self.data = data
        self.pos = pos

    def take(self, n: int, what: str) -> bytes:
        end = self.pos + n
        if n < 0 or end > len(self.data):
            raise PduError(f"truncated PDU: {what} needs {n} bytes at offset {self.pos}")
        out = self.data[self.pos:end]
        self.pos = end
        return out

    def u8(self, what: str) -> int:
        return self.take(1, what)[0]

    def u32(self, what: str) -> int:
        return int.from_bytes(self.take(4, what), "big")

    def text(self, n: int, what: str) -> str:
        """A fixed-length octet string with NUL padding removed (ASCII, lenient)."""
        return self.take(n, what).split(b"\0", 1)[0].decode("ascii", "replace")

    def cstring(self, maxlen: int, what: str) -> str:
        """SMPP C-Octet String: up to ``maxlen`` bytes including the terminating NUL."""
        end = self.data.find(b"\0", self.pos, self.pos + maxlen)
        if end < 0:
            raise PduError(f"{what}: no NUL terminator within {maxlen} bytes")
        out = self.data[self.pos:end]
        self.pos = end + 1
        return out.decode("ascii", "replace")

    def rest(self) -> bytes:
        out = self.data[self.pos:]
        self.pos = len(self.data)
        return out

    @property
    def remaining(self) -> int:
        return len(self.data) - self.pos


@dataclass(frozen=True, slots=True)
class Tlv:
    """Tag 2 bytes, Length 2 bytes, Value (SMGP 3.0 §1.3 and SMPP 3.4 optional parameters)."""

    tag: int
    value: bytes


def encode_tlvs(tlvs: tuple[Tlv, ...]) -> bytes:
    out = bytearray()
    for t in tlvs:
        if len(t.value) > 0xFFFF:
            raise PduError(f"TLV 0x{t.tag:04x} value too long")
        out += struct.pack(">HH", t.tag, len(t.value)) + t.value
    return bytes(out)


def decode_tlvs(data: bytes) -> tuple[Tlv, ...]:
    r = Reader(data)
    out: list[Tlv] = []
    while r.remaining:
        tag = int.from_bytes(r.take(2, "TLV tag"), "big")
        length = int.from_bytes(r.take(2, "TLV length"), "big")
        out.append(Tlv(tag, r.take(length, f"TLV 0x{tag:04x} value")))
    return tuple(out)
