"""Telling an AC's retransmission from a new event that happens to be byte-identical.

An AC re-sends an unanswered NTF_LOGOUT (and 0x30) every 2 s up to its retry count (spec §1.9),
so the listener remembers what it handled, per (AC, datagram bytes), for the retransmission
window, and answers a repeat from memory without handling it again. Bytes alone do not identify
an event, though: an EAG-style AC sends every NTF_LOGOUT with SerialNo 0 and ReqID 0 (§1.6), so
kick → re-login → kick of one user within the window gives two identical datagrams. A repeat of
a session-ending message is therefore a retransmission only while the login the first one ended
is still the last one (the handler's session marker is unchanged, or there is none).
"""

from __future__ import annotations

import threading
import time
from collections import OrderedDict
from collections.abc import Callable
from dataclasses import dataclass

__all__ = ["RetransmitCache", "Seen", "same_event"]

Key = tuple[str, bytes]         # (AC name, digest of the datagram)


@dataclass(frozen=True, slots=True)
class Seen:
    """A handled datagram: until when a repeat may be a retransmission, our answer, and the
    session marker read before the first one was handled."""

    expires: float
    reply: bytes | None
    marker: str | None


def same_event(seen: Seen, marker_now: str | None) -> bool:
    """Whether a repeat is the retransmission of ``seen``: no login newer than the one the first
    datagram ended has come online since."""
    return marker_now is None or marker_now == seen.marker


class RetransmitCache:
    """Handled datagrams for ``window`` seconds, at most ``max_entries`` (oldest go first), so a
    flood of distinct datagrams costs bounded memory."""

    def __init__(
        self, window: float, *, max_entries: int = 10_000, clock: Callable[[], float] = time.monotonic
    ) -> None:
        self.window = window
        self.max_entries = max_entries
        self.clock = clock
        self._lock = threading.Lock()
        self._seen: OrderedDict[Key, Seen] = OrderedDict()

    def get(self, key: Key) -> Seen | None:
        now = self.clock()
        with self._lock:
            self._expire(now)
            seen = self._seen.get(key)
        return seen if seen is not None and seen.expires > now else None

    def put(self, key: Key, reply: bytes | None, marker: str | None) -> None:
        with self._lock:
            self._seen.pop(key, None)       # re-insert at the end: insertion order = expiry order
            self._seen[key] = Seen(self.clock() + self.window, reply, marker)
            self._expire(self.clock())

    def __len__(self) -> int:
        with self._lock:
            return len(self._seen)

    def _expire(self, now: float) -> None:
        while self._seen:
            oldest_key, oldest = next(iter(self._seen.items()))
            if oldest.expires > now and len(self._seen) <= self.max_entries:
                return
            del self._seen[oldest_key]
