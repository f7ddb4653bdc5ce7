"""CMPP 3.0 / 2.0 (China Mobile) PDU codec — docs/protocols/sms.md §1.4.

The two versions differ in field widths (terminal ids 32 vs 21 bytes, Result/Status 4 vs 1
byte) and in the trailing LinkID (3.0) vs Reserve (2.0); every function takes ``version``
(``V30`` = 0x30 or ``V20`` = 0x20). Message ids are the 64-bit integers of §1.4.
"""

from __future__ import annotations

from dataclasses import dataclass
from enum import IntEnum

from sms_gateway.errors import PduError
from sms_gateway.pdu.common import HEADER12, RESP_BIT, LoginProof, Reader, split_header12
from sms_gateway.pdu.layout import Field, Kind, Layout, fixed_size, pack, parse, uint

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

# --- field tables --------------------------------------------------------------------------
# Each body below is the field table of China Mobile's "CMPP V3.0.0" (QB-GF-028-2003, the
# message definitions of CMPP_CONNECT, CMPP_SUBMIT, CMPP_DELIVER and their responses), with the
# CMPP 2.0 differences (terminal ids 21 bytes, no *_terminal_type, Reserve 8 instead of LinkID,
# a 1-byte Status/Result); docs/protocols/sms.md §1.4 lists them side by side. ``encode`` and
# ``decode`` both walk these tables (sms_gateway.pdu.layout).

TID: dict[int, int] = {V30: 32, V20: 21}     # Fee/Dest/Src_terminal_Id
STATUS: dict[int, int] = {V30: 4, V20: 1}    # CONNECT_RESP Status, SUBMIT/DELIVER_RESP Result

_LINK_OR_RESERVE = (
    Field("LinkID", "link_id", Kind.TEXT, 20, only=V30),
    Field("Reserve", "", Kind.RESERVED, 8, only=V20),
)

CONNECT: Layout = (
    Field("Source_Addr", "source_addr", Kind.TEXT, 6),
    Field("AuthenticatorSource", "authenticator", Kind.EXACT, 16),
    Field("Version", "version", Kind.UINT, 1),
    Field("Timestamp", "timestamp", Kind.UINT, 4),
)
CONNECT_RESP: Layout = (
    Field("Status", "status", Kind.UINT, STATUS),
    Field("AuthenticatorISMG", "authenticator", Kind.OCTETS, 16),
    Field("Version", "version", Kind.UINT, 1),
)
SUBMIT: Layout = (
    Field("Msg_Id", "msg_id", Kind.UINT, 8),
    Field("Pk_total", "pk_total", Kind.UINT, 1),
    Field("Pk_number", "pk_number", Kind.UINT, 1),
    Field("Registered_Delivery", "registered_delivery", Kind.UINT, 1),
    Field("Msg_level", "msg_level", Kind.UINT, 1),
    Field("Service_Id", "service_id", Kind.TEXT, 10),
    Field("Fee_UserType", "fee_user_type", Kind.UINT, 1),
    Field("Fee_terminal_Id", "fee_terminal_id", Kind.TEXT, TID),
    Field("Fee_terminal_type", "fee_terminal_type", Kind.UINT, 1, only=V30),
    Field("TP_pId", "tp_pid", Kind.UINT, 1),
    Field("TP_udhi", "tp_udhi", Kind.UINT, 1),
    Field("Msg_Fmt", "msg_fmt", Kind.UINT, 1),
    Field("Msg_src", "msg_src", Kind.TEXT, 6),
    Field("FeeType", "fee_type", Kind.TEXT, 2),
    Field("FeeCode", "fee_code", Kind.TEXT, 6),
    Field("ValId_Time", "valid_time", Kind.TEXT, 17),
    Field("At_Time", "at_time", Kind.TEXT, 17),
    Field("Src_Id", "src_id", Kind.TEXT, 21),
    Field("DestUsr_tl", "dest_terminal_ids", Kind.TEXT_LIST, TID, bounds=(1, 99)),
    Field("Dest_terminal_type", "dest_terminal_type", Kind.UINT, 1, only=V30),
    Field("Msg_Length", "content", Kind.BYTES8),
    *_LINK_OR_RESERVE,
)
SUBMIT_RESP: Layout = (
    Field("Msg_Id", "msg_id", Kind.UINT, 8),
    Field("Result", "result", Kind.UINT, STATUS),
)
DELIVER: Layout = (
    Field("Msg_Id", "msg_id", Kind.UINT, 8),
    Field("Dest_Id", "dest_id", Kind.TEXT, 21),
    Field("Service_Id", "service_id", Kind.TEXT, 10),
    Field("TP_pid", "tp_pid", Kind.UINT, 1),
    Field("TP_udhi", "tp_udhi", Kind.UINT, 1),
    Field("Msg_Fmt", "msg_fmt", Kind.UINT, 1),
    Field("Src_terminal_Id", "src_terminal_id", Kind.TEXT, TID),
    Field("Src_terminal_type", "src_terminal_type", Kind.UINT, 1, only=V30),
    Field("Registered_Delivery", "registered_delivery", Kind.UINT, 1),
    Field("Msg_Length", "content", Kind.BYTES8),
    *_LINK_OR_RESERVE,
)
DELIVER_RESP: Layout = SUBMIT_RESP
ACTIVE_TEST_RESP: Layout = (Field("Reserved", "", Kind.TRAILER, 1),)
REPORT: Layout = (   # the Msg_Content of a DELIVER with Registered_Delivery = 1
    Field("Msg_Id", "msg_id", Kind.UINT, 8),
    Field("Stat", "stat", Kind.TEXT, 7),
    Field("Submit_time", "submit_time", Kind.TEXT, 10),
    Field("Done_time", "done_time", Kind.TEXT, 10),
    Field("Dest_terminal_Id", "dest_terminal_id", Kind.TEXT, TID),
    Field("SMSC_sequence", "smsc_sequence", Kind.UINT, 4),
)

LOGIN_PROOF = LoginProof(id_zeros=9)  # Source_Addr 6 + 9 zeros


def _gen(version: int) -> int:
    """The field-table generation of a Version byte: anything from 0x30 up is laid out as 3.0."""
    return V30 if version >= V30 else V20


def connect_authenticator(source_addr: str, secret: str, timestamp: str) -> bytes:
    """AuthenticatorSource: MD5(Source_Addr + 9×0x00 + secret + "MMDDHHMMSS") (§1.4 CONNECT)."""
    return LOGIN_PROOF.client(source_addr, secret, timestamp)


def ismg_authenticator(status: int, source_auth: bytes, secret: str, version: int) -> bytes:
    """AuthenticatorISMG: MD5(Status + AuthenticatorSource + secret), Status as sent (4 or 1 bytes)."""
    width = STATUS[_gen(version)]
    return LOGIN_PROOF.server(uint(status, width, "Status"), source_auth, secret)


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


# Command id → message class and body table; a message without a table has an empty body.
_MESSAGES: tuple[tuple[Command, type, Layout], ...] = (
    (Command.CONNECT, Connect, CONNECT),
    (Command.CONNECT_RESP, ConnectResp, CONNECT_RESP),
    (Command.SUBMIT, Submit, SUBMIT),
    (Command.SUBMIT_RESP, SubmitResp, SUBMIT_RESP),
    (Command.DELIVER, Deliver, DELIVER),
    (Command.DELIVER_RESP, DeliverResp, DELIVER_RESP),
    (Command.ACTIVE_TEST, ActiveTest, ()),
    (Command.ACTIVE_TEST_RESP, ActiveTestResp, ACTIVE_TEST_RESP),
    (Command.TERMINATE, Terminate, ()),
    (Command.TERMINATE_RESP, TerminateResp, ()),
)
_BY_CLASS = {cls: (command, layout) for command, cls, layout in _MESSAGES}
_BY_COMMAND = {int(command): (cls, layout) for command, cls, layout in _MESSAGES}


def encode(pdu: Pdu, seq: int, version: int = V30) -> bytes:
    """One complete CMPP PDU with its 12-byte header (§1.2, §1.4)."""
    entry = _BY_CLASS.get(type(pdu))
    if entry is None:
        raise PduError(f"not a CMPP PDU: {pdu!r}")
    command, layout = entry
    body = pack(layout, pdu, _gen(version))
    return HEADER12.pack(HEADER12.size + len(body), command, seq & 0xFFFFFFFF) + body


def decode(data: bytes, version: int = V30) -> tuple[int, Pdu]:
    """Parse one complete CMPP PDU; returns (sequence id, message)."""
    _, command, seq, body = split_header12(data)
    entry = _BY_COMMAND.get(command)
    if entry is None:
        raise PduError(f"unknown CMPP Command_Id 0x{command:08x}")
    cls, layout = entry
    r = Reader(body)
    pdu: Pdu = cls(**parse(layout, r, _gen(version)))
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
    return pack(REPORT, report, _gen(version))


def parse_report(content: bytes, version: int = V30) -> Report:
    """71 bytes in 3.0, 60 in 2.0 (§1.4)."""
    expected = fixed_size(REPORT, _gen(version))
    if len(content) != expected:
        raise PduError(f"CMPP report must be {expected} bytes, got {len(content)}")
    return Report(**parse(REPORT, Reader(content), _gen(version)))
