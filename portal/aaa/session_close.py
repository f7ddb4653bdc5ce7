"""Closing a session and writing its real-name logout, surviving Redis failing in between.

A session lives in its phone's hash slot (``keys.phone_sessions``); the real-name log and the
accounting log are streams in slots of their own, so on Redis Cluster no script or MULTI can
close the session and write those records at once. The script here closes the session AND
leaves a logout-pending marker (``keys_outbox.session_logout_pending``, in the phone's slot)
holding the closed record and the logout's time and cause; the records are written next, and
only then is the marker deleted (a round trip of its own: a Cluster pipeline does not keep the
order of commands across nodes). If Redis fails anywhere in between, the caller's request fails
(the openNDS hook gets 503 and resends), and the repeat of the close finds no session but the
marker: it writes the records then, from the marker — never from nowhere.

A lease in the marker (:data:`LEASE` seconds) keeps a repeat that arrives while the first
attempt is still writing from writing the same records too; it is told ``busy``. What this does
not give is exactly-once when Redis fails after the records but before the marker's deletion:
the repeat then writes them a second time (at least once, never lost).
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable
from typing import Any

from portal.aaa.sessions import OnlineSession, SessionRegistry, decode_record
from portal.errors import CitywifiError
from portal.legal.reallog import session_logout_fields
from portal.state import STATE_ERRORS, keys, keys_outbox

__all__ = ["CLOSE_LOGGED_LUA", "LEASE", "CloseInProgress", "LoggedClose"]

log = logging.getLogger(__name__)

LEASE = 3   # s the closer (or a repeat that took over) writes the records alone

# KEYS: 1 phone_sessions, 2 tombstone, 3 logout-pending marker.
# ARGV: 1 field, 2 tombstone ttl (also the marker's), 3 now, 4 note ("<stop time>|<cause>").
# Returns false (no such session, nothing pending), or {verdict, record json, note}: verdict
# closed (closed now), pending (closed before, records maybe missing: write them), busy.
CLOSE_LOGGED_LUA = f"local LEASE = {LEASE}\n" + r"""
local now = tonumber(ARGV[3])
local raw = redis.call('HGET', KEYS[1], ARGV[1])
if not raw then
  local p = redis.call('GET', KEYS[3])
  if not p then return false end
  local lease, note, rec = string.match(p, '^(%d+)\n(.-)\n(.*)$')
  if not lease then return false end
  if now < tonumber(lease) then return {'busy', rec, note} end
  redis.call('SET', KEYS[3], string.format('%.0f', now + LEASE) .. '\n' .. note ..
             '\n' .. rec, 'KEEPTTL')
  return {'pending', rec, note}
end
local rec = cjson.decode(raw)
redis.call('HDEL', KEYS[1], ARGV[1])
redis.call('SET', KEYS[2], string.format('%.0f,%.0f,%.0f', rec['t'], rec['i'], rec['o']),
           'EX', tonumber(ARGV[2]))
redis.call('SET', KEYS[3], string.format('%.0f', now + LEASE) .. '\n' .. ARGV[4] ..
           '\n' .. raw, 'EX', tonumber(ARGV[2]))
return {'closed', raw, ARGV[4]}
"""

class CloseInProgress(CitywifiError):
    """Another attempt is writing this closed session's records right now: ask again shortly."""

    code = "state_unavailable"


# Extra entries to write with the logout (e.g. the gateway event's accounting-log entry).
Also = Callable[[Any, OnlineSession], None]


class LoggedClose:
    """``SessionRegistry.close`` for callers whose close must not lose its logout record."""

    def __init__(self, registry: SessionRegistry, clock: Callable[[], float] = time.time) -> None:
        self.registry = registry
        self.redis = registry.redis
        self.clock = clock
        self._script = self.redis.register_script(CLOSE_LOGGED_LUA)

    def close(self, ac: str, session_id: str, phone: str, *, cause: str,
              also: Also | None = None) -> tuple[str, OnlineSession | None]:
        """Close (or finish closing) one session: ``("closed", session)`` closed now,
        ``("pending", session)`` closed by an earlier attempt whose records are now written,
        ``("busy", session)`` another attempt is writing them right now, ``("gone", None)``
        nothing to do. Raises on Redis failure (then the close may have happened: repeat it)."""
        field = f"{ac}|{session_id}"
        now = self.clock()
        res = self._script(
            keys=[keys.phone_sessions(phone), keys.session_tombstone(phone, ac, session_id),
                  keys_outbox.session_logout_pending(phone, ac, session_id)],
            args=[field, self.registry.tombstone_ttl, int(now), f"{now:.3f}|{cause}"],
        )
        if not res:
            return "gone", None
        verdict = res[0].decode()
        session = decode_record(phone, field, res[1])
        if verdict == "busy" or session is None:
            return verdict, session
        stop, _, first_cause = res[2].decode().partition("|")
        self.write_records(session, float(stop), first_cause, also)
        return verdict, session

    def write_records(self, session: OnlineSession, stop: float, cause: str,
                      also: Also | None = None) -> None:
        """The closed session's index removal, real-name logout and ``also``'s entries, then
        (after they are stored) the marker's deletion."""
        pipe = self.redis.pipeline(transaction=False)
        self.registry.unindex_in(pipe, session.phone, session.ac, session.session_id, session)
        pipe.xadd(keys.real_name_log(), session_logout_fields(session, stop, cause))
        if also is not None:
            also(pipe, session)
        pipe.execute()
        try:   # stored: a marker left behind only makes a later repeat write them again
            self.redis.delete(keys_outbox.session_logout_pending(session.phone, session.ac,
                                                                  session.session_id))
        except STATE_ERRORS as exc:
            log.warning("logout-pending marker of %s|%s not cleared: %s", session.ac,
                        session.session_id, exc)
