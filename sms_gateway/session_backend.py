"""What SMGP, CMPP and SMPP backends share: one long TCP ``Session`` (window, keep-alive,
reconnect), a message split into segments, one Submit per segment, message ids collected.

A protocol backend supplies its wire (login, heartbeat, reports), how a segment becomes a
Submit PDU, and how a Submit response reads (message id, or the gateway's refusal).

Failure rules, the same for every protocol (see ``portal/phone/sms_queue.py`` for why):
* a transport failure or a refusal on the FIRST segment raises as it is, so a transient one may
  fail over to the next gateway;
* once a segment went out, any later failure is ``GatewayUncertainError``: part of the message
  may have reached the phone, so it must not be sent again elsewhere;
* a response that cannot be read is uncertain too (the gateway may have accepted it).
"""

from __future__ import annotations

import datetime as dt
import itertools
import ssl
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any, Protocol

from sms_gateway.backend import DeliveryReport, SendResult, SmsBackend, SmsMessage
from sms_gateway.encoding import Coding, Segment, split_message
from sms_gateway.errors import (
    GatewayError,
    GatewayTransientError,
    GatewayUncertainError,
    PduError,
    SmsError,
)
from sms_gateway.pdu.common import HEADER12, RESP_BIT, timestamp_str
from sms_gateway.session import ConnectFn, Session, TlsOptions, WireProtocol, tls_connector

__all__ = ["Header12Wire", "LoginReply", "SessionBackend", "SessionConfig"]


class SessionConfig(Protocol):
    """The session fields every protocol backend's config carries."""

    name: str
    host: str
    port: int
    window: int
    response_timeout: float
    connect_timeout: float
    heartbeat: float
    heartbeat_misses: int
    backoff_min: float
    backoff_max: float
    wait_connected: float
    tls: TlsOptions | None
    dest_prefix: str


@dataclass(frozen=True, slots=True)
class LoginReply:
    """How one protocol names the answer to its login, for checking it and for the errors.

    CMPP's CONNECT_RESP and SMGP's Login_Resp carry the same three things (Status, the server's
    authenticator, its version); only the names differ (docs/protocols/sms.md §1.3, §1.4)."""

    protocol: str            # error code prefix: "cmpp", "smgp"
    reply_type: type[Any]    # the codec's response class (status, authenticator attributes)
    reply: str               # its name in the specification
    request: str             # the login request's name
    server_auth: str         # the name of the server's authenticator field


class Header12Wire:
    """Framing shared by CMPP and SMGP: a 12-byte header (length, command, sequence) and the
    response bit in the command id (docs/protocols/sms.md §1.2). Subclasses add login, keep-alive and
    reports."""

    header_size = HEADER12.size

    def __init__(self, cfg: Any, on_report: Callable[[DeliveryReport], None],
                 now: Callable[[], dt.datetime]) -> None:
        self.cfg = cfg
        self._on_report = on_report
        self._now = now
        self._auth = b""

    def login_timestamp(self) -> str:
        """Now as ``MMDDHHMMSS``: the login's Timestamp and the last input of its MD5."""
        t = self._now()
        return timestamp_str(t.month, t.day, t.hour, t.minute, t.second)

    def check_login_reply(self, resp: Any, names: LoginReply, expected_auth: bytes) -> None:
        """Accept the login answer only when it says success and proves the gateway knows the
        secret; every refusal is transient (the session retries with back-off)."""
        if not isinstance(resp, names.reply_type):
            raise GatewayTransientError(f"{self.cfg.name}: expected {names.reply}", code="gateway_protocol")
        if resp.status != 0:
            raise GatewayTransientError(f"{self.cfg.name}: {names.request} refused, status {resp.status}",
                                        code=f"{names.protocol}_login_{resp.status}")
        if resp.authenticator != expected_auth:
            # A gateway that cannot prove it knows the secret is not the operator's.
            raise GatewayTransientError(f"{self.cfg.name}: bad {names.server_auth}",
                                        code=f"{names.protocol}_server_auth")

    def frame_info(self, header: bytes) -> tuple[int, int, int]:
        length, command, seq = HEADER12.unpack_from(header)
        return length, command, seq

    def is_response(self, command: int) -> bool:
        return bool(command & RESP_BIT)


class SessionBackend(SmsBackend):
    """Base of the protocol backends; subclasses implement ``_submit`` and ``_read_submit_resp``.

    ``wire`` is the session that submits; each of ``receive_wires`` gets a session of its own
    that only listens (a receiver bind / receive-mode login for reports, when the gateway wants
    sending and receiving on separate connections)."""

    coding: Coding = Coding.UCS2

    def __init__(self, cfg: Any, wire: WireProtocol, *, connect: ConnectFn | None = None,
                 receive_wires: Sequence[WireProtocol] = ()) -> None:
        super().__init__(cfg.name)
        self.cfg = cfg
        self.wire = wire
        if connect is None and cfg.tls is not None:
            try:
                connect = tls_connector(cfg.tls)
            except (OSError, ssl.SSLError) as exc:
                raise SmsError(f"{cfg.name}: TLS setup failed: {exc}", code="bad_setting") from exc
        self.session = self._session(wire, cfg.name, connect)
        self.receivers = [self._session(w, f"{cfg.name}-rx{i or ''}", connect)
                          for i, w in enumerate(receive_wires)]
        self._refs = itertools.count(1)

    def _session(self, wire: WireProtocol, name: str, connect: ConnectFn | None) -> Session:
        cfg = self.cfg
        return Session(
            wire, cfg.host, cfg.port, name=name, window=cfg.window,
            response_timeout=cfg.response_timeout, connect_timeout=cfg.connect_timeout,
            heartbeat=cfg.heartbeat, heartbeat_misses=cfg.heartbeat_misses,
            backoff_min=cfg.backoff_min, backoff_max=cfg.backoff_max,
            wait_connected=cfg.wait_connected, connect=connect,
        )

    async def start(self) -> None:
        await self.session.start()
        for rx in self.receivers:
            await rx.start()

    async def close(self) -> None:
        await self.session.close()
        for rx in self.receivers:
            await rx.close()

    def _segments(self, text: str, ref: int) -> tuple[Segment, ...]:
        """How a text becomes SMS segments (SMPP overrides it to pick GSM 7-bit)."""
        return split_message(text, self.coding, ref)

    def _destination(self, phone: str) -> str:
        """The destination number as the gateway wants it (bare 11 digits, 86…, +86…)."""
        return self.cfg.dest_prefix + phone

    def _submit(self, phone: str, seg: Segment) -> Callable[[int], bytes]:
        """The Submit PDU of one segment, as a function of the sequence number."""
        raise NotImplementedError

    def _read_submit_resp(self, frame: bytes) -> tuple[str, GatewayError | None]:
        """(message id, None) when accepted, ("", classified error) when refused. Raises
        ``PduError`` or ``GatewayUncertainError`` when the frame is not a readable response."""
        raise NotImplementedError

    async def send(self, message: SmsMessage) -> SendResult:
        segments = self._segments(message.text, next(self._refs))
        ids: list[str] = []
        for seg in segments:
            try:
                frame = await self.session.request(self._submit(message.phone, seg))
                msg_id, refusal = self._read_submit_resp(frame)
            except PduError as exc:
                raise GatewayUncertainError(f"{self.name}: unreadable submit response: {exc}",
                                            code="gateway_protocol") from exc
            except GatewayTransientError:
                if ids:   # part of the message already went out: not safe to fail over
                    raise GatewayUncertainError(f"{self.name}: failed after {len(ids)} segments",
                                                code="gateway_partial") from None
                raise
            if refusal is not None:
                if ids:
                    raise GatewayUncertainError(f"{self.name}: segment refused after {len(ids)} sent",
                                                code=refusal.code) from refusal
                raise refusal
            ids.append(msg_id)
        return SendResult(self.name, ids[0], tuple(ids), len(ids))
