"""The reaper: close sessions that stopped reporting (lost Stop, AC gone, NAS rebooted quietly).

A session with no accounting for 2 × its interim interval + ``radius.reaper_grace`` is closed
(docs/protocols/radius.md §5, "Lost Stops": design practice, not an RFC rule), so it stops counting
against the concurrency limit and disappears from the NOC's list. Closing leaves a tombstone: if
the session was in fact alive and reports again, its next Interim-Update re-opens it and only
the usage beyond the last known counters is booked.

Safe to run in several processes at once: each close is a Lua script that re-checks the
session's own deadline, so a concurrent Interim-Update wins and a double close is a no-op.

Every ``VENUE_REPAIR_INTERVAL`` one process of the fleet (a Redis lock decides which) also puts
the per-venue session indexes right (``SessionRegistry.repair_venue_index``).
"""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Callable
from typing import Any

from portal.sessions import OnlineSession, SessionRegistry
from portal.state import keys
from radius.accounting import log_close

__all__ = ["VENUE_REPAIR_INTERVAL", "reap", "repair_venue_index", "run_reaper"]

VENUE_REPAIR_INTERVAL = 900.0   # seconds; the repair reads every session once (≈ 2 s at 100k)

log = logging.getLogger(__name__)


def reap(registry: SessionRegistry, now: float, *, limit: int = 1000) -> list[OnlineSession]:
    """One sweep: close up to ``limit`` silent sessions, log each close durably, return them."""
    closed = []
    for session in registry.stale(now, limit=limit):
        done = registry.close(session.ac, session.session_id, session.phone, silent_before=now)
        if done is not None:
            closed.append(done)
    if closed:
        pipe = registry.redis.pipeline(transaction=False)
        for session in closed:
            log_close(pipe, "reaped", session, now)
        pipe.execute()
        log.info("reaper closed %d silent session(s)", len(closed))
    return closed


def repair_venue_index(registry: SessionRegistry, interval: float = VENUE_REPAIR_INTERVAL) -> bool:
    """Repair the venue indexes unless another process did within ``interval``; True if run."""
    from portal.venues import FALLBACK, VenueStore

    if not registry.redis.set(keys.venue_index_repair_lock(), "1", nx=True, ex=max(1, int(interval))):
        return False
    added, removed = registry.repair_venue_index([*VenueStore(registry.redis).all(), FALLBACK.id])
    if added or removed:
        log.warning("venue index repaired: %d entries added, %d removed", added, removed)
    return True


def run_reaper(
    redis: Any,
    *,
    interval: float = 30.0,
    grace: float = 60.0,
    tombstone_ttl: int = 21600,
    stop: threading.Event | None = None,
    clock: Callable[[], float] = time.time,
) -> None:
    """Sweep every ``interval`` seconds until ``stop`` is set (run it in one worker). Redis
    errors are logged and retried on the next tick: the reaper must never crash its process."""
    registry = SessionRegistry(redis, grace=grace, tombstone_ttl=tombstone_ttl)
    stop = stop or threading.Event()
    while not stop.is_set():
        try:
            while len(reap(registry, clock())) >= 1000 and not stop.is_set():
                pass  # backlog (e.g. after an outage): keep sweeping
            repair_venue_index(registry)
        except Exception:
            log.exception("reaper sweep failed; retrying in %.0f s", interval)
        stop.wait(interval)
