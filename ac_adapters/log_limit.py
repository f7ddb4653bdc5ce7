"""Rate-limited logging for code that logs on behalf of packets from the network.

A flood of forged or broken datagrams must not become a flood of log lines: each key (a drop
reason and AC, say) logs its first ``burst`` records per ``window`` seconds; the rest are only
counted, and one line reports how many were held back once the window is over. Keys must come
from a bounded set (reasons × registered ACs), never from a peer's address or payload.
"""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Callable

__all__ = ["LogLimiter"]


class LogLimiter:
    """Per-key log budget; thread-safe."""

    def __init__(
        self,
        logger: logging.Logger,
        *,
        burst: int = 5,
        window: float = 10.0,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self.logger = logger
        self.burst = burst
        self.window = window
        self.clock = clock
        self._lock = threading.Lock()
        # key → (window start, records in this window, level of the last held-back record)
        self._windows: dict[str, tuple[float, int, int]] = {}

    def log(self, key: str, level: int, msg: str, *args: object) -> bool:
        """Log unless ``key`` has used its budget; returns whether the record was written."""
        now = self.clock()
        with self._lock:
            start, count, held_level = self._windows.get(key, (now, 0, level))
            if now - start >= self.window:
                self._report(key, count, held_level)
                start, count = now, 0
            self._windows[key] = (start, count + 1, level)
            allowed = count < self.burst
        if allowed:
            self.logger.log(level, msg, *args)
        return allowed

    def flush(self) -> None:
        """Report keys whose window has ended (call periodically, e.g. from a timer loop)."""
        now = self.clock()
        with self._lock:
            for key, (start, count, level) in list(self._windows.items()):
                if now - start >= self.window:
                    self._report(key, count, level)
                    del self._windows[key]

    def _report(self, key: str, count: int, level: int) -> None:
        held = count - self.burst
        if held > 0:
            self.logger.log(level, "%s: %d more like this in %.0f s were not logged", key, held,
                            self.window)
