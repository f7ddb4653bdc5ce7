"""SMGP 3.0 (China Telecom) PDU codec — docs/protocols/sms.md §1.3.

``encode(pdu, seq) -> bytes`` and ``decode(bytes) -> (seq, pdu)`` over one complete PDU
(12-byte header included). Framing a TCP stream is the session's job.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from enum import IntEnum

from sms_gateway.errors import PduError
from sms_gateway.pdu.common import HEADER12, RESP_BIT, LoginProof, Reader, Tlv, split_header12
from sms_gateway.pdu.layout import Field, Kind, Layout, pack, parse, uint

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


# --- field tables --------------------------------------------------------------------------
# Each body below is the field table of China Telecom's "SMGP V3.0.3" (CT/T SN RC1, the
# Login, Submit and Deliver message definitions and their responses; docs/protocols/sms.md
# §1.3). ``encode`` and ``decode`` both walk these tables (sms_gateway.pdu.layout).

LOGIN: Layout = (
    Field("ClientID", "client_id", Kind.TEXT, 8),
    Field("AuthenticatorClient", "authenticator", Kind.EXACT, 16),
    Field("LoginMode", "login_mode", Kind.UINT, 1),
    Field("TimeStamp", "timestamp", Kind.UINT, 4),
    Field("ClientVersion", "version", Kind.UINT, 1),
)
LOGIN_RESP: Layout = (
    Field("Status", "status", Kind.UINT, 4),
    Field("AuthenticatorServer", "authenticator", Kind.OCTETS, 16),
    Field("ServerVersion", "version", Kind.UINT, 1),
)
SUBMIT: Layout = (
    Field("MsgType", "msg_type", Kind.UINT, 1),
    Field("NeedReport", "need_report", Kind.UINT, 1),
    Field("Priority", "priority", Kind.UINT, 1),
    Field("ServiceID", "service_id", Kind.TEXT, 10),
    Field("FeeType", "fee_type", Kind.TEXT, 2),
    Field("FeeCode", "fee_code", Kind.TEXT, 6),
    Field("FixedFee", "fixed_fee", Kind.TEXT, 6),
    Field("MsgFormat", "msg_format", Kind.UINT, 1),
    Field("ValidTime", "valid_time", Kind.TEXT, 17),
    Field("AtTime", "at_time", Kind.TEXT, 17),
    Field("SrcTermID", "src_term_id", Kind.TEXT, 21),
    Field("ChargeTermID", "charge_term_id", Kind.TEXT, 21),
    Field("DestTermIDCount", "dest_term_ids", Kind.TEXT_LIST, 21, bounds=(1, 100)),
    Field("MsgLength", "content", Kind.BYTES8),
    Field("Reserve", "", Kind.RESERVED, 8),
    Field("TLVs", "tlvs", Kind.TLVS),
)
SUBMIT_RESP: Layout = (
    Field("MsgID", "msg_id", Kind.EXACT, 10),
    Field("Status", "status", Kind.UINT, 4),
)
DELIVER: Layout = (
    Field("MsgID", "msg_id", Kind.EXACT, 10),
    Field("IsReport", "is_report", Kind.UINT, 1),
    Field("MsgFormat", "msg_format", Kind.UINT, 1),
    Field("RecvTime", "recv_time", Kind.TEXT, 14),
    Field("SrcTermID", "src_term_id", Kind.TEXT, 21),
    Field("DestTermID", "dest_term_id", Kind.TEXT, 21),
    Field("MsgLength", "content", Kind.BYTES8),
    Field("Reserve", "", Kind.RESERVED, 8),
    Field("TLVs", "tlvs", Kind.TLVS),
)
DELIVER_RESP: Layout = SUBMIT_RESP

LOGIN_PROOF = LoginProof(id_zeros=7)  # ClientID 8 + 7 zeros


def client_authenticator(client_id: str, secret: str, timestamp: str) -> bytes:
    """AuthenticatorClient: MD5(ClientID + 7×0x00 + secret + "MMDDHHMMSS") (§1.3 Login)."""
    return LOGIN_PROOF.client(client_id, secret, timestamp)


def server_authenticator(status: int, client_auth: bytes, secret: str) -> bytes:
    """AuthenticatorServer: MD5(Status as 4-byte integer + AuthenticatorClient + secret)."""
    return LOGIN_PROOF.server(uint(status, 4, "Status"), client_auth, secret)


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

# RequestID → message class and body table; a message without a table has an empty body.
_MESSAGES: tuple[tuple[Command, type, Layout], ...] = (
    (Command.LOGIN, Login, LOGIN),
    (Command.LOGIN_RESP, LoginResp, LOGIN_RESP),
    (Command.SUBMIT, Submit, SUBMIT),
    (Command.SUBMIT_RESP, SubmitResp, SUBMIT_RESP),
    (Command.DELIVER, Deliver, DELIVER),
    (Command.DELIVER_RESP, DeliverResp, DELIVER_RESP),
    (Command.ACTIVE_TEST, ActiveTest, ()),
    (Command.ACTIVE_TEST_RESP, ActiveTestResp, ()),
    (Command.EXIT, Exit, ()),
    (Command.EXIT_RESP, ExitResp, ()),
)
_BY_CLASS = {cls: (command, layout) for command, cls, layout in _MESSAGES}
_BY_COMMAND = {int(command): (cls, layout) for command, cls, layout in _MESSAGES}


def _msg_id(value: bytes) -> bytes:
    if len(value) != 10:
        raise PduError(f"SMGP MsgID must be 10 bytes, got {len(value)}")
    return value


def encode(pdu: Pdu, seq: int) -> bytes:
    """One complete SMGP PDU with header (§1.2 header, §1.3 bodies)."""
    entry = _BY_CLASS.get(type(pdu))
    if entry is None:
        raise PduError(f"not an SMGP PDU: {pdu!r}")
    command, layout = entry
    body = pack(layout, pdu)
    return HEADER12.pack(HEADER12.size + len(body), command, seq & 0xFFFFFFFF) + body


def decode(data: bytes) -> tuple[int, Pdu]:
    """Parse one complete SMGP PDU; returns (sequence id, message)."""
    _, command, seq, body = split_header12(data)
    entry = _BY_COMMAND.get(command)
    if entry is None:
        raise PduError(f"unknown SMGP RequestID 0x{command:08x}")
    cls, layout = entry
    r = Reader(body)
    pdu: Pdu = cls(**parse(layout, r))
    if r.remaining:  # Submit and Deliver end in TLVs, which take the rest
        raise PduError(f"{r.remaining} unexpected trailing bytes")
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
