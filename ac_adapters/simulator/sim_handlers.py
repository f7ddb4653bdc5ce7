"""Per-packet and per-timer logic of the simulated AC, driven by the table in ``state.py``.

Every function here runs with ``SimulatedAc._lock`` held. ``dispatch`` is the one place that
changes a user's state: it looks the (state, event) row up, moves the state, runs the row's
action and sends the row's answer.
"""

from __future__ import annotations

import os
from typing import TYPE_CHECKING

from ac_adapters.codec import (
    Attribute,
    PortalPacket,
    ip_attr,
    mac_attr,
    text_attr,
    u64_attr,
    verify_authenticator,
)
from ac_adapters.constants import AttrType, PacketType
from ac_adapters.simulator import texts
from ac_adapters.simulator.sim_accounting import AcctStatus, TerminateCause, new_session_id, radius_mac
from ac_adapters.simulator.sim_auth import AuthResult, fill_access_request, local_check
from ac_adapters.simulator.state import Action, Event, Reply, UserState, transition

if TYPE_CHECKING:
    from collections.abc import Callable

    from ac_adapters.simulator.core import RequestCtx, SimulatedAc, User
    from ac_adapters.simulator.sim_accounting import Session

__all__ = [
    "HANDLED_REQUESTS",
    "REQUEST_HANDLERS",
    "apply_authorization",
    "auth_finished",
    "dispatch",
    "request_signed",
    "session_matches",
    "timer_fired",
]

_ACK_RESEND_INTERVAL = 2.0   # EAG re-sends ACK_AUTH every 2 s until AFF_ACK_AUTH (§1.9)


def request_signed(data: bytes, secret: bytes) -> bool:
    return verify_authenticator(data, secret, None)


# --- the table driver ------------------------------------------------------------------------

def dispatch(
    ac: SimulatedAc,
    user: User,
    event: Event,
    ctx: RequestCtx | None,
    *,
    packet: PortalPacket | None = None,
    cause: TerminateCause | None = None,
    result: AuthResult | None = None,
    text: str = "",
) -> None:
    row = transition(user.state, event)
    ac.stats[f"event_{event.value}"] += 1
    if ctx is None and event in (Event.RADIUS_ACCEPT, Event.RADIUS_REJECT, Event.RADIUS_TIMEOUT):
        ctx = user.pending
    if row.next is not None:
        ac._set_state(user, row.next)
    now = ac.clock()
    action = row.action
    if action is Action.NEW_CHALLENGE:
        ac._release_req_id(user)
        user.req_id = ac._allocate_req_id()
        user.challenge = os.urandom(16)
        user.challenge_expires = now + ac.config.challenge_ttl
        ac._schedule(user.challenge_expires, "challenge", user)
    elif action is Action.START_AUTH:
        assert packet is not None and ctx is not None
        _start_auth(ac, user, packet, ctx)
        return   # answered when the decision comes (maybe right now, in local mode)
    elif action is Action.START_SESSION:
        _start_session(ac, user, result or AuthResult(True), now)
    elif action in (Action.FAIL_AUTH, Action.ABORT):
        ac._release_req_id(user)
        user.challenge = None
        user.pending = None
    elif action is Action.AFFIRM:
        if user.session is not None:
            user.session.affirmed = True
    elif action in (Action.END_SESSION, Action.END_SESSION_NOTIFY):
        notify = action is Action.END_SESSION_NOTIFY
        _end_session(ac, user, cause or TerminateCause.USER_REQUEST, notify=notify)
    elif action is Action.SEND_MAC_QUERY:
        _send_mac_query(ac, user)
    elif action is Action.WAIT_MAC_LOGIN:
        ac._schedule(now + ac.config.mac_login_wait, "mac_wait", user)
    if row.reply is not None and ctx is not None:
        _answer(ac, user, row.reply, row.err, ctx, result=result, text=text)
        if row.reply is Reply.ACK_AUTH and row.err == 0:
            user.pending = None


def _answer(
    ac: SimulatedAc, user: User, reply: Reply, err: int, ctx: RequestCtx, *,
    result: AuthResult | None, text: str,
) -> None:
    attrs: list[Attribute] = []
    req_id = user.req_id if err != 1 else ctx.req_id
    if reply is Reply.ACK_CHALLENGE:
        ptype = PacketType.ACK_CHALLENGE
        if err == 0 and user.challenge is not None:
            attrs.append(Attribute(AttrType.CHALLENGE, user.challenge))
        elif err == 1:
            req_id = 0
    elif reply is Reply.ACK_AUTH:
        ptype = PacketType.ACK_AUTH
        messages = list(result.reply_messages) if result is not None else []
        if err == 4 and not messages:
            messages = [texts.RADIUS_TIMEOUT]
        if text:
            messages.append(text)
        attrs.extend(text_attr(AttrType.TEXT_INFO, _fit_text(m)) for m in messages if m)
    else:
        ptype = PacketType.ACK_LOGOUT
        req_id = ctx.req_id
    packet = PortalPacket(
        type=ptype, version=ac.profile.version, pap_chap=ctx.pap_chap, serial_no=ctx.serial_no,
        req_id=req_id, user_ip=user.ip, err_code=err, attrs=tuple(attrs),
    )
    if reply is Reply.ACK_AUTH and err == 0 and ac.config.ack_auth_retries > 0:
        # Remember before sending: the portal may react (or a test move the clock) at once.
        user.ack_auth_raw = (ac._encode_reply(packet, ctx), ctx.addr)
        user.ack_resends = 0
        ac._schedule(ac.clock() + _ACK_RESEND_INTERVAL, "ack_resend", user)
    ac._reply(packet, ctx)


# --- authentication ----------------------------------------------------------------------------

def _start_auth(ac: SimulatedAc, user: User, packet: PortalPacket, ctx: RequestCtx) -> None:
    cfg = ac.config
    user.pending = ctx
    user.username = packet.text(AttrType.USER_NAME)
    chap = packet.pap_chap == 0
    user.auth = "chap" if chap else "pap"
    if not chap:
        ac._release_req_id(user)
        user.req_id = ac._allocate_req_id()     # PAP: the AC assigns one in ACK_AUTH (XNL, §1.6)
    user.session_id = new_session_id()
    password = packet.get(AttrType.PASSWORD) or b""
    digest = packet.get(AttrType.CHAP_PASSWORD) or b""
    challenge = user.challenge or b""
    if not user.username or (chap and len(digest) != 16) or (not chap and not password):
        auth_finished(ac, user, AuthResult(False, reply_messages=(texts.MISSING_CREDENTIALS,)))
        return
    if cfg.radius_host is None:
        result = local_check(
            cfg.local_users or {}, cfg.local_reply, username=user.username, chap=chap,
            password=password, chap_id=user.req_id, chap_digest=digest, challenge=challenge,
        )
        auth_finished(ac, user, result)
        return
    assert ac._radius is not None
    pkt = fill_access_request(
        ac._radius.auth_packet(), username=user.username, chap=chap, password=password,
        chap_id=user.req_id, chap_digest=digest, challenge=challenge, user_ip=user.ip,
        user_mac=user.mac, nas_ip=cfg.nas_ip, nas_identifier=cfg.nas_identifier,
        called_station=ac.called_station_id, session_id=user.session_id,
    )
    ac.stats["access_requests"] += 1
    ac._start_radius(user, pkt)


def auth_finished(ac: SimulatedAc, user: User, result: AuthResult) -> None:
    if result.timed_out:
        event = Event.RADIUS_TIMEOUT
    elif result.accepted:
        event = Event.RADIUS_ACCEPT
    else:
        event = Event.RADIUS_REJECT
    dispatch(ac, user, event, None, result=result)


def _start_session(ac: SimulatedAc, user: User, result: AuthResult, now: float) -> None:
    user.challenge = None
    session = user.session = ac.new_session(user, now)
    cls = result.attrs.get("Class")
    if isinstance(cls, bytes | str):
        session.class_ = cls.encode() if isinstance(cls, str) else cls
    filter_id = result.attrs.get("Filter-Id")
    session.filter_id = str(filter_id) if filter_id is not None else None
    apply_authorization(ac, user, result, now, coa=False)
    ac._account(session, AcctStatus.START)
    if ac.config.aff_timeout is not None:
        ac._schedule(now + ac.config.aff_timeout, "aff", user)
    if ac.config.mac_trigger:
        _send_logon_notice(ac, user, PacketType.NTF_USER_LOGON)


def apply_authorization(ac: SimulatedAc, user: User, result: AuthResult, now: float, *, coa: bool) -> None:
    """Session-Timeout, Idle-Timeout, Acct-Interim-Interval and rates from an Accept or a CoA.

    A CoA Session-Timeout counts from the CoA (the remaining time), as Huawei documents it.
    """
    session = user.session
    assert session is not None
    timeout = result.number("Session-Timeout")
    if timeout is not None:
        session.session_timeout = timeout
        session.session_deadline = now + timeout
        ac._schedule(session.session_deadline, "session", user)
    idle = result.number("Idle-Timeout")
    if idle is not None:
        session.idle_timeout = idle
        ac._schedule(session.idle_since(now) + idle, "idle", user)
    interval = ac.config.interim_interval
    if interval is None:
        interval = result.number("Acct-Interim-Interval")
    if interval is not None and interval != session.interim_interval:
        session.interim_interval = interval
        session.next_interim = now + interval
        ac._schedule(session.next_interim, "interim", user)
    session.rates.update(result.rates())


def _end_session(ac: SimulatedAc, user: User, cause: TerminateCause, *, notify: bool) -> None:
    session = user.session
    if session is not None:
        ac._account(session, AcctStatus.STOP, cause)
        if ac.config.mac_trigger:
            _send_logon_notice(ac, user, PacketType.NTF_USER_LOGOUT)
    user.session = None
    user.challenge = None
    user.pending = None
    user.ack_auth_raw = None
    if notify:
        ac._notify_logout(user)
    ac._release_req_id(user)


# --- MAC-trigger (§2: H3C / EAG) ---------------------------------------------------------------

def _send_mac_query(ac: SimulatedAc, user: User) -> None:
    cfg = ac.config
    packet = PortalPacket(
        type=PacketType.REQ_MACBINDING_INFO, version=ac.profile.version,
        serial_no=ac._ntf.next_serial(), user_ip=user.ip,
        attrs=(
            mac_attr(AttrType.USER_MAC, user.mac), ip_attr(AttrType.BAS_IP, cfg.nas_ip),
            text_attr(AttrType.NAS_ID, cfg.nas_identifier), text_attr(AttrType.SSID, cfg.ssid),
        ),
    )
    ip, gen = user.ip, user.gen
    ac.stats["mac_query_sent"] += 1

    def done(answer: PortalPacket | None) -> None:
        with ac._lock:
            current = ac._users.get(ip)
            if current is None or current.gen != gen:
                return
            bound = answer is not None and answer.err_code == 0
            ac.stats["mac_bound" if bound else "mac_not_bound"] += 1
            dispatch(ac, current, Event.MAC_BOUND if bound else Event.MAC_NOT_BOUND, None)

    ac._ntf.submit(packet, PacketType.ACK_MACBINDING_INFO, ac.clock(), done)


def _send_logon_notice(ac: SimulatedAc, user: User, ptype: PacketType) -> None:
    attrs = [mac_attr(AttrType.USER_MAC, user.mac), ip_attr(AttrType.BAS_IP, ac.config.nas_ip)]
    if user.username:
        attrs.insert(0, text_attr(AttrType.USER_NAME, user.username[:200]))
    ac._ntf.send_once(PortalPacket(
        type=ptype, version=ac.profile.version, serial_no=ac._ntf.next_serial(),
        req_id=user.req_id, user_ip=user.ip, attrs=tuple(attrs),
    ))


# --- timers ------------------------------------------------------------------------------------

def timer_fired(ac: SimulatedAc, user: User, kind: str, gen: int, now: float) -> None:
    if gen != user.gen:
        return   # the state moved on since this timer was set
    s = user.session
    if kind == "challenge":
        if user.state is UserState.CHALLENGED and now >= user.challenge_expires:
            dispatch(ac, user, Event.CHALLENGE_EXPIRED, None)
    elif kind == "mac_wait":
        dispatch(ac, user, Event.MAC_WAIT_EXPIRED, None)
    elif s is None:
        return
    elif kind == "session":
        if s.session_deadline is not None and now >= s.session_deadline:
            dispatch(ac, user, Event.SESSION_END, None, cause=TerminateCause.SESSION_TIMEOUT)
    elif kind == "idle":
        if s.idle_timeout and not s.active and now - s.last_activity >= s.idle_timeout:
            dispatch(ac, user, Event.SESSION_END, None, cause=TerminateCause.IDLE_TIMEOUT)
    elif kind == "interim":
        if s.next_interim is not None and s.interim_interval and now >= s.next_interim:
            ac._account(s, AcctStatus.INTERIM_UPDATE)
            s.next_interim = now + s.interim_interval
            ac._schedule(s.next_interim, "interim", user)
    elif kind == "aff":
        if not s.affirmed:
            ac.stats["aff_missing"] += 1
            dispatch(ac, user, Event.SESSION_END, None, cause=TerminateCause.LOST_SERVICE)
    elif (kind == "ack_resend" and not s.affirmed and user.ack_auth_raw is not None
          and user.ack_resends < ac.config.ack_auth_retries):
        user.ack_resends += 1
        ac.stats["ack_auth_resent"] += 1
        ac._portal.send(*user.ack_auth_raw)
        ac._schedule(now + _ACK_RESEND_INTERVAL, "ack_resend", user)


def expire_if_due(ac: SimulatedAc, user: User) -> None:
    """Lazy expiry: a REQ_AUTH right after the deadline must not beat the timer thread."""
    if user.state is UserState.CHALLENGED and ac.clock() >= user.challenge_expires:
        dispatch(ac, user, Event.CHALLENGE_EXPIRED, None)


def session_matches(s: Session, criteria: dict[str, str]) -> bool:
    for name, wanted in criteria.items():
        if name == "Acct-Session-Id" and wanted != s.session_id:
            return False
        if name == "User-Name" and wanted != s.username:
            return False
        if name == "Framed-IP-Address" and wanted != s.ip:
            return False
        if name == "Calling-Station-Id" and radius_mac(wanted) != radius_mac(s.mac):
            return False
    return True


# --- request handlers (portal → AC) ------------------------------------------------------------

def _refuse(ac: SimulatedAc, ptype: PacketType, pkt: PortalPacket, ctx: RequestCtx, text: str) -> None:
    ac._reply(PortalPacket(
        type=ptype, version=ac.profile.version, pap_chap=pkt.pap_chap, serial_no=pkt.serial_no,
        req_id=0, user_ip=pkt.user_ip, err_code=1,
        attrs=(text_attr(AttrType.TEXT_INFO, text),),
    ), ctx)


_NO_LEASE = texts.NO_LEASE


def on_req_challenge(ac: SimulatedAc, pkt: PortalPacket, ctx: RequestCtx) -> None:
    user = ac._lease(pkt.user_ip, pkt)
    if user is None:
        _refuse(ac, PacketType.ACK_CHALLENGE, pkt, ctx, _NO_LEASE)
        return
    expire_if_due(ac, user)
    dispatch(ac, user, Event.REQ_CHALLENGE, ctx, packet=pkt)


def on_req_auth(ac: SimulatedAc, pkt: PortalPacket, ctx: RequestCtx) -> None:
    user = ac._lease(pkt.user_ip, pkt)
    if user is None:
        _refuse(ac, PacketType.ACK_AUTH, pkt, ctx, _NO_LEASE)
        return
    expire_if_due(ac, user)
    if pkt.pap_chap == 1:
        event = Event.REQ_AUTH_PAP
    else:
        sent_challenge = pkt.get(AttrType.CHALLENGE)
        chap_ok = (
            user.state is UserState.CHALLENGED and pkt.req_id == user.req_id
            and (sent_challenge is None or sent_challenge == user.challenge)
        )
        event = Event.REQ_AUTH_CHAP if chap_ok else Event.REQ_AUTH_BAD_REQID
    text = texts.BAD_REQID if (
        event is Event.REQ_AUTH_BAD_REQID and user.state is not UserState.ONLINE) else ""
    dispatch(ac, user, event, ctx, packet=pkt, text=text)


def on_aff_ack_auth(ac: SimulatedAc, pkt: PortalPacket, ctx: RequestCtx) -> None:
    user = ac._users.get(pkt.user_ip)
    if user is None or pkt.req_id != user.req_id:
        ac.stats["aff_ack_auth_unmatched"] += 1
        return
    dispatch(ac, user, Event.AFF_ACK_AUTH, None)


def on_req_logout(ac: SimulatedAc, pkt: PortalPacket, ctx: RequestCtx) -> None:
    event = Event.TIMEOUT_NOTICE if pkt.err_code == 1 else Event.REQ_LOGOUT
    user = ac._users.get(pkt.user_ip)
    if user is None:
        err = 0 if event is Event.TIMEOUT_NOTICE else 3
        ac._reply(PortalPacket(
            type=PacketType.ACK_LOGOUT, version=ac.profile.version, pap_chap=pkt.pap_chap,
            serial_no=pkt.serial_no, req_id=pkt.req_id, user_ip=pkt.user_ip, err_code=err,
        ), ctx)
        return
    dispatch(ac, user, event, ctx, packet=pkt, cause=TerminateCause.USER_REQUEST)


def on_req_info(ac: SimulatedAc, pkt: PortalPacket, ctx: RequestCtx) -> None:
    asked = {a.type for a in pkt.attrs} or {AttrType.PORT, AttrType.UP_LINK_FLUX, AttrType.DOWN_LINK_FLUX}
    user = ac._users.get(pkt.user_ip)
    attrs: list[Attribute] = []
    if AttrType.PORT in asked:
        attrs.append(text_attr(AttrType.PORT, f"{ac.config.nas_identifier[:20]}-vlan-0001@wlan"))
    if user is not None and user.session is not None:
        up, down = user.session.usage(ac.clock())
        if AttrType.UP_LINK_FLUX in asked:
            attrs.append(u64_attr(AttrType.UP_LINK_FLUX, up // 1024))      # kbytes (§1.7)
        if AttrType.DOWN_LINK_FLUX in asked:
            attrs.append(u64_attr(AttrType.DOWN_LINK_FLUX, down // 1024))
    ac._reply(PortalPacket(
        type=PacketType.ACK_INFO, version=ac.profile.version, pap_chap=pkt.pap_chap,
        serial_no=pkt.serial_no, req_id=pkt.req_id, user_ip=pkt.user_ip, attrs=tuple(attrs),
    ), ctx)


def on_heartbeat(ac: SimulatedAc, pkt: PortalPacket, ctx: RequestCtx) -> None:
    ac.stats["portal_heartbeats"] += 1     # no reply (§1.4)


def on_user_sync(ac: SimulatedAc, pkt: PortalPacket, ctx: RequestCtx) -> None:
    """NTF_USER_HEARTBEAT / USER_SYN: answer with the listed IPs that are not online (§1.4)."""
    from ac_adapters.codec import user_list_attrs, user_list_from
    from ac_adapters.errors import DecodeError

    try:
        listed = user_list_from(pkt)
    except DecodeError:
        ac.stats["user_sync_malformed"] += 1
        return
    ac.stats["user_sync"] += 1
    offline = [
        ip for ip in listed
        if (u := ac._users.get(ip)) is None or u.state is not UserState.ONLINE
    ]
    if offline:
        ac._reply(PortalPacket(
            type=PacketType.ACK_NTF_USER_HEARTBEAT, version=ac.profile.version,
            serial_no=pkt.serial_no, user_ip=pkt.user_ip, attrs=user_list_attrs(offline),
        ), ctx)


def on_status_notify(ac: SimulatedAc, pkt: PortalPacket, ctx: RequestCtx) -> None:
    ac._reply(PortalPacket(
        type=PacketType.ACK_STATUS_NOTIFY, version=ac.profile.version, serial_no=pkt.serial_no,
        user_ip=pkt.user_ip,
    ), ctx)


REQUEST_HANDLERS: dict[int, Callable[[SimulatedAc, PortalPacket, RequestCtx], None]] = {
    PacketType.REQ_CHALLENGE: on_req_challenge,
    PacketType.REQ_AUTH: on_req_auth,
    PacketType.AFF_ACK_AUTH: on_aff_ack_auth,
    PacketType.REQ_LOGOUT: on_req_logout,
    PacketType.REQ_INFO: on_req_info,
    PacketType.NTF_HEARTBEAT: on_heartbeat,
    PacketType.NTF_USER_HEARTBEAT: on_user_sync,
    PacketType.STATUS_NOTIFY: on_status_notify,
}
# What the AC accepts from a portal (anything else is counted as dropped_unexpected).
HANDLED_REQUESTS = frozenset(REQUEST_HANDLERS)


def _fit_text(message: str, limit: int = 253) -> str:
    """The longest prefix of ``message`` whose UTF-8 form fits one TextInfo attribute (§1.7)."""
    raw = message.encode("utf-8")[:limit]
    return raw.decode("utf-8", errors="ignore")
