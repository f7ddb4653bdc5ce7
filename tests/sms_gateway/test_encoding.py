"""UCS2 / GB18030 encoding and UDH concatenation (spec §1.7)."""

from __future__ import annotations

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from sms_gateway.encoding import Coding, coding_from_name, encode_text, split_message, ucs2_units
from sms_gateway.errors import SmsError


def test_seventy_ucs2_characters_fit_in_one_sms() -> None:
    (seg,) = split_message("字" * 70, Coding.UCS2)
    assert not seg.udhi and len(seg.payload) == 140


def test_seventy_one_characters_are_concatenated_with_udh() -> None:
    segs = split_message("字" * 71, Coding.UCS2, ref=0x42)
    assert [s.number for s in segs] == [1, 2] and all(s.total == 2 for s in segs)
    assert segs[0].payload[:6] == bytes.fromhex("050003420201")
    assert segs[1].payload[:6] == bytes.fromhex("050003420202")
    assert len(segs[0].payload) == 6 + 134


def test_surrogate_pairs_are_never_cut() -> None:
    segs = split_message("a" + "😀" * 40, Coding.UCS2, ref=1)
    text = "".join(s.payload[6:].decode("utf-16-be") for s in segs)  # each part decodes alone
    assert text == "a" + "😀" * 40


def test_gb18030_two_bytes_per_han() -> None:
    assert encode_text("验证码", Coding.GB18030) == "验证码".encode("gb18030")
    assert len(split_message("验" * 70, Coding.GB18030)) == 1
    assert len(split_message("验" * 71, Coding.GB18030)) == 2


def test_ascii_refuses_chinese_and_names_are_parsed() -> None:
    with pytest.raises(SmsError):
        encode_text("验", Coding.ASCII)
    assert coding_from_name("UCS2") is Coding.UCS2
    with pytest.raises(SmsError):
        coding_from_name("utf-8")


def test_ucs2_units_counts_astral_as_two() -> None:
    assert ucs2_units("ab验😀") == 5


@settings(max_examples=80, deadline=None)
@given(text=st.text(min_size=1, max_size=400), coding=st.sampled_from([Coding.UCS2, Coding.GB18030]),
       ref=st.integers(0, 255))
def test_split_reassembles_to_original(text: str, coding: Coding, ref: int) -> None:
    try:
        segs = split_message(text, coding, ref)
    except SmsError:
        return  # unencodable (lone surrogates)
    codec = "utf-16-be" if coding is Coding.UCS2 else "gb18030"
    assert all(len(s.payload) <= 140 for s in segs)
    if len(segs) == 1:
        assert segs[0].payload.decode(codec) == text
    else:
        assert {s.payload[3] for s in segs} == {ref}
        assert "".join(s.payload[6:].decode(codec) for s in segs) == text
