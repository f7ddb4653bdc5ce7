"""Circuit breaker for published venue pages that blow their render budget on phones.

A template can pass the publish-time trial render and still burn its whole time/size budget on
every real phone (a bomb behind a condition the trial does not meet). Re-running it per landing
costs each phone the full budget before the default page appears, so after one such failure the
exact source (venue + page + digest of the published source, i.e. the version) is skipped for a
cool-down: remembered in this process and marked in Redis (with a TTL) so every web worker skips it.
"""
from __future__ import annotations

import contextlib
import hashlib
import logging
import threading
import time
from collections.abc import Callable
from typing import Any

import redis as redis_lib

from portal.state import keys

log = logging.getLogger(__name__)

BUDGET_REASONS = ("recursion", "limit:")
"""Fallback reasons (:meth:`ad_pages.PageRenderer.render`) that mean the budget was spent: a data-
dependent error (``1 // 0``) is cheap to hit again and does not trip the breaker."""

_REDIS_ERRORS = (redis_lib.RedisError, OSError)


def source_digest(source: str) -> str:
    return hashlib.sha256(source.encode("utf-8", "surrogatepass")).hexdigest()[:24]


class RenderBreaker:
    def __init__(self, redis: Any, *, cool_down: float = 300.0,
                 clock: Callable[[], float] = time.monotonic) -> None:
        self.redis = redis
        self.cool_down = cool_down
        self._clock = clock
        self._lock = threading.Lock()
        self._open: dict[tuple[str, str, str], float] = {}    # key -> local deadline

    def is_open(self, venue_id: str, page: str, source: str) -> bool:
        """True while this source must not be rendered (serve the default page)."""
        key = (venue_id, page, source_digest(source))
        now = self._clock()
        with self._lock:
            until = self._open.get(key)
            if until is not None:
                if until > now:
                    return True
                del self._open[key]
        with contextlib.suppress(*_REDIS_ERRORS):
            ttl = self.redis.pttl(keys.render_breaker(*key))
            if ttl and ttl > 0:      # another worker tripped it: trust its mark for what is left
                with self._lock:
                    self._open[key] = now + ttl / 1000.0
                return True
        return False

    def observe(self, venue_id: str, page: str, source: str, reason: str) -> bool:
        """Record a runtime fallback; True when it tripped the breaker (budget failure)."""
        if not reason.startswith(BUDGET_REASONS):
            return False
        key = (venue_id, page, source_digest(source))
        with self._lock:
            already = self._open.get(key, 0.0) > self._clock()
            self._open[key] = self._clock() + self.cool_down
        if already:
            return True
        with contextlib.suppress(*_REDIS_ERRORS):
            pipe = self.redis.pipeline(transaction=False)
            pipe.set(keys.render_breaker(*key), reason[:300], px=int(self.cool_down * 1000), nx=True)
            pipe.hincrby(keys.venue_stats(venue_id), f"page_breaker_trips:{page}", 1)
            pipe.execute()
        log.warning("venue %s page %s: template exceeded its render budget on a phone (%s); default "
                    "page served for %.0f s instead of re-running it", venue_id, page, reason, self.cool_down)
        return True
