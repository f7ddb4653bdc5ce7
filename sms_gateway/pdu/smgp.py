"""SMGP 3.0 (China Telecom) PDU codec — docs/protocols/sms.md §1.3.

``encode(pdu, seq) -> bytes`` and ``decode(bytes) -> (seq, pdu)`` over one complete PDU
(12-byte header included). Framing a TCP stream is the session's job.
"""

from __future__ import annotations

import re
import struct
from dataclasses import dataclass
from enum import IntEnum

from sms_gateway.errors import PduError
from sms_gateway.pdu.common import (
    HEADER12,
    RESP_BIT,
    Reader,
    Tlv,
    decode_tlvs,
    encode_tlvs,
    md5,
    octets,
    split_header12,
)

__all__ = [
    "ActiveTest",
    "ActiveTestResp",
    "Command",
    "Deliver",
    "DeliverResp",
    "Exit",
    "ExitResp",
    "Login",
    "LoginResp",
    "MsgFormat",
    "Pdu",
    "Report",
    "Status",
    "Submit",
    "SubmitResp",
    "TlvTag",
    "client_authenticator",
    "decode",
    "encode",
    "encode_report",
    "parse_report",
    "server_authenticator",
]

VERSION_30 = 0x30  # §1.3 ClientVersion: high nibble major, low nibble minor


class Command(IntEnum):
    """RequestID values (§1.3 table); responses are RESP_BIT | id."""

    LOGIN = 0x00000001
    SUBMIT = 0x00000002
    DELIVER = 0x00000003
    ACTIVE_TEST = 0x00000004
    EXIT = 0x00000006
    LOGIN_RESP = RESP_BIT | 0x01
    SUBMIT_RESP = RESP_BIT | 0x02
    DELIVER_RESP = RESP_BIT | 0x03
    ACTIVE_TEST_RESP = RESP_BIT | 0x04
    EXIT_RESP = RESP_BIT | 0x06


class Status(IntEnum):
    """Response Status codes that the client reacts to (§1.3 status table)."""

    OK = 0
    SYSTEM_BUSY = 1
    TOO_MANY_CONNECTIONS = 2
    STRUCTURE_ERROR = 10
    AUTH_ERROR = 21
    VERSION_TOO_HIGH = 22
    BAD_MSG_FORMAT = 34
    BAD_MSG_LENGTH = 36
    BAD_DEST_TERM_ID = 47
    TIME_FORBIDDEN = 74
    DAILY_VOLUME_EXCEEDED = 75
    ACCOUNT_EXPIRED = 76


class MsgFormat(IntEnum):
    """MsgFormat (§1.3 Encodings)."""

    ASCII = 0
    BINARY = 4
    UCS2 = 8
    GB18030 = 15


class TlvTag(IntEnum):
    """Submit/Deliver optional TLV tags (§1.3 TLVs)."""

    TP_PID = 0x0001
    TP_UDHI = 0x0002
    LINK_ID = 0x0003
    PK_TOTAL = 0x0009
    PK_NUMBER = 0x000A
    SUBMIT_MSG_TYPE = 0x000B
    MSG_SRC = 0x0010


def client_authenticator(client_id: str, secret: str, timestamp: str) -> bytes:
    """MD5(ClientID + 7×0x00 + secret + "MMDDHHMMSS") (§1.3 Login)."""
    return md5(client_id.encode(), b"\0" * 7, secret.encode(), timestamp.encode())


def server_authenticator(status: int, client_auth: bytes, secret: str) -> bytes:
    """MD5(Status as 4-byte integer + AuthenticatorClient + secret) (§1.3 Login_Resp)."""
    return md5(struct.pack(">I", status), client_auth, secret.encode())


@dataclass(frozen=True, slots=True)
class Login:
    client_id: str
    authenticator: bytes
    login_mode: int  # 0 send, 1 receive, 2 transmit
    timestamp: int   # decimal digits MMDDHHMMSS
    version: int = VERSION_30


@dataclass(frozen=True, slots=True)
class LoginResp:
    status: int
    authenticator: bytes = b"\0" * 16
    version: int = VERSION_30


@dataclass(frozen=True, slots=True)
class Submit:
    dest_term_ids: tuple[str, ...]
    content: bytes
    msg_format: int = MsgFormat.UCS2
    src_term_id: str = ""
    service_id: str = ""
    msg_type: int = 6           # 6 = MT
    need_report: int = 1
    priority: int = 1
    fee_type: str = "00"        # free
    fee_code: str = "000000"
    fixed_fee: str = "000000"
    valid_time: str = ""
    at_time: str = ""
    charge_term_id: str = ""
    tlvs: tuple[Tlv, ...] = ()


@dataclass(frozen=True, slots=True)
class SubmitResp:
    msg_id: bytes  # 10 bytes BCD
    status: int


@dataclass(frozen=True, slots=True)
class Deliver:
    msg_id: bytes
    is_report: int
    msg_format: int
    recv_time: str  # YYYYMMDDHHMMSS
    src_term_id: str
    dest_term_id: str
    content: bytes
    tlvs: tuple[Tlv, ...] = ()


@dataclass(frozen=True, slots=True)
class DeliverResp:
    msg_id: bytes
    status: int = 0


@dataclass(frozen=True, slots=True)
class ActiveTest:
    pass


@dataclass(frozen=True, slots=True)
class ActiveTestResp:
    pass


@dataclass(frozen=True, slots=True)
class Exit:
    pass


@dataclass(frozen=True, slots=True)
class ExitResp:
    pass


Pdu = (
    Login | LoginResp | Submit | SubmitResp | Deliver | DeliverResp
    | ActiveTest | ActiveTestResp | Exit | ExitResp
)

_EMPTY: dict[type, Command] = {
    ActiveTest: Command.ACTIVE_TEST,
    ActiveTestResp: Command.ACTIVE_TEST_RESP,
    Exit: Command.EXIT,
    ExitResp: Command.EXIT_RESP,
}
_EMPTY_BY_ID: dict[int, type] = {int(v): k for k, v in _EMPTY.items()}


def _msg_id(value: bytes) -> bytes:
    if len(value) != 10:
        raise PduError(f"SMGP MsgID must be 10 bytes, got {len(value)}")
    return value


def _body(pdu: Pdu) -> tuple[Command, bytes]:
    if type(pdu) in _EMPTY:
        return _EMPTY[type(pdu)], b""
    if isinstance(pdu, Login):
        if len(pdu.authenticator) != 16:
            raise PduError("AuthenticatorClient must be 16 bytes")
        return Command.LOGIN, (
            octets(pdu.client_id, 8) + pdu.authenticator
            + struct.pack(">BIB", pdu.login_mode, pdu.timestamp, pdu.version)
        )
    if isinstance(pdu, LoginResp):
        return Command.LOGIN_RESP, (
            struct.pack(">I", pdu.status) + octets(pdu.authenticator, 16) + bytes([pdu.version])
        )
    if isinstance(pdu, Submit):
        if not 1 <= len(pdu.dest_term_ids) <= 100:
            raise PduError("DestTermIDCount must be 1..100")
        if len(pdu.content) > 255:
            raise PduError("MsgContent longer than 255 bytes")
        out = bytearray()
        out += bytes([pdu.msg_type, pdu.need_report, pdu.priority])
        out += octets(pdu.service_id, 10) + octets(pdu.fee_type, 2)
        out += octets(pdu.fee_code, 6) + octets(pdu.fixed_fee, 6)
        out += bytes([pdu.msg_format])
        out += octets(pdu.valid_time, 17) + octets(pdu.at_time, 17)
        out += octets(pdu.src_term_id, 21) + octets(pdu.charge_term_id, 21)
        out += bytes([len(pdu.dest_term_ids)])
        for dest in pdu.dest_term_ids:
            out += octets(dest, 21)
        out += bytes([len(pdu.content)]) + pdu.content + b"\0" * 8
        out += encode_tlvs(pdu.tlvs)
        return Command.SUBMIT, bytes(out)
    if isinstance(pdu, SubmitResp):
        return Command.SUBMIT_RESP, _msg_id(pdu.msg_id) + struct.pack(">I", pdu.status)
    if isinstance(pdu, Deliver):
        if len(pdu.content) > 255:
            raise PduError("MsgContent longer than 255 bytes")
        return Command.DELIVER, (
            _msg_id(pdu.msg_id) + bytes([pdu.is_report, pdu.msg_format])
            + octets(pdu.recv_time, 14) + octets(pdu.src_term_id, 21)
            + octets(pdu.dest_term_id, 21) + bytes([len(pdu.content)]) + pdu.content
            + b"\0" * 8 + encode_tlvs(pdu.tlvs)
        )
    if isinstance(pdu, DeliverResp):
        return Command.DELIVER_RESP, _msg_id(pdu.msg_id) + struct.pack(">I", pdu.status)
    raise PduError(f"not an SMGP PDU: {pdu!r}")


def encode(pdu: Pdu, seq: int) -> bytes:
    """One complete SMGP PDU with header (§1.2 header, §1.3 bodies)."""
    command, body = _body(pdu)
    return HEADER12.pack(HEADER12.size + len(body), command, seq & 0xFFFFFFFF) + body


def decode(data: bytes) -> tuple[int, Pdu]:
    """Parse one complete SMGP PDU; returns (sequence id, message)."""
    _, command, seq, body = split_header12(data)
    r = Reader(body)
    pdu: Pdu
    if command in _EMPTY_BY_ID:
        pdu = _EMPTY_BY_ID[command]()
    elif command == Command.LOGIN:
        pdu = Login(
            client_id=r.text(8, "ClientID"), authenticator=r.take(16, "AuthenticatorClient"),
            login_mode=r.u8("LoginMode"), timestamp=r.u32("TimeStamp"),
            version=r.u8("ClientVersion"),
        )
    elif command == Command.LOGIN_RESP:
        pdu = LoginResp(r.u32("Status"), r.take(16, "AuthenticatorServer"), r.u8("ServerVersion"))
    elif command == Command.SUBMIT:
        msg_type, need_report, priority = r.u8("MsgType"), r.u8("NeedReport"), r.u8("Priority")
        service_id, fee_type = r.text(10, "ServiceID"), r.text(2, "FeeType")
        fee_code, fixed_fee = r.text(6, "FeeCode"), r.text(6, "FixedFee")
        msg_format = r.u8("MsgFormat")
        valid_time, at_time = r.text(17, "ValidTime"), r.text(17, "AtTime")
        src, charge = r.text(21, "SrcTermID"), r.text(21, "ChargeTermID")
        count = r.u8("DestTermIDCount")
        if not 1 <= count <= 100:
            raise PduError(f"DestTermIDCount {count} outside 1..100")
        dests = tuple(r.text(21, "DestTermID") for _ in range(count))
        content = r.take(r.u8("MsgLength"), "MsgContent")
        r.take(8, "Reserve")
        pdu = Submit(
            dest_term_ids=dests, content=content, msg_format=msg_format, src_term_id=src,
            service_id=service_id, msg_type=msg_type, need_report=need_report,
            priority=priority, fee_type=fee_type, fee_code=fee_code, fixed_fee=fixed_fee,
            valid_time=valid_time, at_time=at_time, charge_term_id=charge,
            tlvs=decode_tlvs(r.rest()),
        )
    elif command == Command.SUBMIT_RESP:
        pdu = SubmitResp(r.take(10, "MsgID"), r.u32("Status"))
    elif command == Command.DELIVER:
        msg_id, is_report, fmt = r.take(10, "MsgID"), r.u8("IsReport"), r.u8("MsgFormat")
        recv, src, dest = r.text(14, "RecvTime"), r.text(21, "SrcTermID"), r.text(21, "DestTermID")
        content = r.take(r.u8("MsgLength"), "MsgContent")
        r.take(8, "Reserve")
        pdu = Deliver(msg_id, is_report, fmt, recv, src, dest, content, decode_tlvs(r.rest()))
    elif command == Command.DELIVER_RESP:
        pdu = DeliverResp(r.take(10, "MsgID"), r.u32("Status"))
    else:
        raise PduError(f"unknown SMGP RequestID 0x{command:08x}")
    if r.remaining and not isinstance(pdu, Submit | Deliver):
        raise PduError(f"{len(body) - r.pos} unexpected trailing bytes")
    return seq, pdu


# --- status reports inside Deliver (IsReport = 1) --------------------------------------------


@dataclass(frozen=True, slots=True)
class Report:
    """A parsed delivery report (§1.3 Status-report content)."""

    msg_id: bytes
    stat: str
    err: str
    submit_date: str = ""
    done_date: str = ""


_REPORT_RE = re.compile(
    rb" sub:(?P<sub>\d{3}) dlvrd:(?P<dlvrd>\d{3}) submit date:(?P<submit>\d{10})"
    rb" done date:(?P<done>\d{10}) stat:(?P<stat>.{7}) err:(?P<err>.{3}) text:",
    re.DOTALL,
)


def encode_report(report: Report) -> bytes:
    """The 122-byte report text with the binary MsgID (§1.3)."""
    text = (
        f" sub:001 dlvrd:001 submit date:{report.submit_date:0>10} done date:"
        f"{report.done_date:0>10} stat:{report.stat:<7.7} err:{report.err:0>3.3} text:"
    ).encode("ascii")
    return b"id:" + _msg_id(report.msg_id) + text + b"\0" * 20


def parse_report(content: bytes) -> Report:
    """Parse a Deliver's status-report content; raises PduError if it is not one."""
    if len(content) < 13 or not content.startswith(b"id:"):
        raise PduError("status report does not start with 'id:' + 10-byte MsgID")
    m = _REPORT_RE.match(content, 13)
    if m is None:
        raise PduError("status report fields not in the SMPP receipt layout")
    return Report(
        msg_id=content[3:13], stat=m["stat"].decode("ascii", "replace").strip(),
        err=m["err"].decode("ascii", "replace"), submit_date=m["submit"].decode(),
        done_date=m["done"].decode(),
    )
