"""Per-process counters: packets in/out, drops by reason, rejects by reason.

Each worker writes its ``snapshot()`` to the run's snapshot directory and the parent process
serves their sum on /metrics (``portal.runtime.metrics_http``); the reject counts also feed the NOC's live
figures (``portal.noc.livestats``).
Counter names are dotted: ``drop.<reason>``, ``reject.<reason>``, ``auth.accept`` …

Refusals are also tallied by (reason, AC, Called-Station-Id) in ``refusals``, apart from the
counters (no per-AC or per-SSID label on /metrics): the tick drains them into the daily report
figures per venue, AC and SSID (``portal.commands.radius``, ``portal.noc.livestats.RejectFlusher``).
"""

from __future__ import annotations

from collections import Counter

__all__ = ["Metrics"]


class Metrics:
    """A dict of monotonically increasing counters (one instance per worker process)."""

    __slots__ = ("_counts", "refusals")

    def __init__(self) -> None:
        self._counts: Counter[str] = Counter()
        self.refusals: Counter[tuple[str, str, str]] = Counter()

    def inc(self, name: str, n: int = 1) -> None:
        self._counts[name] += n

    def refused(self, reason: str, ac: str, called_station: str | None) -> None:
        """An Access-Reject for ``reason`` to a request from ``ac`` (its Called-Station-Id)."""
        self._counts["reject." + reason] += 1
        self.refusals[(reason, ac, called_station or "")] += 1

    def drain_refusals(self) -> Counter[tuple[str, str, str]]:
        """The refusals tallied since the last call (and a fresh tally)."""
        out, self.refusals = self.refusals, Counter()
        return out

    def get(self, name: str) -> int:
        return self._counts.get(name, 0)

    def snapshot(self) -> dict[str, int]:
        """A copy of every counter, sorted by name."""
        return dict(sorted(self._counts.items()))

    def total(self, prefix: str) -> int:
        """Sum of the counters whose name starts with ``prefix`` (e.g. ``"drop."``)."""
        return sum(v for k, v in self._counts.items() if k.startswith(prefix))
