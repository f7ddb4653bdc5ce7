"""The GSM 7-bit default alphabet (3GPP TS 23.038 §6.2.1) for SMPP ``data_coding`` 0.

A text made only of characters of the default alphabet and its extension table travels as
GSM 7-bit: 160 characters in one SMS instead of 70 in UCS2 (3GPP TS 23.040 §9.2.3.16: 140
octets carry 160 septets). Long texts are concatenated behind the 6-octet UDH
``05 00 03 ref total seq`` (TS 23.040 §9.2.3.24.1), which costs 7 septets (48 bits plus one fill
bit), leaving **153 septets** per segment.

SMPP convention: ``short_message`` of a data_coding 0 submit holds the septets UNPACKED, one per
octet (the SMSC packs them for the air interface), so a 160-character message is 160 octets —
within short_message's 254. An extension character is the escape septet 0x1B followed by its
code; the two must never be split across segments, or the phone shows garbage.

Pure functions; the concatenation reference is passed in by the caller.
"""

from __future__ import annotations

from sms_gateway.encoding import Segment
from sms_gateway.errors import SmsError

__all__ = [
    "GSM7_SEGMENT_SEPTETS",
    "GSM7_SINGLE_SEPTETS",
    "encode_gsm7",
    "fits_gsm7",
    "gsm7_septets",
    "is_gsm7_address",
    "split_gsm7",
]

GSM7_SINGLE_SEPTETS = 160     # TS 23.040 §9.2.3.16: 140 octets × 8 / 7
GSM7_SEGMENT_SEPTETS = 153    # minus the 6-octet UDH rounded up to 7 septets
ESCAPE = 0x1B

# TS 23.038 §6.2.1, in code order 0x00–0x7F. Position 0x1B is the escape to the extension table
# (it is no character of its own); "\x1b" below only holds its place.
_BASIC = (
    "@£$¥èéùìòÇ\nØø\rÅå"
    "Δ_ΦΓΛΩΠΨΣΘΞ\x1bÆæßÉ"
    " !\"#¤%&'()*+,-./"
    "0123456789:;<=>?"
    "¡ABCDEFGHIJKLMNO"
    "PQRSTUVWXYZÄÖÑÜ§"
    "¿abcdefghijklmno"
    "pqrstuvwxyzäöñüà"
)
assert len(_BASIC) == 128

# TS 23.038 §6.2.1.1: the extension table's characters of the default language (after 0x1B).
_EXTENSION = {"\f": 0x0A, "^": 0x14, "{": 0x28, "}": 0x29, "\\": 0x2F, "[": 0x3C, "~": 0x3D,
              "]": 0x3E, "|": 0x40, "€": 0x65}

_CODES: dict[str, bytes] = {ch: bytes([i]) for i, ch in enumerate(_BASIC) if i != ESCAPE}
_CODES.update({ch: bytes([ESCAPE, code]) for ch, code in _EXTENSION.items()})


def gsm7_septets(text: str) -> list[bytes] | None:
    """Each character's septets (one, or escape + code), or None if any character has none."""
    out: list[bytes] = []
    for ch in text:
        code = _CODES.get(ch)
        if code is None:
            return None
        out.append(code)
    return out


def fits_gsm7(text: str) -> bool:
    """True when every character is in the GSM default alphabet or its extension table."""
    return gsm7_septets(text) is not None


def encode_gsm7(text: str) -> bytes:
    """The unpacked septets of ``text`` (one per octet); ``SmsError`` if it does not fit."""
    septets = gsm7_septets(text)
    if septets is None:
        raise SmsError("text is not in the GSM 7-bit default alphabet", code="bad_encoding")
    return b"".join(septets)


def is_gsm7_address(text: str, max_chars: int = 11) -> bool:
    """An alphanumeric originator (TON 5) travels as GSM 7-bit packed in TP-OA's address
    value, at most 10 octets (TS 23.040 §9.1.2.5) = 11 septets: it must be basic-alphabet
    characters (an escape would cost two of the eleven) and not longer than that."""
    return 0 < len(text) <= max_chars and all(len(_CODES.get(ch, b"xx")) == 1 for ch in text)


def split_gsm7(text: str, ref: int = 0) -> tuple[Segment, ...]:
    """One segment if the text needs at most 160 septets, else UDH-concatenated segments of at
    most 153 septets each (never splitting an escape pair), all sharing ``ref`` (8-bit)."""
    septets = gsm7_septets(text)
    if septets is None:
        raise SmsError("text is not in the GSM 7-bit default alphabet", code="bad_encoding")
    whole = b"".join(septets)
    if len(whole) <= GSM7_SINGLE_SEPTETS:
        return (Segment(whole, False, 1, 1, gsm7=True),)
    parts: list[bytes] = []
    current = bytearray()
    for code in septets:
        if len(current) + len(code) > GSM7_SEGMENT_SEPTETS:
            parts.append(bytes(current))
            current = bytearray()
        current += code
    parts.append(bytes(current))
    if len(parts) > 255:
        raise SmsError("message needs more than 255 segments", code="message_too_long")
    total = len(parts)
    return tuple(
        Segment(bytes([5, 0, 3, ref & 0xFF, total, i]) + part, True, total, i, gsm7=True)
        for i, part in enumerate(parts, start=1)
    )
