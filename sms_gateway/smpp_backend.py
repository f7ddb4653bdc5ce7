"""SMPP 3.4 backend (docs/protocols/sms.md §1.6): bind_transceiver, submit_sm, receipts, enquire_link.

Uses our own codec (:mod:`sms_gateway.pdu.smpp`) and the shared windowed session. Text goes
as UCS2 (data_coding 8); long texts use esm_class 0x40 with the UDH inside short_message.
"""

from __future__ import annotations

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
from sms_gateway.pdu import smpp
from sms_gateway.pdu.common import RESP_BIT
from sms_gateway.session import ConnectFn
from sms_gateway.session_backend import SessionBackend

__all__ = ["SmppBackend", "SmppConfig", "SmppWire", "classify_smpp_status"]

log = logging.getLogger(__name__)

_PERMANENT = {smpp.Status.RINVDSTADR}
RECEIPT_ESM = 0x04     # §1.6: a delivery receipt is a deliver_sm with esm_class 0x04
UDHI_ESM = 0x40


def classify_smpp_status(status: int) -> GatewayPermanentError | GatewayTransientError:
    if status in _PERMANENT:
        return GatewayPermanentError(f"SMPP status 0x{status:x}", code=f"smpp_{status}",
                                     message_zh="号码无效，无法接收短信。",
                                     message_en="The number is invalid and cannot receive SMS.")
    return GatewayTransientError(f"SMPP status 0x{status:x}", code=f"smpp_{status}")


@dataclass(frozen=True, slots=True)
class SmppConfig:
    name: str
    host: str
    port: int = 2775
    system_id: str = ""
    password: str = ""
    source_addr: str = ""
    dest_prefix: str = "86"          # international format for SMSCs: 86 + 11 digits
    window: int = 16
    response_timeout: float = 10.0
    connect_timeout: float = 5.0
    heartbeat: float = 30.0
    heartbeat_misses: int = 3
    backoff_min: float = 0.5
    backoff_max: float = 30.0
    wait_connected: float = 2.0


class SmppWire:
    header_size = smpp.HEADER16.size

    def __init__(self, cfg: SmppConfig, on_report: Callable[[DeliveryReport], None]) -> None:
        self.cfg = cfg
        self._on_report = on_report

    def frame_info(self, header: bytes) -> tuple[int, int, int]:
        length, command, _, seq = smpp.HEADER16.unpack_from(header)
        return length, command, seq

    def is_response(self, command: int) -> bool:
        return bool(command & RESP_BIT)

    def login(self, seq: int) -> bytes:
        return smpp.encode(smpp.BindTransceiver(self.cfg.system_id, self.cfg.password), seq)

    def check_login(self, frame: bytes) -> None:
        _, status, resp = smpp.decode(frame)
        if not isinstance(resp, smpp.BindTransceiverResp) or status != 0:
            raise GatewayTransientError(f"{self.cfg.name}: bind refused, status 0x{status:x}",
                                        code=f"smpp_bind_{status}")

    def active_test(self, seq: int) -> bytes:
        return smpp.encode(smpp.EnquireLink(), seq)

    def logout(self, seq: int) -> bytes:
        return smpp.encode(smpp.Unbind(), seq)

    def on_request(self, frame: bytes) -> tuple[bytes | None, bool]:
        seq, _, pdu = smpp.decode(frame)
        if isinstance(pdu, smpp.EnquireLink):
            return smpp.encode(smpp.EnquireLinkResp(), seq), False
        if isinstance(pdu, smpp.Unbind):
            return smpp.encode(smpp.UnbindResp(), seq), True
        if isinstance(pdu, smpp.DeliverSm):
            if pdu.esm_class & 0x3C == RECEIPT_ESM:
                try:
                    fields = smpp.parse_receipt(pdu.short_message)
                except PduError as exc:
                    log.warning("%s: unparsable receipt: %s", self.cfg.name, exc)
                else:
                    msg_id = fields["id"]
                    for tlv in pdu.tlvs:  # receipted_message_id (0x001E) wins when present
                        if tlv.tag == 0x001E:
                            msg_id = tlv.value.rstrip(b"\0").decode("ascii", "replace")
                    self._on_report(DeliveryReport(self.cfg.name, msg_id, fields["stat"],
                                                   fields.get("err", ""), pdu.source_addr))
            return smpp.encode(smpp.DeliverSmResp(), seq), False
        return smpp.encode(smpp.GenericNack(), seq, 0x03), False  # ESME_RINVCMDID


class SmppBackend(SessionBackend):
    """Sends each message as one or more SMPP submit_sm over a bound transceiver session."""

    coding = Coding.UCS2

    def __init__(self, cfg: SmppConfig, *, connect: ConnectFn | None = None) -> None:
        super().__init__(cfg, SmppWire(cfg, self._emit_report), connect=connect)

    def _submit(self, phone: str, seg: Segment) -> Callable[[int], bytes]:
        pdu = smpp.SubmitSm(
            destination_addr=self.cfg.dest_prefix + phone, short_message=seg.payload,
            source_addr=self.cfg.source_addr, esm_class=UDHI_ESM if seg.udhi else 0,
            data_coding=8, registered_delivery=1,
        )
        return lambda seq: smpp.encode(pdu, seq)

    def _read_submit_resp(self, frame: bytes) -> tuple[str, GatewayError | None]:
        _, status, resp = smpp.decode(frame)
        if status != 0:
            return "", classify_smpp_status(status)
        if not isinstance(resp, smpp.SubmitSmResp):
            raise GatewayUncertainError(f"{self.name}: expected submit_sm_resp", code="gateway_protocol")
        return resp.message_id, None
