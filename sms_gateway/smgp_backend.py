"""China Telecom SMGP 3.0 backend (docs/protocols/sms.md §1.3)
on top of :class:`~sms_gateway.session.Session`."""

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
from sms_gateway.pdu import smgp
from sms_gateway.pdu.common import Tlv
from sms_gateway.session import ConnectFn, TlsOptions
from sms_gateway.session_backend import Header12Wire, LoginReply, SessionBackend
from sms_gateway.texts import ERRORS

__all__ = ["LOGIN_MODES", "SmgpBackend", "SmgpConfig", "SmgpWire", "classify_smgp_status"]

log = logging.getLogger(__name__)

# §1.3 status table: only a bad destination is the number's fault; everything else (busy,
# volume, time window, our own configuration) may work on another gateway → fail over.
_PERMANENT = {
    smgp.Status.BAD_DEST_TERM_ID: ERRORS["bad_dest_telecom"],
}


# §1.3 Login LoginMode: 0 send (MT only), 1 receive (MO and reports only), 2 transmit (both).
LOGIN_SEND, LOGIN_RECEIVE, LOGIN_TRANSMIT = 0, 1, 2
LOGIN_MODES = ("transceiver", "separate")


def classify_smgp_status(status: int) -> GatewayPermanentError | GatewayTransientError:
    if status in _PERMANENT:
        zh, en = _PERMANENT[smgp.Status(status)]
        return GatewayPermanentError(f"SMGP status {status}", code=f"smgp_{status}",
                                     message_zh=zh, message_en=en)
    return GatewayTransientError(f"SMGP status {status}", code=f"smgp_{status}")


@dataclass(frozen=True, slots=True)
class SmgpConfig:
    name: str
    host: str
    port: int = 8890                 # §1.3 SP → SMGW port
    client_id: str = ""              # ClientID (8), the SP's login name
    secret: str = ""
    src_term_id: str = ""            # SrcTermID: the SP access number (106…)
    service_id: str = ""
    coding: Coding = Coding.UCS2     # §1.3: spec says 15 GB18030, many deployments use 8 UCS2
    window: int = 16
    response_timeout: float = 10.0
    connect_timeout: float = 5.0
    heartbeat: float = 30.0
    heartbeat_misses: int = 3
    backoff_min: float = 0.5
    backoff_max: float = 30.0
    wait_connected: float = 2.0
    need_report: bool = True         # NeedReport: ask for a status report
    fee_type: str = "00"             # FeeType: 00 free, 01 per message, 02 monthly, 03 capped
    fee_code: str = "000000"         # FeeCode in fen
    fixed_fee: str = "000000"        # FixedFee in fen (monthly / capped)
    charge_term_id: str = ""         # ChargeTermID; empty = the destination pays (if anyone)
    tp_pid: int = 0                  # TP_pid TLV (GSM 03.40 TP-PID); 0 = not sent
    msg_src: str = ""                # MsgSrc TLV (SP code, 8); empty = not sent
    dest_prefix: str = ""            # DestTermID form: "" bare 11 digits, "86", "+86"
    bind: str = "transceiver"        # "transceiver" (LoginMode 2) or "separate" (0 send + 1 receive)
    not_subscriber_codes: tuple[str, ...] = ()   # extra report stat/err codes (sms_gateway.delivery_reports)
    tls: TlsOptions | None = None


_LOGIN_REPLY = LoginReply("smgp", smgp.LoginResp, "Login_Resp", "Login", "AuthenticatorServer")


class SmgpWire(Header12Wire):
    """SMGP login, keep-alive and delivery reports for the session."""

    cfg: SmgpConfig

    def __init__(self, cfg: SmgpConfig, on_report: Callable[[DeliveryReport], None],
                 now: Callable[[], dt.datetime], login_mode: int = LOGIN_TRANSMIT) -> None:
        super().__init__(cfg, on_report, now)
        self.login_mode = login_mode
        self._extra = parse_extra_codes(cfg.not_subscriber_codes)

    def login(self, seq: int) -> bytes:
        ts = self.login_timestamp()
        self._auth = smgp.client_authenticator(self.cfg.client_id, self.cfg.secret, ts)
        return smgp.encode(smgp.Login(self.cfg.client_id, self._auth, self.login_mode, int(ts)), seq)

    def check_login(self, frame: bytes) -> None:
        _, resp = smgp.decode(frame)
        self.check_login_reply(resp, _LOGIN_REPLY, smgp.server_authenticator(0, self._auth, self.cfg.secret))

    def active_test(self, seq: int) -> bytes:
        return smgp.encode(smgp.ActiveTest(), seq)

    def logout(self, seq: int) -> bytes:
        return smgp.encode(smgp.Exit(), seq)

    def on_request(self, frame: bytes) -> tuple[bytes | None, bool]:
        seq, pdu = smgp.decode(frame)
        if isinstance(pdu, smgp.ActiveTest):
            return smgp.encode(smgp.ActiveTestResp(), seq), False
        if isinstance(pdu, smgp.Exit):
            return smgp.encode(smgp.ExitResp(), seq), True
        if isinstance(pdu, smgp.Deliver):
            if pdu.is_report:
                try:
                    rep = smgp.parse_report(pdu.content)
                except PduError as exc:
                    log.warning("%s: unparsable report: %s", self.cfg.name, exc)
                else:
                    fault = classify_report("smgp", rep.stat, rep.err, extra=self._extra)
                    self._on_report(DeliveryReport(self.cfg.name, rep.msg_id.hex(), rep.stat,
                                                   rep.err, pdu.src_term_id,
                                                   fault.value if fault else ""))
            # MO messages are acknowledged but not used (the portal does not take SMS replies).
            return smgp.encode(smgp.DeliverResp(pdu.msg_id, 0), seq), False
        return None, False


class SmgpBackend(SessionBackend):
    """Sends each message as one or more SMGP Submits over a long connection."""

    def __init__(self, cfg: SmgpConfig, *, connect: ConnectFn | None = None,
                 now: Callable[[], dt.datetime] = dt.datetime.now) -> None:
        if cfg.bind not in LOGIN_MODES:
            raise ValueError(f"bind must be one of {LOGIN_MODES}, got {cfg.bind!r}")
        if cfg.bind == "separate":
            super().__init__(cfg, SmgpWire(cfg, self._emit_report, now, LOGIN_SEND), connect=connect,
                             receive_wires=[SmgpWire(cfg, self._emit_report, now, LOGIN_RECEIVE)])
        else:
            super().__init__(cfg, SmgpWire(cfg, self._emit_report, now), connect=connect)
        self.coding = cfg.coding

    def _submit(self, phone: str, seg: Segment) -> Callable[[int], bytes]:
        cfg = self.cfg
        tlvs: list[Tlv] = []
        if cfg.tp_pid:
            tlvs.append(Tlv(smgp.TlvTag.TP_PID, bytes([cfg.tp_pid])))
        if seg.udhi:  # §1.7: SMGP carries UDHI and the part numbers as TLVs
            tlvs += [Tlv(smgp.TlvTag.TP_UDHI, b"\x01"), Tlv(smgp.TlvTag.PK_TOTAL, bytes([seg.total])),
                     Tlv(smgp.TlvTag.PK_NUMBER, bytes([seg.number]))]
        if cfg.msg_src:
            tlvs.append(Tlv(smgp.TlvTag.MSG_SRC, cfg.msg_src.encode("ascii").ljust(8, b"\0")))
        pdu = smgp.Submit(
            dest_term_ids=(self._destination(phone),), content=seg.payload, msg_format=cfg.coding,
            src_term_id=cfg.src_term_id, service_id=cfg.service_id,
            need_report=1 if cfg.need_report else 0, fee_type=cfg.fee_type, fee_code=cfg.fee_code,
            fixed_fee=cfg.fixed_fee, charge_term_id=cfg.charge_term_id, tlvs=tuple(tlvs),
        )
        return lambda seq: smgp.encode(pdu, seq)

    def _read_submit_resp(self, frame: bytes) -> tuple[str, GatewayError | None]:
        _, resp = smgp.decode(frame)
        if not isinstance(resp, smgp.SubmitResp):
            raise GatewayUncertainError(f"{self.name}: expected Submit_Resp", code="gateway_protocol")
        if resp.status != 0:
            return "", classify_smgp_status(resp.status)
        return resp.msg_id.hex(), None
