"""Per-process counters: packets in/out, drops by reason, rejects by reason.

Each worker writes its ``snapshot()`` to the run's snapshot directory and the parent process
serves their sum on /metrics (``portal.metrics_http``); the reject counts also feed the NOC's live
figures (``portal.livestats``).
Counter names are dotted: ``drop.<reason>``, ``reject.<reason>``, ``auth.accept`` …
"""

from __future__ import annotations

from collections import Counter

__all__ = ["Metrics"]


class Metrics:
    """A dict of monotonically increasing counters (one instance per worker process)."""

    __slots__ = ("_counts",)

    def __init__(self) -> None:
        self._counts: Counter[str] = Counter()

    def inc(self, name: str, n: int = 1) -> None:
        self._counts[name] += n

    def get(self, name: str) -> int:
        return self._counts.get(name, 0)

    def snapshot(self) -> dict[str, int]:
        """A copy of every counter, sorted by name."""
        return dict(sorted(self._counts.items()))

    def total(self, prefix: str) -> int:
        """Sum of the counters whose name starts with ``prefix`` (e.g. ``"drop."``)."""
        return sum(v for k, v in self._counts.items() if k.startswith(prefix))
