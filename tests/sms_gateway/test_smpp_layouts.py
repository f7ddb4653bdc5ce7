"""The SMPP 3.4 field tables: each PDU against bytes written out by hand from the SMPP 3.4
specification (§4.1 binds, §4.4 submit_sm, §4.6 deliver_sm, §4.11 enquire_link, §4.2 unbind,
§4.3 generic_nack, §5.3 optional parameters; docs/protocols/sms.md §1.6), every field a
different value so two fields swapped or dropped in a table fail here even though the encoder and
decoder still agree; and malformed input (truncated, over-long, trailing bytes) raising PduError,
never IndexError or struct.error."""

from __future__ import annotations

import pytest

from sms_gateway.errors import PduError
from sms_gateway.pdu import smpp
from sms_gateway.pdu.common import Tlv


def c(text: str) -> str:
    """Hex of a C-Octet String: the ASCII text and its NUL terminator."""
    return (text.encode() + b"\0").hex()


def head(body_hex: str, command: int, status: int, seq: int) -> str:
    return f"{16 + len(body_hex) // 2:08x}{command:08x}{status:08x}{seq:08x}"


def pdu_bytes(body_hex: str, command: int, status: int = 0, seq: int = 1) -> bytes:
    return bytes.fromhex(head(body_hex, command, status, seq) + body_hex)


BIND_BODY = c("sysid") + c("pw") + c("type") + "33" "01" "02" + c("^1065")


@pytest.mark.parametrize(
    ("cls", "command"),
    [(smpp.BindTransmitter, 0x02), (smpp.BindReceiver, 0x01), (smpp.BindTransceiver, 0x09)],
)
def test_binds_match_hand_written_bytes(cls: type[smpp.BindTransceiver], command: int) -> None:
    pdu = cls("sysid", "pw", "type", 0x33, 1, 2, "^1065")
    data = smpp.encode(pdu, 0x01020304, 5)
    assert data.hex() == head(BIND_BODY, command, 5, 0x01020304) + BIND_BODY
    seq, status, back = smpp.decode(data)
    assert (seq, status, back, type(back)) == (0x01020304, 5, pdu, cls)


def test_binds_at_the_maximum_lengths_of_the_specification() -> None:
    # system_id 16, password 9, system_type 13, address_range 41 octets, NUL included.
    pdu = smpp.BindTransceiver("s" * 15, "p" * 8, "t" * 12, 0x34, 3, 4, "a" * 40)
    body = c("s" * 15) + c("p" * 8) + c("t" * 12) + "34" "03" "04" + c("a" * 40)
    assert smpp.encode(pdu, 1).hex() == head(body, 0x09, 0, 1) + body
    assert smpp.decode(smpp.encode(pdu, 1))[2] == pdu


@pytest.mark.parametrize(
    ("cls", "command"),
    [(smpp.BindTransmitterResp, 0x80000002), (smpp.BindReceiverResp, 0x80000001),
     (smpp.BindTransceiverResp, 0x80000009)],
)
def test_bind_responses_match_hand_written_bytes(
        cls: type[smpp.BindTransceiverResp], command: int) -> None:
    data = smpp.encode(cls("SMSC"), 7, 0)
    assert data.hex() == head(c("SMSC"), command, 0, 7) + c("SMSC")
    assert smpp.decode(data) == (7, 0, cls("SMSC"))
    # §4.1.2: the sc_interface_version TLV may follow; it is read past, not refused.
    with_tlv = c("SMSC") + "0210" "0001" "34"
    assert smpp.decode(pdu_bytes(with_tlv, command, 0, 8)) == (8, 0, cls("SMSC"))
    # §4.1.6: an error response may carry no body at all.
    assert smpp.decode(pdu_bytes("", command, 0x0D, 9)) == (9, 0x0D, cls(""))


SUBMIT = smpp.SubmitSm(
    "8613300000000", b"hi", source_addr="1065", service_type="OTP", source_addr_ton=1,
    source_addr_npi=2, dest_addr_ton=3, dest_addr_npi=4, esm_class=0x40, protocol_id=5,
    priority_flag=6, schedule_delivery_time="240301120000000+", validity_period="000001000000000R",
    registered_delivery=7, replace_if_present_flag=8, data_coding=9, sm_default_msg_id=10,
    tlvs=(Tlv(smpp.Tag.SAR_MSG_REF_NUM, b"\x00\x0b"), Tlv(smpp.Tag.SAR_TOTAL_SEGMENTS, b"\x0c")),
)
SUBMIT_BODY = (
    c("OTP") + "01" "02" + c("1065") + "03" "04" + c("8613300000000") + "40" "05" "06"
    + c("240301120000000+") + c("000001000000000R") + "07" "08" "09" "0a" + "02" + b"hi".hex()
    + "020c" "0002" "000b" + "020e" "0001" "0c"
)


def test_submit_sm_matches_hand_written_bytes() -> None:
    data = smpp.encode(SUBMIT, 11, 0)
    assert data.hex() == head(SUBMIT_BODY, 0x04, 0, 11) + SUBMIT_BODY
    assert smpp.decode(data) == (11, 0, SUBMIT)


def test_deliver_sm_has_the_submit_sm_layout_and_carries_receipt_tlvs() -> None:
    text = b"id:ab12 sub:001 dlvrd:001 submit date:2403011200 done date:2403011201 stat:DELIVRD err:000"
    tlvs = (Tlv(smpp.Tag.RECEIPTED_MESSAGE_ID, b"ab12\0"), Tlv(smpp.Tag.MESSAGE_STATE, b"\x02"),
            Tlv(smpp.Tag.NETWORK_ERROR_CODE, b"\x03\x00\x0d"))
    pdu = smpp.DeliverSm("1065", text, source_addr="8613300000000", source_addr_ton=1,
                         source_addr_npi=1, dest_addr_ton=0, dest_addr_npi=0, esm_class=0x04,
                         registered_delivery=0, data_coding=0, tlvs=tlvs)
    body = (
        c("") + "01" "01" + c("8613300000000") + "00" "00" + c("1065") + "04" "00" "00"
        + c("") + c("") + "00" "00" "00" "00" + f"{len(text):02x}" + text.hex()
        + "001e" "0005" + c("ab12") + "0427" "0001" "02" + "0423" "0003" "03000d"
    )
    data = smpp.encode(pdu, 12, 0)
    assert data.hex() == head(body, 0x05, 0, 12) + body
    seq, status, back = smpp.decode(data)
    assert (seq, status, back, type(back)) == (12, 0, pdu, smpp.DeliverSm)
    assert smpp.option_values(back.tlvs) == {
        "receipted_message_id": "ab12", "message_state": 2, "network_error_code": b"\x03\x00\x0d"}


def test_submit_sm_defaults_are_the_documented_ones() -> None:
    # dest TON/NPI 1/1 (international ISDN), registered_delivery 1, data_coding 8 (UCS2).
    body = c("") + "00" "00" + c("") + "01" "01" + c("138") + "00" "00" "00" + c("") + c("") \
        + "01" "00" "08" "00" + "00"
    assert smpp.encode(smpp.SubmitSm("138", b""), 2).hex() == head(body, 0x04, 0, 2) + body


@pytest.mark.parametrize(
    ("pdu", "command", "body"),
    [
        (smpp.SubmitSmResp("m" * 64), 0x80000004, c("m" * 64)),
        (smpp.SubmitSmResp("0a1b"), 0x80000004, c("0a1b")),
        (smpp.DeliverSmResp(""), 0x80000005, "00"),
        (smpp.EnquireLink(), 0x15, ""),
        (smpp.EnquireLinkResp(), 0x80000015, ""),
        (smpp.Unbind(), 0x06, ""),
        (smpp.UnbindResp(), 0x80000006, ""),
        (smpp.GenericNack(), 0x80000000, ""),
    ],
)
def test_responses_and_empty_bodies_match_hand_written_bytes(
        pdu: smpp.Pdu, command: int, body: str) -> None:
    data = smpp.encode(pdu, 0xFEDCBA98, 3)
    assert data.hex() == head(body, command, 3, 0xFEDCBA98) + body
    assert smpp.decode(data) == (0xFEDCBA98, 3, pdu)


def test_message_id_responses_may_come_without_a_body() -> None:
    assert smpp.decode(pdu_bytes("", 0x80000004, 0x0B, 3)) == (3, 0x0B, smpp.SubmitSmResp(""))
    assert smpp.decode(pdu_bytes("", 0x80000005, 0x08, 4)) == (4, 0x08, smpp.DeliverSmResp(""))


@pytest.mark.parametrize(
    ("body", "command"),
    [(BIND_BODY, 0x09), (SUBMIT_BODY, 0x04), (c("0a1b"), 0x80000004), (c("SMSC"), 0x80000009)],
)
def test_every_truncation_raises_pdu_error(body: str, command: int) -> None:
    raw = bytes.fromhex(body)
    # A cut between two TLVs, or a response cut to nothing at all, is a valid shorter PDU.
    allowed = {0} if command & 0x80000000 else set()
    if command == 0x04:
        allowed = {len(raw) - 11, len(raw) - 5}  # before the first TLV, between the two
    for cut in range(len(raw)):
        if cut in allowed:
            smpp.decode(pdu_bytes(raw[:cut].hex(), command))
            continue
        with pytest.raises(PduError):
            smpp.decode(pdu_bytes(raw[:cut].hex(), command))


@pytest.mark.parametrize(
    ("data", "why"),
    [
        (bytes.fromhex("000000100000001500000000"), "shorter than the header"),
        (bytes.fromhex("00000011000000150000000000000001"), "command_length says 17, 16 came"),
        (pdu_bytes("00", 0x15), "enquire_link with a body"),
        (pdu_bytes(BIND_BODY + "00", 0x09), "a byte after address_range"),
        (pdu_bytes(c("m" * 64) + "00", 0x80000004), "a byte after message_id"),
        (pdu_bytes("73" * 16 + "00" + BIND_BODY[12:], 0x09), "system_id of 16 characters"),
        (pdu_bytes(c("m" * 65), 0x80000004), "message_id of 65 characters"),
        (pdu_bytes(SUBMIT_BODY.replace("0a" "02" + b"hi".hex(), "0a" "ff" + b"hi".hex()), 0x04),
         "sm_length beyond the body"),
        (pdu_bytes(SUBMIT_BODY + "0424" "0009" "00", 0x04), "TLV length beyond the body"),
        (pdu_bytes(SUBMIT_BODY + "04", 0x04), "half a TLV tag"),
        (pdu_bytes("", 0x00000103), "data_sm is not in the subset"),
    ],
)
def test_malformed_pdus_raise_pdu_error(data: bytes, why: str) -> None:
    with pytest.raises(PduError):
        smpp.decode(data)


@pytest.mark.parametrize(
    ("pdu", "why"),
    [
        (smpp.BindTransceiver("s" * 16, "pw"), "system_id over 15 characters"),
        (smpp.BindTransceiver("sys", "p" * 9), "password over 8 characters"),
        (smpp.BindTransceiver("sys", "pw", "t" * 13), "system_type over 12 characters"),
        (smpp.BindTransceiver("sys", "pw", address_range="a" * 41), "address_range over 40"),
        (smpp.BindTransceiver("sys", "pw", interface_version=256), "interface_version over a byte"),
        (smpp.SubmitSm("1" * 21, b""), "destination_addr over 20 characters"),
        (smpp.SubmitSm("138", b"", service_type="s" * 6), "service_type over 5 characters"),
        (smpp.SubmitSm("138", bytes(255)), "short_message over 254 octets"),
        (smpp.SubmitSm("138", b"", esm_class=-1), "negative esm_class"),
        (smpp.SubmitSm("138", b"", tlvs=(Tlv(0x0424, bytes(0x10000)),)), "TLV value over 65535"),
        (smpp.SubmitSmResp("m" * 65), "message_id over 64 characters"),
    ],
)
def test_values_that_do_not_fit_are_refused(pdu: smpp.Pdu, why: str) -> None:
    with pytest.raises(PduError):
        smpp.encode(pdu, 1)


def test_optional_parameters_are_one_table_for_building_and_reading() -> None:
    tlvs = smpp.options(message_payload=b"\x00h\x00i", receipted_message_id="ab12",
                        message_state=2, sar_msg_ref_num=0x0102, sar_total_segments=3,
                        sar_segment_seqnum=2, user_message_reference=0x0304)
    assert b"".join(t.tag.to_bytes(2, "big") + len(t.value).to_bytes(2, "big") + t.value
                    for t in tlvs).hex() == (
        "0424" "0004" "00680069" + "001e" "0005" + c("ab12") + "0427" "0001" "02"
        + "020c" "0002" "0102" + "020e" "0001" "03" + "020f" "0001" "02" + "0204" "0002" "0304"
    )
    assert smpp.option_values(tlvs) == {
        "message_payload": b"\x00h\x00i", "receipted_message_id": "ab12", "message_state": 2,
        "sar_msg_ref_num": 0x0102, "sar_total_segments": 3, "sar_segment_seqnum": 2,
        "user_message_reference": 0x0304,
    }
    # A tag outside the table is kept as raw bytes under its number, never dropped.
    assert smpp.option_values((Tlv(0x1403, b"\x01"),)) == {"0x1403": b"\x01"}
    with pytest.raises(PduError):
        smpp.options(message_state=256)
    with pytest.raises(PduError):
        smpp.options(receipted_message_id="r" * 65)
    with pytest.raises(PduError):  # message_state is one octet, not two
        smpp.option_values((Tlv(smpp.Tag.MESSAGE_STATE, b"\x00\x02"),))
    with pytest.raises(PduError):  # receipted_message_id without its NUL
        smpp.option_values((Tlv(smpp.Tag.RECEIPTED_MESSAGE_ID, b"ab12"),))


def test_tables_agree_with_the_independent_smpp34_codec() -> None:
    import smpp34  # the Rust SMPP codec the backend tests run their SMSC on

    assert {t.name: t.value for t in smpp.Tag} == {
        t.name: getattr(smpp34, f"TLV_{t.name}") for t in smpp.Tag}
    fields = dict(
        service_type="OTP", source_addr_ton=1, source_addr_npi=2, dest_addr_ton=3, dest_addr_npi=4,
        esm_class=0x44, protocol_id=5, priority_flag=6, schedule_delivery_time="240301120000000+",
        validity_period="000001000000000R", registered_delivery=7, replace_if_present_flag=8,
        data_coding=9, sm_default_msg_id=10,
    )
    for theirs, ours in ((smpp34.SubmitSm, smpp.SubmitSm), (smpp34.DeliverSm, smpp.DeliverSm)):
        wire = theirs("8613300000000", "1065", b"hi", sequence_number=77, tlvs=[
            smpp34.Tlv(0x001E, b"ab12\0"), smpp34.Tlv(0x0427, b"\x02")], **fields).encode()
        pdu = ours("1065", b"hi", source_addr="8613300000000",
                   tlvs=smpp.options(receipted_message_id="ab12", message_state=2), **fields)
        assert smpp.encode(pdu, 77) == wire
        assert smpp.decode(wire) == (77, 0, pdu)
