"""SMPP 3.4 backend (docs/protocols/sms.md §1.6): binds, submit_sm, receipts, enquire_link.

Uses our own codec (:mod:`sms_gateway.pdu.smpp`) and the shared windowed session.

* **Binds** — one ``bind_transceiver``, or (``bind = "separate"``) a ``bind_transmitter`` that
  submits plus a ``bind_receiver`` that takes the receipts, for SMSCs that want them apart.
* **Coding** — GSM 7-bit (data_coding 0, unpacked septets) when the whole text is in the GSM
  default alphabet, else UCS2 (data_coding 8); long texts use esm_class 0x40 with the UDH inside
  short_message (153 septets / 67 UCS2 characters per segment).
* **Addresses** — source and destination TON/NPI are settings; an alphanumeric sender is TON 5
  (SMPP 3.4 §5.2.5), the SMSC packs it into GSM 7-bit for the phone (≤ 11 characters).
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from dataclasses import dataclass

from sms_gateway.backend import DeliveryReport
from sms_gateway.delivery_reports import classify_report, parse_extra_codes
from sms_gateway.encoding import Coding, Segment, split_message
from sms_gateway.errors import (
    GatewayError,
    GatewayPermanentError,
    GatewayTransientError,
    GatewayUncertainError,
    PduError,
)
from sms_gateway.gsm7 import fits_gsm7, split_gsm7
from sms_gateway.pdu import smpp
from sms_gateway.pdu.common import RESP_BIT
from sms_gateway.session import ConnectFn, TlsOptions
from sms_gateway.session_backend import SessionBackend
from sms_gateway.texts import ERRORS

__all__ = ["BIND_MODES", "SmppBackend", "SmppConfig", "SmppWire", "classify_smpp_status"]

log = logging.getLogger(__name__)

_PERMANENT = {smpp.Status.RINVDSTADR}
RECEIPT_ESM = 0x04     # §1.6: a delivery receipt is a deliver_sm with esm_class 0x04
UDHI_ESM = 0x40
DATA_CODING_GSM7 = 0x00   # SMSC default alphabet (SMPP 3.4 §5.2.19)
DATA_CODING_UCS2 = 0x08
BIND_MODES = ("transceiver", "separate")

_BIND_PDUS: dict[str, tuple[type[smpp.BindTransceiver], type[smpp.BindTransceiverResp]]] = {
    "transceiver": (smpp.BindTransceiver, smpp.BindTransceiverResp),
    "transmitter": (smpp.BindTransmitter, smpp.BindTransmitterResp),
    "receiver": (smpp.BindReceiver, smpp.BindReceiverResp),
}


def classify_smpp_status(status: int) -> GatewayPermanentError | GatewayTransientError:
    if status in _PERMANENT:
        return GatewayPermanentError(f"SMPP status 0x{status:x}", code=f"smpp_{status}",
                                     message_zh=ERRORS["bad_number"][0],
                                     message_en=ERRORS["bad_number"][1])
    return GatewayTransientError(f"SMPP status 0x{status:x}", code=f"smpp_{status}")


@dataclass(frozen=True, slots=True)
class SmppConfig:
    name: str
    host: str
    port: int = 2775
    system_id: str = ""
    password: str = ""
    system_type: str = ""            # bind system_type (≤ 12 characters), as the SMSC assigned
    source_addr: str = ""
    source_ton: int = 0              # source_addr_ton: 0 unknown, 1 international, 5 alphanumeric
    source_npi: int = 0
    dest_prefix: str = "86"          # international format for SMSCs: 86 + 11 digits
    dest_ton: int = 1                # dest_addr_ton: 1 international (with the 86 prefix)
    dest_npi: int = 1                # dest_addr_npi: 1 ISDN (E.164)
    service_type: str = ""           # submit_sm service_type (≤ 5 characters)
    protocol_id: int = 0             # submit_sm protocol_id (GSM 03.40 TP-PID)
    registered_delivery: bool = True  # ask for a delivery receipt
    use_gsm7: bool = True            # GSM 7-bit when the text fits; False = always UCS2
    bind: str = "transceiver"        # "transceiver" or "separate" (transmitter + receiver)
    not_subscriber_codes: tuple[str, ...] = ()   # extra receipt codes (sms_gateway.delivery_reports)
    tls: TlsOptions | None = None
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

    def __init__(self, cfg: SmppConfig, on_report: Callable[[DeliveryReport], None],
                 bind: str = "transceiver") -> None:
        self.cfg = cfg
        self.bind = bind
        self._on_report = on_report
        self._extra = parse_extra_codes(cfg.not_subscriber_codes)

    def frame_info(self, header: bytes) -> tuple[int, int, int]:
        length, command, _, seq = smpp.HEADER16.unpack_from(header)
        return length, command, seq

    def is_response(self, command: int) -> bool:
        return bool(command & RESP_BIT)

    def login(self, seq: int) -> bytes:
        bind_cls, _ = _BIND_PDUS[self.bind]
        return smpp.encode(bind_cls(self.cfg.system_id, self.cfg.password, self.cfg.system_type), seq)

    def check_login(self, frame: bytes) -> None:
        _, status, resp = smpp.decode(frame)
        _, resp_cls = _BIND_PDUS[self.bind]
        if type(resp) is not resp_cls or status != 0:
            raise GatewayTransientError(f"{self.cfg.name}: bind_{self.bind} refused, status 0x{status:x}",
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
                self._receipt(pdu)
            return smpp.encode(smpp.DeliverSmResp(), seq), False
        return smpp.encode(smpp.GenericNack(), seq, 0x03), False  # ESME_RINVCMDID

    def _receipt(self, pdu: smpp.DeliverSm) -> None:
        try:
            fields = smpp.parse_receipt(pdu.short_message)
        except PduError as exc:
            log.warning("%s: unparsable receipt: %s", self.cfg.name, exc)
            return
        msg_id = fields["id"]
        network_error: tuple[int, int] | None = None
        for tlv in pdu.tlvs:
            # Read leniently rather than by smpp.option_values: an SMSC that leaves out the
            # receipted_message_id's NUL, or sends a short network_error_code, still reports.
            if tlv.tag == smpp.Tag.RECEIPTED_MESSAGE_ID:  # wins over the text's id when present
                msg_id = tlv.value.rstrip(b"\0").decode("ascii", "replace")
            elif tlv.tag == smpp.Tag.NETWORK_ERROR_CODE and len(tlv.value) == 3:
                network_error = (tlv.value[0], int.from_bytes(tlv.value[1:], "big"))
        stat, err = fields["stat"], fields.get("err", "")
        fault = classify_report("smpp", stat, err, network_error=network_error, extra=self._extra)
        # In a receipt the source address is the phone the message went to (SMPP 3.4 §4.6.1).
        self._on_report(DeliveryReport(self.cfg.name, msg_id, stat, err, pdu.source_addr,
                                       fault.value if fault else ""))


class SmppBackend(SessionBackend):
    """Sends each message as one or more SMPP submit_sm over a transceiver (or transmitter)
    session; receipts come on that session or on a separate receiver session."""

    coding = Coding.UCS2

    def __init__(self, cfg: SmppConfig, *, connect: ConnectFn | None = None) -> None:
        if cfg.bind not in BIND_MODES:
            raise ValueError(f"bind must be one of {BIND_MODES}, got {cfg.bind!r}")
        if cfg.bind == "separate":
            super().__init__(cfg, SmppWire(cfg, self._emit_report, "transmitter"), connect=connect,
                             receive_wires=[SmppWire(cfg, self._emit_report, "receiver")])
        else:
            super().__init__(cfg, SmppWire(cfg, self._emit_report), connect=connect)

    def _segments(self, text: str, ref: int) -> tuple[Segment, ...]:
        if self.cfg.use_gsm7 and fits_gsm7(text):
            return split_gsm7(text, ref)
        return split_message(text, Coding.UCS2, ref)

    def _submit(self, phone: str, seg: Segment) -> Callable[[int], bytes]:
        cfg = self.cfg
        pdu = smpp.SubmitSm(
            destination_addr=self._destination(phone), short_message=seg.payload,
            source_addr=cfg.source_addr, source_addr_ton=cfg.source_ton, source_addr_npi=cfg.source_npi,
            dest_addr_ton=cfg.dest_ton, dest_addr_npi=cfg.dest_npi, service_type=cfg.service_type,
            esm_class=UDHI_ESM if seg.udhi else 0, protocol_id=cfg.protocol_id,
            data_coding=DATA_CODING_GSM7 if seg.gsm7 else DATA_CODING_UCS2,
            registered_delivery=1 if cfg.registered_delivery else 0,
        )
        return lambda seq: smpp.encode(pdu, seq)

    def _read_submit_resp(self, frame: bytes) -> tuple[str, GatewayError | None]:
        _, status, resp = smpp.decode(frame)
        if status != 0:
            return "", classify_smpp_status(status)
        if not isinstance(resp, smpp.SubmitSmResp):
            raise GatewayUncertainError(f"{self.name}: expected submit_sm_resp", code="gateway_protocol")
        return resp.message_id, None
