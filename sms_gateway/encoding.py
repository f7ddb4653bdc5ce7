"""Text → SMS payload bytes, and splitting long texts into concatenated segments.

docs/protocols/sms.md §1.7: one SMS carries 140 octets; UCS2 gives 70 characters (67 per segment
behind a 6-byte UDH ``05 00 03 ref total seq``); GB18030 140 bytes. The codings' numbers
are the SMGP MsgFormat / CMPP Msg_Fmt values (§1.3, §1.4). Pure functions; the
concatenation reference is passed in by the caller (a per-session counter), never random.
"""

from __future__ import annotations

from dataclasses import dataclass
from enum import IntEnum

from sms_gateway.errors import SmsError

__all__ = [
    "MAX_OCTETS",
    "Coding",
    "Segment",
    "coding_from_name",
    "decode_text",
    "encode_text",
    "split_message",
    "ucs2_units",
]

MAX_OCTETS = 140      # §1.7 user data per SMS
UDH_LEN = 6           # §1.7 IEI 0x00 form: 05 00 03 ref total seq
SEGMENT_OCTETS = MAX_OCTETS - UDH_LEN


class Coding(IntEnum):
    """Message coding; values are SMGP MsgFormat / CMPP Msg_Fmt (§1.3, §1.4)."""

    ASCII = 0
    UCS2 = 8
    GB18030 = 15


_CODECS = {Coding.ASCII: "ascii", Coding.UCS2: "utf-16-be", Coding.GB18030: "gb18030"}


def coding_from_name(name: str) -> Coding:
    """``"ucs2"``, ``"gb18030"`` or ``"ascii"`` (settings values) → Coding."""
    try:
        return Coding[name.strip().upper()]
    except KeyError:
        raise SmsError(f"unknown SMS encoding {name!r} (ucs2, gb18030, ascii)",
                       code="bad_encoding") from None


def encode_text(text: str, coding: Coding) -> bytes:
    try:
        return text.encode(_CODECS[coding])
    except UnicodeEncodeError as exc:
        raise SmsError(f"text cannot be encoded as {coding.name}: {exc}", code="bad_encoding") from exc


def decode_text(data: bytes, coding: int) -> str:
    """Lenient decoding of a received payload (MO or report text); unknown codings → latin-1."""
    codec = _CODECS.get(Coding(coding)) if coding in Coding._value2member_map_ else None
    return data.decode(codec or "latin-1", "replace")


def ucs2_units(text: str) -> int:
    """How many UCS2 code units the text takes (astral characters count 2), §1.7."""
    return len(text.encode("utf-16-be")) // 2


@dataclass(frozen=True, slots=True)
class Segment:
    """One SMS of a (possibly concatenated) message: payload includes the UDH when udhi."""

    payload: bytes
    udhi: bool
    total: int
    number: int
    gsm7: bool = False    # payload is unpacked GSM 7-bit septets (SMPP data_coding 0), see gsm7.py


def _chunks(text: str, coding: Coding, limit: int) -> list[bytes]:
    """Split by whole characters so no multi-byte character or surrogate pair is cut."""
    out: list[bytes] = []
    current = bytearray()
    for ch in text:
        enc = encode_text(ch, coding)
        if len(current) + len(enc) > limit:
            out.append(bytes(current))
            current = bytearray()
        current += enc
    if current or not out:
        out.append(bytes(current))
    return out


def split_message(text: str, coding: Coding, ref: int = 0) -> tuple[Segment, ...]:
    """One segment if the encoded text fits in 140 octets, else UDH-concatenated segments of
    at most 134 octets each, all sharing ``ref`` (8-bit) and the total (§1.7)."""
    whole = encode_text(text, coding)
    if len(whole) <= MAX_OCTETS:
        return (Segment(whole, False, 1, 1),)
    parts = _chunks(text, coding, SEGMENT_OCTETS)
    if len(parts) > 255:
        raise SmsError("message needs more than 255 segments", code="message_too_long")
    total = len(parts)
    return tuple(
        Segment(bytes([5, 0, 3, ref & 0xFF, total, i]) + part, True, total, i)
        for i, part in enumerate(parts, start=1)
    )
