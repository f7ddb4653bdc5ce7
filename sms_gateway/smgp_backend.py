"""China Telecom SMGP 3.0 backend (docs/protocols/sms.md §1.3)
on top of :class:`~sms_gateway.session.Session`."""

from __future__ import annotations

import datetime as dt
import logging
from collections.abc import Callable
from dataclasses import dataclass

from sms_gateway.backend import DeliveryReport
from sms_gateway.encoding import Coding, Segment
from sms_gateway.errors import (
    GatewayError,
    GatewayPermanentError,
    GatewayTransientError,
    GatewayUncertainError,
    PduError,
)
from sms_gateway.pdu import smgp
from sms_gateway.pdu.common import Tlv, timestamp_str
from sms_gateway.session import ConnectFn
from sms_gateway.session_backend import Header12Wire, SessionBackend

__all__ = ["SmgpBackend", "SmgpConfig", "SmgpWire", "classify_smgp_status"]

log = logging.getLogger(__name__)

# §1.3 status table: only a bad destination is the number's fault; everything else (busy,
# volume, time window, our own configuration) may work on another gateway → fail over.
_PERMANENT = {
    smgp.Status.BAD_DEST_TERM_ID: ("号码无效或不是电信号码。", "The number is invalid for this gateway."),
}


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
    need_report: bool = True


class SmgpWire(Header12Wire):
    """SMGP login, keep-alive and delivery reports for the session."""

    cfg: SmgpConfig

    def login(self, seq: int) -> bytes:
        t = self._now()
        ts = timestamp_str(t.month, t.day, t.hour, t.minute, t.second)
        self._auth = smgp.client_authenticator(self.cfg.client_id, self.cfg.secret, ts)
        return smgp.encode(smgp.Login(self.cfg.client_id, self._auth, 2, int(ts)), seq)

    def check_login(self, frame: bytes) -> None:
        _, resp = smgp.decode(frame)
        if not isinstance(resp, smgp.LoginResp):
            raise GatewayTransientError(f"{self.cfg.name}: expected Login_Resp", code="gateway_protocol")
        if resp.status != 0:
            raise GatewayTransientError(f"{self.cfg.name}: login refused, status {resp.status}",
                                        code=f"smgp_login_{resp.status}")
        expected = smgp.server_authenticator(0, self._auth, self.cfg.secret)
        if resp.authenticator != expected:
            # A gateway that cannot prove it knows the secret is not the operator's.
            raise GatewayTransientError(f"{self.cfg.name}: bad AuthenticatorServer",
                                        code="smgp_server_auth")

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
                    self._on_report(DeliveryReport(self.cfg.name, rep.msg_id.hex(), rep.stat,
                                                   rep.err, pdu.src_term_id))
            # MO messages are acknowledged but not used (the portal does not take SMS replies).
            return smgp.encode(smgp.DeliverResp(pdu.msg_id, 0), seq), False
        return None, False


class SmgpBackend(SessionBackend):
    """Sends each message as one or more SMGP Submits over a long connection."""

    def __init__(self, cfg: SmgpConfig, *, connect: ConnectFn | None = None,
                 now: Callable[[], dt.datetime] = dt.datetime.now) -> None:
        super().__init__(cfg, SmgpWire(cfg, self._emit_report, now), connect=connect)
        self.coding = cfg.coding

    def _submit(self, phone: str, seg: Segment) -> Callable[[int], bytes]:
        tlvs: tuple[Tlv, ...] = ()
        if seg.udhi:  # §1.7: SMGP carries UDHI and the part numbers as TLVs
            tlvs = (Tlv(smgp.TlvTag.TP_UDHI, b"\x01"), Tlv(smgp.TlvTag.PK_TOTAL, bytes([seg.total])),
                    Tlv(smgp.TlvTag.PK_NUMBER, bytes([seg.number])))
        pdu = smgp.Submit(
            dest_term_ids=(phone,), content=seg.payload, msg_format=self.cfg.coding,
            src_term_id=self.cfg.src_term_id, service_id=self.cfg.service_id,
            need_report=1 if self.cfg.need_report else 0, tlvs=tlvs,
        )
        return lambda seq: smgp.encode(pdu, seq)

    def _read_submit_resp(self, frame: bytes) -> tuple[str, GatewayError | None]:
        _, resp = smgp.decode(frame)
        if not isinstance(resp, smgp.SubmitResp):
            raise GatewayUncertainError(f"{self.name}: expected Submit_Resp", code="gateway_protocol")
        if resp.status != 0:
            return "", classify_smgp_status(resp.status)
        return resp.msg_id.hex(), None
