"""SMPP 3.4 PDU codec, the subset an ESME needs — docs/protocols/sms.md §1.6.

16-byte header (command_length, command_id, command_status, sequence_number); C-octet
strings; optional parameters as TLVs. ``encode(pdu, seq, status=0)`` and
``decode(bytes) -> (seq, status, pdu)``.
"""

from __future__ import annotations

import struct
from dataclasses import dataclass
from enum import IntEnum
from types import SimpleNamespace
from typing import Any

from sms_gateway.errors import PduError
from sms_gateway.pdu.common import RESP_BIT, Reader, Tlv
from sms_gateway.pdu.layout import Field, Kind, Layout, pack, parse

__all__ = [
    "BIND",
    "BIND_RESP",
    "HEADER16",
    "OPTIONS",
    "SM",
    "SM_RESP",
    "BindReceiver",
    "BindReceiverResp",
    "BindTransceiver",
    "BindTransceiverResp",
    "BindTransmitter",
    "BindTransmitterResp",
    "Command",
    "DeliverSm",
    "DeliverSmResp",
    "EnquireLink",
    "EnquireLinkResp",
    "GenericNack",
    "Pdu",
    "SubmitSm",
    "SubmitSmResp",
    "Tag",
    "Unbind",
    "UnbindResp",
    "decode",
    "encode",
    "option_values",
    "options",
    "parse_receipt",
]

HEADER16 = struct.Struct(">IIII")  # §1.6 header


class Command(IntEnum):
    """command_id values (§1.6)."""

    BIND_RECEIVER = 0x00000001
    BIND_TRANSMITTER = 0x00000002
    BIND_TRANSCEIVER = 0x00000009
    SUBMIT_SM = 0x00000004
    DELIVER_SM = 0x00000005
    UNBIND = 0x00000006
    ENQUIRE_LINK = 0x00000015
    GENERIC_NACK = RESP_BIT
    BIND_RECEIVER_RESP = RESP_BIT | 0x01
    BIND_TRANSMITTER_RESP = RESP_BIT | 0x02
    BIND_TRANSCEIVER_RESP = RESP_BIT | 0x09
    SUBMIT_SM_RESP = RESP_BIT | 0x04
    DELIVER_SM_RESP = RESP_BIT | 0x05
    UNBIND_RESP = RESP_BIT | 0x06
    ENQUIRE_LINK_RESP = RESP_BIT | 0x15


class Status(IntEnum):
    """command_status values the backend classifies (SMPP 3.4 §5.1.3)."""

    ROK = 0x00
    RSYSERR = 0x08
    RINVSRCADR = 0x0A
    RINVDSTADR = 0x0B
    RBINDFAIL = 0x0D
    RINVPASWD = 0x0E
    RMSGQFUL = 0x14
    RTHROTTLED = 0x58


class Tag(IntEnum):
    """Optional parameter tags an ESME sends or reads (SMPP 3.4 §5.3.2)."""

    PAYLOAD_TYPE = 0x0019
    RECEIPTED_MESSAGE_ID = 0x001E
    USER_MESSAGE_REFERENCE = 0x0204
    SOURCE_PORT = 0x020A
    DESTINATION_PORT = 0x020B
    SAR_MSG_REF_NUM = 0x020C
    SAR_TOTAL_SEGMENTS = 0x020E
    SAR_SEGMENT_SEQNUM = 0x020F
    SC_INTERFACE_VERSION = 0x0210
    NETWORK_ERROR_CODE = 0x0423
    MESSAGE_PAYLOAD = 0x0424
    DELIVERY_FAILURE_REASON = 0x0425
    MORE_MESSAGES_TO_SEND = 0x0426
    MESSAGE_STATE = 0x0427


# Each optional parameter's value as a one-field table (§5.3.2), walked by the same pack and
# parse as the bodies: ``options`` builds TLVs from names, ``option_values`` reads them back.
OPTIONS: dict[int, Field] = {
    Tag.PAYLOAD_TYPE: Field("payload_type", "payload_type", Kind.UINT, 1),
    Tag.RECEIPTED_MESSAGE_ID: Field("receipted_message_id", "receipted_message_id", Kind.CSTRING, 65),
    Tag.USER_MESSAGE_REFERENCE: Field("user_message_reference", "user_message_reference", Kind.UINT, 2),
    Tag.SOURCE_PORT: Field("source_port", "source_port", Kind.UINT, 2),
    Tag.DESTINATION_PORT: Field("destination_port", "destination_port", Kind.UINT, 2),
    Tag.SAR_MSG_REF_NUM: Field("sar_msg_ref_num", "sar_msg_ref_num", Kind.UINT, 2),
    Tag.SAR_TOTAL_SEGMENTS: Field("sar_total_segments", "sar_total_segments", Kind.UINT, 1),
    Tag.SAR_SEGMENT_SEQNUM: Field("sar_segment_seqnum", "sar_segment_seqnum", Kind.UINT, 1),
    Tag.SC_INTERFACE_VERSION: Field("sc_interface_version", "sc_interface_version", Kind.UINT, 1),
    # network type (1 octet) + error code (2 octets)
    Tag.NETWORK_ERROR_CODE: Field("network_error_code", "network_error_code", Kind.EXACT, 3),
    Tag.MESSAGE_PAYLOAD: Field("message_payload", "message_payload", Kind.REST),
    Tag.DELIVERY_FAILURE_REASON: Field("delivery_failure_reason", "delivery_failure_reason", Kind.UINT, 1),
    Tag.MORE_MESSAGES_TO_SEND: Field("more_messages_to_send", "more_messages_to_send", Kind.UINT, 1),
    Tag.MESSAGE_STATE: Field("message_state", "message_state", Kind.UINT, 1),
}
_TAG_BY_NAME = {f.attr: tag for tag, f in OPTIONS.items()}


def options(**values: Any) -> tuple[Tlv, ...]:
    """TLVs for the named optional parameters, in the order given; raises PduError for a value
    that does not fit its table entry (KeyError for a name not in the table)."""
    return tuple(
        Tlv(_TAG_BY_NAME[name], pack((OPTIONS[_TAG_BY_NAME[name]],), SimpleNamespace(**{name: value})))
        for name, value in values.items()
    )


def option_values(tlvs: tuple[Tlv, ...]) -> dict[str, Any]:
    """The optional parameters by name; a tag outside the table keeps its raw bytes under its
    number ("0x1403"). A value that does not match its table entry raises PduError."""
    out: dict[str, Any] = {}
    for tlv in tlvs:
        f = OPTIONS.get(tlv.tag)
        if f is None:
            out[f"0x{tlv.tag:04x}"] = tlv.value
            continue
        r = Reader(tlv.value)
        out[f.attr] = parse((f,), r)[f.attr]
        if r.remaining:
            raise PduError(f"{f.name}: {r.remaining} octets more than its value")
    return out


@dataclass(frozen=True, slots=True)
class BindTransceiver:
    system_id: str
    password: str
    system_type: str = ""
    interface_version: int = 0x34
    addr_ton: int = 0
    addr_npi: int = 0
    address_range: str = ""


@dataclass(frozen=True, slots=True)
class BindTransmitter(BindTransceiver):
    """bind_transmitter (SMPP 3.4 §4.1.1): submits only; same body as bind_transceiver."""


@dataclass(frozen=True, slots=True)
class BindReceiver(BindTransceiver):
    """bind_receiver (SMPP 3.4 §4.1.3): receives deliver_sm (receipts) only."""


@dataclass(frozen=True, slots=True)
class BindTransceiverResp:
    system_id: str = ""


@dataclass(frozen=True, slots=True)
class BindTransmitterResp(BindTransceiverResp):
    pass


@dataclass(frozen=True, slots=True)
class BindReceiverResp(BindTransceiverResp):
    pass


@dataclass(frozen=True, slots=True)
class SubmitSm:
    """submit_sm body; deliver_sm has the identical layout (class DeliverSm)."""

    destination_addr: str
    short_message: bytes
    source_addr: str = ""
    service_type: str = ""
    source_addr_ton: int = 0
    source_addr_npi: int = 0
    dest_addr_ton: int = 1
    dest_addr_npi: int = 1
    esm_class: int = 0
    protocol_id: int = 0
    priority_flag: int = 0
    schedule_delivery_time: str = ""
    validity_period: str = ""
    registered_delivery: int = 1
    replace_if_present_flag: int = 0
    data_coding: int = 8
    sm_default_msg_id: int = 0
    tlvs: tuple[Tlv, ...] = ()


@dataclass(frozen=True, slots=True)
class DeliverSm(SubmitSm):
    pass


@dataclass(frozen=True, slots=True)
class SubmitSmResp:
    message_id: str = ""


@dataclass(frozen=True, slots=True)
class DeliverSmResp:
    message_id: str = ""


@dataclass(frozen=True, slots=True)
class EnquireLink:
    pass


@dataclass(frozen=True, slots=True)
class EnquireLinkResp:
    pass


@dataclass(frozen=True, slots=True)
class Unbind:
    pass


@dataclass(frozen=True, slots=True)
class UnbindResp:
    pass


@dataclass(frozen=True, slots=True)
class GenericNack:
    pass


Pdu = (
    BindTransceiver | BindTransmitter | BindReceiver
    | BindTransceiverResp | BindTransmitterResp | BindReceiverResp
    | SubmitSm | DeliverSm | SubmitSmResp | DeliverSmResp
    | EnquireLink | EnquireLinkResp | Unbind | UnbindResp | GenericNack
)

# --- field tables --------------------------------------------------------------------------
# Each body below is the field table of the SMPP 3.4 specification (SMPP Developers Forum,
# issue 1.2: §4.1 bind_*, §4.4 submit_sm, §4.6 deliver_sm and their responses); a C-Octet
# String's width is the specification's maximum size, NUL included. ``encode`` and ``decode``
# both walk these tables (sms_gateway.pdu.layout); docs/protocols/sms.md §1.6.

# The three binds share one body (§4.1.1, §4.1.3, §4.1.5), as do their responses.
BIND: Layout = (
    Field("system_id", "system_id", Kind.CSTRING, 16),
    Field("password", "password", Kind.CSTRING, 9),
    Field("system_type", "system_type", Kind.CSTRING, 13),
    Field("interface_version", "interface_version", Kind.UINT, 1),
    Field("addr_ton", "addr_ton", Kind.UINT, 1),
    Field("addr_npi", "addr_npi", Kind.UINT, 1),
    Field("address_range", "address_range", Kind.CSTRING, 41),
)
BIND_RESP: Layout = (
    # An error response may carry no body at all (§4.1.6).
    Field("system_id", "system_id", Kind.CSTRING, 16, optional=True),
    # The optional sc_interface_version TLV (§4.1.2) is read past, not parsed.
    Field("optional parameters", "", Kind.TRAILER, 0),
)
# deliver_sm (§4.6.1) has the submit_sm (§4.4.1) body, field for field.
SM: Layout = (
    Field("service_type", "service_type", Kind.CSTRING, 6),
    Field("source_addr_ton", "source_addr_ton", Kind.UINT, 1),
    Field("source_addr_npi", "source_addr_npi", Kind.UINT, 1),
    Field("source_addr", "source_addr", Kind.CSTRING, 21),
    Field("dest_addr_ton", "dest_addr_ton", Kind.UINT, 1),
    Field("dest_addr_npi", "dest_addr_npi", Kind.UINT, 1),
    Field("destination_addr", "destination_addr", Kind.CSTRING, 21),
    Field("esm_class", "esm_class", Kind.UINT, 1),
    Field("protocol_id", "protocol_id", Kind.UINT, 1),
    Field("priority_flag", "priority_flag", Kind.UINT, 1),
    Field("schedule_delivery_time", "schedule_delivery_time", Kind.CSTRING, 17),
    Field("validity_period", "validity_period", Kind.CSTRING, 17),
    Field("registered_delivery", "registered_delivery", Kind.UINT, 1),
    Field("replace_if_present_flag", "replace_if_present_flag", Kind.UINT, 1),
    Field("data_coding", "data_coding", Kind.UINT, 1),
    Field("sm_default_msg_id", "sm_default_msg_id", Kind.UINT, 1),
    Field("sm_length", "short_message", Kind.BYTES8, bounds=(0, 254)),
    Field("optional parameters", "tlvs", Kind.TLVS),
)
# submit_sm_resp's message_id is at most 65 octets (§4.4.2); deliver_sm_resp's is "unused, set
# to NULL" (§4.6.2), read and written with the same width so an SMSC that fills it is not refused.
SM_RESP: Layout = (Field("message_id", "message_id", Kind.CSTRING, 65, optional=True),)

# command_id → message class and body table; a message without a table has an empty body.
_MESSAGES: tuple[tuple[Command, type, Layout], ...] = (
    (Command.BIND_TRANSMITTER, BindTransmitter, BIND),
    (Command.BIND_RECEIVER, BindReceiver, BIND),
    (Command.BIND_TRANSCEIVER, BindTransceiver, BIND),
    (Command.BIND_TRANSMITTER_RESP, BindTransmitterResp, BIND_RESP),
    (Command.BIND_RECEIVER_RESP, BindReceiverResp, BIND_RESP),
    (Command.BIND_TRANSCEIVER_RESP, BindTransceiverResp, BIND_RESP),
    (Command.SUBMIT_SM, SubmitSm, SM),
    (Command.SUBMIT_SM_RESP, SubmitSmResp, SM_RESP),
    (Command.DELIVER_SM, DeliverSm, SM),
    (Command.DELIVER_SM_RESP, DeliverSmResp, SM_RESP),
    (Command.ENQUIRE_LINK, EnquireLink, ()),
    (Command.ENQUIRE_LINK_RESP, EnquireLinkResp, ()),
    (Command.UNBIND, Unbind, ()),
    (Command.UNBIND_RESP, UnbindResp, ()),
    (Command.GENERIC_NACK, GenericNack, ()),
)
_BY_CLASS = {cls: (command, layout) for command, cls, layout in _MESSAGES}
_BY_COMMAND = {int(command): (cls, layout) for command, cls, layout in _MESSAGES}


def encode(pdu: Pdu, seq: int, status: int = 0) -> bytes:
    """One complete SMPP PDU with its 16-byte header."""
    entry = _BY_CLASS.get(type(pdu))
    if entry is None:
        raise PduError(f"not an SMPP PDU: {pdu!r}")
    command, layout = entry
    body = pack(layout, pdu)
    return HEADER16.pack(HEADER16.size + len(body), command, status, seq & 0xFFFFFFFF) + body


def decode(data: bytes) -> tuple[int, int, Pdu]:
    """Parse one complete SMPP PDU; returns (sequence_number, command_status, message)."""
    if len(data) < HEADER16.size:
        raise PduError(f"PDU shorter than its 16-byte header ({len(data)} bytes)")
    length, command, status, seq = HEADER16.unpack_from(data)
    if length != len(data):
        raise PduError(f"command_length {length} != {len(data)} bytes received")
    entry = _BY_COMMAND.get(command)
    if entry is None:
        raise PduError(f"unsupported SMPP command_id 0x{command:08x}")
    cls, layout = entry
    r = Reader(data, HEADER16.size)
    pdu: Pdu = cls(**parse(layout, r))
    if r.remaining:
        raise PduError(f"{r.remaining} unexpected trailing bytes in 0x{command:08x}")
    return seq, status, pdu


def parse_receipt(text: bytes) -> dict[str, str]:
    """Fields of a delivery receipt text ``id:… sub:… dlvrd:… submit date:… done date:…
    stat:… err:… text:…`` (§1.6); keys are lower-case with spaces kept ("submit date")."""
    s = text.decode("latin-1")
    out: dict[str, str] = {}
    keys = ("id", "sub", "dlvrd", "submit date", "done date", "stat", "err", "text")
    positions = [(s.find(k + ":"), k) for k in keys if s.find(k + ":") >= 0]
    positions.sort()
    for i, (pos, key) in enumerate(positions):
        end = positions[i + 1][0] if i + 1 < len(positions) else len(s)
        out[key] = s[pos + len(key) + 1:end].strip()
    if "id" not in out or "stat" not in out:
        raise PduError("not a delivery receipt (no id: / stat:)")
    return out
