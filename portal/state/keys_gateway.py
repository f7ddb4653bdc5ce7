"""Redis keys of the non-Portal-protocol gateways: a sibling of ``keys.py`` like the
other ``keys_*`` modules (imported directly, not re-exported). Same prefix, same hash-tag rules."""

from __future__ import annotations

from portal.state.keys import PREFIX, bounded_part

__all__ = [
    "controller_counters",
    "controller_poll_lock",
    "gateway_authmon",
    "gateway_client",
    "gateway_event_booked",
    "gateway_event_seen",
    "gateway_nonce",
    "gateway_stop_booked",
]


def gateway_client(ac: str, hid: str) -> str:
    """Hash (TTL): a grant we sent a phone to a gateway with, by the gateway's client id
    (openNDS ``hid``): phone, plan, mac, ip, venue, ssid, secs (session seconds granted), at.
    Taken (deleted) by the session start it backs: one login, one session."""
    return f"{PREFIX}:{{gw:{ac}}}:client:{hid}"


def gateway_event_seen(ac: str, nonce: str) -> str:
    """String (TTL = the hook's resend window plus twice the replay window): a signed gateway
    event we have applied, by its nonce; a second copy (replayed or resent) is not applied."""
    return f"{PREFIX}:{{gw:{ac}}}:seen:{nonce}"


def gateway_event_booked(ac: str, nonce: str) -> str:
    """String (same TTL): whose stop event this is (the phone), written before its usage is
    booked, so a repeated apply after a failure part way can find and close the session."""
    return f"{PREFIX}:{{gw:{ac}}}:booked:{nonce}"


def gateway_stop_booked(phone: str, ac: str, nonce: str) -> str:
    """String (same TTL), in the phone's slot: this stop event's usage is booked (taken by the
    booking script itself, so a repeated apply never books it twice, on Cluster too)."""
    return f"{PREFIX}:{{p:{phone}}}:gw-booked:{bounded_part(ac)}:{bounded_part(nonce)}"


def gateway_authmon(ac: str) -> str:
    """Hash (TTL): grants waiting for the gateway's authmon (openNDS level 3): rhid → its
    ``ndsctl auth`` entry. Emptied by authmon's ``clear``, entries by its acknowledgements."""
    return f"{PREFIX}:{{gw:{ac}}}:authmon"


def gateway_nonce(ac: str, challenge: str) -> str:
    """String (TTL one day): this gateway challenge (CoovaChilli) already carried a grant."""
    return f"{PREFIX}:{{gw:{ac}}}:nonce:{bounded_part(challenge)}"


def controller_poll_lock() -> str:
    """String (TTL = the poll interval): a process of the fleet polls the UniFi controllers'
    guest usage this round (``portal/aaa/controller_usage.py``); the others skip it."""
    return f"{PREFIX}:gw:controller-poll"


def controller_counters(ac: str) -> str:
    """Hash (TTL two days, renewed by each poll): session id → the controller's raw byte counters
    ("<up> <down>") seen at the last poll, for controllers whose counters restart with each
    connection (Omada's client list, ``portal/aaa/omada_usage.py``)."""
    return f"{PREFIX}:{{gw:{ac}}}:counters"
