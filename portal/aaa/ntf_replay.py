"""A byte-identical NTF_LOGOUT for a newer login: a real event, or a replay? (SECURITY.md)

The listener handles the first NTF_LOGOUT of each datagram's bytes. A later identical one is a
retransmission while the login it ended is still the last one; otherwise it is either a new
event (an EAG-style AC sends every NTF_LOGOUT with SerialNo 0 and ReqID 0, so kick → re-login →
kick gives identical bytes) or a replay of a captured datagram by someone on the AC's network.
Bytes cannot tell them apart; accounting can. Such a repeat ends the login only when the AC's
accounting agrees that the user at that address is off:

* :func:`logout_corroborated`: no accounting session of that AC is online at the user's IP
  (the Accounting-Stop already came) → the listener acts on it now;
* otherwise :func:`note_unconfirmed` remembers the login the repeat named (its marker), and
  :func:`confirm_in` — run with every Accounting-Stop — ends that login if the Stop is for the
  same (AC, IP) and nobody has logged in there since. A replay while the real session goes on
  ends nothing; a real kick ends the login when its Stop arrives (seconds later).
"""

from __future__ import annotations

from typing import Any

from portal.aaa.sessions import SessionRegistry
from portal.state import keys
from portal.state.scripts import queue_script

__all__ = ["CONFIRM_LUA", "PENDING_SECONDS", "confirm_in", "held_key", "logout_corroborated",
           "note_unconfirmed"]

PENDING_SECONDS = 600       # a real kick's Accounting-Stop comes within seconds (retries included)



def held_key(ac: str, user_ip: str) -> str:
    """String (TTL): the session marker of the login at (AC, user IP) a suspected replay named
    (same hash slot as ``keys.portal_login``, which the confirming script deletes)."""
    return keys.portal_login(ac, user_ip) + ":held"


# KEYS: pending, portal login. Ends the login only if it is still the one the NTF named.
CONFIRM_LUA = """
local want = redis.call('GET', KEYS[1])
if not want then return 0 end
redis.call('DEL', KEYS[1])
local f = redis.call('HMGET', KEYS[2], 'phone', 'at')
if f[2] and ((f[1] or '') .. '@' .. f[2]) == want then
  redis.call('DEL', KEYS[2])
  return 1
end
return 0
"""


def logout_corroborated(redis: Any, ac: str, user_ip: str) -> bool:
    """True when no accounting session of AC ``ac`` is online at ``user_ip``."""
    return not any(s.ac == ac for s in SessionRegistry(redis).by_ip(user_ip))


def note_unconfirmed(redis: Any, ac: str, user_ip: str, marker: str | None) -> None:
    if marker is not None:
        redis.set(held_key(ac, user_ip), marker, ex=PENDING_SECONDS)


def confirm_in(redis: Any, pipe: Any, ac: str, user_ip: str | None) -> None:
    """Queue on ``pipe`` (an Accounting-Stop at (``ac``, ``user_ip``)): end the login a suspected
    replay named, if it is still there (EVAL on a cluster pipeline, which refuses EVALSHA)."""
    if user_ip:
        queue_script(pipe, redis.register_script(CONFIRM_LUA),
                     [held_key(ac, user_ip), keys.portal_login(ac, user_ip)], [])
