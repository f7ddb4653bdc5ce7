"""CampaignStore on a real Redis: CRUD, per-phone daily caps with TTL to the day end, counters."""

from __future__ import annotations

from datetime import date, datetime
from typing import Any
from zoneinfo import ZoneInfo

import pytest

from ad_pages.campaigns import Campaign, Creative, Schedule
from portal.errors import NotFound, ValidationError
from portal.state import keys
from portal.venues.campaign_store import CampaignStore, StatsRow, daily_totals

TZ = ZoneInfo("Asia/Shanghai")


class Clock:
    def __init__(self, when: datetime) -> None:
        self.t = when.timestamp()

    def __call__(self) -> float:
        return self.t


def camp(cid: str, **kw: Any) -> Campaign:
    return Campaign(cid, cid, Creative("image", "/assets/lib/a.png", "https://shop.example.cn/"), **kw)


def test_crud_and_list_by_venue(redis_client: Any) -> None:
    store = CampaignStore(redis_client)
    a = store.create(camp("a", venues=("lib",)))
    store.create(camp("b"))
    store.create(camp("c", venues=("mall",)))
    assert a.updated_at > 0
    with pytest.raises(ValidationError):
        store.create(camp("a"))
    assert [c.id for c in store.all()] == ["a", "b", "c"]
    assert [c.id for c in store.for_venue("lib")] == ["a", "b"]
    assert not store.set_enabled("a", False).enabled and not store.get("a").enabled
    assert store.delete("a") and not store.delete("a")
    with pytest.raises(NotFound):
        store.get("a")
    redis_client.hset(keys.campaign_defs(), "broken", b"{not json")
    assert [c.id for c in store.all()] == ["b", "c"]


def test_cap_counts_expire_at_the_local_day_end(redis_client: Any) -> None:
    clock = Clock(datetime(2026, 5, 10, 23, 0, tzinfo=TZ))
    store = CampaignStore(redis_client, clock=clock)
    store.create(camp("only", frequency_cap=2))
    phone = "18900000001"
    for _ in range(2):
        chosen = store.choose("lib", "CityWiFi", phone)
        assert chosen is not None
        store.record_impression(chosen.id, "lib", phone)
    assert store.phone_impressions(phone) == {"only": 2}
    assert store.choose("lib", "CityWiFi", phone) is None          # capped today
    assert store.choose("lib", "CityWiFi", "18900000002") is not None
    key = keys.campaign_phone_day(phone, "20260510")
    ttl = redis_client.ttl(key)
    assert 3600 <= ttl <= 3600 + 61 + 5     # local midnight is an hour away (+ a minute slack)
    clock.t += 3601                          # next local day: a fresh allowance
    assert store.choose("lib", "CityWiFi", phone) is not None


def test_schedule_uses_the_operator_timezone(redis_client: Any) -> None:
    # 01:30 UTC is 09:30 in Shanghai: inside 09:00-10:00 local.
    clock = Clock(datetime(2026, 5, 10, 1, 30, tzinfo=ZoneInfo("UTC")))
    store = CampaignStore(redis_client, clock=clock, cache_ttl=0)
    store.create(camp("morning", schedule=Schedule(hours=((540, 600),))))
    assert store.choose("lib", "", "") is not None
    clock.t += 3600
    assert store.choose("lib", "", "") is None
    store.put(camp("morning", schedule=Schedule(date(2026, 1, 1), date(2026, 1, 31))))
    assert store.choose("lib", "", "") is None


def test_counters_per_campaign_venue_and_day(redis_client: Any) -> None:
    clock = Clock(datetime(2026, 5, 10, 12, 0, tzinfo=TZ))
    store = CampaignStore(redis_client, clock=clock)
    store.create(camp("x"))
    for _ in range(3):
        store.record_impression("x", "lib", "18900000001")
    store.record_view("x", "lib")
    store.record_click("x", "mall")
    clock.t += 86400
    store.record_impression("x", "lib")
    rows = store.stats("x", date(2026, 5, 9), date(2026, 5, 12))
    assert rows == [StatsRow(date(2026, 5, 10), "lib", 3, 1, 0), StatsRow(date(2026, 5, 10), "mall", 0, 0, 1),
                    StatsRow(date(2026, 5, 11), "lib", 1, 0, 0)]
    totals = daily_totals(rows, date(2026, 5, 9), date(2026, 5, 12))
    figures = [(r.impressions, r.views, r.clicks) for r in totals]
    assert figures == [(0, 0, 0), (3, 1, 1), (1, 0, 0), (0, 0, 0)]
    assert 0 < redis_client.ttl(keys.campaign_stats("x", "20260510")) <= 400 * 86400
    with pytest.raises(ValidationError):
        store.stats("x", date(2026, 5, 12), date(2026, 5, 9))
    with pytest.raises(ValidationError):
        store.stats("x", date(2020, 1, 1), date(2026, 1, 1))
