"""Per-AC outcomes of the portal's logins on ACs, for the NOC's AC live state.

The web process logs phones in on an AC over the Portal protocol (``PhoneJourney._ac_login``).
Each outcome is counted in memory per AC and written to the AC's ``keys.ac_stats`` hash at most
once per second per AC per process (one pipeline), so a login burst on one AC costs one Redis
write a second, not one per login. Counts noted within the last second are written with the
next note after that second (or by :meth:`flush`). Fields:

* ``portal_login_ok`` / ``portal_login_failed`` (the AC refused) / ``portal_timeout`` (no reply)
* ``portal_reply_bad_auth`` — logins during which replies came whose authenticator did not
  verify: the secret configured here differs from the AC's
* ``portal_last_ok_at`` / ``portal_last_error_at`` / ``portal_last_error`` (short English reason)
"""

from __future__ import annotations

import logging
import threading
import time
from collections import Counter
from collections.abc import Callable
from typing import Any

from portal.state import keys

__all__ = ["AcOutcomes"]

log = logging.getLogger(__name__)


class AcOutcomes:
    """Thread-safe buffered counters; ``note`` never raises (the login must not fail on stats)."""

    def __init__(self, redis: Any, *, interval: float = 1.0,
                 clock: Callable[[], float] = time.time) -> None:
        self.redis = redis
        self.interval = interval
        self.clock = clock
        self._lock = threading.Lock()
        self._counts: dict[str, Counter[str]] = {}
        self._fields: dict[str, dict[str, str]] = {}
        self._written: dict[str, float] = {}

    def note(self, ac: str, *, ok: bool, timed_out: bool = False, bad_auth: bool = False,
             error: str = "") -> None:
        now = self.clock()
        with self._lock:
            counts = self._counts.setdefault(ac, Counter())
            fields = self._fields.setdefault(ac, {})
            counts["portal_login_ok" if ok else "portal_timeout" if timed_out else "portal_login_failed"] += 1
            if bad_auth:
                counts["portal_reply_bad_auth"] += 1
            if ok:
                fields["portal_last_ok_at"] = f"{now:.3f}"
            else:
                fields["portal_last_error_at"] = f"{now:.3f}"
                fields["portal_last_error"] = error[:200]
            due = [name for name in self._counts if now - self._written.get(name, 0.0) >= self.interval]
        if due:
            self._write(due, now)

    def flush(self) -> None:
        with self._lock:
            names = list(self._counts)
        if names:
            self._write(names, self.clock())

    def _write(self, names: list[str], now: float) -> None:
        with self._lock:
            batch = [(ac, self._counts.pop(ac, Counter()), self._fields.pop(ac, {})) for ac in names]
            for ac in names:
                self._written[ac] = now
        try:
            pipe = self.redis.pipeline(transaction=False)
            for name, counts, fields in batch:
                for counter, n in counts.items():
                    pipe.hincrby(keys.ac_stats(name), counter, n)
                if fields:
                    pipe.hset(keys.ac_stats(name), mapping=fields)
            pipe.execute()
        except Exception as exc:    # informative only: keep the counts for the next write
            log.debug("AC outcome counters not written: %s", exc)
            with self._lock:
                for name, counts, fields in batch:
                    self._counts.setdefault(name, Counter()).update(counts)
                    for field, value in fields.items():
                        self._fields.setdefault(name, {}).setdefault(field, value)
