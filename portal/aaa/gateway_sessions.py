"""Sessions on gateways that report by event instead of RADIUS accounting (openNDS).

A carrier AC tells us about a session with Accounting-Start / Interim / Stop
(``radius/accounting.py``). openNDS has no RADIUS; our BinAuth hook posts its events instead
(``ac_adapters/gateways/opennds_events.py``), and this module turns them into the same state:

* at the grant (:meth:`GatewaySessions.remember_grant`, called when the phone is sent to the
  gateway) we keep who the gateway's client id (``hid``) belongs to, for a while;
* ``client_auth`` / ``ndsctl_auth`` → an online session in ``portal.aaa.sessions.SessionRegistry``
  (the NOC list, the status page, per-venue counts, the concurrency limit), taking that grant:
  one login backs one session;
* a ``*_deauth`` → the session's final bytes and seconds, the session closed with a real-name
  logout record (``opennds:<method>``), and the usage booked once (daily and total quotas).

An event id (nonce) is recorded as applied only after its apply succeeded (:meth:`claim`,
:meth:`mark_applied`): Redis failing in the middle answers 503, and the hook's resend of the
same event is applied then, not refused as a replay. A resend may find the first attempt half
done, so each step is safe to repeat: a start opens the session before it spends the grant (a
repeat finds the session); a stop books its usage together with a per-event marker in one
transaction before it closes the session (a repeat books nothing twice), and the close leaves a
logout-pending marker until its real-name logout and accounting-log entry are stored
(``portal/aaa/session_close.py``): a repeat that finds the session closed but the marker still there
writes them, so Redis failing between the close and those records loses neither.

openNDS sends nothing while a session runs (no interim), so a session's silence deadline is its
granted length plus a margin (:func:`interim_for`): a lost stop event is reaped then, not at
the usual 2 × interim. The web layer (``portal/web/gateway/gateway_hook.py``) authenticates the event
before it gets here.
"""

from __future__ import annotations

import contextlib
import logging
import time
from collections.abc import Callable
from typing import Any

import redis as redis_lib

from ac_adapters.gateways.opennds_events import REPLAY_WINDOW, RESEND_WINDOW, EventError, GatewayEvent
from portal.aaa.session_close import CloseInProgress, LoggedClose
from portal.aaa.sessions import OnlineSession, SessionRegistry
from portal.aaa.usage import UsageBook
from portal.state import keys, keys_gateway

__all__ = ["CLAIM_LEASE", "GRANT_TTL", "AuthmonQueue", "GatewaySessions", "interim_for", "session_id_for"]

log = logging.getLogger("citywifi.gateway.sessions")

GRANT_TTL = 3600            # the phone follows the grant URL within seconds; a margin for retries
_UNLIMITED_INTERIM = 43200  # no session length: reaped a day after the start if no stop comes
CLAIM_LEASE = 30            # s an applying request holds an event id (longer than one apply takes)


def session_id_for(hid: str) -> str:
    """Our session id for a gateway client: the first half of its hid (unique per gateway)."""
    return hid[:32]


def interim_for(session_seconds: int) -> int:
    """The ``interim`` a session is recorded with, so that its silence deadline
    (``updated + 2 × interim + grace``) falls a minute or two after the gateway must have ended
    it — openNDS checks its limits every ``checkinterval`` (15 s by default)."""
    if session_seconds <= 0:
        return _UNLIMITED_INTERIM
    return session_seconds // 2 + 60


class GatewaySessions:
    """Grant memory and event application for event-reporting gateways."""

    def __init__(self, redis: Any, *, grace: float = 60.0, timezone: str = "Asia/Shanghai",
                 tombstone_ttl: int = 21600, clock: Callable[[], float] = time.time) -> None:
        self.redis = redis
        self.clock = clock
        self.registry = SessionRegistry(redis, grace=grace, tombstone_ttl=tombstone_ttl)
        self.closer = LoggedClose(self.registry, clock)
        self.usage = UsageBook(redis, timezone)

    # --- at the grant -------------------------------------------------------------------------

    def remember_grant(self, ac: str, hid: str, *, phone: str, plan: str, mac: str, ip: str,
                       venue: str, ssid: str, session_seconds: int) -> None:
        """Keep whose client ``hid`` is until its start event takes it (:data:`GRANT_TTL`)."""
        key = keys_gateway.gateway_client(ac, hid)
        pipe = self.redis.pipeline(transaction=True)
        pipe.delete(key)
        pipe.hset(key, mapping={"phone": phone, "plan": plan, "mac": mac, "ip": ip, "venue": venue,
                                "ssid": ssid, "secs": int(session_seconds), "at": f"{self.clock():.3f}"})
        pipe.expire(key, GRANT_TTL)
        pipe.execute()

    # --- events -------------------------------------------------------------------------------

    def claim(self, ac: str, nonce: str) -> str:
        """``"new"``: this request may apply the event (a short lease, :data:`CLAIM_LEASE`, so a
        request that dies mid-apply does not hold it); ``"applied"``: a replay or a resent copy
        of an applied one; ``"busy"``: another copy is being applied right now."""
        key = keys_gateway.gateway_event_seen(ac, nonce)
        if self.redis.set(key, "pending", nx=True, ex=CLAIM_LEASE):
            return "new"
        return "busy" if self.redis.get(key) == b"pending" else "applied"

    def mark_applied(self, ac: str, nonce: str) -> None:
        """After a successful apply: refuse copies as long as the hook may resend, plus the window."""
        self.redis.set(keys_gateway.gateway_event_seen(ac, nonce), "1", ex=RESEND_WINDOW + 2 * REPLAY_WINDOW)

    def release(self, ac: str, nonce: str) -> None:
        """The apply failed: the next copy may try at once (best effort; else the lease ends)."""
        key = keys_gateway.gateway_event_seen(ac, nonce)
        with contextlib.suppress(redis_lib.RedisError, OSError):
            if self.redis.get(key) == b"pending":
                self.redis.delete(key)

    def apply(self, ac: str, event: GatewayEvent) -> dict[str, Any]:
        """Apply one authenticated event; the answer's ``result`` says what happened.
        :class:`EventError` ``unknown_client`` when no grant or session backs the client.
        Safe to repeat after a failure part way (module docstring)."""
        now = self.clock()
        if event.kind == "start":
            session = self._start(ac, event, now)
            self._log(ac, event, now, session)
            return {"result": "started", "session_id": session.session_id}
        found = self.registry.get(ac, session_id_for(event.hid))
        booked = None if found else self.redis.get(keys_gateway.gateway_event_booked(ac, event.nonce))
        if booked is not None:
            # A first attempt booked this stop and closed the session, then failed: maybe before
            # the session's logout records were stored (the booking names the phone).
            if booked != b"1":
                verdict, closed = self.closer.close(ac, session_id_for(event.hid), booked.decode(),
                                                    cause=event.cause, also=self._log_in(ac, event, now))
                if verdict == "busy":     # the first attempt is still writing them: resend later
                    raise CloseInProgress(f"session {session_id_for(event.hid)} on {ac} closing")
                if verdict == "pending" and closed is not None:
                    return self._stopped(closed)
            return {"result": "already_closed", "session_id": session_id_for(event.hid)}
        # Its start event was lost (or arrives after the stop): the grant still says whose.
        session = found or self._start(ac, event, now)
        closed = self._stop(session, event, now)
        if closed is None:
            self._log(ac, event, now, session)
            return {"result": "already_closed", "session_id": session.session_id}
        return self._stopped(closed)

    @staticmethod
    def _stopped(closed: OnlineSession) -> dict[str, Any]:
        return {"result": "stopped", "session_id": closed.session_id,
                "seconds": closed.session_time, "bytes": closed.octets}

    def _start(self, ac: str, event: GatewayEvent, now: float) -> OnlineSession:
        key = keys_gateway.gateway_client(ac, event.hid)
        raw = self.redis.hgetall(key)
        grant = {k.decode(): v.decode() for k, v in raw.items()} if raw else None
        if grant is None:
            known = self.registry.get(ac, session_id_for(event.hid))
            if known is not None and event.kind == "start":
                return known            # a repeat: the first attempt opened it and spent the grant
            raise EventError("unknown_client", f"no grant for client {event.hid[:12]}… on {ac}")
        if grant["mac"] and grant["mac"] != event.mac:
            # The redirect's MAC was the phone's claim; the gateway's word wins.
            log.warning("gateway %s reports MAC %s for a client granted as %s", ac, event.mac,
                        grant["mac"])
        started = event.start if 0 < event.start <= now + REPLAY_WINDOW else int(now)
        session = OnlineSession(
            ac=ac, session_id=session_id_for(event.hid), phone=grant["phone"], mac=event.mac,
            ip=grant["ip"] or None, started=started, updated=int(now),
            interim=interim_for(int(grant.get("secs") or 0)), plan=grant["plan"],
            ssid=grant.get("ssid", ""), venue=grant.get("venue", ""))
        self.registry.open(session)
        self.redis.delete(key)          # spent only once the session is open: a repeat still has it
        log.info("gateway session %s on %s started (%s)", session.session_id, ac, event.event)
        return session

    def _stop(self, session: OnlineSession, event: GatewayEvent, now: float) -> OnlineSession | None:
        start = event.start or session.started
        seconds = max(0, (event.end or int(now)) - start)
        self._book_once(session.ac, event.nonce, session.phone, seconds, event.upload + event.download, now)
        # The gateway's session start is the one the real-name record keeps: a start event that
        # named none was opened at our receive time, which may be a second later.
        gateway_start = event.start if 0 < event.start <= now + REPLAY_WINDOW else 0
        return self.finish(session, seconds=seconds, upload=event.upload, download=event.download,
                           cause=event.cause, now=now, book=False, also=self._log_in(session.ac, event, now),
                           started=gateway_start)

    def _book_once(self, ac: str, nonce: str, phone: str, seconds: int, octets: int, now: float) -> None:
        """This stop event's usage, booked exactly once however often the event is applied: the
        booking script takes a marker in the phone's slot. First, whose event it is goes in the
        gateway's slot (a repeat whose session is already closed finds the phone there)."""
        ttl = RESEND_WINDOW + 2 * REPLAY_WINDOW
        self.redis.set(keys_gateway.gateway_event_booked(ac, nonce), phone, ex=ttl)
        marker = keys_gateway.gateway_stop_booked(phone, ac, nonce)
        self.usage.add_once(phone, marker, ttl, seconds, octets, now)

    def finish(self, session: OnlineSession, *, seconds: int, upload: int, download: int, cause: str,
               now: float, book: bool = True,
               also: Callable[[Any, OnlineSession], None] | None = None,
               started: int = 0) -> OnlineSession | None:
        """Final counters, close (real-name logout record with ``cause``), and book the usage
        once: only the caller whose close removed the record books it. The openNDS stop event
        and the controller usage poller (``portal/aaa/controller_usage.py``) both end sessions here.
        ``also`` queues entries to store with the logout (``portal.aaa.session_close``)."""
        self.registry.update(session.ac, session.session_id, session.phone, now=now,
                             session_time=seconds, input_octets=upload, output_octets=download,
                             started=started)
        verdict, closed = self.closer.close(session.ac, session.session_id, session.phone,
                                            cause=cause, also=also)
        if verdict not in ("closed", "pending"):
            return None
        if closed is not None and book and verdict == "closed":
            self.usage.add(closed.phone, closed.session_time, closed.octets, now)
            log.info("gateway session %s on %s ended (%s): %d s, %d bytes", closed.session_id,
                     closed.ac, cause, closed.session_time, closed.octets)
        return closed

    def _log(self, ac: str, event: GatewayEvent, now: float, session: OnlineSession) -> None:
        self._log_in(ac, event, now)(self.redis, session)

    @staticmethod
    def _log_in(ac: str, event: GatewayEvent, now: float) -> Callable[[Any, OnlineSession], None]:
        # The durable accounting stream gets gateway events too: one place to audit usage.
        return lambda pipe, session: pipe.xadd(keys.acct_log(), {
            "k": "gw-" + event.kind, "ac": ac, "at": f"{now:.3f}", "ph": session.phone,
            "sid": session.session_id, "ev": event.event, "mac": event.mac,
            "in": str(event.upload), "out": str(event.download), "t": str(session.session_time)})


class AuthmonQueue:
    """Grants waiting for an openNDS level-3 gateway's authmon (``ac_adapters/gateways/
    opennds_l3.py``): queued at the login, handed out on every poll until authmon acknowledges
    them (it applied them with ``ndsctl auth``), dropped after :data:`GRANT_TTL`."""

    def __init__(self, redis: Any) -> None:
        self.redis = redis

    def push(self, ac: str, rhid: str, entry: str) -> None:
        key = keys_gateway.gateway_authmon(ac)
        pipe = self.redis.pipeline(transaction=True)
        pipe.hset(key, rhid, entry)
        pipe.expire(key, GRANT_TTL)
        pipe.execute()

    def pending(self, ac: str) -> list[str]:
        return sorted(v.decode() for v in self.redis.hvals(keys_gateway.gateway_authmon(ac)))

    def ack(self, ac: str, rhids: list[str]) -> int:
        return int(self.redis.hdel(keys_gateway.gateway_authmon(ac), *rhids)) if rhids else 0

    def clear(self, ac: str) -> None:
        self.redis.delete(keys_gateway.gateway_authmon(ac))
