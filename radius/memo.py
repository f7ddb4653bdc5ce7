"""A bounded per-worker memo of a pure function: the RADIUS workers remember what they derive
from request text that repeats (User-Name spellings, MACs, Called-Station-Ids, a session's NAS
identifiers), since deriving it per request was a measurable share of the CPU per request
(docs/benchmarks.md). Bounded by clearing the whole memo when it is full: an attacker sending
ever-new values costs a re-derivation, never memory.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

__all__ = ["memo"]

_CACHE_MAX = 50_000   # entries per memo (cleared when full)


def memo(cache: dict[Any, Any], fn: Callable[[Any], Any], arg: Any) -> Any:
    """``fn(arg)``, remembered in ``cache`` (bounded: cleared when full)."""
    try:
        return cache[arg]
    except KeyError:
        pass
    if len(cache) >= _CACHE_MAX:
        cache.clear()
    value = cache[arg] = fn(arg)
    return value
