"""Helpers for report tests: real-name records of three days, rolled up by the real job."""

from __future__ import annotations

import datetime as dt
from typing import Any
from zoneinfo import ZoneInfo

from portal.legal.log_archive import day_bounds_ms
from portal.legal.reallog import LoginRecord, logout_fields
from portal.noc.livestats import LiveStats
from portal.reports.job import report_job
from portal.state import keys

__all__ = ["FIRST", "TZ", "VENUES", "seed"]

TZ = "Asia/Shanghai"
FIRST = dt.date(2026, 11, 1)
VENUES = {"ac-1": "mall", "ac-2": "mall", "ac-3": "park"}


def seed(redis: Any, settings: Any) -> dict[str, dict[str, int]]:
    """Three days of logins and sessions (and on the first day 3 SMS sent, 1 delivered, 1
    refusal, by place), rolled up; returns what each venue should show."""
    tz = ZoneInfo(TZ)
    expect: dict[str, dict[str, int]] = {v: {"logins": 0, "sessions": 0} for v in ("mall", "park")}
    n = 0
    pipe = redis.pipeline(transaction=False)
    for d in range(3):
        lo, _ = day_bounds_ms(FIRST + dt.timedelta(days=d), tz)
        for i, ac in enumerate(["ac-1", "ac-2", "ac-3", "ac-1", "=cmd|ac"]):
            n += 1
            at = lo + 3_600_000 * (i + 1) + d
            venue = VENUES.get(ac, "mall")
            rec = LoginRecord(phone=f"1380000{i:04d}", mac="aa:bb:cc:00:00:01", ip="10.0.0.9", ac=ac,
                              ap="", ssid="CityWiFi", venue=venue, kind="sms", plan="free", at=at / 1000)
            pipe.xadd(keys.real_name_log(), rec.fields(), id=f"{at}-0")
            stop = at + 1_800_000
            pipe.xadd(keys.real_name_log(), logout_fields(
                phone=rec.phone, ac=ac, session_id=f"s{n}", start=at // 1000, stop=stop / 1000,
                session_time=1800, bytes_in=1000, bytes_out=9000, cause="stop", venue=venue,
                ssid="CityWiFi"), id=f"{stop}-0")
            expect[venue]["logins"] += 1
            expect[venue]["sessions"] += 1
    pipe.execute()
    # SMS and refusals by place on the first day, through the real writers at that time.
    lo, _ = day_bounds_ms(FIRST, tz)
    stats = LiveStats(redis, lambda: lo / 1000 + 7200, price_fen=4, tz=TZ)
    stats.record_codes("sent", 2, ("mall", "ac-1", "CityWiFi"))
    stats.record_codes("delivered", 1, ("mall", "ac-1", "CityWiFi"))
    stats.record_codes("sent", 1, ("park", "ac-3", "CityWiFi"))
    stats.record_rejects({"blocked": 1}, {("blocked", ("park", "ac-3", "CityWiFi")): 1})
    now = dt.datetime.combine(FIRST + dt.timedelta(days=5), dt.time(), tz).timestamp()
    job = report_job(redis, settings)
    while job.run(now).more:
        pass
    return expect
