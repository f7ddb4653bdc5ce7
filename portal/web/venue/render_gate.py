"""Per-account limits on venue template renders started from the console (preview, publish check).

Each render may spend the renderer's whole time budget (0.25 s); 256 concurrent previews from one
account slowed phone landings to 11 s. Renders share the web CPU with phones, so one console
account gets at most ``MAX_CONCURRENT`` at a time and ``MAX_PER_MINUTE`` a minute across every web
process (counters in Redis); beyond that the answer is 429, in Chinese and English.
"""
from __future__ import annotations

import contextlib
import logging
from collections.abc import Iterator
from typing import Any

import redis as redis_lib
from flask import Response

from portal.state import keys
from portal.web.venue.texts import RENDER_BUSY

log = logging.getLogger(__name__)

MAX_CONCURRENT = 2
MAX_PER_MINUTE = 300        # the concurrency cap is the CPU guard; this bounds a scripted flood
SLOT_TTL = 30            # seconds: a worker killed mid-render frees its slot by then
_REDIS_ERRORS = (redis_lib.RedisError, OSError)

BUSY_ZH, BUSY_EN = RENDER_BUSY     # the API's 429 names these too


class RenderBusy(Exception):
    """This account already runs its share of renders (HTTP 429)."""

    def __init__(self, retry_after: int) -> None:
        super().__init__(f"{BUSY_ZH} / {BUSY_EN}")
        self.retry_after = retry_after


@contextlib.contextmanager
def render_slot(redis: Any, account: str) -> Iterator[None]:
    """Hold one of ``account``'s render slots for the ``with`` body, or raise :class:`RenderBusy`.
    Without Redis the render is allowed (the renderer's own budget still applies)."""
    key = keys.render_slots(account)
    try:
        pipe = redis.pipeline(transaction=False)
        pipe.incr(key)
        pipe.expire(key, SLOT_TTL)
        pipe.set(key + ":rate", 0, ex=60, nx=True)     # a fixed one-minute window
        pipe.incr(key + ":rate")
        running, _, _, per_minute = pipe.execute()
    except _REDIS_ERRORS as exc:
        log.warning("render limits unavailable (%s): render allowed", exc)
        yield
        return
    if running > MAX_CONCURRENT or per_minute > MAX_PER_MINUTE:
        with contextlib.suppress(*_REDIS_ERRORS):
            redis.decr(key)
        log.info("console account %s: render refused (%d running, %d this minute)", account, running - 1,
                 per_minute)
        raise RenderBusy(1 if per_minute <= MAX_PER_MINUTE else 60)
    try:
        yield
    finally:
        with contextlib.suppress(*_REDIS_ERRORS):
            redis.decr(key)


def busy_response(exc: RenderBusy) -> Response:
    """429 for an account over its render share (both languages: also shown inside the preview frame)."""
    response = Response(f"{BUSY_ZH}\n{BUSY_EN}\n", status=429, mimetype="text/plain")
    response.headers["Retry-After"] = str(exc.retry_after)
    response.headers["Cache-Control"] = "no-store"
    return response
