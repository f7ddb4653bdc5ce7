"""SMPP 3.4 PDU codec, the subset an ESME needs — docs/protocols/sms.md §1.6.

16-byte header (command_length, command_id, command_status, sequence_number); C-octet
strings; optional parameters as TLVs. ``encode(pdu, seq, status=0)`` and
``decode(bytes) -> (seq, status, pdu)``.
"""

from __future__ import annotations

import struct
from dataclasses import dataclass
from enum import IntEnum

from sms_gateway.errors import PduError
from sms_gateway.pdu.common import RESP_BIT, Reader, Tlv, decode_tlvs, encode_tlvs

__all__ = [
    "HEADER16",
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
    "Unbind",
    "UnbindResp",
    "decode",
    "encode",
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

_EMPTY: dict[type, Command] = {
    EnquireLink: Command.ENQUIRE_LINK,
    EnquireLinkResp: Command.ENQUIRE_LINK_RESP,
    Unbind: Command.UNBIND,
    UnbindResp: Command.UNBIND_RESP,
    GenericNack: Command.GENERIC_NACK,
}
_EMPTY_BY_ID: dict[int, type] = {int(v): k for k, v in _EMPTY.items()}

# The three binds share one body layout (SMPP 3.4 §4.1), as do their responses.
_BINDS: dict[type, Command] = {
    BindTransceiver: Command.BIND_TRANSCEIVER,
    BindTransmitter: Command.BIND_TRANSMITTER,
    BindReceiver: Command.BIND_RECEIVER,
}
_BIND_RESPS: dict[type, Command] = {
    BindTransceiverResp: Command.BIND_TRANSCEIVER_RESP,
    BindTransmitterResp: Command.BIND_TRANSMITTER_RESP,
    BindReceiverResp: Command.BIND_RECEIVER_RESP,
}
_BINDS_BY_ID: dict[int, type[BindTransceiver]] = {int(v): k for k, v in _BINDS.items()}
_BIND_RESPS_BY_ID: dict[int, type[BindTransceiverResp]] = {int(v): k for k, v in _BIND_RESPS.items()}


def _c(value: str, maxlen: int, what: str) -> bytes:
    raw = value.encode("ascii")
    if len(raw) >= maxlen:
        raise PduError(f"{what} longer than {maxlen - 1} characters")
    return raw + b"\0"


def _sm_body(pdu: SubmitSm) -> bytes:
    if len(pdu.short_message) > 254:
        raise PduError("short_message longer than 254 bytes")
    return (
        _c(pdu.service_type, 6, "service_type")
        + bytes([pdu.source_addr_ton, pdu.source_addr_npi]) + _c(pdu.source_addr, 21, "source_addr")
        + bytes([pdu.dest_addr_ton, pdu.dest_addr_npi])
        + _c(pdu.destination_addr, 21, "destination_addr")
        + bytes([pdu.esm_class, pdu.protocol_id, pdu.priority_flag])
        + _c(pdu.schedule_delivery_time, 17, "schedule_delivery_time")
        + _c(pdu.validity_period, 17, "validity_period")
        + bytes([pdu.registered_delivery, pdu.replace_if_present_flag, pdu.data_coding,
                 pdu.sm_default_msg_id, len(pdu.short_message)])
        + pdu.short_message + encode_tlvs(pdu.tlvs)
    )


def encode(pdu: Pdu, seq: int, status: int = 0) -> bytes:
    """One complete SMPP PDU with its 16-byte header."""
    if type(pdu) in _EMPTY:
        command, body = _EMPTY[type(pdu)], b""
    elif type(pdu) in _BINDS:
        assert isinstance(pdu, BindTransceiver)
        command = _BINDS[type(pdu)]
        body = (
            _c(pdu.system_id, 16, "system_id") + _c(pdu.password, 9, "password")
            + _c(pdu.system_type, 13, "system_type")
            + bytes([pdu.interface_version, pdu.addr_ton, pdu.addr_npi])
            + _c(pdu.address_range, 41, "address_range")
        )
    elif type(pdu) in _BIND_RESPS:
        assert isinstance(pdu, BindTransceiverResp)
        command, body = _BIND_RESPS[type(pdu)], _c(pdu.system_id, 16, "system_id")
    elif isinstance(pdu, DeliverSm):
        command, body = Command.DELIVER_SM, _sm_body(pdu)
    elif isinstance(pdu, SubmitSm):
        command, body = Command.SUBMIT_SM, _sm_body(pdu)
    elif isinstance(pdu, SubmitSmResp):
        command, body = Command.SUBMIT_SM_RESP, _c(pdu.message_id, 65, "message_id")
    elif isinstance(pdu, DeliverSmResp):
        command, body = Command.DELIVER_SM_RESP, _c(pdu.message_id, 65, "message_id")
    else:
        raise PduError(f"not an SMPP PDU: {pdu!r}")
    return HEADER16.pack(HEADER16.size + len(body), command, status, seq & 0xFFFFFFFF) + body


def _sm_decode(r: Reader, cls: type[SubmitSm]) -> SubmitSm:
    service_type = r.cstring(6, "service_type")
    s_ton, s_npi = r.u8("source_addr_ton"), r.u8("source_addr_npi")
    source = r.cstring(21, "source_addr")
    d_ton, d_npi = r.u8("dest_addr_ton"), r.u8("dest_addr_npi")
    dest = r.cstring(21, "destination_addr")
    esm, pid, prio = r.u8("esm_class"), r.u8("protocol_id"), r.u8("priority_flag")
    sched, validity = r.cstring(17, "schedule_delivery_time"), r.cstring(17, "validity_period")
    reg, replace, coding = r.u8("registered_delivery"), r.u8("replace_if_present"), r.u8("data_coding")
    default_id = r.u8("sm_default_msg_id")
    sm = r.take(r.u8("sm_length"), "short_message")
    return cls(
        destination_addr=dest, short_message=sm, source_addr=source, service_type=service_type,
        source_addr_ton=s_ton, source_addr_npi=s_npi, dest_addr_ton=d_ton, dest_addr_npi=d_npi,
        esm_class=esm, protocol_id=pid, priority_flag=prio, schedule_delivery_time=sched,
        validity_period=validity, registered_delivery=reg, replace_if_present_flag=replace,
        data_coding=coding, sm_default_msg_id=default_id, tlvs=decode_tlvs(r.rest()),
    )


def decode(data: bytes) -> tuple[int, int, Pdu]:
    """Parse one complete SMPP PDU; returns (sequence_number, command_status, message)."""
    if len(data) < HEADER16.size:
        raise PduError(f"PDU shorter than its 16-byte header ({len(data)} bytes)")
    length, command, status, seq = HEADER16.unpack_from(data)
    if length != len(data):
        raise PduError(f"command_length {length} != {len(data)} bytes received")
    r = Reader(data, HEADER16.size)
    pdu: Pdu
    if command in _EMPTY_BY_ID:
        pdu = _EMPTY_BY_ID[command]()
    elif command in _BINDS_BY_ID:
        pdu = _BINDS_BY_ID[command](
            r.cstring(16, "system_id"), r.cstring(9, "password"), r.cstring(13, "system_type"),
            r.u8("interface_version"), r.u8("addr_ton"), r.u8("addr_npi"),
            r.cstring(41, "address_range"),
        )
    elif command in _BIND_RESPS_BY_ID:
        # An error response may carry no body at all (SMPP 3.4 §4.1.6).
        pdu = _BIND_RESPS_BY_ID[command](r.cstring(16, "system_id") if r.remaining else "")
        r.rest()  # optional sc_interface_version TLV
    elif command == Command.SUBMIT_SM:
        pdu = _sm_decode(r, SubmitSm)
    elif command == Command.DELIVER_SM:
        pdu = _sm_decode(r, DeliverSm)
    elif command == Command.SUBMIT_SM_RESP:
        pdu = SubmitSmResp(r.cstring(65, "message_id") if r.remaining else "")
    elif command == Command.DELIVER_SM_RESP:
        pdu = DeliverSmResp(r.cstring(65, "message_id") if r.remaining else "")
    else:
        raise PduError(f"unsupported SMPP command_id 0x{command:08x}")
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
