"""The CMPP and SMGP field tables: every table round-trips, and each PDU matches bytes written out
by hand from the operator specifications (docs/protocols/sms.md §1.3, §1.4), so a table that
moved, widened or dropped a field fails here even though its encoder and decoder still agree."""

from __future__ import annotations

import pytest

from sms_gateway.errors import PduError
from sms_gateway.pdu import cmpp, smgp
from sms_gateway.pdu.common import Reader, Tlv
from sms_gateway.pdu.layout import Field, Kind, fixed_size, pack, parse


def pad(text: str, width: int) -> str:
    """Hex of a NUL-padded Octet String."""
    return text.encode().ljust(width, b"\0").hex()


CMPP_AUTH = bytes.fromhex("031c6faf8dfd92fde7ce5cf38bf28aa0")
SMGP_AUTH = bytes.fromhex("95898c46dedbcf393dcd4c2a861481e9")

# One message per CMPP table, every attribute away from its default so a field the table lost
# would come back as the default and fail the equality.
CMPP_SAMPLES: dict[int, list[cmpp.Pdu]] = {
    version: [
        cmpp.Connect("901234", CMPP_AUTH, version, 301000000),
        cmpp.ConnectResp(3, bytes(range(16)), version),
        cmpp.Submit(
            ("13800138000", "13900139000"), b"\x05\x00\x03\x01\x02\x01hi", msg_fmt=15,
            src_id="10650001", service_id="OTP", msg_src="901234", pk_total=2, pk_number=1,
            registered_delivery=0, msg_level=3, fee_user_type=2, fee_terminal_id="13700137000",
            fee_terminal_type=1 if version == cmpp.V30 else 0, tp_pid=1, tp_udhi=1,
            fee_type="02", fee_code="000010", valid_time="240301120000032+",
            at_time="240301110000032+", dest_terminal_type=1 if version == cmpp.V30 else 0,
            link_id="LINK-7" if version == cmpp.V30 else "", msg_id=0x1122334455667788,
        ),
        cmpp.SubmitResp(0x0123456789ABCDEF, 13),
        cmpp.Deliver(
            77, "1065", "OTP", 8, "13800138000", 1, b"\x00h\x00i", tp_pid=1, tp_udhi=0,
            src_terminal_type=1 if version == cmpp.V30 else 0,
            link_id="L9" if version == cmpp.V30 else "",
        ),
        cmpp.DeliverResp(77, 9),
        cmpp.ActiveTest(), cmpp.ActiveTestResp(), cmpp.Terminate(), cmpp.TerminateResp(),
    ]
    for version in (cmpp.V30, cmpp.V20)
}


@pytest.mark.parametrize("version", [cmpp.V30, cmpp.V20])
def test_every_cmpp_table_round_trips(version: int) -> None:
    for seq, pdu in enumerate(CMPP_SAMPLES[version], start=1):
        assert cmpp.decode(cmpp.encode(pdu, seq, version), version) == (seq, pdu)


def test_cmpp_submit_matches_hand_written_bytes_in_both_versions() -> None:
    # Every field a different value, so two fields swapped in the table cannot go unnoticed.
    for version, tid, v30 in ((cmpp.V30, 32, True), (cmpp.V20, 21, False)):
        pdu = cmpp.Submit(
            ("13800138000", "13900139000"), b"hi", msg_fmt=15, src_id="1065", service_id="OTP",
            msg_src="901234", pk_total=3, pk_number=2, registered_delivery=1, msg_level=4,
            fee_user_type=5, fee_terminal_id="13700137000", fee_terminal_type=6 if v30 else 0,
            tp_pid=7, tp_udhi=8, fee_type="02", fee_code="000010", valid_time="V", at_time="A",
            dest_terminal_type=9 if v30 else 0, link_id="L1" if v30 else "", msg_id=5,
        )
        body = (
            "0000000000000005" "03" "02" "01" "04" + pad("OTP", 10) + "05" + pad("13700137000", tid)
            + ("06" if v30 else "") + "07" "08" "0f" + pad("901234", 6) + pad("02", 2)
            + pad("000010", 6) + pad("V", 17) + pad("A", 17) + pad("1065", 21) + "02"
            + pad("13800138000", tid) + pad("13900139000", tid) + ("09" if v30 else "")
            + "02" + b"hi".hex() + (pad("L1", 20) if v30 else "00" * 8)
        )
        data = cmpp.encode(pdu, 9, version)
        assert data[12:].hex() == body
        assert data[:12].hex() == f"{12 + len(body) // 2:08x}" "00000004" "00000009"
        assert cmpp.decode(data, version) == (9, pdu)


def test_cmpp_deliver_and_report_match_hand_written_bytes() -> None:
    report = cmpp.Report(42, "DELIVRD", "2403011200", "2403011201", "13800138000", 7)
    content = cmpp.encode_report(report, cmpp.V30)
    assert content.hex() == (
        "000000000000002a" + pad("DELIVRD", 7) + pad("2403011200", 10) + pad("2403011201", 10)
        + pad("13800138000", 32) + "00000007"
    )
    deliver = cmpp.Deliver(99, "1065", "OTP", 8, "13800138000", 1, content, tp_pid=2, tp_udhi=3,
                           src_terminal_type=4, link_id="L5")
    assert cmpp.encode(deliver, 3)[12:].hex() == (
        "0000000000000063" + pad("1065", 21) + pad("OTP", 10) + "02" "03" "08"
        + pad("13800138000", 32) + "04" "01" + f"{len(content):02x}" + content.hex() + pad("L5", 20)
    )


def test_cmpp_2_0_status_is_one_byte_in_every_response() -> None:
    assert cmpp.encode(cmpp.SubmitResp(5, 13), 4, cmpp.V20).hex() == (
        "00000015" "80000004" "00000004" "0000000000000005" "0d")
    assert cmpp.encode(cmpp.DeliverResp(5, 0), 4, cmpp.V20)[-1:] == b"\0"
    resp = cmpp.encode(cmpp.ConnectResp(4, bytes(16), cmpp.V20), 1, cmpp.V20)
    assert resp[12:].hex() == "04" + "00" * 16 + "20"


def test_cmpp_version_bytes_above_3_0_use_the_3_0_layout() -> None:
    pdu = cmpp.SubmitResp(1, 8)
    assert cmpp.encode(pdu, 1, 0x31) == cmpp.encode(pdu, 1, cmpp.V30)


def test_cmpp_login_proof_uses_the_status_width_of_the_version() -> None:
    import hashlib

    assert cmpp.ismg_authenticator(0, CMPP_AUTH, "secret", cmpp.V30) == hashlib.md5(
        bytes(4) + CMPP_AUTH + b"secret").digest()
    assert cmpp.ismg_authenticator(0, CMPP_AUTH, "secret", cmpp.V20) == hashlib.md5(
        bytes(1) + CMPP_AUTH + b"secret").digest()
    assert cmpp.connect_authenticator("901234", "secret", "0301000000") == CMPP_AUTH


SMGP_SAMPLES: list[smgp.Pdu] = [
    smgp.Login("12345678", SMGP_AUTH, 1, 301000000, 0x30),
    smgp.LoginResp(21, bytes(range(16)), 0x30),
    smgp.Submit(
        ("13300000000", "18900000000"), "验证码".encode("utf-16-be"), msg_format=8,
        src_term_id="10690001", service_id="OTP", msg_type=6, need_report=0, priority=2,
        fee_type="01", fee_code="000010", fixed_fee="000005", valid_time="240301120000032+",
        at_time="240301110000032+", charge_term_id="13300000001",
        tlvs=(Tlv(smgp.TlvTag.TP_UDHI, b"\x01"), Tlv(smgp.TlvTag.LINK_ID, b"L" * 20)),
    ),
    smgp.SubmitResp(bytes.fromhex("07550603011200000123"), 75),
    smgp.Deliver(bytes.fromhex("07550603011200000124"), 1, 0, "20240301120100", "13300000000",
                 "1069", b"report", (Tlv(smgp.TlvTag.TP_PID, b"\x00"),)),
    smgp.DeliverResp(bytes.fromhex("07550603011200000124"), 0),
    smgp.ActiveTest(), smgp.ActiveTestResp(), smgp.Exit(), smgp.ExitResp(),
]


def test_every_smgp_table_round_trips() -> None:
    for seq, pdu in enumerate(SMGP_SAMPLES, start=1):
        assert smgp.decode(smgp.encode(pdu, seq)) == (seq, pdu)


def test_smgp_submit_and_deliver_match_hand_written_bytes() -> None:
    # Every field a different value, so two fields swapped in the table cannot go unnoticed.
    pdu = smgp.Submit(("13300000000",), b"hi", msg_format=15, src_term_id="1069", service_id="OTP",
                      msg_type=6, need_report=1, priority=2, fee_type="03", fee_code="000010",
                      fixed_fee="000005", valid_time="V", at_time="A", charge_term_id="13300000001",
                      tlvs=(Tlv(smgp.TlvTag.TP_UDHI, b"\x01"),))
    assert smgp.encode(pdu, 3)[12:].hex() == (
        "06" "01" "02" + pad("OTP", 10) + pad("03", 2) + pad("000010", 6) + pad("000005", 6)
        + "0f" + pad("V", 17) + pad("A", 17) + pad("1069", 21) + pad("13300000001", 21) + "01"
        + pad("13300000000", 21) + "02" + b"hi".hex() + "00" * 8 + "0002" "0001" "01"
    )
    msg_id = bytes.fromhex("07550603011200000123")
    deliver = smgp.Deliver(msg_id, 1, 8, "20240301120100", "13300000000", "1069", b"\x00A")
    assert smgp.encode(deliver, 4)[12:].hex() == (
        msg_id.hex() + "01" "08" + pad("20240301120100", 14) + pad("13300000000", 21)
        + pad("1069", 21) + "02" "0041" + "00" * 8
    )
    assert smgp.encode(smgp.SubmitResp(msg_id, 47), 5)[12:].hex() == msg_id.hex() + "0000002f"


def test_smgp_login_resp_and_proof_match_hand_written_bytes() -> None:
    import hashlib

    server = smgp.server_authenticator(0, SMGP_AUTH, "secret")
    assert server == hashlib.md5(bytes(4) + SMGP_AUTH + b"secret").digest()
    assert smgp.encode(smgp.LoginResp(0, server, 0x30), 1).hex() == (
        "00000021" "80000001" "00000001" "00000000" + server.hex() + "30")
    # A refused login carries an empty AuthenticatorServer: 16 zero bytes on the wire.
    assert smgp.encode(smgp.LoginResp(21, b"", 0x30), 1)[12:].hex() == "00000015" + "00" * 16 + "30"


@pytest.mark.parametrize(
    ("pdu", "why"),
    [
        (smgp.Login("1234567890", SMGP_AUTH, 2, 1), "ClientID wider than 8 bytes"),
        (smgp.Login("12345678", b"short", 2, 1), "AuthenticatorClient not 16 bytes"),
        (smgp.Login("12345678", SMGP_AUTH, 256, 1), "LoginMode does not fit one byte"),
        (smgp.SubmitResp(b"123", 0), "MsgID not 10 bytes"),
        (smgp.Submit((), b""), "no destination"),
        (smgp.Submit(("1",) * 101, b""), "101 destinations"),
        (smgp.Submit(("1",), bytes(256)), "content over 255 bytes"),
    ],
)
def test_smgp_tables_refuse_values_that_do_not_fit(pdu: smgp.Pdu, why: str) -> None:
    with pytest.raises(PduError):
        smgp.encode(pdu, 1)


@pytest.mark.parametrize(
    "pdu",
    [
        cmpp.Submit(("1",) * 100, b""),                       # DestUsr_tl is below 100
        cmpp.Submit(("1",), b"", msg_id=1 << 64),             # Msg_Id is 8 bytes
        cmpp.Connect("901234", CMPP_AUTH[:15], 0x30, 1),      # AuthenticatorSource is 16
        cmpp.SubmitResp(1, 256),                              # Result is 1 byte in 2.0
    ],
)
def test_cmpp_tables_refuse_values_that_do_not_fit(pdu: cmpp.Pdu) -> None:
    with pytest.raises(PduError):
        cmpp.encode(pdu, 1, cmpp.V20)


def test_layout_walks_version_only_fields_and_lenient_trailers() -> None:
    layout = (
        Field("A", "a", Kind.UINT, {1: 4, 2: 1}),
        Field("B", "b", Kind.TEXT, 3, only=1),
        Field("Pad", "", Kind.RESERVED, 2, only=2),
    )

    class Msg:
        a = 7
        b = "xy"

    assert pack(layout, Msg(), 1).hex() == "00000007" + pad("xy", 3)
    assert pack(layout, Msg(), 2).hex() == "07" "0000"
    assert parse(layout, Reader(bytes.fromhex("070000")), 2) == {"a": 7}
    assert fixed_size(layout, 1) == 7 and fixed_size(layout, 2) == 3
    # CMPP ACTIVE_TEST_RESP: one reserved byte sent; some gateways send none, some more.
    for body in ("", "00", "0000"):
        data = bytes.fromhex(f"{12 + len(body) // 2:08x}" "80000008" "00000001" + body)
        assert cmpp.decode(data) == (1, cmpp.ActiveTestResp())
