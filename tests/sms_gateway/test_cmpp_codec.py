"""CMPP 3.0 / 2.0 codec: hex vectors from spec §1.4, round trips, Hypothesis properties."""

from __future__ import annotations

import contextlib

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from sms_gateway.errors import PduError
from sms_gateway.pdu import cmpp

AUTH = bytes.fromhex("031c6faf8dfd92fde7ce5cf38bf28aa0")


def test_connect_authenticator_matches_spec_vector() -> None:
    assert cmpp.connect_authenticator("901234", "secret", "0301000000") == AUTH


def test_connect_hex_vector_is_39_bytes() -> None:
    pdu = cmpp.Connect("901234", AUTH, 0x30, 301000000)
    data = cmpp.encode(pdu, 1)
    assert data.hex() == "00000027" "00000001" "00000001" + b"901234".hex() + AUTH.hex() + "30" + "11f0e540"
    assert cmpp.decode(data) == (1, pdu)


@pytest.mark.parametrize(("version", "length"), [(cmpp.V30, 12 + 21), (cmpp.V20, 12 + 18)])
def test_connect_resp_status_width_differs_by_version(version: int, length: int) -> None:
    auth = cmpp.ismg_authenticator(0, AUTH, "secret", version)
    data = cmpp.encode(cmpp.ConnectResp(0, auth, version), 1, version)
    assert len(data) == length
    assert cmpp.decode(data, version)[1] == cmpp.ConnectResp(0, auth, version)


def test_active_test_resp_has_one_reserved_byte() -> None:
    assert cmpp.encode(cmpp.ActiveTestResp(), 2).hex() == "0000000d800000080000000200"
    assert cmpp.encode(cmpp.ActiveTest(), 2).hex() == "0000000c0000000800000002"


@pytest.mark.parametrize(("version", "fixed"), [(cmpp.V30, 163 - 2), (cmpp.V20, 147 - 2)])
def test_submit_sizes(version: int, fixed: int) -> None:
    # 3.0: 8+1+1+1+1+10+1+32+1+1+1+1+6+2+6+17+17+21+1+32+1+1+20 = 183 incl. 1 dest, 0 content
    pdu = cmpp.Submit(("13800138000",), b"", src_id="1065", msg_src="901234")
    data = cmpp.encode(pdu, 9, version)
    expected = 183 if version == cmpp.V30 else 8 + 4 + 10 + 1 + 21 + 3 + 6 + 2 + 6 + 34 + 21 + 1 + 21 + 1 + 8
    assert len(data) - 12 == expected
    assert cmpp.decode(data, version) == (9, pdu)


def test_submit_resp_msg_id_and_result() -> None:
    data = cmpp.encode(cmpp.SubmitResp(0x0123456789ABCDEF, 8), 4)
    assert data.hex() == "00000018" "80000004" "00000004" "0123456789abcdef" "00000008"
    v20 = cmpp.encode(cmpp.SubmitResp(5, 13), 4, cmpp.V20)
    assert cmpp.decode(v20, cmpp.V20)[1] == cmpp.SubmitResp(5, 13)


@pytest.mark.parametrize(("version", "size"), [(cmpp.V30, 71), (cmpp.V20, 60)])
def test_report_sizes_and_round_trip(version: int, size: int) -> None:
    report = cmpp.Report(42, "DELIVRD", "2403011200", "2403011201", "13800138000", 7)
    content = cmpp.encode_report(report, version)
    assert len(content) == size
    assert cmpp.parse_report(content, version) == report
    deliver = cmpp.Deliver(99, "1065", "OTP", 0, "13800138000", 1, content)
    assert cmpp.decode(cmpp.encode(deliver, 3, version), version) == (3, deliver)


def test_malformed() -> None:
    for data in (b"", bytes.fromhex("0000000c0000000400000001"), bytes.fromhex("0000000d0000000800000001ff")):
        with pytest.raises(PduError):
            cmpp.decode(data)
    with pytest.raises(PduError):
        cmpp.parse_report(b"short")


phone = st.text(alphabet="0123456789", min_size=1, max_size=21)


@settings(max_examples=60, deadline=None)
@given(dests=st.lists(phone, min_size=1, max_size=4), content=st.binary(max_size=140),
       version=st.sampled_from([cmpp.V20, cmpp.V30]), udhi=st.integers(0, 1),
       seq=st.integers(0, 0xFFFFFFFF), msg_id=st.integers(0, 2**64 - 1))
def test_submit_round_trip_property(dests: list[str], content: bytes, version: int, udhi: int,
                                    seq: int, msg_id: int) -> None:
    pdu = cmpp.Submit(tuple(dests), content, tp_udhi=udhi, msg_id=msg_id,
                      link_id="L1" if version == cmpp.V30 else "")
    assert cmpp.decode(cmpp.encode(pdu, seq, version), version) == (seq, pdu)


@settings(max_examples=100, deadline=None)
@given(body=st.binary(max_size=200), version=st.sampled_from([cmpp.V20, cmpp.V30]))
def test_decoder_survives_garbage(body: bytes, version: int) -> None:
    for command in (1, 4, 5, 0x80000001, 0x80000004, 0x80000005):
        data = (12 + len(body)).to_bytes(4, "big") + command.to_bytes(4, "big") + b"\0\0\0\1" + body
        with contextlib.suppress(PduError):
            cmpp.decode(data, version)
