"""Per-AC live state for the NOC: when each AC last sent us RADIUS, and what we dropped from it.

The socket loop only bumps in-process counters (a dict update per packet, no I/O); the
server's once-a-second tick (:meth:`radius.server.RadiusServer.tick`) writes them to the AC's
``keys.ac_stats`` hash in ONE pipelined round trip for all ACs, so a busy AC costs at most one
Redis write per second per worker however many packets it sends. Fields (shared hash with the
ac-listener, which writes ``last_packet_at``, ``bad_auth``, … for the portal protocol):

* ``radius_last_at`` — epoch of the newest RADIUS packet from the AC (as of the flush, ≤ 1 s late)
* ``radius_rx`` — packets received from the AC (any code, before checks)
* ``radius_drop:<reason>`` — packets dropped: ``bad_authenticator`` (wrong secret on
  Accounting-Request), ``bad_message_authenticator`` (wrong secret on Access-Request/Status),
  ``missing_message_authenticator``, ``ac_disabled``, …
* ``radius_last_drop`` / ``radius_last_drop_at`` — the newest drop reason and when.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable
from typing import Any

from portal.state import keys

__all__ = ["AcActivity"]

log = logging.getLogger(__name__)


class AcActivity:
    """Buffered per-AC RADIUS activity (one instance per server process; single-threaded use
    from the serving loop, so plain dicts suffice)."""

    def __init__(self, redis: Any, clock: Callable[[], float] = time.time) -> None:
        self.redis = redis
        self.clock = clock
        self._rx: dict[str, int] = {}
        self._drops: dict[tuple[str, str], int] = {}

    def seen(self, ac_name: str) -> None:
        """A packet arrived from ``ac_name`` (hot path: one dict update)."""
        rx = self._rx
        rx[ac_name] = rx.get(ac_name, 0) + 1

    def dropped(self, ac_name: str, reason: str) -> None:
        key = (ac_name, reason)
        self._drops[key] = self._drops.get(key, 0) + 1

    def flush(self) -> bool:
        """Write what was buffered since the last flush (one pipeline); keep it on failure."""
        rx, drops = self._rx, self._drops
        if not rx and not drops:
            return True
        self._rx, self._drops = {}, {}
        now = f"{self.clock():.3f}"
        try:
            pipe = self.redis.pipeline(transaction=False)
            for name, n in rx.items():
                key = keys.ac_stats(name)
                pipe.hset(key, "radius_last_at", now)
                pipe.hincrby(key, "radius_rx", n)
            for (name, reason), n in drops.items():
                key = keys.ac_stats(name)
                pipe.hincrby(key, f"radius_drop:{reason}", n)
                pipe.hset(key, mapping={"radius_last_drop": reason, "radius_last_drop_at": now})
            pipe.execute()
        except Exception as exc:   # Redis down: informative counters, retried next tick
            log.debug("AC activity not written: %s", exc)
            for name, n in rx.items():
                self._rx[name] = self._rx.get(name, 0) + n
            for key2, n in drops.items():
                self._drops[key2] = self._drops.get(key2, 0) + n
            return False
        return True
