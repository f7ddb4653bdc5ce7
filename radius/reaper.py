"""The reaper: close sessions that stopped reporting (lost Stop, AC gone, NAS rebooted quietly).

A session with no accounting for 2 × its interim interval + ``radius.reaper_grace`` is closed
(docs/protocols/radius.md §5, "Lost Stops": design practice, not an RFC rule), so it stops counting
against the concurrency limit and disappears from the NOC's list. Closing leaves a tombstone: if
the session was in fact alive and reports again, its next Interim-Update re-opens it and only
the usage beyond the last known counters is booked.

Safe to run in several processes at once: each close is a Lua script that re-checks the
session's own deadline, so a concurrent Interim-Update wins and a double close is a no-op.

Every ``INDEX_REPAIR_INTERVAL`` one process of the fleet (a Redis lock decides which) also puts
the venue, SSID, MAC and IP session indexes right (``portal/aaa/session_repair.py``); that reads
every session, so :func:`run_reaper` runs in the RADIUS maintenance process
(``portal/commands/radius.py``), never in a worker answering requests.
"""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Callable
from typing import Any

from portal.aaa.sessions import OnlineSession, SessionRegistry
from portal.state import keys
from radius.acct_log import log_close

__all__ = ["INDEX_REPAIR_INTERVAL", "reap", "repair_indexes", "run_reaper"]

INDEX_REPAIR_INTERVAL = 900.0   # seconds; the repair reads every session and index entry once

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


def repair_indexes(registry: SessionRegistry, interval: float = INDEX_REPAIR_INTERVAL,
                   stop: threading.Event | None = None) -> bool:
    """Repair the session indexes unless another process did within ``interval``; True if run
    (``stop`` set meanwhile cuts the repair short)."""
    from portal.aaa.session_repair import repair_indexes as repair
    from portal.venues.venue_store import FALLBACK, VenueStore

    if not registry.redis.set(keys.session_index_repair_lock(), "1", nx=True, ex=max(1, int(interval))):
        return False
    started = time.monotonic()
    report = repair(registry, [*VenueStore(registry.redis).all(), FALLBACK.id],
                    stop.is_set if stop is not None else (lambda: False))
    took = time.monotonic() - started
    if report.added or report.removed:
        log.warning("session indexes repaired: %d entries added, %d removed (%d sessions, %.1f s)",
                    report.added, report.removed, report.sessions, took)
    else:
        log.info("session indexes checked: %d sessions, nothing to repair (%.1f s)", report.sessions, took)
    return True


def run_reaper(
    redis: Any,
    *,
    interval: float = 30.0,
    grace: float = 60.0,
    tombstone_ttl: int = 21600,
    stop: threading.Event | None = None,
    clock: Callable[[], float] = time.time,
    repair_interval: float = INDEX_REPAIR_INTERVAL,
    timezone: str = "Asia/Shanghai",
    poll_interval: float = 60.0,
) -> None:
    """Sweep every ``interval`` seconds until ``stop`` is set, and repair the indexes every
    ``repair_interval`` (fleet-wide; 0 = never), and poll the UniFi controllers' guest usage every
    ``poll_interval`` (fleet-wide, ``portal/aaa/controller_usage.py``; 0 = never). Redis errors are
    logged and retried on the next tick: the reaper must never crash its process."""
    from portal.aaa.controller_usage import UnifiUsagePoller

    registry = SessionRegistry(redis, grace=grace, tombstone_ttl=tombstone_ttl)
    poller = UnifiUsagePoller(redis, timezone=timezone, grace=grace, tombstone_ttl=tombstone_ttl,
                              clock=clock) if poll_interval > 0 else None
    stop = stop or threading.Event()
    while not stop.is_set():
        try:
            while len(reap(registry, clock())) >= 1000 and not stop.is_set():
                pass  # backlog (e.g. after an outage): keep sweeping
            if repair_interval > 0:
                repair_indexes(registry, repair_interval, stop)
        except Exception:
            log.exception("reaper sweep failed; retrying in %.0f s", interval)
        try:
            if poller is not None:
                poller.poll_if_due(poll_interval)
        except Exception:
            log.exception("controller usage poll failed; retrying in %.0f s", interval)
        stop.wait(interval)
