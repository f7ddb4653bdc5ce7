"""CMPP 3.0 / 2.0 (China Mobile) PDU codec — docs/protocols/sms.md §1.4.

The two versions differ in field widths (terminal ids 32 vs 21 bytes, Result/Status 4 vs 1
byte) and in the trailing LinkID (3.0) vs Reserve (2.0); every function takes ``version``
(``V30`` = 0x30 or ``V20`` = 0x20). Message ids are the 64-bit integers of §1.4.
"""

from __future__ import annotations

import struct
from dataclasses import dataclass
from enum import IntEnum

from sms_gateway.errors import PduError
from sms_gateway.pdu.common import HEADER12, RESP_BIT, Reader, md5, octets, split_header12

__all__ = [
    "V20",
    "V30",
    "ActiveTest",
    "ActiveTestResp",
    "Command",
    "Connect",
    "ConnectResp",
    "Deliver",
    "DeliverResp",
    "Pdu",
    "Report",
    "Result",
    "Submit",
    "SubmitResp",
    "Terminate",
    "TerminateResp",
    "connect_authenticator",
    "decode",
    "encode",
    "encode_report",
    "ismg_authenticator",
    "parse_report",
]

V30 = 0x30  # §1.4 CONNECT Version
V20 = 0x20


class Command(IntEnum):
    """Command IDs (§1.4 table); responses are RESP_BIT | id."""

    CONNECT = 0x00000001
    TERMINATE = 0x00000002
    SUBMIT = 0x00000004
    DELIVER = 0x00000005
    ACTIVE_TEST = 0x00000008
    CONNECT_RESP = RESP_BIT | 0x01
    TERMINATE_RESP = RESP_BIT | 0x02
    SUBMIT_RESP = RESP_BIT | 0x04
    DELIVER_RESP = RESP_BIT | 0x05
    ACTIVE_TEST_RESP = RESP_BIT | 0x08


class Result(IntEnum):
    """SUBMIT_RESP Result (§1.4); CONNECT_RESP Status 3 = authentication error."""

    OK = 0
    STRUCTURE = 1
    COMMAND = 2
    DUPLICATE_SEQUENCE = 3
    LENGTH = 4
    FEE = 5
    TOO_LONG = 6
    SERVICE_CODE = 7
    FLOW_CONTROL = 8
    NOT_SERVED = 9
    SRC_ID = 10
    MSG_SRC = 11
    FEE_TERMINAL = 12
    DEST_TERMINAL = 13


CONNECT_AUTH_ERROR = 3  # §1.4 CONNECT_RESP Status


def connect_authenticator(source_addr: str, secret: str, timestamp: str) -> bytes:
    """MD5(Source_Addr + 9×0x00 + secret + "MMDDHHMMSS") (§1.4 CONNECT)."""
    return md5(source_addr.encode(), b"\0" * 9, secret.encode(), timestamp.encode())


def ismg_authenticator(status: int, source_auth: bytes, secret: str, version: int) -> bytes:
    """MD5(Status + AuthenticatorSource + secret); Status is 4 bytes in 3.0, 1 in 2.0."""
    return md5(_status(status, version), source_auth, secret.encode())


def _status(value: int, version: int) -> bytes:
    return struct.pack(">I", value) if version >= V30 else bytes([value & 0xFF])


def _read_status(r: Reader, version: int, what: str) -> int:
    return r.u32(what) if version >= V30 else r.u8(what)


def _link_or_reserve(r: Reader, version: int) -> str:
    """LinkID 20 in 3.0; Reserve 8 (ignored) in 2.0."""
    if version >= V30:
        return r.text(20, "LinkID")
    r.take(8, "Reserve")
    return ""


def _tid(version: int) -> int:
    return 32 if version >= V30 else 21


@dataclass(frozen=True, slots=True)
class Connect:
    source_addr: str
    authenticator: bytes
    version: int
    timestamp: int


@dataclass(frozen=True, slots=True)
class ConnectResp:
    status: int
    authenticator: bytes = b"\0" * 16
    version: int = V30


@dataclass(frozen=True, slots=True)
class Submit:
    dest_terminal_ids: tuple[str, ...]
    content: bytes
    msg_fmt: int = 8
    src_id: str = ""
    service_id: str = ""
    msg_src: str = ""          # SP_Id
    pk_total: int = 1
    pk_number: int = 1
    registered_delivery: int = 1
    msg_level: int = 1
    fee_user_type: int = 0
    fee_terminal_id: str = ""
    fee_terminal_type: int = 0
    tp_pid: int = 0
    tp_udhi: int = 0
    fee_type: str = "01"
    fee_code: str = "000000"
    valid_time: str = ""
    at_time: str = ""
    dest_terminal_type: int = 0
    link_id: str = ""
    msg_id: int = 0


@dataclass(frozen=True, slots=True)
class SubmitResp:
    msg_id: int
    result: int


@dataclass(frozen=True, slots=True)
class Deliver:
    msg_id: int
    dest_id: str
    service_id: str
    msg_fmt: int
    src_terminal_id: str
    registered_delivery: int
    content: bytes
    tp_pid: int = 0
    tp_udhi: int = 0
    src_terminal_type: int = 0
    link_id: str = ""


@dataclass(frozen=True, slots=True)
class DeliverResp:
    msg_id: int
    result: int = 0


@dataclass(frozen=True, slots=True)
class ActiveTest:
    pass


@dataclass(frozen=True, slots=True)
class ActiveTestResp:
    pass


@dataclass(frozen=True, slots=True)
class Terminate:
    pass


@dataclass(frozen=True, slots=True)
class TerminateResp:
    pass


Pdu = (
    Connect | ConnectResp | Submit | SubmitResp | Deliver | DeliverResp
    | ActiveTest | ActiveTestResp | Terminate | TerminateResp
)


def _body(pdu: Pdu, v: int) -> tuple[Command, bytes]:
    tid = _tid(v)
    if isinstance(pdu, ActiveTest):
        return Command.ACTIVE_TEST, b""
    if isinstance(pdu, ActiveTestResp):
        return Command.ACTIVE_TEST_RESP, b"\0"  # §1.4: 1-byte Reserved
    if isinstance(pdu, Terminate):
        return Command.TERMINATE, b""
    if isinstance(pdu, TerminateResp):
        return Command.TERMINATE_RESP, b""
    if isinstance(pdu, Connect):
        if len(pdu.authenticator) != 16:
            raise PduError("AuthenticatorSource must be 16 bytes")
        return Command.CONNECT, (
            octets(pdu.source_addr, 6) + pdu.authenticator
            + struct.pack(">BI", pdu.version, pdu.timestamp)
        )
    if isinstance(pdu, ConnectResp):
        return Command.CONNECT_RESP, (
            _status(pdu.status, v) + octets(pdu.authenticator, 16) + bytes([pdu.version])
        )
    if isinstance(pdu, Submit):
        if not 1 <= len(pdu.dest_terminal_ids) < 100:
            raise PduError("DestUsr_tl must be 1..99")
        if len(pdu.content) > 255:
            raise PduError("Msg_Content longer than 255 bytes")
        out = bytearray(struct.pack(">Q", pdu.msg_id))
        out += bytes([pdu.pk_total, pdu.pk_number, pdu.registered_delivery, pdu.msg_level])
        out += octets(pdu.service_id, 10) + bytes([pdu.fee_user_type])
        out += octets(pdu.fee_terminal_id, tid)
        if v >= V30:
            out += bytes([pdu.fee_terminal_type])
        out += bytes([pdu.tp_pid, pdu.tp_udhi, pdu.msg_fmt]) + octets(pdu.msg_src, 6)
        out += octets(pdu.fee_type, 2) + octets(pdu.fee_code, 6)
        out += octets(pdu.valid_time, 17) + octets(pdu.at_time, 17) + octets(pdu.src_id, 21)
        out += bytes([len(pdu.dest_terminal_ids)])
        for dest in pdu.dest_terminal_ids:
            out += octets(dest, tid)
        if v >= V30:
            out += bytes([pdu.dest_terminal_type])
        out += bytes([len(pdu.content)]) + pdu.content
        out += octets(pdu.link_id, 20) if v >= V30 else b"\0" * 8
        return Command.SUBMIT, bytes(out)
    if isinstance(pdu, SubmitResp):
        return Command.SUBMIT_RESP, struct.pack(">Q", pdu.msg_id) + _status(pdu.result, v)
    if isinstance(pdu, Deliver):
        if len(pdu.content) > 255:
            raise PduError("Msg_Content longer than 255 bytes")
        out = bytearray(struct.pack(">Q", pdu.msg_id))
        out += octets(pdu.dest_id, 21) + octets(pdu.service_id, 10)
        out += bytes([pdu.tp_pid, pdu.tp_udhi, pdu.msg_fmt]) + octets(pdu.src_terminal_id, tid)
        if v >= V30:
            out += bytes([pdu.src_terminal_type])
        out += bytes([pdu.registered_delivery, len(pdu.content)]) + pdu.content
        out += octets(pdu.link_id, 20) if v >= V30 else b"\0" * 8
        return Command.DELIVER, bytes(out)
    if isinstance(pdu, DeliverResp):
        return Command.DELIVER_RESP, struct.pack(">Q", pdu.msg_id) + _status(pdu.result, v)
    raise PduError(f"not a CMPP PDU: {pdu!r}")


def encode(pdu: Pdu, seq: int, version: int = V30) -> bytes:
    """One complete CMPP PDU with its 12-byte header (§1.2, §1.4)."""
    command, body = _body(pdu, version)
    return HEADER12.pack(HEADER12.size + len(body), command, seq & 0xFFFFFFFF) + body


def decode(data: bytes, version: int = V30) -> tuple[int, Pdu]:
    """Parse one complete CMPP PDU; returns (sequence id, message)."""
    _, command, seq, body = split_header12(data)
    r = Reader(body)
    tid = _tid(version)
    pdu: Pdu
    if command == Command.ACTIVE_TEST:
        pdu = ActiveTest()
    elif command == Command.ACTIVE_TEST_RESP:
        r.rest()  # 1 reserved byte (some gateways send none)
        pdu = ActiveTestResp()
    elif command == Command.TERMINATE:
        pdu = Terminate()
    elif command == Command.TERMINATE_RESP:
        pdu = TerminateResp()
    elif command == Command.CONNECT:
        pdu = Connect(
            r.text(6, "Source_Addr"), r.take(16, "AuthenticatorSource"), r.u8("Version"),
            r.u32("Timestamp"),
        )
    elif command == Command.CONNECT_RESP:
        pdu = ConnectResp(
            _read_status(r, version, "Status"), r.take(16, "AuthenticatorISMG"), r.u8("Version")
        )
    elif command == Command.SUBMIT:
        msg_id = int.from_bytes(r.take(8, "Msg_Id"), "big")
        pk_total, pk_number = r.u8("Pk_total"), r.u8("Pk_number")
        reg, level = r.u8("Registered_Delivery"), r.u8("Msg_level")
        service_id, fee_user_type = r.text(10, "Service_Id"), r.u8("Fee_UserType")
        fee_tid = r.text(tid, "Fee_terminal_Id")
        fee_tt = r.u8("Fee_terminal_type") if version >= V30 else 0
        tp_pid, tp_udhi, fmt = r.u8("TP_pId"), r.u8("TP_udhi"), r.u8("Msg_Fmt")
        msg_src, fee_type, fee_code = r.text(6, "Msg_src"), r.text(2, "FeeType"), r.text(6, "FeeCode")
        valid, at, src = r.text(17, "ValId_Time"), r.text(17, "At_Time"), r.text(21, "Src_Id")
        count = r.u8("DestUsr_tl")
        if not 1 <= count < 100:
            raise PduError(f"DestUsr_tl {count} outside 1..99")
        dests = tuple(r.text(tid, "Dest_terminal_Id") for _ in range(count))
        dest_tt = r.u8("Dest_terminal_type") if version >= V30 else 0
        content = r.take(r.u8("Msg_Length"), "Msg_Content")
        link_id = _link_or_reserve(r, version)
        pdu = Submit(
            dest_terminal_ids=dests, content=content, msg_fmt=fmt, src_id=src,
            service_id=service_id, msg_src=msg_src, pk_total=pk_total, pk_number=pk_number,
            registered_delivery=reg, msg_level=level, fee_user_type=fee_user_type,
            fee_terminal_id=fee_tid, fee_terminal_type=fee_tt, tp_pid=tp_pid, tp_udhi=tp_udhi,
            fee_type=fee_type, fee_code=fee_code, valid_time=valid, at_time=at,
            dest_terminal_type=dest_tt, link_id=link_id, msg_id=msg_id,
        )
    elif command == Command.SUBMIT_RESP:
        pdu = SubmitResp(int.from_bytes(r.take(8, "Msg_Id"), "big"), _read_status(r, version, "Result"))
    elif command == Command.DELIVER:
        msg_id = int.from_bytes(r.take(8, "Msg_Id"), "big")
        dest_id, service_id = r.text(21, "Dest_Id"), r.text(10, "Service_Id")
        tp_pid, tp_udhi, fmt = r.u8("TP_pid"), r.u8("TP_udhi"), r.u8("Msg_Fmt")
        src = r.text(tid, "Src_terminal_Id")
        src_tt = r.u8("Src_terminal_type") if version >= V30 else 0
        reg = r.u8("Registered_Delivery")
        content = r.take(r.u8("Msg_Length"), "Msg_Content")
        link_id = _link_or_reserve(r, version)
        pdu = Deliver(msg_id, dest_id, service_id, fmt, src, reg, content, tp_pid, tp_udhi,
                      src_tt, link_id)
    elif command == Command.DELIVER_RESP:
        pdu = DeliverResp(int.from_bytes(r.take(8, "Msg_Id"), "big"), _read_status(r, version, "Result"))
    else:
        raise PduError(f"unknown CMPP Command_Id 0x{command:08x}")
    if r.remaining:
        raise PduError(f"{r.remaining} unexpected trailing bytes in 0x{command:08x}")
    return seq, pdu


@dataclass(frozen=True, slots=True)
class Report:
    """Status report carried in a DELIVER with Registered_Delivery = 1 (§1.4 Report content)."""

    msg_id: int
    stat: str
    submit_time: str
    done_time: str
    dest_terminal_id: str
    smsc_sequence: int = 0


def encode_report(report: Report, version: int = V30) -> bytes:
    return (
        struct.pack(">Q", report.msg_id) + octets(report.stat, 7) + octets(report.submit_time, 10)
        + octets(report.done_time, 10) + octets(report.dest_terminal_id, _tid(version))
        + struct.pack(">I", report.smsc_sequence)
    )


def parse_report(content: bytes, version: int = V30) -> Report:
    """71 bytes in 3.0, 60 in 2.0 (§1.4)."""
    expected = 71 if version >= V30 else 60
    if len(content) != expected:
        raise PduError(f"CMPP report must be {expected} bytes, got {len(content)}")
    r = Reader(content)
    return Report(
        int.from_bytes(r.take(8, "Msg_Id"), "big"), r.text(7, "Stat"), r.text(10, "Submit_time"),
        r.text(10, "Done_time"), r.text(_tid(version), "Dest_terminal_Id"), r.u32("SMSC_sequence"),
    )
