"""LiveStats on real Redis with a controllable clock: per-minute buckets, windows, SMS month
against budget, online users from the session registry, the RADIUS reject flusher."""

from __future__ import annotations

from typing import Any

import redis
from hypothesis import given, settings
from hypothesis import strategies as st

from portal.aaa.acs import AcRecord, AcRegistry
from portal.aaa.sessions import OnlineSession, SessionRegistry
from portal.noc.livestats import MINUTE_TTL, LiveStats, RejectFlusher
from portal.state import keys
from portal.venues.venue_store import Venue, VenueStore

T0 = 1_763_700_000.0 - (1_763_700_000 % 60)   # a minute boundary (2025-11-21 04:40 UTC)


class Clock:
    def __init__(self, t: float = T0) -> None:
        self.t = t

    def __call__(self) -> float:
        return self.t


def test_logins_are_bucketed_per_minute_and_window_counts(redis_client: Any) -> None:
    clock = Clock()
    stats = LiveStats(redis_client, clock)
    stats.record_login("sms", "library")
    stats.record_login("sms", "library")
    clock.t += 60
    stats.record_login("returning", "station")
    clock.t += 125          # two minutes later, 5 s into the minute
    stats.record_login("silent", "library")
    snap = stats.snapshot(5)
    assert snap["minutes"] == 5 and len(snap["labels"]) == 5
    # minutes T0-1 … T0+3 (the current one last)
    assert snap["logins"]["sms"] == [0, 2, 0, 0, 0]
    assert snap["logins"]["returning"] == [0, 0, 1, 0, 0]
    assert snap["logins"]["silent"] == [0, 0, 0, 0, 1]
    assert snap["logins"]["total"] == [0, 2, 1, 0, 1]
    assert snap["logins_window"] == {"total": 4, "sms": 2, "returning": 1, "silent": 1}
    assert snap["logins_by_venue"] == {"library": 3, "station": 1}
    assert snap["minute_starts"][-1] == int(clock.t // 60) * 60
    # An unknown kind never creates a new series (bounded label values).
    stats.record_login("weird", "library")
    assert set(stats.snapshot(1)["logins"]) == {"sms", "returning", "silent", "total"}
    # Older minutes fall out of a short window; totals keep everything.
    assert stats.snapshot(1)["logins_window"]["sms"] == 0
    assert stats.totals()["login:sms"] == 2
    # Minute buckets expire.
    ttl = redis_client.ttl(keys.stats_minute(int(T0 // 60)))
    assert 0 < ttl <= MINUTE_TTL


def test_codes_and_sms_spend_against_budget(redis_client: Any) -> None:
    clock = Clock()
    stats = LiveStats(redis_client, clock, price_fen=5, budget_fen_per_month=1000, tz="Asia/Shanghai")
    stats.record_codes("sent", 3)
    stats.record_codes("failed")
    stats.record_codes("delivered", 2)
    stats.record_codes("undelivered")
    stats.record_codes("bogus", 7)       # ignored
    snap = stats.snapshot(2)
    assert snap["codes_window"] == {"sent": 3, "failed": 1, "delivered": 2, "undelivered": 1}
    assert snap["codes"]["sent"] == [0, 3]
    assert snap["sms"] == {"month": "2025-11", "sent": 3, "spent_fen": 15, "budget_fen": 1000,
                           "price_fen": 5, "budget_used": 0.015}
    assert stats.totals()["fen"] == 15
    # The month is local (Asia/Shanghai): 2025-11-30 16:00 UTC is already December there.
    clock.t = 1_764_518_400.0        # 2025-11-30T16:00:00Z
    assert stats.sms_month()["month"] == "2025-12" and stats.sms_month()["spent_fen"] == 0
    assert LiveStats(redis_client, clock).sms_month()["budget_used"] is None   # no budget set


def test_online_now_total_per_ac_and_per_venue(redis_client: Any) -> None:
    registry = AcRegistry(redis_client)
    for name, addr in (("ac1", "10.0.0.1"), ("ac2", "10.0.0.2"), ("ac3", "10.0.0.3")):
        registry.put(AcRecord(name=name, addresses=(addr,), secret="s3cret-for-tests-16"))
    venues = VenueStore(redis_client, cache_ttl=0)
    venues.put(Venue(id="library", acs=("ac1", "ac2")))
    venues.put(Venue(id="mall", acs=("ac1",), ssids=("Mall",)))
    sessions = SessionRegistry(redis_client)
    # Where each session started, as accounting records it: ac1 serves two venues by SSID.
    for i, (ac, venue) in enumerate([("ac1", "library"), ("ac1", "mall"), ("ac2", "library"),
                                     ("ac3", "none")]):
        sessions.open(OnlineSession(ac=ac, session_id=f"s{i}", phone=f"1380013800{i}", started=int(T0),
                                    updated=int(T0), venue=venue))
    online = LiveStats(redis_client, Clock()).online()
    assert online["total"] == 4
    assert online["by_ac"] == {"ac1": 2, "ac2": 1, "ac3": 1}
    assert online["by_venue"] == {"library": 2, "mall": 1, "none": 1}
    sessions.close("ac1", "s0")
    after = LiveStats(redis_client, Clock()).snapshot(1)["online"]
    assert after["by_ac"]["ac1"] == 1 and after["by_venue"] == {"library": 1, "mall": 1, "none": 1}


def test_reject_flusher_writes_deltas_once_per_interval_and_survives_errors(redis_client: Any) -> None:
    clock = Clock()
    mono = Clock(0.0)
    counts = {"reject.blocked": 2, "reject.invalid_credential": 1, "auth.accept": 50}
    flusher = RejectFlusher(LiveStats(redis_client, clock), lambda: counts, interval=1.0, clock=mono)
    flusher.tick()
    assert LiveStats(redis_client, clock).snapshot(1)["rejects_window"] == {
        "blocked": 2, "invalid_credential": 1}
    counts["reject.blocked"] = 5
    flusher.tick()               # within the interval: nothing written
    assert LiveStats(redis_client, clock).totals()["reject:blocked"] == 2
    mono.t += 1.5
    flusher.tick()
    assert LiveStats(redis_client, clock).totals()["reject:blocked"] == 5
    assert "reject:auth.accept" not in LiveStats(redis_client, clock).totals()

    class Broken:
        def record_rejects(self, counts: Any) -> None:
            raise ConnectionError("redis gone")

    broken = RejectFlusher(Broken(), lambda: counts, clock=mono)   # type: ignore[arg-type]
    broken.tick(force=True)      # no exception; deltas kept for the next try
    assert broken._sent == {}


@settings(max_examples=25, deadline=None)
@given(st.lists(st.tuples(st.integers(0, 9), st.sampled_from(["sms", "returning", "silent"])), max_size=30))
def test_window_sum_equals_what_was_recorded(redis_server: Any, events: list[tuple[int, str]]) -> None:
    client = redis.Redis.from_url(redis_server.url)
    try:
        client.flushdb()
        clock = Clock()
        stats = LiveStats(client, clock)
        for minute, kind in sorted(events):
            clock.t = T0 + minute * 60 + 30
            stats.record_login(kind, "v")
        clock.t = T0 + 9 * 60 + 59
        snap = stats.snapshot(10)
        assert snap["logins_window"]["total"] == len(events)
        for minute in range(10):
            assert snap["logins"]["total"][minute] == sum(1 for m, _ in events if m == minute)
    finally:
        client.close()
