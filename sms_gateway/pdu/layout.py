"""PDU bodies written once, as field tables that one packer and one parser both walk.

A layout is the operator specification's field table in code: a tuple of :class:`Field` in wire
order, each with the specification's field name, the message attribute it carries and how it is
encoded. ``pack`` and ``parse`` below are the only code that reads or writes a CMPP, SMGP or
SMPP body (and an SMPP optional parameter's value),
so an encoder and a decoder can no longer disagree about an offset (dnslib keeps each record's
``parse`` and ``pack`` side by side for the same reason).

A field's width may depend on the protocol version (CMPP 3.0 terminal ids are 32 bytes, 2.0's
21), and a field may exist in one version only (CMPP 3.0's ``*_terminal_type``, 2.0's Reserve).
Pure functions over bytes; malformed input and values that do not fit raise
:class:`~sms_gateway.errors.PduError` (a non-ASCII text field raises UnicodeEncodeError, as
``common.octets`` always did).

SMPP 3.4 adds C-Octet Strings (``CSTRING``: the text and a NUL, at most ``width`` octets with the
NUL), fields an error response may leave out (``optional``: absent when the body has ended) and a
length-prefixed short_message shorter than 255 octets (``bounds`` of a ``BYTES8``).
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from enum import Enum
from typing import Any

from sms_gateway.errors import PduError
from sms_gateway.pdu.common import Reader, decode_tlvs, encode_tlvs, octets

__all__ = ["Field", "Kind", "Layout", "fixed_size", "pack", "parse", "uint"]


class Kind(Enum):
    """How a field's value sits on the wire (docs/protocols/sms.md §1.2)."""

    UINT = "uint"            # big-endian unsigned integer of ``width`` bytes
    TEXT = "text"            # fixed-width Octet String: ASCII, NUL-padded on the right
    OCTETS = "octets"        # fixed-width raw bytes, NUL-padded (a failed login's empty authenticator)
    EXACT = "exact"          # raw bytes that must be exactly ``width`` long (an authenticator, an SMGP MsgID)
    RESERVED = "reserved"    # ``width`` zero bytes, no message attribute
    TRAILER = "trailer"      # reserved bytes to the end of the body: sends ``width`` zeros, accepts any
    TEXT_LIST = "text_list"  # a 1-byte count within ``bounds``, then count × TEXT(width)
    BYTES8 = "bytes8"        # a 1-byte length, then that many bytes (Msg_Length + Msg_Content)
    TLVS = "tlvs"            # Tag/Length/Value parameters to the end of the body
    CSTRING = "cstring"      # SMPP C-Octet String: ASCII + NUL, at most ``width`` octets with the NUL
    REST = "rest"            # raw bytes to the end (an SMPP message_payload TLV's value)


Width = int | Mapping[int, int]
"""A width in bytes, or one per protocol version."""


@dataclass(frozen=True, slots=True)
class Field:
    name: str                        # the specification's field name, used in error messages
    attr: str                        # the message attribute ("" for reserved bytes)
    kind: Kind
    width: Width = 0
    only: int | None = None          # present in this protocol version only
    bounds: tuple[int, int] = (0, 255)  # TEXT_LIST: allowed count; BYTES8: longest value sent
    optional: bool = False           # absent when the body ends before it (SMPP error responses)

    def size(self, version: int) -> int:
        return self.width if isinstance(self.width, int) else self.width[version]

    def present(self, version: int) -> bool:
        return self.only is None or self.only == version


Layout = tuple[Field, ...]


def uint(value: int, width: int, what: str) -> bytes:
    """``value`` as a big-endian integer of ``width`` bytes; refuses one that does not fit."""
    if not 0 <= value < 1 << (8 * width):
        raise PduError(f"{what} {value} does not fit in {width} byte(s)")
    return value.to_bytes(width, "big")


def pack(layout: Layout, msg: Any, version: int = 0) -> bytes:
    """The body carrying ``msg``'s attributes in ``layout``'s order."""
    out = bytearray()
    for f in layout:
        if not f.present(version):
            continue
        width = f.size(version)
        value: Any = getattr(msg, f.attr) if f.attr else None
        if f.kind is Kind.UINT:
            out += uint(value, width, f.name)
        elif f.kind is Kind.TEXT or f.kind is Kind.OCTETS:
            out += octets(value, width)
        elif f.kind is Kind.EXACT:
            if len(value) != width:
                raise PduError(f"{f.name} must be {width} bytes, got {len(value)}")
            out += value
        elif f.kind is Kind.RESERVED or f.kind is Kind.TRAILER:
            out += bytes(width)
        elif f.kind is Kind.TEXT_LIST:
            low, high = f.bounds
            if not low <= len(value) <= high:
                raise PduError(f"{f.name} must be {low}..{high}, got {len(value)}")
            out.append(len(value))
            for item in value:
                out += octets(item, width)
        elif f.kind is Kind.BYTES8:
            if len(value) > f.bounds[1]:
                raise PduError(f"{f.name} longer than {f.bounds[1]} bytes")
            out.append(len(value))
            out += value
        elif f.kind is Kind.CSTRING:
            raw = value.encode("ascii")
            if len(raw) >= width:
                raise PduError(f"{f.name} longer than {width - 1} characters")
            out += raw + b"\0"
        elif f.kind is Kind.REST:
            out += value
        else:  # Kind.TLVS
            out += encode_tlvs(value)
    return bytes(out)


def parse(layout: Layout, r: Reader, version: int = 0) -> dict[str, Any]:
    """Read ``layout`` from ``r``: the message's attributes by name (absent fields left out, so
    the message class's defaults apply)."""
    values: dict[str, Any] = {}
    for f in layout:
        if not f.present(version) or (f.optional and not r.remaining):
            continue
        width = f.size(version)
        value: Any
        if f.kind is Kind.UINT:
            value = int.from_bytes(r.take(width, f.name), "big")
        elif f.kind is Kind.TEXT:
            value = r.text(width, f.name)
        elif f.kind is Kind.OCTETS or f.kind is Kind.EXACT:
            value = r.take(width, f.name)
        elif f.kind is Kind.RESERVED:
            r.take(width, f.name)
            continue
        elif f.kind is Kind.TRAILER:
            r.rest()  # some gateways leave the reserved byte out
            continue
        elif f.kind is Kind.TEXT_LIST:
            count = r.u8(f.name)
            low, high = f.bounds
            if not low <= count <= high:
                raise PduError(f"{f.name} {count} outside {low}..{high}")
            value = tuple(r.text(width, f.name) for _ in range(count))
        elif f.kind is Kind.BYTES8:
            value = r.take(r.u8(f.name), f.name)
        elif f.kind is Kind.CSTRING:
            value = r.cstring(width, f.name)
        elif f.kind is Kind.REST:
            value = r.rest()
        else:  # Kind.TLVS
            value = decode_tlvs(r.rest())
        values[f.attr] = value
    return values


def fixed_size(layout: Layout, version: int = 0) -> int:
    """The body size of a layout without variable parts (a CMPP status report)."""
    sizes = []
    for f in layout:
        if f.kind not in (Kind.UINT, Kind.TEXT, Kind.OCTETS, Kind.EXACT, Kind.RESERVED):
            raise ValueError(f"{f.name} has no fixed size")
        if f.present(version):
            sizes.append(f.size(version))
    return sum(sizes)
