"""SMPP 3.4 codec: vectors, round trips, and cross-checks with the independent smpp34 codec."""

from __future__ import annotations

import contextlib

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from sms_gateway.errors import PduError
from sms_gateway.pdu import smpp
from sms_gateway.pdu.common import Tlv


def test_enquire_link_vector() -> None:
    assert smpp.encode(smpp.EnquireLink(), 7).hex() == "00000010000000150000000000000007"
    assert smpp.decode(bytes.fromhex("00000010800000150000000000000007")) == (7, 0, smpp.EnquireLinkResp())


def test_bind_transceiver_vector() -> None:
    data = smpp.encode(smpp.BindTransceiver("sys", "pw"), 1)
    header = "0000001c" "00000009" "00000000" "00000001"
    assert data.hex() == header + b"sys\0pw\0\0".hex() + "340000" + "00"
    assert smpp.decode(data) == (1, 0, smpp.BindTransceiver("sys", "pw"))


def test_submit_sm_readable_by_independent_codec() -> None:
    smpp34 = pytest.importorskip("smpp34")
    pdu = smpp.SubmitSm("8613300000000", "验证码".encode("utf-16-be"), source_addr="1069",
                        esm_class=0x40, tlvs=(Tlv(0x020C, b"\x00\x01"),))
    other = smpp34.decode(smpp.encode(pdu, 11))
    assert other.destination_addr == "8613300000000"
    assert other.short_message == pdu.short_message
    assert other.esm_class == 0x40 and other.data_coding == 8
    assert other.sequence_number == 11


def test_error_response_without_body() -> None:
    data = bytes.fromhex("00000010800000040000000b00000003")
    assert smpp.decode(data) == (3, 0x0B, smpp.SubmitSmResp(""))


def test_receipt_parsing() -> None:
    fields = smpp.parse_receipt(b"id:12ab sub:001 dlvrd:000 submit date:2403011200 "
                                b"done date:2403011201 stat:UNDELIV err:004 text:hello")
    assert fields["id"] == "12ab" and fields["stat"] == "UNDELIV" and fields["err"] == "004"
    with pytest.raises(PduError):
        smpp.parse_receipt(b"plain MO text")


@settings(max_examples=60, deadline=None)
@given(dest=st.text("0123456789", min_size=1, max_size=20), sm=st.binary(max_size=254),
       esm=st.integers(0, 255), seq=st.integers(0, 0xFFFFFFFF), deliver=st.booleans())
def test_sm_round_trip(dest: str, sm: bytes, esm: int, seq: int, deliver: bool) -> None:
    cls = smpp.DeliverSm if deliver else smpp.SubmitSm
    pdu = cls(dest, sm, esm_class=esm)
    assert smpp.decode(smpp.encode(pdu, seq)) == (seq, 0, pdu)


@settings(max_examples=100, deadline=None)
@given(body=st.binary(max_size=120))
def test_decoder_survives_garbage(body: bytes) -> None:
    for command in (4, 5, 9, 0x80000004, 0x80000009):
        head = (16 + len(body)).to_bytes(4, "big") + command.to_bytes(4, "big")
        data = head + bytes(4) + b"\0\0\0\1" + body
        with contextlib.suppress(PduError):
            smpp.decode(data)
