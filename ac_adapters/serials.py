"""SerialNo allocation for one portal-client socket (``docs/protocols/portal-protocol.md`` §1.6).

The AC echoes our SerialNo in its reply, and the client matches replies by (AC address,
SerialNo, reply type, user IP). A SerialNo therefore only has to be unique among the requests
*in flight on one socket*: replies go back to the source port of the request, so two processes
(each with its own socket and port) can never receive each other's replies even when they use
the same number. ACs do not key sessions by SerialNo (EAG keys by UserIP + ReqID), so no
cross-process coordination is needed. We still start at a random point (TXP) so that numbers
from different processes and restarts rarely coincide, which keeps AC-side logs readable and
avoids trouble with any AC that deduplicates retransmissions by (source IP, SerialNo).

Numbers are handed out sequentially from the random start, skipping 0 (several implementations
treat SerialNo 0 as "unsolicited", e.g. EAG's NTF_LOGOUT) and any number still in use, so a
released number is only reused after the other 65 534 have been — a late reply to an old request
cannot be mistaken for the answer to a new one.
"""

from __future__ import annotations

import secrets
import threading

from ac_adapters.errors import PortalError

__all__ = ["SerialAllocator", "SerialsExhausted"]

_MAX = 0xFFFF


class SerialsExhausted(PortalError):
    """All 65 535 SerialNos are in flight on this socket (more concurrency than the protocol allows)."""

    code = "serials_exhausted"


class SerialAllocator:
    """Thread-safe allocator of 16-bit SerialNos, unique among those not yet released."""

    def __init__(self, start: int | None = None) -> None:
        self._next = (secrets.randbelow(_MAX) + 1) if start is None else start
        if not 1 <= self._next <= _MAX:
            raise ValueError(f"start {start} out of range 1..{_MAX}")
        self._in_use: set[int] = set()
        self._lock = threading.Lock()

    def allocate(self) -> int:
        with self._lock:
            if len(self._in_use) >= _MAX:
                raise SerialsExhausted(f"all {_MAX} SerialNos are in flight")
            while True:
                candidate = self._next
                self._next = candidate + 1 if candidate < _MAX else 1     # wrap, skipping 0
                if candidate not in self._in_use:
                    self._in_use.add(candidate)
                    return candidate

    def release(self, serial_no: int) -> None:
        with self._lock:
            self._in_use.discard(serial_no)

    def in_use(self) -> int:
        """How many SerialNos are currently allocated."""
        with self._lock:
            return len(self._in_use)
