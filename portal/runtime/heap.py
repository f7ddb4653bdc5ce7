"""The garbage collector and long-running servers: what a process built to serve (modules, its
app or server, caches) lives as long as the process, so once built it is frozen out of the
collector's sight (``gc.freeze``).

Why: CPython starts a full collection whenever the objects promoted to the oldest generation
since the last one exceed a quarter of that generation. In a busy server the objects of
requests in flight are promoted at every young collection and die soon after, so full
collections keep coming while nothing grows, and each walks every object of the process with
all its threads stopped: 80–140 ms per web worker (≈ 87,000 objects), 183 ms in RADIUS and
83 ms in the sms-worker in a 5,000-login run, the morning ramp's tail (docs/benchmarks.md).
Frozen objects are still freed by reference counting; garbage left from start-up is collected
first so none is kept for good. Only what start-up built is frozen: later objects are
collected as before.
"""

from __future__ import annotations

import gc
import logging

__all__ = ["freeze_start_up_heap"]

log = logging.getLogger("citywifi.runtime")


def freeze_start_up_heap(process: str) -> int:
    """Collect, then freeze everything alive: call once, when ``process`` has built what it
    serves with (after the fork, where there is one). Returns the number of objects frozen."""
    gc.collect()
    gc.freeze()
    frozen = gc.get_freeze_count()
    log.info("%s: %d start-up objects frozen out of the garbage collector's full collections",
             process, frozen)
    return frozen
