"""Live figures for the NOC dashboard and the fleet counters on /metrics, kept in Redis.

Every process writes where things happen, with cheap pipelined HINCRBYs on one hash tag
(``{stats}``, keys in :mod:`portal.state.keys`):

* ``stats_minute(epoch // 60)`` — one hash per UTC minute, TTL :data:`MINUTE_TTL`: logins by
  kind (``login:sms|returning|silent``) and by venue (``lv:<venue>``), SMS codes by outcome
  (``code:sent|failed|delivered|undelivered``), SMS spend (``fen``) and RADIUS rejects by reason
  (``reject:<reason>``);
* ``stats_month("YYYY-MM")`` — SMS messages and spend of one local month (the budget figure);
* ``stats_totals()`` — lifetime fleet counters (same fields, no venues) for Prometheus;
* ``keys_reports.report_counts(quarter)`` — SMS and refusal figures by venue, AC and SSID for the
  daily reports (portal/reports/counts.py), when the writer knows the place.

Label values are bounded: login kinds and code outcomes are fixed sets, reject reasons come from
the RADIUS policy's own table, venues are created by administrators. Phones and MACs never
appear. Online users are not counted here but read from the session registry on demand
(:meth:`LiveStats.online`), so they cannot drift.

RADIUS adds nothing to its hot path: its workers already count rejects in-process
(``radius.metrics``) and :class:`RejectFlusher` copies the deltas here once a second.
"""

from __future__ import annotations

import logging
import time
from collections import Counter
from collections.abc import Callable, Mapping
from datetime import datetime
from typing import Any
from zoneinfo import ZoneInfo

from portal.reports.counts import COUNTS_TTL, QUARTER_MS, Place, field, sms_figures
from portal.state import keys
from portal.state import keys_reports as rk

__all__ = [
    "CODE_OUTCOMES",
    "LOGIN_KINDS",
    "MINUTE_TTL",
    "LiveStats",
    "RejectFlusher",
]

log = logging.getLogger(__name__)

LOGIN_KINDS = ("sms", "returning", "silent")
CODE_OUTCOMES = ("sent", "failed", "delivered", "undelivered")
MINUTE_TTL = 26 * 3600          # a day of minutes (+ slack) for the dashboard's longest window
MONTH_TTL = 40 * 86400
MAX_MINUTES = 24 * 60


def _s(value: Any) -> str:
    return value.decode() if isinstance(value, bytes) else str(value)


class LiveStats:
    """Writers (``record_*``, or ``*_in(pipe, …)`` to ride on a caller's pipeline) and the
    dashboard's reader :meth:`snapshot`. ``clock`` is epoch seconds (tests pass their own)."""

    def __init__(self, redis: Any, clock: Callable[[], float] = time.time, *,
                 price_fen: int = 4, budget_fen_per_month: int = 0,
                 tz: str = "Asia/Shanghai", venues: Any = None, acs: Any = None) -> None:
        self.redis = redis
        self.clock = clock
        self.price_fen = price_fen
        self.budget_fen_per_month = budget_fen_per_month
        self.tz = ZoneInfo(tz)
        self._venues = venues     # portal.venues.venue_store.VenueStore (built lazily when None)
        self._acs = acs           # portal.aaa.acs.AcRegistry

    @classmethod
    def from_settings(cls, redis: Any, settings: Any, clock: Callable[[], float] = time.time) -> LiveStats:
        return cls(redis, clock, price_fen=settings.sms.price_fen,
                   budget_fen_per_month=settings.sms.budget_fen_per_month, tz=settings.quota.timezone)

    # --- writers -----------------------------------------------------------------------------

    def _month(self, now: float) -> str:
        return datetime.fromtimestamp(now, self.tz).strftime("%Y-%m")

    def _bump_in(self, pipe: Any, now: float, fields: Mapping[str, int], *,
                 venue_field: str | None = None) -> None:
        minute = keys.stats_minute(int(now // 60))
        for name, n in fields.items():
            pipe.hincrby(minute, name, n)
            pipe.hincrby(keys.stats_totals(), name, n)
        if venue_field is not None:
            pipe.hincrby(minute, venue_field, 1)
        pipe.expire(minute, MINUTE_TTL)

    def login_in(self, pipe: Any, kind: str, venue: str) -> None:
        """Queue "a phone logged in" (``kind`` sms/returning/silent) on ``pipe``."""
        if kind not in LOGIN_KINDS:
            kind = "silent"
        self._bump_in(pipe, self.clock(), {f"login:{kind}": 1}, venue_field=f"lv:{venue}")

    def record_login(self, kind: str, venue: str) -> None:
        pipe = self.redis.pipeline(transaction=False)
        self.login_in(pipe, kind, venue)
        pipe.execute()

    def _places_in(self, pipe: Any, now: float, counts: Mapping[tuple[str, Place], int]) -> None:
        """Queue report counts by place: (figure, (venue, AC, SSID)) → n."""
        fields = {field(figure, place): n for (figure, place), n in counts.items() if n > 0}
        if fields:
            bucket = rk.report_counts(int(now * 1000) // QUARTER_MS)
            for name, n in fields.items():
                pipe.hincrby(bucket, name, n)
            pipe.expire(bucket, COUNTS_TTL)

    def record_codes(self, outcome: str, n: int = 1, place: Place | None = None) -> None:
        """SMS codes: ``sent`` (accepted by a gateway; adds ``price_fen`` each to the spend),
        ``failed``, ``delivered`` or ``undelivered`` (delivery reports). ``place``: the venue,
        AC and SSID of the login the code was for (the daily reports split by them)."""
        if outcome not in CODE_OUTCOMES or n <= 0:
            return
        now = self.clock()
        pipe = self.redis.pipeline(transaction=False)
        # Every code counts in the reports; one whose login is not known (a delivery report
        # for a job already gone) under an unknown place, so the day's total stays whole.
        where = place or ("", "", "")
        self._places_in(pipe, now, {(figure, where): k for figure, k in
                                    sms_figures(outcome, n, self.price_fen).items()})
        fields = {f"code:{outcome}": n}
        if outcome == "sent":
            fields["fen"] = n * self.price_fen
            month = keys.stats_month(self._month(now))
            pipe.hincrby(month, "sent", n)
            pipe.hincrby(month, "fen", n * self.price_fen)
            pipe.expire(month, MONTH_TTL)
        self._bump_in(pipe, now, fields)
        pipe.execute()

    def record_rejects(self, counts: Mapping[str, int],
                       places: Mapping[tuple[str, Place], int] | None = None) -> None:
        """RADIUS rejects by reason (deltas), and by reason and place (reason, (venue, AC,
        SSID)) → n for the daily reports, one pipeline."""
        fields = {f"reject:{reason}": n for reason, n in counts.items() if n > 0}
        placed = {(f"refused:{reason}", place): n for (reason, place), n in (places or {}).items()}
        if not fields and not placed:
            return
        now = self.clock()
        pipe = self.redis.pipeline(transaction=False)
        if fields:
            self._bump_in(pipe, now, fields)
        self._places_in(pipe, now, placed)
        pipe.execute()

    # --- readers -----------------------------------------------------------------------------

    def totals(self) -> dict[str, int]:
        """Lifetime fleet counters: ``login:<kind>``, ``code:<outcome>``, ``reject:<reason>``, ``fen``."""
        return {_s(k): int(v) for k, v in self.redis.hgetall(keys.stats_totals()).items()}

    def online(self) -> dict[str, Any]:
        """Online users now from the session registry: total, per AC, per venue.

        Per venue counts each session where it started (accounting records the venue from the
        AC, SSID and AP of the Accounting-Start and keeps a per-venue index), so an AC shared by
        several venues is split correctly. Sessions recorded before venues were (none after a
        session lifetime) count in the total only."""
        from portal.aaa.acs import AcRegistry
        from portal.venues.venue_store import FALLBACK, VenueStore

        acs = self._acs = self._acs or AcRegistry(self.redis)
        venues = self._venues = self._venues or VenueStore(self.redis)
        names = acs.names()
        venue_ids = [*sorted(venues.all()), FALLBACK.id]
        pipe = self.redis.pipeline(transaction=False)
        pipe.zcard(keys.session_deadlines())
        for name in names:
            pipe.hlen(keys.ac_sessions(name))
        for venue in venue_ids:
            pipe.hlen(keys.venue_sessions(venue))
        total, *counts = pipe.execute()
        by_ac = {name: int(n) for name, n in zip(names, counts[:len(names)], strict=True)}
        by_venue = {v: int(n) for v, n in zip(venue_ids, counts[len(names):], strict=True) if int(n)}
        return {"total": int(total), "by_ac": by_ac, "by_venue": by_venue}

    def sms_month(self) -> dict[str, Any]:
        now = self.clock()
        month = self._month(now)
        raw = {_s(k): int(v) for k, v in self.redis.hgetall(keys.stats_month(month)).items()}
        spent = raw.get("fen", 0)
        budget = self.budget_fen_per_month
        return {"month": month, "sent": raw.get("sent", 0), "spent_fen": spent,
                "budget_fen": budget, "price_fen": self.price_fen,
                "budget_used": round(spent / budget, 4) if budget > 0 else None}

    def snapshot(self, minutes: int = 60) -> dict[str, Any]:
        """Everything the dashboard shows, as plain JSON: per-minute series (oldest first, the
        current partial minute last), window totals, SMS month against budget, online now."""
        minutes = max(1, min(int(minutes), MAX_MINUTES))
        now = self.clock()
        last = int(now // 60)
        starts = list(range(last - minutes + 1, last + 1))
        pipe = self.redis.pipeline(transaction=False)
        for m in starts:
            pipe.hgetall(keys.stats_minute(m))
        buckets = [{_s(k): int(v) for k, v in raw.items()} for raw in pipe.execute()]

        def series(field: str) -> list[int]:
            return [b.get(field, 0) for b in buckets]

        logins = {kind: series(f"login:{kind}") for kind in LOGIN_KINDS}
        logins_total = [sum(v) for v in zip(*logins.values(), strict=True)]
        codes = {outcome: series(f"code:{outcome}") for outcome in CODE_OUTCOMES}
        reasons = sorted({f[7:] for b in buckets for f in b if f.startswith("reject:")})
        rejects = {reason: series(f"reject:{reason}") for reason in reasons}
        by_venue: dict[str, int] = {}
        for b in buckets:
            for f, n in b.items():
                if f.startswith("lv:"):
                    by_venue[f[3:]] = by_venue.get(f[3:], 0) + n
        labels = [datetime.fromtimestamp(m * 60, self.tz).strftime("%H:%M") for m in starts]
        return {
            "now": now,
            "minutes": minutes,
            "labels": labels,
            "minute_starts": [m * 60 for m in starts],
            "logins": {**logins, "total": logins_total},
            "logins_window": {"total": sum(logins_total),
                              **{kind: sum(v) for kind, v in logins.items()}},
            "logins_by_venue": dict(sorted(by_venue.items())),
            "codes": codes,
            "codes_window": {outcome: sum(v) for outcome, v in codes.items()},
            "rejects": rejects,
            "rejects_window": {reason: sum(v) for reason, v in rejects.items()},
            "sms": self.sms_month(),
            "online": self.online(),
        }


class RejectFlusher:
    """Copies the reject counters a RADIUS worker keeps in-process (``reject.<reason>`` in
    ``radius.metrics.Metrics``) to :class:`LiveStats` as deltas. Call :meth:`tick` from the
    serving loop; it writes at most once per ``interval`` and keeps the deltas if Redis fails."""

    def __init__(self, stats: LiveStats, counters: Callable[[], Mapping[str, int]], *,
                 interval: float = 1.0, clock: Callable[[], float] = time.monotonic,
                 places: Callable[[], Mapping[tuple[str, Place], int]] | None = None) -> None:
        self.stats = stats
        self.counters = counters
        # Drains the worker's refusals by (reason, place) since the last call; kept here
        # until written (portal.commands.radius wires it to radius.metrics.Metrics.drain_refusals).
        self.places = places
        self._placed: Counter[tuple[str, Place]] = Counter()
        self.interval = interval
        self.clock = clock
        self._sent: dict[str, int] = {}
        self._next = 0.0

    def tick(self, force: bool = False) -> None:
        now = self.clock()
        if not force and now < self._next:
            return
        self._next = now + self.interval
        current = {k[7:]: v for k, v in self.counters().items() if k.startswith("reject.")}
        deltas = {r: n - self._sent.get(r, 0) for r, n in current.items() if n != self._sent.get(r, 0)}
        if self.places is not None:
            self._placed.update(self.places())
        if not deltas and not self._placed:
            return
        try:
            self.stats.record_rejects(deltas, self._placed)
        except Exception as exc:   # Redis down: the deltas go out with the next tick
            log.debug("reject figures not written: %s", exc)
            return
        self._sent.update(current)
        self._placed.clear()

