"""SMGP 3.0 codec: hex vectors from spec §1.3, round trips, Hypothesis properties."""

from __future__ import annotations

import contextlib

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from sms_gateway.errors import PduError
from sms_gateway.pdu import smgp
from sms_gateway.pdu.common import Tlv

AUTH = bytes.fromhex("95898c46dedbcf393dcd4c2a861481e9")


def test_login_authenticator_matches_spec_vector() -> None:
    assert smgp.client_authenticator("12345678", "secret", "0301000000") == AUTH


def test_login_hex_vector() -> None:
    pdu = smgp.Login("12345678", AUTH, 2, 301000000)
    data = smgp.encode(pdu, 1)
    assert data.hex() == (
        "0000002a" "00000001" "00000001" + b"12345678".hex() + AUTH.hex() + "02" + "11f0e540" + "30"
    )
    assert len(data) == 42
    assert smgp.decode(data) == (1, pdu)


def test_active_test_and_exit_are_bare_headers() -> None:
    assert smgp.encode(smgp.ActiveTest(), 5).hex() == "0000000c0000000400000005"
    assert smgp.encode(smgp.ExitResp(), 9).hex() == "0000000c8000000600000009"
    assert smgp.decode(bytes.fromhex("0000000c8000000400000005")) == (5, smgp.ActiveTestResp())


def test_submit_fixed_part_is_135_bytes_with_one_destination() -> None:
    pdu = smgp.Submit(("13300000000",), b"", service_id="OTP", src_term_id="10690001")
    data = smgp.encode(pdu, 3)
    assert len(data) - 12 == 135
    # MsgFormat sits after MsgType, NeedReport, Priority, ServiceID 10, FeeType 2, Fee 6+6.
    assert data[12 + 3 + 10 + 2 + 12] == smgp.MsgFormat.UCS2
    assert smgp.decode(data) == (3, pdu)


def test_submit_with_tlvs_round_trips() -> None:
    tlvs = (Tlv(smgp.TlvTag.TP_UDHI, b"\x01"), Tlv(smgp.TlvTag.PK_TOTAL, b"\x02"),
            Tlv(smgp.TlvTag.PK_NUMBER, b"\x01"))
    pdu = smgp.Submit(("13300000000",), "验证码".encode("utf-16-be"), tlvs=tlvs)
    data = smgp.encode(pdu, 77)
    # Reserve 8 then Tag 2 / Length 2 / Value TLVs (§1.3).
    assert data[-23:] == bytes(8) + bytes.fromhex("0002000101" "0009000102" "000a000101")
    assert smgp.decode(data) == (77, pdu)


def test_login_resp_server_authenticator() -> None:
    auth = smgp.server_authenticator(0, AUTH, "secret")
    data = smgp.encode(smgp.LoginResp(0, auth, 0x30), 1)
    assert len(data) == 12 + 21
    _seq, resp = smgp.decode(data)
    assert isinstance(resp, smgp.LoginResp) and resp.authenticator == auth


def test_status_report_is_122_bytes_and_parses() -> None:
    msg_id = bytes.fromhex("07550603011200000123")
    report = smgp.Report(msg_id, "UNDELIV", "004", "2403011200", "2403011201")
    content = smgp.encode_report(report)
    assert len(content) == 122
    assert smgp.parse_report(content) == report
    deliver = smgp.Deliver(bytes(10), 1, 0, "20240301120100", "13300000000", "1069", content)
    assert smgp.decode(smgp.encode(deliver, 4)) == (4, deliver)


@pytest.mark.parametrize(
    "data",
    [
        b"",
        bytes.fromhex("0000000c00000004"),                 # short header
        bytes.fromhex("0000000d0000000400000001"),         # length field lies
        bytes.fromhex("0000000c0000ffff00000001"),         # unknown command
        bytes.fromhex("00000010800000020000000100000000"),  # truncated Submit_Resp
    ],
)
def test_malformed_input_raises_pdu_error(data: bytes) -> None:
    with pytest.raises(PduError):
        smgp.decode(data)


def test_parse_report_rejects_non_report() -> None:
    with pytest.raises(PduError):
        smgp.parse_report(b"hello")


digits = st.text(alphabet="0123456789", min_size=1, max_size=21)


@settings(max_examples=60, deadline=None)
@given(
    dests=st.lists(digits, min_size=1, max_size=5),
    content=st.binary(max_size=140),
    fmt=st.sampled_from([0, 8, 15]),
    seq=st.integers(0, 0xFFFFFFFF),
    tlvs=st.lists(st.builds(Tlv, st.integers(1, 0x12), st.binary(max_size=20)), max_size=3),
)
def test_submit_round_trip_property(dests: list[str], content: bytes, fmt: int, seq: int,
                                    tlvs: list[Tlv]) -> None:
    pdu = smgp.Submit(tuple(dests), content, msg_format=fmt, tlvs=tuple(tlvs))
    assert smgp.decode(smgp.encode(pdu, seq)) == (seq, pdu)


@settings(max_examples=150, deadline=None)
@given(st.binary(max_size=200))
def test_decoder_never_crashes_on_garbage(data: bytes) -> None:
    with contextlib.suppress(PduError):
        smgp.decode(data)


@settings(max_examples=100, deadline=None)
@given(st.binary(min_size=0, max_size=160))
def test_decoder_survives_garbage_bodies_with_valid_header(body: bytes) -> None:
    for command in (1, 2, 3, 0x80000001, 0x80000002, 0x80000003):
        data = (12 + len(body)).to_bytes(4, "big") + command.to_bytes(4, "big") + b"\0\0\0\1" + body
        with contextlib.suppress(PduError):
            smgp.decode(data)
