"""Campaign selection (pure): schedule, targeting, caps, priority, weights; parsing/validation."""

from __future__ import annotations

from datetime import date, datetime, timedelta
from random import Random

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from ad_pages import DEFAULT_AD, campaign_ad, select_ad
from ad_pages.campaigns import (
    Campaign,
    CampaignInvalid,
    Creative,
    Schedule,
    campaign_to_dict,
    eligible,
    format_hours,
    parse_campaign,
    parse_hours,
    select_campaign,
)

IMG = Creative("image", "/assets/lib/banner.png", "https://shop.example.cn/x")
NOW = datetime(2026, 5, 10, 14, 30)


def camp(cid: str, **kw: object) -> Campaign:
    return Campaign(id=cid, name=cid, creative=IMG, **kw)  # type: ignore[arg-type]


def pick(campaigns: list[Campaign], now: datetime = NOW, seen: dict[str, int] | None = None,
         venue: str = "lib", ssid: str = "CityWiFi", seed: int = 1) -> Campaign | None:
    return select_campaign(campaigns, venue=venue, ssid=ssid, now=now, phone_impressions=seen or {},
                           rng=Random(seed))


def test_schedule_dates_and_hours() -> None:
    s = Schedule(date(2026, 5, 1), date(2026, 5, 10), parse_hours("09:00-12:00, 14:00-15:00"))
    assert s.contains(NOW)
    assert not s.contains(NOW.replace(hour=13))
    assert not s.contains(NOW + timedelta(days=1))
    assert not s.contains(datetime(2026, 4, 30, 10, 0))
    assert s.contains(datetime(2026, 5, 1, 9, 0)) and not s.contains(datetime(2026, 5, 1, 12, 0))
    night = Schedule(hours=parse_hours("22:00-02:00"))
    assert night.contains(datetime(2026, 1, 1, 23, 59)) and night.contains(datetime(2026, 1, 1, 1, 0))
    assert not night.contains(datetime(2026, 1, 1, 2, 0))
    assert Schedule(hours=parse_hours("18:00-24:00")).contains(datetime(2026, 1, 1, 23, 59))
    assert format_hours(parse_hours("9:05-12:00;22:00-02:00")) == ["09:05-12:00", "22:00-02:00"]
    for bad in ("9-12", "25:00-26:00", "10:00-10:00", "10:60-11:00"):
        with pytest.raises(ValueError):
            parse_hours(bad)


def test_priority_targeting_cap_and_fallback() -> None:
    low, high = camp("low"), camp("high", priority=5)
    assert pick([low, high]) == high
    assert pick([low, high], seen={"high": 2}) == high
    capped = camp("high", priority=5, frequency_cap=2)
    assert pick([low, capped], seen={"high": 2}) == low          # capped → next priority
    assert pick([camp("x", venues=("mall",))]) is None
    assert pick([camp("x", ssids=("Other",))]) is None
    assert pick([camp("x", venues=("lib",), ssids=("CityWiFi",))]) is not None
    assert pick([camp("x", enabled=False)]) is None
    fallback = camp("operator")
    assert select_campaign([], venue="v", ssid="", now=NOW, phone_impressions={}, rng=Random(0),
                           fallback=fallback) is fallback


def test_same_seed_same_choice_whatever_the_order() -> None:
    cs = [camp(f"c{i}", weight=i + 1) for i in range(6)]
    assert all(pick(cs, seed=s) == pick(list(reversed(cs)), seed=s) for s in range(50))


schedules = st.builds(
    Schedule,
    st.none() | st.dates(date(2026, 1, 1), date(2026, 12, 31)),
    st.none() | st.dates(date(2026, 1, 1), date(2026, 12, 31)),
    st.lists(st.tuples(st.integers(0, 1439), st.integers(0, 1439)).filter(lambda t: t[0] != t[1]),
             max_size=3).map(tuple),
)
campaign_lists = st.lists(
    st.builds(lambda i, s, p, w, cap, on: Campaign(f"c{i}", "n", IMG, s, weight=w, priority=p,
                                                   frequency_cap=cap, enabled=on),
              st.integers(0, 5), schedules, st.integers(0, 3), st.integers(1, 50), st.integers(0, 3),
              st.booleans()),
    max_size=6, unique_by=lambda c: c.id)


@settings(max_examples=150, deadline=None)
@given(campaign_lists, st.datetimes(datetime(2026, 1, 1), datetime(2026, 12, 31, 23, 59)),
       st.dictionaries(st.sampled_from([f"c{i}" for i in range(6)]), st.integers(0, 4)), st.integers(0, 99))
def test_never_outside_schedule_never_over_cap(campaigns: list[Campaign], now: datetime,
                                               seen: dict[str, int], seed: int) -> None:
    chosen = pick(campaigns, now=now, seen=seen, seed=seed)
    ok = [c for c in campaigns if eligible(c, venue="lib", ssid="CityWiFi", now=now, phone_impressions=seen)]
    if chosen is None:
        assert not ok
        return
    assert chosen.enabled and chosen.schedule.contains(now)
    assert chosen.frequency_cap == 0 or seen.get(chosen.id, 0) < chosen.frequency_cap
    assert chosen.priority == max(c.priority for c in ok)


@settings(max_examples=8, deadline=None)
@given(st.lists(st.integers(1, 20), min_size=2, max_size=4), st.integers(0, 2**32))
def test_weights_respected_statistically(weights: list[int], seed: int) -> None:
    cs = [camp(f"c{i}", weight=w) for i, w in enumerate(weights)]
    rng = Random(seed)
    n = 6000
    counts = {c.id: 0 for c in cs}
    for _ in range(n):
        chosen = select_campaign(cs, venue="lib", ssid="", now=NOW, phone_impressions={}, rng=rng)
        assert chosen is not None
        counts[chosen.id] += 1
    total = sum(weights)
    for c in cs:
        p = c.weight / total
        sigma = (n * p * (1 - p)) ** 0.5
        assert abs(counts[c.id] - n * p) < 5 * sigma + 1, (counts, weights)


def test_parse_round_trip_and_per_field_errors() -> None:
    c = parse_campaign({"id": "spring", "name": "春季 <b>", "venues": "lib, mall", "ssids": ["CityWiFi"],
                        "weight": "3", "priority": 2, "frequency_cap": "4", "enabled": "on",
                        "creative": {"kind": "image", "image": "/assets/lib/a.png",
                                     "click_url": "https://shop.example.cn/?a=1"},
                        "schedule": {"start": "2026-05-01", "end": "2026-05-31", "hours": "09:00-18:00"}})
    assert c.venues == ("lib", "mall") and c.weight == 3 and c.frequency_cap == 4 and c.enabled
    assert parse_campaign(campaign_to_dict(c)) == c
    with pytest.raises(CampaignInvalid) as info:
        parse_campaign({"id": "../x", "name": "", "weight": 0, "priority": "x",
                        "creative": {"kind": "image", "image": "https://evil.example/x.png",
                                     "click_url": "javascript:alert(1)"},
                        "schedule": {"start": "2026-05-31", "end": "2026-05-01", "hours": "9-5"}})
    errs = info.value.errors
    assert set(errs) >= {"id", "name", "weight", "priority", "image", "click_url", "end", "hours"}
    assert all(zh and en for zh, en in errs.values())
    for bad in ("//evil.example/a.png", "/a\\b", "https://x/a.png", "/x:y", "/portal/logout",
                "/assets/../x", "/assets/lib/..", "/assets/lib/a.png?next=//evil", "javascript:alert(1)"):
        with pytest.raises(CampaignInvalid):
            parse_campaign({"id": "a", "name": "a", "creative": {"kind": "image", "image": bad}})
    for bad_click in ("http://user@evil/", "https://a/\\b", "ftp://a/"):
        with pytest.raises(CampaignInvalid):
            creative = {"kind": "image", "image": "/assets/lib/a.png", "click_url": bad_click}
            parse_campaign({"id": "a", "name": "a", "creative": creative})
    html = parse_campaign({"id": "h", "name": "h", "creative": {"kind": "html", "html": "<p>{{ venue }}</p>",
                                                                "image": "/assets/lib/ignored.png"}})
    assert html.creative.image == "" and html.creative.html


def test_ad_dicts_have_the_same_keys() -> None:
    a = campaign_ad(camp("x"), click="/portal/ad/click/x?t=1")
    b = select_ad([], 0, "zh")
    assert set(a) == set(b) and b["id"] == DEFAULT_AD["id"]
    assert a["click"].startswith("/portal/ad/click/") and a["campaign"] == "x" and a["image"]
    no_click = campaign_ad(Campaign("y", "y", Creative("image", "/assets/lib/a.png")),
                           click="/portal/ad/click/y")
    assert no_click["click"] == ""
