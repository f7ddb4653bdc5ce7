"""Portal-side exchanges (login, logout, info) as explicit state tables. Pure.

No sockets, no clock reads, no randomness: the transport (``ac_adapters.client``) allocates the
SerialNo, passes ``now`` with every input, feeds decoded replies and ``TIMEOUT`` events in, and
carries out the actions that come back:

* ``Send(packet)``      – encode and send this request to the AC (``retransmission`` = same bytes again)
* ``Wait(...)``         – wait for a reply of ``reply_type`` with this SerialNo/UserIP until ``deadline``
* ``Finish(result)``    – the exchange is over; no further input is accepted

Every machine has a ``TABLE``: ``(State, Event) → (handler, allowed next states)``. An input that
is not in the table raises ``ExchangeError`` (h11/h2 style), so a reply in the wrong state can
never be mistaken for progress.

Protocol rules implemented here (``docs/protocols/portal-protocol.md``):
§1.10 sequences; §1.6 one SerialNo for REQ_CHALLENGE / REQ_AUTH / AFF_ACK_AUTH, the REQ_LOGOUT
timeout notice reuses the SerialNo of the request that timed out (ReqID 0 after a challenge
timeout, the REQ_AUTH ReqID after an auth timeout), PAP REQ_AUTH ReqID 0 and AFF_ACK_AUTH with
the ACK_AUTH ReqID; §1.5 ErrCode 2 ("already online") is success; §1.8 CHAP digest.

The endpoint, results, actions, states and events are in ``ac_adapters/exchange_types.py``
(re-exported here).
"""

from __future__ import annotations

import struct
from collections.abc import Callable, Mapping
from typing import ClassVar

from ac_adapters.codec import Attribute, PortalPacket, chap_password, ip_attr, mac_attr
from ac_adapters.constants import (
    AckAuthErr,
    AckChallengeErr,
    AckInfoErr,
    AckLogoutErr,
    AttrType,
    PacketType,
    ReqLogoutErr,
    err_text,
)
from ac_adapters.errors import ExchangeError
from ac_adapters.exchange_types import (
    EVENT_OF_TYPE,
    AcEndpoint,
    Action,
    Event,
    Finish,
    InfoResult,
    LoginResult,
    LogoutResult,
    Outcome,
    Send,
    State,
    Wait,
)
from ac_adapters.profiles import AuthMethod, MacAttr
from ac_adapters.texts import LOGIN_RESULTS

__all__ = [
    "AcEndpoint",
    "Action",
    "Event",
    "Exchange",
    "Finish",
    "InfoExchange",
    "InfoResult",
    "LoginExchange",
    "LoginResult",
    "LogoutExchange",
    "LogoutResult",
    "Send",
    "State",
    "Wait",
]


_Handler = Callable[..., Outcome]



class Exchange:
    """Table-driven dispatch shared by the three machines."""

    TABLE: ClassVar[Mapping[tuple[State, Event], tuple[str, frozenset[State]]]] = {}

    def __init__(self, ac: AcEndpoint, serial_no: int, user_ip: str, mac: str | None) -> None:
        if not 0 < serial_no <= 0xFFFF:
            raise ExchangeError(f"SerialNo {serial_no} out of range 1..65535")
        self.ac = ac
        self.profile = ac.profile
        self.serial_no = serial_no
        self.user_ip = user_ip
        self.mac = mac
        self.state = State.IDLE
        self.tries = 0                      # sends of the current request (1 = first try)
        self.timings: dict[str, float] = {}
        self._t0 = 0.0
        self._stage_t0 = 0.0
        self._current: PortalPacket | None = None
        self._waiting_for: PacketType | None = None
        self._extra_attrs = self._common_attrs()   # validated early: a bad MAC fails at construction

    # inputs ------------------------------------------------------------------------------------
    def start(self, now: float) -> list[Action]:
        return self._dispatch(Event.START, None, now)

    def receive(self, packet: PortalPacket, now: float) -> list[Action]:
        """Feed a decoded (and authenticator-verified) reply."""
        event = EVENT_OF_TYPE.get(packet.type)
        if event is None:
            raise ExchangeError(f"{packet.type_name} is not a reply this exchange can take")
        if packet.serial_no != self.serial_no or packet.user_ip != self.user_ip:
            raise ExchangeError(
                f"{packet.type_name} SerialNo {packet.serial_no}/UserIP {packet.user_ip} does not "
                f"belong to this exchange (SerialNo {self.serial_no}, UserIP {self.user_ip})"
            )
        return self._dispatch(event, packet, now)

    def timeout(self, now: float) -> list[Action]:
        """The deadline of the last ``Wait`` passed without a matching reply."""
        return self._dispatch(Event.TIMEOUT, None, now)

    @property
    def done(self) -> bool:
        return self.state is State.DONE

    # machinery ---------------------------------------------------------------------------------
    def _dispatch(self, event: Event, packet: PortalPacket | None, now: float) -> list[Action]:
        entry = self.TABLE.get((self.state, event))
        if entry is None:
            raise ExchangeError(
                f"{type(self).__name__}: {event.name} is not allowed in state {self.state.name}"
            )
        name, allowed = entry
        handler: _Handler = getattr(self, name)
        next_state, actions = handler(packet, now)
        if next_state not in allowed:   # pragma: no cover - guards the table against handler bugs
            allowed_names = sorted(s.name for s in allowed)
            raise ExchangeError(f"{name} moved to {next_state.name}, table allows {allowed_names}")
        self.state = next_state
        return actions

    def _common_attrs(self) -> tuple[Attribute, ...]:
        """MAC per profile (§1.7: 0x0B or Hanming 0xFF) and BAS-IP 0x0A, added to our requests."""
        attrs: list[Attribute] = []
        if self.profile.send_bas_ip and self.ac.bas_ip:
            attrs.append(ip_attr(AttrType.BAS_IP, self.ac.bas_ip))
        if self.mac and self.profile.mac_attr is not MacAttr.NONE:
            attrs.append(mac_attr(self.profile.mac_attr.value, self.mac))
        return tuple(attrs)

    def _packet(self, ptype: PacketType, *, req_id: int = 0, err_code: int = 0, pap: bool = False,
                attrs: tuple[Attribute, ...] = ()) -> PortalPacket:
        return PortalPacket(
            type=ptype, version=self.profile.version, pap_chap=1 if pap else 0,
            serial_no=self.serial_no, req_id=req_id, user_ip=self.user_ip, err_code=err_code,
            attrs=attrs + self._extra_attrs,
        )

    def _request(self, packet: PortalPacket, reply: PacketType, now: float) -> list[Action]:
        """First try of a request that expects a reply."""
        self._current = packet
        self._waiting_for = reply
        self.tries = 1
        self._stage_t0 = now
        return [Send(packet), Wait(reply, self.serial_no, self.user_ip, now + self.ac.timeout)]

    def _retry(self, now: float) -> list[Action] | None:
        """Retransmit the pending request (same bytes, same SerialNo), or None when tries are spent."""
        if self.tries >= self.ac.retries or self._current is None or self._waiting_for is None:
            return None
        self.tries += 1
        return [Send(self._current, retransmission=True),
                Wait(self._waiting_for, self.serial_no, self.user_ip, now + self.ac.timeout)]

    def _silence(self, sent: PacketType) -> str:
        return (
            f"AC {self.ac.label} sent no reply to {sent.name} (SerialNo {self.serial_no}, user "
            f"{self.user_ip}) after {self.ac.retries} tries of {self.ac.timeout:g} s; a wrong shared "
            f"secret or a wrong header form (flavour {self.profile.name}: Ver {self.profile.version}, "
            f"{self.profile.header.value}-byte header) looks exactly like this, because ACs drop such "
            f"packets silently (§1.2); also check the AC address/port and that this portal's source "
            f"address is configured on the AC"
        )

    def _stage_time(self, name: str, now: float) -> None:
        self.timings[name] = now - self._stage_t0

    def _total(self, now: float) -> dict[str, float]:
        self.timings["total"] = now - self._t0
        return dict(self.timings)


class LoginExchange(Exchange):
    """CHAP (REQ_CHALLENGE → REQ_AUTH → AFF_ACK_AUTH) or PAP (REQ_AUTH → AFF_ACK_AUTH) login."""

    TABLE: ClassVar[Mapping[tuple[State, Event], tuple[str, frozenset[State]]]] = {
        (State.IDLE, Event.START): ("_on_start", frozenset({State.CHALLENGING, State.AUTHENTICATING})),
        (State.CHALLENGING, Event.ACK_CHALLENGE): (
            "_on_ack_challenge", frozenset({State.AUTHENTICATING, State.DONE})),
        (State.CHALLENGING, Event.TIMEOUT): ("_on_timeout", frozenset({State.CHALLENGING, State.DONE})),
        (State.AUTHENTICATING, Event.ACK_AUTH): ("_on_ack_auth", frozenset({State.DONE})),
        (State.AUTHENTICATING, Event.TIMEOUT): (
            "_on_timeout", frozenset({State.AUTHENTICATING, State.DONE})),
    }

    def __init__(self, ac: AcEndpoint, serial_no: int, user_ip: str, username: str,
                 password: str | bytes, *, mac: str | None = None, pap: bool | None = None) -> None:
        super().__init__(ac, serial_no, user_ip, mac)
        self.username = username.encode("utf-8")
        self.password = password.encode("utf-8") if isinstance(password, str) else password
        self.pap = (ac.profile.auth is AuthMethod.PAP) if pap is None else pap
        if not self.username or len(self.username) > 253:
            raise ExchangeError("username must be 1..253 bytes")
        if len(self.password) > 253:
            raise ExchangeError("password must be at most 253 bytes")
        self.req_id = 0            # ReqID from ACK_CHALLENGE (CHAP) / ACK_AUTH (PAP)

    def _on_start(self, _pkt: PortalPacket | None, now: float) -> Outcome:
        self._t0 = now
        if self.pap:
            return State.AUTHENTICATING, self._request(self._req_auth_pap(), PacketType.ACK_AUTH, now)
        req = self._packet(PacketType.REQ_CHALLENGE)
        return State.CHALLENGING, self._request(req, PacketType.ACK_CHALLENGE, now)

    def _req_auth_pap(self) -> PortalPacket:
        # §1.8/§1.10.2: PAP flag 1, ReqID 0, UserName + PassWord (plaintext on the portal↔AC link).
        return self._packet(PacketType.REQ_AUTH, pap=True, attrs=(
            Attribute(AttrType.USER_NAME, self.username), Attribute(AttrType.PASSWORD, self.password)))

    def _on_ack_challenge(self, pkt: PortalPacket, now: float) -> Outcome:
        self._stage_time("challenge", now)
        err = pkt.err_code
        if err == AckChallengeErr.ALREADY_ONLINE:
            # §1.5: "connection already established" – success, no REQ_AUTH (and no AFF_ACK_AUTH).
            self.req_id = pkt.req_id
            return State.DONE, [Finish(self._success(pkt, now, already_online=True))]
        if err != AckChallengeErr.OK:
            return State.DONE, [Finish(self._failure(pkt, now, "challenge"))]
        challenge = pkt.get(AttrType.CHALLENGE)
        self.req_id = pkt.req_id
        if challenge is None or len(challenge) != 16:
            # The AC holds a challenged session we cannot use: tell it to drop it (timeout notice).
            notice = self._timeout_notice(self.req_id)
            result = self._result(
                ok=False, err_code=err, text="ACK_CHALLENGE without a 16-byte Challenge", stage="challenge",
                now=now, kind="failed",
                diagnostic=(f"AC {self.ac.label} answered ACK_CHALLENGE ErrCode 0 without a 16-byte "
                            f"Challenge attribute (0x03); sent REQ_LOGOUT ErrCode 1 to abort"))
            return State.DONE, [Send(notice), Finish(result)]
        attrs = [Attribute(AttrType.USER_NAME, self.username)]
        if self.profile.send_challenge_in_auth:      # §1.7: TXP/SYL/PHP/BDG repeat it; "send it"
            attrs.append(Attribute(AttrType.CHALLENGE, challenge))
        attrs.append(Attribute(AttrType.CHAP_PASSWORD, chap_password(self.req_id, self.password, challenge)))
        req = self._packet(PacketType.REQ_AUTH, req_id=self.req_id, attrs=tuple(attrs))
        return State.AUTHENTICATING, self._request(req, PacketType.ACK_AUTH, now)

    def _on_ack_auth(self, pkt: PortalPacket, now: float) -> Outcome:
        self._stage_time("auth", now)
        if pkt.err_code not in (AckAuthErr.OK, AckAuthErr.ALREADY_ONLINE):
            return State.DONE, [Finish(self._failure(pkt, now, "auth"))]
        # §1.6: AFF_ACK_AUTH carries the ReqID of the ACK_AUTH (PAP: the AC may assign one there).
        self.req_id = pkt.req_id
        aff = self._packet(PacketType.AFF_ACK_AUTH, req_id=self.req_id, pap=self.pap)
        result = self._success(pkt, now, already_online=pkt.err_code == AckAuthErr.ALREADY_ONLINE)
        return State.DONE, [Send(aff), Finish(result)]

    def _on_timeout(self, _pkt: PortalPacket | None, now: float) -> Outcome:
        retry = self._retry(now)
        if retry is not None:
            return self.state, retry
        challenging = self.state is State.CHALLENGING
        stage = "challenge" if challenging else "auth"
        self._stage_time(stage, now)
        # §1.6: ReqID 0 after a challenge timeout, the REQ_AUTH ReqID after an auth timeout
        # (PAP REQ_AUTH carries 0, so 0 there too).
        notice = self._timeout_notice(0 if challenging or self.pap else self.req_id)
        sent = PacketType.REQ_CHALLENGE if challenging else PacketType.REQ_AUTH
        result = self._result(
            ok=False, err_code=None, text=f"no reply to {sent.name}", stage=stage, now=now,
            kind="timeout", timed_out=True,
            diagnostic=self._silence(sent) + "; sent REQ_LOGOUT ErrCode 1 (timeout notice)")
        return State.DONE, [Send(notice), Finish(result)]

    def _timeout_notice(self, req_id: int) -> PortalPacket:
        """REQ_LOGOUT ErrCode 1 with the SerialNo of the request that got no answer (§1.4, §1.6)."""
        return self._packet(PacketType.REQ_LOGOUT, req_id=req_id, err_code=ReqLogoutErr.TIMEOUT_NOTICE,
                            pap=self.pap)

    def _success(self, pkt: PortalPacket, now: float, *, already_online: bool) -> LoginResult:
        what = "already online" if already_online else "logged in"
        return self._result(
            ok=True, err_code=pkt.err_code, text=pkt.text(), stage="done", now=now, kind="ok",
            already_online=already_online,
            diagnostic=f"AC {self.ac.label}: {self.user_ip} {what} ({pkt.type_name} ErrCode {pkt.err_code})")

    def _failure(self, pkt: PortalPacket, now: float, stage: str) -> LoginResult:
        meaning = err_text(pkt.type, pkt.err_code)
        info = pkt.text()
        if pkt.type == PacketType.ACK_CHALLENGE and pkt.err_code == AckChallengeErr.REJECTED:
            kind = "unknown_device"
        elif pkt.err_code == AckAuthErr.REJECTED:
            kind = "rejected"
        elif pkt.err_code == AckAuthErr.IN_PROGRESS:
            kind = "busy"
        else:
            kind = "failed"
        return self._result(
            ok=False, err_code=pkt.err_code, text=info or meaning, stage=stage, now=now, kind=kind,
            diagnostic=(f"AC {self.ac.label} answered {pkt.type_name} ErrCode {pkt.err_code} "
                        f"({meaning})" + (f"; TextInfo: {info!r}" if info else "")))

    def _result(self, *, ok: bool, err_code: int | None, text: str, stage: str, now: float,
                kind: str, diagnostic: str, already_online: bool = False,
                timed_out: bool = False) -> LoginResult:
        zh, en = LOGIN_RESULTS[kind]
        return LoginResult(
            ok=ok, err_code=err_code, text=text, req_id=self.req_id, stage=stage,
            already_online=already_online, timed_out=timed_out, timings=self._total(now),
            diagnostic=diagnostic, message_zh=zh, message_en=en)


class LogoutExchange(Exchange):
    """REQ_LOGOUT ErrCode 0 (new SerialNo, same Chap flag as the login) → ACK_LOGOUT (§1.10.4)."""

    TABLE: ClassVar[Mapping[tuple[State, Event], tuple[str, frozenset[State]]]] = {
        (State.IDLE, Event.START): ("_on_start", frozenset({State.LOGGING_OUT})),
        (State.LOGGING_OUT, Event.ACK_LOGOUT): ("_on_ack", frozenset({State.DONE})),
        (State.LOGGING_OUT, Event.TIMEOUT): ("_on_timeout", frozenset({State.LOGGING_OUT, State.DONE})),
    }

    def __init__(self, ac: AcEndpoint, serial_no: int, user_ip: str, *, mac: str | None = None,
                 pap: bool = False) -> None:
        super().__init__(ac, serial_no, user_ip, mac)
        self.pap = pap

    def _on_start(self, _pkt: PortalPacket | None, now: float) -> Outcome:
        self._t0 = now
        req = self._packet(PacketType.REQ_LOGOUT, err_code=ReqLogoutErr.LOGOUT, pap=self.pap)
        return State.LOGGING_OUT, self._request(req, PacketType.ACK_LOGOUT, now)

    def _on_ack(self, pkt: PortalPacket, now: float) -> Outcome:
        self._stage_time("logout", now)
        offline = pkt.err_code == AckLogoutErr.ALREADY_OFFLINE
        ok = pkt.err_code == AckLogoutErr.OK or offline
        meaning = err_text(pkt.type, pkt.err_code)
        info = pkt.text()
        return State.DONE, [Finish(LogoutResult(
            ok=ok, err_code=pkt.err_code, text=info or meaning, timed_out=False,
            timings=self._total(now), already_offline=offline,
            diagnostic=(f"AC {self.ac.label} answered ACK_LOGOUT ErrCode {pkt.err_code} ({meaning})"
                        + (f"; TextInfo: {info!r}" if info else ""))))]

    def _on_timeout(self, _pkt: PortalPacket | None, now: float) -> Outcome:
        retry = self._retry(now)
        if retry is not None:
            return self.state, retry
        self._stage_time("logout", now)
        return State.DONE, [Finish(LogoutResult(
            ok=False, err_code=None, text="no reply to REQ_LOGOUT", timed_out=True,
            timings=self._total(now), diagnostic=self._silence(PacketType.REQ_LOGOUT)))]


class InfoExchange(Exchange):
    """REQ_INFO with empty Port/UpLinkFlux/DownLinkFlux attributes → ACK_INFO (§1.10.6, §1.7)."""

    TABLE: ClassVar[Mapping[tuple[State, Event], tuple[str, frozenset[State]]]] = {
        (State.IDLE, Event.START): ("_on_start", frozenset({State.QUERYING})),
        (State.QUERYING, Event.ACK_INFO): ("_on_ack", frozenset({State.DONE})),
        (State.QUERYING, Event.TIMEOUT): ("_on_timeout", frozenset({State.QUERYING, State.DONE})),
    }

    def __init__(self, ac: AcEndpoint, serial_no: int, user_ip: str) -> None:
        super().__init__(ac, serial_no, user_ip, None)

    def _on_start(self, _pkt: PortalPacket | None, now: float) -> Outcome:
        self._t0 = now
        req = self._packet(PacketType.REQ_INFO, attrs=(
            Attribute(AttrType.PORT, b""), Attribute(AttrType.UP_LINK_FLUX, b""),
            Attribute(AttrType.DOWN_LINK_FLUX, b"")))
        return State.QUERYING, self._request(req, PacketType.ACK_INFO, now)

    def _on_ack(self, pkt: PortalPacket, now: float) -> Outcome:
        self._stage_time("info", now)
        meaning = err_text(pkt.type, pkt.err_code)
        port = pkt.get(AttrType.PORT)
        return State.DONE, [Finish(InfoResult(
            ok=pkt.err_code == AckInfoErr.OK, err_code=pkt.err_code, text=pkt.text() or meaning,
            timed_out=False, timings=self._total(now),
            diagnostic=f"AC {self.ac.label} answered ACK_INFO ErrCode {pkt.err_code} ({meaning})",
            port=port.decode("utf-8", errors="replace") if port else None,
            up_kbytes=_uint64(pkt.get(AttrType.UP_LINK_FLUX)),
            down_kbytes=_uint64(pkt.get(AttrType.DOWN_LINK_FLUX))))]

    def _on_timeout(self, _pkt: PortalPacket | None, now: float) -> Outcome:
        retry = self._retry(now)
        if retry is not None:
            return self.state, retry
        self._stage_time("info", now)
        return State.DONE, [Finish(InfoResult(
            ok=False, err_code=None, text="no reply to REQ_INFO", timed_out=True,
            timings=self._total(now), diagnostic=self._silence(PacketType.REQ_INFO)))]


def _uint64(value: bytes | None) -> int | None:
    if value is None or len(value) != 8:
        return None
    return int(struct.unpack("!Q", value)[0])

