"""Pure codec of the carrier Portal protocol: bytes ⇄ ``PortalPacket``.

No sockets, clocks or randomness here. Layout (``docs/protocols/portal-protocol.md`` §1.1):

    Ver | Type | Pap/Chap | Rsv | SerialNo(2) | ReqID(2) | UserIP(4) | UserPort(2) | ErrCode | AttrNum
    [Authenticator(16)]          -- only in the 32-byte header form (§1.2)
    AttrNum × (Type(1) | Len(1) | Value(Len-2))

The header form is a property of the AC's flavour, not of the Ver byte (§1.3), so every call
takes ``header`` (16 or 32, or a ``HeaderForm``).
"""

from __future__ import annotations

import hashlib
import hmac
import ipaddress
import struct
from collections.abc import Iterable
from dataclasses import dataclass, field, replace

from ac_adapters.constants import MAX_PACKET, RESPONSE_TYPES, AttrType, PacketType
from ac_adapters.errors import (
    AttributeOverflow,
    BadAuthenticator,
    EncodeError,
    LengthMismatch,
    Oversized,
    Truncated,
    UnknownType,
    UnsupportedVersion,
)
from ac_adapters.profiles import HeaderForm

__all__ = [
    "MAX_USER_LIST",
    "Attribute",
    "PortalPacket",
    "attr_name",
    "attr_u32",
    "attr_u64",
    "chap_password",
    "compute_authenticator",
    "decode",
    "encode",
    "header_length",
    "ip_attr",
    "ip_from_attr",
    "mac_attr",
    "mac_from_attr",
    "parse_user_list",
    "text_attr",
    "type_name",
    "u32_attr",
    "u64_attr",
    "user_list_attr",
    "user_list_attrs",
    "user_list_from",
    "verify_authenticator",
]

_HEADER = struct.Struct("!BBBBHH4sHBB")   # the 16 fixed bytes
_ZERO16 = bytes(16)
SUPPORTED_VERSIONS = frozenset({1, 2})
_KNOWN_TYPES = frozenset(int(t) for t in PacketType)


@dataclass(frozen=True, slots=True)
class Attribute:
    """One TLV. ``type`` is an int so unknown codes (e.g. 0x26 seen in the wild) survive."""

    type: int
    value: bytes

    @property
    def name(self) -> str:
        return attr_name(self.type)


@dataclass(frozen=True, slots=True)
class PortalPacket:
    """A decoded or to-be-encoded portal packet. ``authenticator`` is None for 16-byte headers
    and for packets not yet encoded."""

    type: int
    version: int = 2
    pap_chap: int = 0            # 0 = CHAP, 1 = PAP (§1.1)
    rsv: int = 0
    serial_no: int = 0
    req_id: int = 0
    user_ip: str = "0.0.0.0"
    user_port: int = 0
    err_code: int = 0
    attrs: tuple[Attribute, ...] = field(default=())
    authenticator: bytes | None = None

    @property
    def chap(self) -> bool:
        return self.pap_chap == 0

    @property
    def type_name(self) -> str:
        return type_name(self.type)

    def get(self, attr_type: int) -> bytes | None:
        """Value of the first attribute of that type, or None."""
        for attr in self.attrs:
            if attr.type == attr_type:
                return attr.value
        return None

    def get_all(self, attr_type: int) -> list[bytes]:
        return [a.value for a in self.attrs if a.type == attr_type]

    def text(self, attr_type: int = AttrType.TEXT_INFO) -> str:
        """All values of a text attribute joined, decoded leniently (ACs send GBK or UTF-8)."""
        parts = []
        for raw in self.get_all(attr_type):
            try:
                parts.append(raw.decode("utf-8"))
            except UnicodeDecodeError:
                parts.append(raw.decode("gb18030", errors="replace"))
        return " ".join(parts)

    def with_attrs(self, *extra: Attribute) -> PortalPacket:
        return replace(self, attrs=self.attrs + extra)


def type_name(code: int) -> str:
    try:
        return PacketType(code).name
    except ValueError:
        return f"UNKNOWN_0x{code:02X}"


def attr_name(code: int) -> str:
    try:
        return AttrType(code).name
    except ValueError:
        return f"UNKNOWN_0x{code:02X}"


def header_length(header: HeaderForm | int) -> int:
    length = header.value if isinstance(header, HeaderForm) else int(header)
    if length not in (16, 32):
        raise ValueError(f"header length must be 16 or 32, not {length}")
    return length


# --- attribute value helpers --------------------------------------------------------------

def ip_attr(attr_type: int, ip: str) -> Attribute:
    return Attribute(attr_type, ipaddress.IPv4Address(ip).packed)


def mac_attr(attr_type: int, mac: str) -> Attribute:
    """A 6-byte raw MAC attribute from any common text form (``aa:bb…``, ``AA-BB…``, ``aabb.cc…``)."""
    digits = "".join(ch for ch in mac if ch not in ":-. ")
    try:
        raw = bytes.fromhex(digits)
    except ValueError:
        raise EncodeError(f"{mac!r} is not a MAC address") from None
    if len(raw) != 6:
        raise EncodeError(f"{mac!r} is not a MAC address")
    return Attribute(attr_type, raw)


def mac_from_attr(value: bytes) -> str | None:
    """``aa:bb:cc:dd:ee:ff`` from a 6-byte attribute value; None when the length is wrong."""
    if len(value) != 6:
        return None
    return ":".join(f"{b:02x}" for b in value)


def ip_from_attr(value: bytes) -> str | None:
    """Dotted IPv4 from a 4-byte attribute value (BAS-IP, IP-Config); None when the length is wrong."""
    if len(value) != 4:
        return None
    return str(ipaddress.IPv4Address(value))


def text_attr(attr_type: int, text: str, encoding: str = "utf-8") -> Attribute:
    """A text attribute (UserName, TextInfo, NAS-ID …); EncodeError when over 253 bytes."""
    raw = text.encode(encoding)
    if len(raw) > 253:
        raise EncodeError(f"{attr_name(attr_type)} text is {len(raw)} bytes (max 253)")
    return Attribute(attr_type, raw)


def u32_attr(attr_type: int, number: int) -> Attribute:
    """A 4-byte big-endian counter (EAG session times, octets, packets, gigawords: §1.7)."""
    if not 0 <= number <= 0xFFFFFFFF:
        raise EncodeError(f"{number} does not fit in 32 bits")
    return Attribute(attr_type, number.to_bytes(4, "big"))


def u64_attr(attr_type: int, number: int) -> Attribute:
    """An 8-byte big-endian counter (Up/DownLinkFlux in ACK_INFO, kbytes: §1.7)."""
    if not 0 <= number <= 0xFFFFFFFFFFFFFFFF:
        raise EncodeError(f"{number} does not fit in 64 bits")
    return Attribute(attr_type, number.to_bytes(8, "big"))


def attr_u32(value: bytes) -> int:
    """Inverse of ``u32_attr``; ``LengthMismatch`` unless exactly 4 bytes (untrusted input)."""
    if len(value) != 4:
        raise LengthMismatch(f"expected a 4-byte integer, got {len(value)} bytes")
    return int.from_bytes(value, "big")


def attr_u64(value: bytes) -> int:
    """Inverse of ``u64_attr``; ``LengthMismatch`` unless exactly 8 bytes (untrusted input)."""
    if len(value) != 8:
        raise LengthMismatch(f"expected an 8-byte integer, got {len(value)} bytes")
    return int.from_bytes(value, "big")


# §1.7: attr 0x0D User-List carries n × 4-byte IPv4; 63 × 4 = 252 fits the 253-byte value cap.
MAX_USER_LIST = 63


def user_list_attr(ips: Iterable[str]) -> Attribute:
    """One 0x0D User-List attribute of at most ``MAX_USER_LIST`` IPv4 addresses."""
    try:
        packed = [ipaddress.IPv4Address(ip).packed for ip in ips]
    except ValueError as exc:
        raise EncodeError(f"user list: {exc}") from None
    if len(packed) > MAX_USER_LIST:
        raise EncodeError(f"{len(packed)} IPs in one User-List attribute (max {MAX_USER_LIST})")
    return Attribute(AttrType.USER_LIST, b"".join(packed))


def user_list_attrs(ips: Iterable[str]) -> tuple[Attribute, ...]:
    """As many 0x0D attributes as needed, ``MAX_USER_LIST`` IPs each (user-sync, §1.9)."""
    items = list(ips)
    return tuple(
        user_list_attr(items[i : i + MAX_USER_LIST]) for i in range(0, len(items), MAX_USER_LIST)
    )


def parse_user_list(value: bytes) -> list[str]:
    """IPv4 addresses of one 0x0D value; ``LengthMismatch`` when not a multiple of 4 bytes."""
    if len(value) % 4:
        raise LengthMismatch(f"User-List value of {len(value)} bytes is not a multiple of 4")
    return [str(ipaddress.IPv4Address(value[i : i + 4])) for i in range(0, len(value), 4)]


def user_list_from(packet: PortalPacket) -> list[str]:
    """Every IP of every 0x0D attribute of ``packet``, in order."""
    out: list[str] = []
    for value in packet.get_all(AttrType.USER_LIST):
        out.extend(parse_user_list(value))
    return out


# --- authenticator and CHAP (§1.2, §1.8) ----------------------------------------------------

def compute_authenticator(
    head16: bytes, attrs_bytes: bytes, secret: bytes, request_authenticator: bytes | None
) -> bytes:
    """MD5(header[0:16] ‖ (request authenticator | 16×0x00) ‖ attributes ‖ secret)."""
    middle = request_authenticator if request_authenticator is not None else _ZERO16
    return hashlib.md5(head16 + middle + attrs_bytes + secret).digest()


def chap_password(req_id: int, password: bytes, challenge: bytes) -> bytes:
    """ChapPassWord = MD5(ChapID ‖ password ‖ challenge), ChapID = low byte of ReqID (§1.8)."""
    return hashlib.md5(bytes((req_id & 0xFF,)) + password + challenge).digest()


# --- encode --------------------------------------------------------------------------------

def _encode_attrs(attrs: Iterable[Attribute]) -> tuple[bytes, int]:
    out = bytearray()
    count = 0
    for attr in attrs:
        if not 0 <= attr.type <= 0xFF:
            raise EncodeError(f"attribute type {attr.type} out of range")
        if len(attr.value) > 253:
            raise EncodeError(f"attribute {attr_name(attr.type)} value is {len(attr.value)} bytes (max 253)")
        out += bytes((attr.type, len(attr.value) + 2)) + attr.value
        count += 1
    if count > 255:
        raise EncodeError(f"{count} attributes (max 255)")
    return bytes(out), count


def encode(
    packet: PortalPacket,
    *,
    header: HeaderForm | int,
    secret: bytes = b"",
    request_authenticator: bytes | None = None,
) -> bytes:
    """Serialise ``packet``. In the 32-byte form the authenticator is computed from ``secret``;
    a response type (``RESPONSE_TYPES``) needs the ``request_authenticator`` it answers."""
    length = header_length(header)
    for name, value, limit in (
        ("version", packet.version, 0xFF), ("type", packet.type, 0xFF),
        ("pap_chap", packet.pap_chap, 0xFF), ("rsv", packet.rsv, 0xFF),
        ("serial_no", packet.serial_no, 0xFFFF), ("req_id", packet.req_id, 0xFFFF),
        ("user_port", packet.user_port, 0xFFFF), ("err_code", packet.err_code, 0xFF),
    ):
        if not 0 <= value <= limit:
            raise EncodeError(f"{name} {value} out of range 0..{limit}")
    try:
        ip = ipaddress.IPv4Address(packet.user_ip).packed
    except ValueError:
        raise EncodeError(f"user_ip {packet.user_ip!r} is not an IPv4 address") from None
    attrs_bytes, count = _encode_attrs(packet.attrs)
    head16 = _HEADER.pack(
        packet.version, packet.type, packet.pap_chap, packet.rsv, packet.serial_no,
        packet.req_id, ip, packet.user_port, packet.err_code, count,
    )
    if length == 16:
        data = head16 + attrs_bytes
    else:
        if packet.type in RESPONSE_TYPES:
            if request_authenticator is None or len(request_authenticator) != 16:
                raise EncodeError(f"{type_name(packet.type)} needs the 16-byte request authenticator")
            auth = compute_authenticator(head16, attrs_bytes, secret, request_authenticator)
        else:
            auth = compute_authenticator(head16, attrs_bytes, secret, None)
        data = head16 + auth + attrs_bytes
    if len(data) > MAX_PACKET:
        raise EncodeError(f"packet is {len(data)} bytes (max {MAX_PACKET})")
    return data


# --- decode --------------------------------------------------------------------------------

def decode(
    data: bytes,
    *,
    header: HeaderForm | int,
    secret: bytes | None = None,
    request_authenticator: bytes | None = None,
) -> PortalPacket:
    """Parse untrusted bytes. Raises only ``DecodeError`` subclasses.

    With ``secret`` (32-byte form) the authenticator is verified too: against 16 zero bytes
    for requests, against ``request_authenticator`` for response types (which is then required).
    """
    length = header_length(header)
    if len(data) > MAX_PACKET:
        raise Oversized(f"datagram of {len(data)} bytes (max {MAX_PACKET})")
    if len(data) < length:
        raise Truncated(f"{len(data)} bytes, the {length}-byte header is incomplete")
    (version, ptype, pap_chap, rsv, serial_no, req_id, ip, user_port, err_code, attr_num) = (
        _HEADER.unpack_from(data)
    )
    if version not in SUPPORTED_VERSIONS:
        raise UnsupportedVersion(f"version byte 0x{version:02X}")
    if ptype not in _KNOWN_TYPES:
        raise UnknownType(f"packet type 0x{ptype:02X}")
    authenticator = bytes(data[16:32]) if length == 32 else None
    attrs = []
    pos = length
    for index in range(attr_num):
        if pos + 2 > len(data):
            raise Truncated(f"attribute {index + 1} of {attr_num} is missing")
        a_type, a_len = data[pos], data[pos + 1]
        if a_len < 2:
            raise AttributeOverflow(f"attribute 0x{a_type:02X} has length {a_len} (< 2)")
        if pos + a_len > len(data):
            raise AttributeOverflow(
                f"attribute 0x{a_type:02X} of length {a_len} runs past the datagram end"
            )
        attrs.append(Attribute(a_type, bytes(data[pos + 2 : pos + a_len])))
        pos += a_len
    if pos != len(data):
        raise LengthMismatch(f"{len(data) - pos} bytes after {attr_num} attributes")
    packet = PortalPacket(
        type=ptype, version=version, pap_chap=pap_chap, rsv=rsv, serial_no=serial_no,
        req_id=req_id, user_ip=str(ipaddress.IPv4Address(ip)), user_port=user_port,
        err_code=err_code, attrs=tuple(attrs), authenticator=authenticator,
    )
    if secret is not None and length == 32 and not verify_authenticator(
        data, secret, request_authenticator
    ):
        raise BadAuthenticator(f"{type_name(ptype)} authenticator does not verify (wrong secret?)")
    return packet


def verify_authenticator(
    data: bytes, secret: bytes, request_authenticator: bytes | None = None
) -> bool:
    """Check the authenticator of an (already decodable) 32-byte-header datagram.

    Response types need the authenticator of the request they answer; without it they fail.
    """
    if len(data) < 32:
        return False
    is_response = data[1] in RESPONSE_TYPES
    if is_response and (request_authenticator is None or len(request_authenticator) != 16):
        return False
    expected = compute_authenticator(
        bytes(data[:16]), bytes(data[32:]), secret, request_authenticator if is_response else None
    )
    return hmac.compare_digest(expected, bytes(data[16:32]))
