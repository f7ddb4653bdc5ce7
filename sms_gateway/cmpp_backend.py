"""China Mobile CMPP 3.0 / 2.0 backend (docs/protocols/sms.md §1.4)
on :class:`~sms_gateway.session.Session`."""

from __future__ import annotations

import datetime as dt
import logging
from collections.abc import Callable
from dataclasses import dataclass

from sms_gateway.backend import DeliveryReport
from sms_gateway.delivery_reports import classify_report, parse_extra_codes
from sms_gateway.encoding import Coding, Segment
from sms_gateway.errors import (
    GatewayError,
    GatewayPermanentError,
    GatewayTransientError,
    GatewayUncertainError,
    PduError,
)
from sms_gateway.pdu import cmpp
from sms_gateway.session import ConnectFn, TlsOptions
from sms_gateway.session_backend import Header12Wire, LoginReply, SessionBackend
from sms_gateway.texts import ERRORS

__all__ = ["CmppBackend", "CmppConfig", "CmppWire", "classify_cmpp_result"]

log = logging.getLogger(__name__)


def classify_cmpp_result(result: int) -> GatewayPermanentError | GatewayTransientError:
    """§1.4 SUBMIT_RESP Result: 13 (Dest_terminal_Id) is the number's fault → permanent; 8 flow
    control, 9 "not served by this gateway" and configuration errors → fail over."""
    if result == cmpp.Result.DEST_TERMINAL:
        return GatewayPermanentError(f"CMPP result {result}", code=f"cmpp_{result}",
                                     message_zh=ERRORS["bad_number"][0],
                                     message_en=ERRORS["bad_number"][1])
    return GatewayTransientError(f"CMPP result {result}", code=f"cmpp_{result}")


@dataclass(frozen=True, slots=True)
class CmppConfig:
    name: str
    host: str
    port: int = 7890                 # §1.4 long-connection port
    sp_id: str = ""                  # Source_Addr / Msg_src: 6-digit enterprise code
    secret: str = ""
    src_id: str = ""                 # Src_Id: the SP access number (106…)
    service_id: str = ""
    version: int = cmpp.V30          # 0x30 or 0x20
    coding: Coding = Coding.UCS2
    msg_src: str = ""                # Msg_src; empty = sp_id (the usual rule)
    fee_user_type: int = 0           # Fee_UserType: 0 destination, 1 source, 2 SP, 3 fee_terminal_id
    fee_terminal_id: str = ""        # Fee_terminal_Id (the charged number when fee_user_type = 3)
    fee_type: str = "01"             # FeeType: 01 free, 02 per message, 03 monthly, 04 capped, 05 SP
    fee_code: str = "000000"         # FeeCode in fen
    tp_pid: int = 0                  # TP_pId (GSM 03.40 TP-PID)
    registered_delivery: bool = True  # Registered_Delivery: ask for a status report
    dest_prefix: str = ""            # Dest_terminal_Id form: "" bare 11 digits, "86", "+86"
    not_subscriber_codes: tuple[str, ...] = ()   # extra report Stat codes (sms_gateway.delivery_reports)
    tls: TlsOptions | None = None
    window: int = 16
    response_timeout: float = 10.0
    connect_timeout: float = 5.0
    heartbeat: float = 30.0
    heartbeat_misses: int = 3
    backoff_min: float = 0.5
    backoff_max: float = 30.0
    wait_connected: float = 2.0


_LOGIN_REPLY = LoginReply("cmpp", cmpp.ConnectResp, "CONNECT_RESP", "CONNECT", "AuthenticatorISMG")


class CmppWire(Header12Wire):
    """CMPP login, keep-alive and delivery reports for the session."""

    cfg: CmppConfig

    def __init__(self, cfg: CmppConfig, on_report: Callable[[DeliveryReport], None],
                 now: Callable[[], dt.datetime]) -> None:
        super().__init__(cfg, on_report, now)
        self._extra = parse_extra_codes(cfg.not_subscriber_codes)

    def login(self, seq: int) -> bytes:
        ts = self.login_timestamp()
        self._auth = cmpp.connect_authenticator(self.cfg.sp_id, self.cfg.secret, ts)
        pdu = cmpp.Connect(self.cfg.sp_id, self._auth, self.cfg.version, int(ts))
        return cmpp.encode(pdu, seq, self.cfg.version)

    def check_login(self, frame: bytes) -> None:
        _, resp = cmpp.decode(frame, self.cfg.version)
        expected = cmpp.ismg_authenticator(0, self._auth, self.cfg.secret, self.cfg.version)
        self.check_login_reply(resp, _LOGIN_REPLY, expected)

    def active_test(self, seq: int) -> bytes:
        return cmpp.encode(cmpp.ActiveTest(), seq, self.cfg.version)

    def logout(self, seq: int) -> bytes:
        return cmpp.encode(cmpp.Terminate(), seq, self.cfg.version)

    def on_request(self, frame: bytes) -> tuple[bytes | None, bool]:
        v = self.cfg.version
        seq, pdu = cmpp.decode(frame, v)
        if isinstance(pdu, cmpp.ActiveTest):
            return cmpp.encode(cmpp.ActiveTestResp(), seq, v), False
        if isinstance(pdu, cmpp.Terminate):
            return cmpp.encode(cmpp.TerminateResp(), seq, v), True
        if isinstance(pdu, cmpp.Deliver):
            if pdu.registered_delivery == 1:
                try:
                    rep = cmpp.parse_report(pdu.content, v)
                except PduError as exc:
                    log.warning("%s: unparsable report: %s", self.cfg.name, exc)
                else:
                    if rep.stat != "ACCEPTD":  # §1.4: intermediate state, ignore
                        fault = classify_report("cmpp", rep.stat, extra=self._extra)
                        self._on_report(DeliveryReport(self.cfg.name, str(rep.msg_id), rep.stat,
                                                       "", rep.dest_terminal_id,
                                                       fault.value if fault else ""))
            return cmpp.encode(cmpp.DeliverResp(pdu.msg_id, 0), seq, v), False
        return None, False


class CmppBackend(SessionBackend):
    """Sends each message as one or more CMPP Submits over a long connection."""

    def __init__(self, cfg: CmppConfig, *, connect: ConnectFn | None = None,
                 now: Callable[[], dt.datetime] = dt.datetime.now) -> None:
        super().__init__(cfg, CmppWire(cfg, self._emit_report, now), connect=connect)
        self.coding = cfg.coding

    def _submit(self, phone: str, seg: Segment) -> Callable[[int], bytes]:
        cfg = self.cfg
        pdu = cmpp.Submit(
            dest_terminal_ids=(self._destination(phone),), content=seg.payload, msg_fmt=cfg.coding,
            src_id=cfg.src_id, service_id=cfg.service_id, msg_src=cfg.msg_src or cfg.sp_id,
            pk_total=seg.total, pk_number=seg.number, tp_udhi=1 if seg.udhi else 0,
            registered_delivery=1 if cfg.registered_delivery else 0, tp_pid=cfg.tp_pid,
            fee_user_type=cfg.fee_user_type, fee_terminal_id=cfg.fee_terminal_id,
            fee_type=cfg.fee_type, fee_code=cfg.fee_code,
        )
        return lambda seq: cmpp.encode(pdu, seq, self.cfg.version)

    def _read_submit_resp(self, frame: bytes) -> tuple[str, GatewayError | None]:
        _, resp = cmpp.decode(frame, self.cfg.version)
        if not isinstance(resp, cmpp.SubmitResp):
            raise GatewayUncertainError(f"{self.name}: expected SUBMIT_RESP", code="gateway_protocol")
        if resp.result != 0:
            return "", classify_cmpp_result(resp.result)
        return str(resp.msg_id), None
