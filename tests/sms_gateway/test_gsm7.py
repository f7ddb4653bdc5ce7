"""GSM 7-bit default alphabet (3GPP TS 23.038) and 153-septet concatenation."""

from __future__ import annotations

import pytest
from hypothesis import given
from hypothesis import strategies as st

from sms_gateway.errors import SmsError
from sms_gateway.gsm7 import encode_gsm7, fits_gsm7, is_gsm7_address, split_gsm7


def test_codes_of_the_default_alphabet_and_its_extension() -> None:
    assert encode_gsm7("@£$") == b"\x00\x01\x02"
    assert encode_gsm7("_ ¤ ¡ §") == b"\x11\x20\x24\x20\x40\x20\x5f"
    assert encode_gsm7("Aa0") == b"Aa0"
    assert encode_gsm7("{€}") == b"\x1b\x28\x1b\x65\x1b\x29"
    assert not fits_gsm7("`") and not fits_gsm7("验证码") and not fits_gsm7("\x1b")


def test_160_septets_are_one_sms_161_are_two() -> None:
    (one,) = split_gsm7("x" * 160, ref=7)
    assert not one.udhi and one.gsm7 and len(one.payload) == 160
    segs = split_gsm7("x" * 161, ref=7)
    assert [len(s.payload) for s in segs] == [6 + 153, 6 + 8]
    assert [s.payload[:6] for s in segs] == [bytes.fromhex("050003070201"), bytes.fromhex("050003070202")]


def test_escape_characters_count_two_septets() -> None:
    assert len(split_gsm7("€" * 80)) == 1          # 160 septets
    assert len(split_gsm7("€" * 81)) == 2


def test_not_gsm_raises_a_typed_error() -> None:
    with pytest.raises(SmsError):
        split_gsm7("中文")


@given(st.text(alphabet="abc{}[]€^~ 0123", max_size=700))
def test_segments_reassemble_and_never_split_an_escape(text: str) -> None:
    segs = split_gsm7(text, ref=3)
    body = b"".join(s.payload[6:] if s.udhi else s.payload for s in segs)
    assert body == encode_gsm7(text)
    for s in segs:
        part = s.payload[6:] if s.udhi else s.payload
        assert len(part) <= (153 if s.udhi else 160)
        assert not part.endswith(b"\x1b")   # no escape without its character (none codes 0x1B)


def test_alphanumeric_sender_rule() -> None:
    assert is_gsm7_address("CityWiFi") and is_gsm7_address("A" * 11)
    assert not is_gsm7_address("A" * 12) and not is_gsm7_address("") and not is_gsm7_address("城市")
    assert not is_gsm7_address("Wi{Fi}")   # escape characters would cost two of the 11 septets
