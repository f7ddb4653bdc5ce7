"""openNDS session events as our BinAuth hook posts them (pure codec, no sockets, no store).

openNDS 9.x runs its BinAuth program on every change of a client's state (openNDS
documentation, "BinAuth Option"; ``binauth_action`` in its ``src/auth.c``). Apart from
``auth_client`` (the grant request, answered with the limits: ``deploy/opennds/binauth.sh``) the
arguments are ``<method> <client mac> <bytes incoming> <bytes outgoing> <session start>
<session end> <client token> <custom>``: incoming = to the client (download), outgoing = from
it (upload), times in epoch seconds. Our script posts each one to
``POST /gateway/opennds/events`` as a form body (:data:`FIELDS`) signed with the gateway's own
hook secret (the AC record's ``secret``; never the ``faskey``, which also signs what passes
through phones' browsers):

    X-Citywifi-Signature: v1=<hex HMAC-SHA256(secret, body)>

The body carries the gateway's clock at sending (``ts``) and the event's random ``nonce``: the
portal refuses a body whose ``ts`` is more than :data:`REPLAY_WINDOW` seconds from its clock, and
an event (by its ``nonce``) it has already applied. An event the hook could not deliver is kept
on the gateway and sent again later with the same ``nonce`` and a fresh ``ts`` (and signature):
a resend of an event that never arrived is applied, a copy of one that did is answered 409 (the
hook then drops it), and a captured body is stale once its ``ts`` leaves the window. The hook
gives up on an event after :data:`RESEND_WINDOW` seconds; the portal remembers nonces at least
that long, so no event is ever applied twice.

The client is named by ``hid = sha256hex(token)`` — what the FAS saw in the redirect, so the
portal finds the login it granted — and never by the token itself (at FAS level 0 the token is
the grant).
"""

from __future__ import annotations

import hashlib
import hmac
import re
from dataclasses import dataclass
from urllib.parse import parse_qsl

from ac_adapters.redirect import normalise_mac

__all__ = ["EVENTS", "FIELDS", "MAX_BODY", "REPLAY_WINDOW", "RESEND_WINDOW", "START_EVENTS",
           "STOP_EVENTS", "EventError", "GatewayEvent", "parse_event", "sign_event", "verify_signature"]

MAX_BODY = 2048            # a real event is ~300 bytes
REPLAY_WINDOW = 300        # seconds either side of our clock
RESEND_WINDOW = 86400      # seconds the hook keeps resending an undelivered event (its spool)
SIGNATURE_HEADER = "X-Citywifi-Signature"

# What each openNDS method means for our session record (stop events: why the session ended).
# "auth_client" is the grant request itself (no session yet), answered locally by the script;
# it is never posted.
START_EVENTS = frozenset({"client_auth", "ndsctl_auth"})
STOP_EVENTS = {
    "client_deauth": "logout",          # the client opened the gateway's deny URL (/opennds_deny/)
    "ndsctl_deauth": "admin",           # the gateway's operator (ndsctl deauth)
    "idle_deauth": "idle",
    "timeout_deauth": "session_timeout",
    "downquota_deauth": "quota",
    "upquota_deauth": "quota",
    "shutdown_deauth": "nas-off",       # openNDS stopped
}
EVENTS = frozenset({*START_EVENTS, *STOP_EVENTS})
FIELDS = ("v", "gw", "ev", "mac", "hid", "in", "out", "start", "end", "ts", "nonce")
_HID = re.compile(r"^[0-9a-f]{64}$")
_NONCE = re.compile(r"^[0-9A-Za-z]{8,64}$")
_MAX_COUNTER = 1 << 62     # bytes: no client moves 4 EB
_MAX_EPOCH = 1 << 34


class EventError(ValueError):
    """An event body we refuse. ``code`` is what the endpoint answers with (a 4xx)."""

    def __init__(self, code: str, detail: str) -> None:
        super().__init__(detail)
        self.code = code
        self.detail = detail


@dataclass(frozen=True, slots=True)
class GatewayEvent:
    """One decoded event. ``download``/``upload`` are the client's bytes (openNDS incoming /
    outgoing); ``start``/``end`` epoch seconds as the gateway's clock says (0 = not set)."""

    gateway: str
    event: str
    mac: str
    hid: str
    download: int
    upload: int
    start: int
    end: int
    ts: int
    nonce: str

    @property
    def kind(self) -> str:
        """"start" or "stop"."""
        return "start" if self.event in START_EVENTS else "stop"

    @property
    def cause(self) -> str:
        """Why a stopped session ended, for the real-name log: ``opennds:<method>``."""
        return "opennds:" + self.event


def sign_event(secret: str, body: bytes) -> str:
    """The header value for ``body``: ``v1=<hex HMAC-SHA256(secret, body)>``."""
    return "v1=" + hmac.new(secret.encode(), body, hashlib.sha256).hexdigest()


def verify_signature(secret: str, body: bytes, header: str) -> bool:
    """Constant-time check of :func:`sign_event`'s value (False for any malformed header)."""
    if not secret or not header.startswith("v1=") or len(header) != 67:
        return False
    return hmac.compare_digest(sign_event(secret, body), header)


def _int(items: dict[str, str], name: str, top: int) -> int:
    text = items.get(name, "0") or "0"
    if not text.isdigit() or len(text) > 20 or int(text) > top:
        raise EventError("bad_event", f"{name}={text[:24]!r} is not a count")
    return int(text)


def parse_event(body: bytes) -> GatewayEvent:
    """A posted body → the event. Raises :class:`EventError` (never anything else)."""
    if len(body) > MAX_BODY:
        raise EventError("too_large", f"event body of {len(body)} bytes")
    try:
        pairs = parse_qsl(body.decode("ascii"), keep_blank_values=True, strict_parsing=True,
                          max_num_fields=len(FIELDS) + 4)
    except (UnicodeDecodeError, ValueError) as exc:
        raise EventError("bad_event", f"not a form body: {str(exc)[:80]}") from None
    items: dict[str, str] = {}
    for name, value in pairs:
        if name in items:
            raise EventError("bad_event", f"{name} given twice")
        items[name] = value
    if items.get("v") != "1":
        raise EventError("bad_event", f"version {items.get('v', '')[:8]!r}")
    event = items.get("ev", "")
    if event not in EVENTS:
        raise EventError("bad_event", f"unknown event {event[:32]!r}")
    mac = normalise_mac(items.get("mac", ""))
    if mac is None:
        raise EventError("bad_event", f"mac {items.get('mac', '')[:40]!r}")
    hid = items.get("hid", "").lower()
    if not _HID.match(hid):
        raise EventError("bad_event", "hid is not 64 hex digits")
    nonce = items.get("nonce", "")
    if not _NONCE.match(nonce):
        raise EventError("bad_event", "nonce is not 8-64 letters and digits")
    gateway = items.get("gw", "")
    if not gateway or len(gateway) > 64:
        raise EventError("bad_event", "no gateway name")
    return GatewayEvent(gateway=gateway, event=event, mac=mac, hid=hid,
                        download=_int(items, "in", _MAX_COUNTER), upload=_int(items, "out", _MAX_COUNTER),
                        start=_int(items, "start", _MAX_EPOCH), end=_int(items, "end", _MAX_EPOCH),
                        ts=_int(items, "ts", _MAX_EPOCH), nonce=nonce)
