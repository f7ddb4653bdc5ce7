"""AC-side per-user state table of the simulator.

One row per (state, event). ``transition`` looks it up; a pair that is not in the table gets
the answer a real AC gives to a request it cannot honour (ErrCode 1, state unchanged) or, for
internal events, nothing at all (a stale timer). Facts: ``docs/protocols/portal-protocol.md`` §1.5,
§1.6, §1.9 and §2 (EAG is the only AC-side source, so its behaviour is the model).
"""

from __future__ import annotations

from dataclasses import dataclass
from enum import Enum

__all__ = ["TABLE", "Action", "Event", "Reply", "Transition", "UserState", "transition"]


class UserState(Enum):
    IDLE = "idle"                        # has a DHCP lease, not authenticated
    MAC_QUERY = "mac_query"              # 0x30 sent, waiting for 0x31 (MAC-trigger)
    MAC_WAIT_LOGIN = "mac_wait_login"    # 0x31 said "bound": waiting for the server's login (5 s)
    CHALLENGED = "challenged"            # ACK_CHALLENGE sent; ReqID + challenge valid challenge_ttl
    AUTHENTICATING = "authenticating"    # Access-Request outstanding
    ONLINE = "online"


class Event(Enum):
    REQ_CHALLENGE = "req_challenge"
    REQ_AUTH_CHAP = "req_auth_chap"          # ReqID and challenge match the pending challenge
    REQ_AUTH_BAD_REQID = "req_auth_bad_reqid"  # CHAP with no/another challenge → ErrCode 1 (§1.6)
    REQ_AUTH_PAP = "req_auth_pap"
    RADIUS_ACCEPT = "radius_accept"
    RADIUS_REJECT = "radius_reject"
    RADIUS_TIMEOUT = "radius_timeout"
    AFF_ACK_AUTH = "aff_ack_auth"
    REQ_LOGOUT = "req_logout"                # ErrCode 0
    TIMEOUT_NOTICE = "timeout_notice"        # REQ_LOGOUT ErrCode 1: abort the pending attempt
    CHALLENGE_EXPIRED = "challenge_expired"
    SESSION_END = "session_end"              # AC-initiated: timeouts, DM, kick, missing AFF
    MAC_SEEN = "mac_seen"
    MAC_BOUND = "mac_bound"
    MAC_NOT_BOUND = "mac_not_bound"          # also: 0x30 never answered
    MAC_WAIT_EXPIRED = "mac_wait_expired"


class Reply(Enum):
    """Which packet answers the event (None: no answer)."""

    ACK_CHALLENGE = "ack_challenge"
    ACK_AUTH = "ack_auth"
    ACK_LOGOUT = "ack_logout"


class Action(Enum):
    NONE = "none"
    NEW_CHALLENGE = "new_challenge"      # allocate ReqID + challenge
    REPEAT_CHALLENGE = "repeat_challenge"  # same ReqID + challenge again (EAG, §1.6)
    START_AUTH = "start_auth"            # remember the request, ask RADIUS
    START_SESSION = "start_session"      # Accounting Start, timers
    FAIL_AUTH = "fail_auth"              # forget the attempt
    AFFIRM = "affirm"                    # AFF_ACK_AUTH received
    END_SESSION = "end_session"          # portal asked: Stop, no NTF_LOGOUT
    END_SESSION_NOTIFY = "end_session_notify"  # AC decided: Stop + NTF_LOGOUT to the portal
    ABORT = "abort"                      # drop challenge / outstanding RADIUS answer
    SEND_MAC_QUERY = "send_mac_query"
    WAIT_MAC_LOGIN = "wait_mac_login"


@dataclass(frozen=True, slots=True)
class Transition:
    next: UserState | None               # None = unchanged
    reply: Reply | None
    err: int = 0
    action: Action = Action.NONE


S, E, R, A, T = UserState, Event, Reply, Action, Transition

_CH = R.ACK_CHALLENGE
_AU = R.ACK_AUTH
_LO = R.ACK_LOGOUT

TABLE: dict[tuple[UserState, Event], Transition] = {
    # --- IDLE ------------------------------------------------------------------------------
    (S.IDLE, E.REQ_CHALLENGE): T(S.CHALLENGED, _CH, 0, A.NEW_CHALLENGE),
    (S.IDLE, E.REQ_AUTH_CHAP): T(None, _AU, 1),          # no challenge was granted
    (S.IDLE, E.REQ_AUTH_BAD_REQID): T(None, _AU, 1),
    (S.IDLE, E.REQ_AUTH_PAP): T(S.AUTHENTICATING, None, 0, A.START_AUTH),
    (S.IDLE, E.REQ_LOGOUT): T(None, _LO, 3),             # already offline (TXP, XNL)
    (S.IDLE, E.TIMEOUT_NOTICE): T(None, _LO, 0),
    (S.IDLE, E.AFF_ACK_AUTH): T(None, None),
    (S.IDLE, E.MAC_SEEN): T(S.MAC_QUERY, None, 0, A.SEND_MAC_QUERY),
    # --- MAC-trigger ---------------------------------------------------------------------------
    (S.MAC_QUERY, E.MAC_BOUND): T(S.MAC_WAIT_LOGIN, None, 0, A.WAIT_MAC_LOGIN),
    (S.MAC_QUERY, E.MAC_NOT_BOUND): T(S.IDLE, None),
    (S.MAC_QUERY, E.REQ_CHALLENGE): T(S.CHALLENGED, _CH, 0, A.NEW_CHALLENGE),
    (S.MAC_QUERY, E.REQ_AUTH_PAP): T(S.AUTHENTICATING, None, 0, A.START_AUTH),
    (S.MAC_QUERY, E.REQ_LOGOUT): T(S.IDLE, _LO, 3),
    (S.MAC_QUERY, E.TIMEOUT_NOTICE): T(S.IDLE, _LO, 0),
    (S.MAC_WAIT_LOGIN, E.REQ_CHALLENGE): T(S.CHALLENGED, _CH, 0, A.NEW_CHALLENGE),
    (S.MAC_WAIT_LOGIN, E.REQ_AUTH_PAP): T(S.AUTHENTICATING, None, 0, A.START_AUTH),
    (S.MAC_WAIT_LOGIN, E.MAC_WAIT_EXPIRED): T(S.IDLE, None),
    (S.MAC_WAIT_LOGIN, E.REQ_LOGOUT): T(S.IDLE, _LO, 3),
    (S.MAC_WAIT_LOGIN, E.TIMEOUT_NOTICE): T(S.IDLE, _LO, 0),
    # --- CHALLENGED ----------------------------------------------------------------------------
    (S.CHALLENGED, E.REQ_CHALLENGE): T(None, _CH, 0, A.REPEAT_CHALLENGE),
    (S.CHALLENGED, E.REQ_AUTH_CHAP): T(S.AUTHENTICATING, None, 0, A.START_AUTH),
    (S.CHALLENGED, E.REQ_AUTH_BAD_REQID): T(None, _AU, 1),   # EAG: wrong ReqID → 1
    (S.CHALLENGED, E.REQ_AUTH_PAP): T(S.AUTHENTICATING, None, 0, A.START_AUTH),
    (S.CHALLENGED, E.REQ_LOGOUT): T(S.IDLE, _LO, 3, A.ABORT),
    (S.CHALLENGED, E.TIMEOUT_NOTICE): T(S.IDLE, _LO, 0, A.ABORT),
    (S.CHALLENGED, E.CHALLENGE_EXPIRED): T(S.IDLE, None, 0, A.ABORT),
    (S.CHALLENGED, E.AFF_ACK_AUTH): T(None, None),
    # --- AUTHENTICATING ------------------------------------------------------------------------
    (S.AUTHENTICATING, E.REQ_CHALLENGE): T(None, _CH, 3),     # auth in progress
    (S.AUTHENTICATING, E.REQ_AUTH_CHAP): T(None, _AU, 3),
    (S.AUTHENTICATING, E.REQ_AUTH_BAD_REQID): T(None, _AU, 3),
    (S.AUTHENTICATING, E.REQ_AUTH_PAP): T(None, _AU, 3),
    (S.AUTHENTICATING, E.RADIUS_ACCEPT): T(S.ONLINE, _AU, 0, A.START_SESSION),
    (S.AUTHENTICATING, E.RADIUS_REJECT): T(S.IDLE, _AU, 1, A.FAIL_AUTH),
    (S.AUTHENTICATING, E.RADIUS_TIMEOUT): T(S.IDLE, _AU, 4, A.FAIL_AUTH),
    (S.AUTHENTICATING, E.REQ_LOGOUT): T(S.IDLE, _LO, 0, A.ABORT),
    (S.AUTHENTICATING, E.TIMEOUT_NOTICE): T(S.IDLE, _LO, 0, A.ABORT),
    (S.AUTHENTICATING, E.AFF_ACK_AUTH): T(None, None),
    # --- ONLINE --------------------------------------------------------------------------------
    (S.ONLINE, E.REQ_CHALLENGE): T(None, _CH, 2),             # already online
    (S.ONLINE, E.REQ_AUTH_CHAP): T(None, _AU, 2),
    (S.ONLINE, E.REQ_AUTH_BAD_REQID): T(None, _AU, 2),
    (S.ONLINE, E.REQ_AUTH_PAP): T(None, _AU, 2),
    (S.ONLINE, E.AFF_ACK_AUTH): T(None, None, 0, A.AFFIRM),
    (S.ONLINE, E.REQ_LOGOUT): T(S.IDLE, _LO, 0, A.END_SESSION),
    # The portal gave up on a login that in fact succeeded: tear it down so both sides agree.
    (S.ONLINE, E.TIMEOUT_NOTICE): T(S.IDLE, _LO, 0, A.END_SESSION),
    (S.ONLINE, E.SESSION_END): T(S.IDLE, None, 0, A.END_SESSION_NOTIFY),
    (S.ONLINE, E.MAC_SEEN): T(None, None),
}

_REQUEST_REPLY = {
    Event.REQ_CHALLENGE: Reply.ACK_CHALLENGE,
    Event.REQ_AUTH_CHAP: Reply.ACK_AUTH,
    Event.REQ_AUTH_BAD_REQID: Reply.ACK_AUTH,
    Event.REQ_AUTH_PAP: Reply.ACK_AUTH,
    Event.REQ_LOGOUT: Reply.ACK_LOGOUT,
    Event.TIMEOUT_NOTICE: Reply.ACK_LOGOUT,
}
_IGNORED = Transition(None, None)


def transition(state: UserState, event: Event) -> Transition:
    """The row for ``(state, event)``; outside the table: ErrCode 1 for requests, else no-op."""
    row = TABLE.get((state, event))
    if row is not None:
        return row
    reply = _REQUEST_REPLY.get(event)
    if reply is None:
        return _IGNORED
    return Transition(None, reply, 1)
