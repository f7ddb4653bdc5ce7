"""Usage counters: daily reset at local midnight (configurable zone), totals, first login."""

from __future__ import annotations

import datetime as dt
from typing import Any
from zoneinfo import ZoneInfo

from portal.aaa.usage import UsageBook, day_of, next_midnight

SH = ZoneInfo("Asia/Shanghai")


def _at(y: int, mo: int, d: int, h: int, mi: int = 0, s: int = 0, tz: ZoneInfo = SH) -> float:
    return dt.datetime(y, mo, d, h, mi, s, tzinfo=tz).timestamp()


def test_day_boundaries_follow_the_configured_zone() -> None:
    t = _at(2026, 3, 10, 23, 59, 59)
    assert day_of(t, SH) == "20260310"
    assert day_of(t + 1, SH) == "20260311"
    assert next_midnight(t, SH) == t + 1
    # the same instant is still 10 March afternoon in UTC
    assert day_of(t + 1, ZoneInfo("UTC")) == "20260310"
    # DST zone: the day of a spring-forward is 23 hours long
    ny = ZoneInfo("America/New_York")
    start = _at(2026, 3, 8, 0, tz=ny)
    assert next_midnight(start, ny) - start == 23 * 3600


def test_daily_counters_reset_at_local_midnight_totals_do_not(redis_client: Any) -> None:
    book = UsageBook(redis_client, "Asia/Shanghai")
    evening = _at(2026, 3, 10, 23, 0)
    u = book.add("1380", 600, 5000, evening)
    assert (u.daily_time, u.daily_volume, u.total_time, u.total_volume) == (600, 5000, 600, 5000)
    assert u.first_login == evening
    after_midnight = _at(2026, 3, 11, 0, 0, 1)
    u = book.get("1380", after_midnight)
    assert (u.daily_time, u.daily_volume, u.total_time) == (0, 0, 600)
    u = book.add("1380", 60, 100, after_midnight)
    assert (u.daily_time, u.daily_volume, u.total_time, u.total_volume) == (60, 100, 660, 5100)
    assert u.first_login == evening  # not moved by later usage


def test_other_timezone_resets_elsewhere(redis_client: Any) -> None:
    book = UsageBook(redis_client, "UTC")
    t = _at(2026, 3, 10, 23, 0)  # 15:00 UTC
    book.add("1380", 10, 10, t)
    assert book.get("1380", t + 3600).daily_time == 10  # 00:00 Shanghai, still 10 March in UTC


def test_large_volumes_are_exact(redis_client: Any) -> None:
    book = UsageBook(redis_client)
    big = 5 * 2**40 + 123  # beyond what tostring() would print exactly in Lua
    assert book.add("1380", 1, big, 1e9).total_volume == big


def test_first_login_and_reset(redis_client: Any) -> None:
    book = UsageBook(redis_client)
    assert book.mark_first_login("1380", 1000.0) is True
    assert book.mark_first_login("1380", 2000.0) is False
    assert book.get("1380", 3000.0).first_login == 1000.0
    book.add("1380", 5, 5, 3000.0)
    book.reset("1380")
    u = book.get("1380", 3000.0)
    assert (u.daily_time, u.total_time, u.first_login) == (0, 5, 1000.0)
    book.reset("1380", total=True)
    assert book.get("1380", 3000.0).first_login is None
