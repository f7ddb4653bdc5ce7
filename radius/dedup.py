"""RFC 5080 §2.2.2 duplicate detection: a per-worker response cache.

Key: (source IP, source port, Identifier, Request Authenticator, receiving socket). Linux
SO_REUSEPORT hashes UDP by 4-tuple, so an AC's retransmissions reach the worker that saw the
original (docs/protocols/radius.md §1.5) and an in-process cache is enough.

* A retransmission whose bytes equal the cached request gets the cached reply, unprocessed.
* A retransmission whose original is still being processed is dropped (RFC 5080 MUST).
* Same key, different bytes (a forged or corrupted copy) is never answered from the cache.
* Requests that got no reply (e.g. Redis down) leave no entry, so the retry is processed anew.
"""

from __future__ import annotations

import time
from collections import OrderedDict
from collections.abc import Callable
from enum import Enum

__all__ = ["IN_PROGRESS", "REPLAY", "DedupCache", "DedupKey", "Lookup"]

DedupKey = tuple[str, int, int, bytes, int]


class Lookup(Enum):
    NEW = "new"                      # process it
    REPLAY = "replay"                # send the cached reply
    IN_PROGRESS = "in_progress"      # drop: the original is being processed


# The answers of ``lookup`` as globals: reading an Enum member costs ~650 instructions more
# than a global on Python 3.11, and this runs for every datagram.
_NEW, IN_PROGRESS, REPLAY = (Lookup.NEW, None), Lookup.IN_PROGRESS, Lookup.REPLAY


class _Entry:
    __slots__ = ("expires", "reply", "request")

    def __init__(self, request: bytes, expires: float) -> None:
        self.request = request
        self.reply: bytes | None = None
        self.expires = expires


class DedupCache:
    """Bounded LRU of recent requests and their replies (entries live ``ttl`` seconds)."""

    def __init__(self, ttl: float = 30.0, max_entries: int = 65536,
                 clock: Callable[[], float] = time.monotonic) -> None:
        self.ttl = ttl
        self.max_entries = max_entries
        self.clock = clock
        self._entries: OrderedDict[DedupKey, _Entry] = OrderedDict()   # oldest first
        self._next_sweep = 0.0

    def __len__(self) -> int:
        return len(self._entries)

    def lookup(self, key: DedupKey, request: bytes) -> tuple[Lookup, bytes | None]:
        """Classify a request; for ``REPLAY`` the cached reply is returned too."""
        entry = self._entries.get(key)
        if entry is None:
            return _NEW
        if entry.expires < self.clock() or entry.request != request:
            return _NEW
        if entry.reply is None:
            return IN_PROGRESS, None
        return REPLAY, entry.reply

    def begin(self, key: DedupKey, request: bytes) -> None:
        """Mark a request as being processed (replaces any older entry under the key)."""
        now = self.clock()
        entries = self._entries
        if key in entries:
            entries.move_to_end(key)      # a replaced entry moves to the young end
        entries[key] = _Entry(request, now + self.ttl)
        # Expired entries are swept about once a second, not per request: a lookup checks
        # expiry itself, so a stale entry is never replayed, only occupies memory briefly.
        # (An OrderedDict, not a dict: removing from the old end of a plain dict leaves holes
        # that every later "oldest" lookup scans over.)
        if len(entries) > self.max_entries or now >= self._next_sweep:
            self._next_sweep = now + 1.0
            while entries:
                oldest = next(iter(entries.values()))
                if oldest.expires >= now and len(entries) <= self.max_entries:
                    break
                entries.popitem(last=False)

    def finish(self, key: DedupKey, reply: bytes) -> None:
        """Store the reply that was sent, for retransmissions."""
        entry = self._entries.get(key)
        if entry is not None:
            entry.reply = reply

    def abort(self, key: DedupKey) -> None:
        """Forget a request that got no reply, so its retransmission is processed again."""
        self._entries.pop(key, None)
