"""A period's report from the stored days: what the reports page and ``/api/v1/reports`` show.

Periods are local days: a day, the Monday-to-Sunday week or the calendar month holding a given
day, or a custom range (at most ``MAX_DAYS``). Scopes: everything (for a venue account: its own
venues added up), one venue, one AC. Figures of several days or venues add up, except
``peak_sessions``, whose combined value is the largest single one (a lower bound of the true
combined peak), and ``phones``/``new_phones``, which count phones per day (a phone that came on
three days counts three times: "phone-days").

Whole calendar months in the period are read from the month summaries the store keeps (one hash
per dimension), the other days day by day (one pipelined read per dimension).
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Collection
from dataclasses import dataclass
from typing import Any

from portal.errors import ValidationError
from portal.reports.rollup import add_docs
from portal.reports.store import ReportStore

__all__ = ["FIGURES", "MAX_DAYS", "PERIODS", "SCOPES", "ReportQuery", "ReportRequestError",
           "build_report", "period_bounds"]

PERIODS = ("day", "week", "month", "custom")
SCOPES = ("all", "venue", "ac")
MAX_DAYS = 400
# Figures shown in tables and exports, in order: name, zh, en.
FIGURES: tuple[tuple[str, str, str], ...] = (
    ("logins", "登录次数", "Logins"),
    ("logins_sms", "短信验证码登录", "SMS-code logins"),
    ("logins_returning", "看广告后登录", "Returning (after the ad)"),
    ("logins_silent", "无感知登录", "Silent (MAC) logins"),
    ("phones", "用户数（按日）", "Phones (per day)"),
    ("new_phones", "新用户", "First-time phones"),
    ("sessions", "上网会话", "Sessions"),
    ("minutes", "在线分钟", "Online minutes"),
    ("bytes_up", "上行流量（字节）", "Traffic up (bytes)"),
    ("bytes_down", "下行流量（字节）", "Traffic down (bytes)"),
    ("peak_sessions", "最高同时在线", "Peak concurrent sessions"),
    ("sms_sent", "短信发送", "SMS sent"),
    ("sms_delivered", "短信送达", "SMS delivered"),
    ("sms_failed", "短信失败", "SMS failed"),
    ("sms_yuan", "短信费用（元）", "SMS cost (CNY)"),
)


class ReportRequestError(ValidationError):
    """A report request names a bad period or scope (zh/en message for the page and the API)."""

    code = "bad_report_request"

    def __init__(self, code: str, en: str, zh: str) -> None:
        super().__init__(en)
        self.code = code
        self.message_zh = zh


@dataclass(frozen=True, slots=True)
class ReportQuery:
    first: dt.date
    last: dt.date
    scope: str = "all"          # all | venue | ac
    name: str = ""              # the venue id or AC name


def period_bounds(period: str, day: dt.date, first: dt.date | None = None,
                  last: dt.date | None = None) -> tuple[dt.date, dt.date]:
    """First and last day (inclusive) of ``period`` around ``day``."""
    if period == "day":
        return day, day
    if period == "week":
        monday = day - dt.timedelta(days=day.weekday())
        return monday, monday + dt.timedelta(days=6)
    if period == "month":
        start = day.replace(day=1)
        end = (start + dt.timedelta(days=32)).replace(day=1) - dt.timedelta(days=1)
        return start, end
    if period == "custom":
        if first is None or last is None:
            raise ReportRequestError("bad_period", "a custom period needs from and to",
                                     "自定义时段需要开始和结束日期")
        if last < first:
            raise ReportRequestError("bad_period", "the period ends before it starts",
                                     "结束日期早于开始日期")
        if (last - first).days >= MAX_DAYS:
            raise ReportRequestError("bad_period", f"at most {MAX_DAYS} days at once",
                                     f"一次最多 {MAX_DAYS} 天")
        return first, last
    raise ReportRequestError("bad_period", "period: expected day, week, month or custom",
                             "时段应为 day、week、month 或 custom")


def _view(doc: dict[str, int]) -> dict[str, Any]:
    """Stored figures → shown figures (minutes and yuan derived, the rest as stored)."""
    out: dict[str, Any] = {name: doc.get(name, 0) for name, _, _ in FIGURES
                           if name not in ("minutes", "sms_yuan")}
    out["minutes"] = round(doc.get("seconds", 0) / 60, 1)
    out["sms_yuan"] = round(doc.get("sms_fen", 0) / 100, 2)
    return out


def _extras(doc: dict[str, int]) -> tuple[dict[str, int], dict[str, dict[str, int]]]:
    refusals = {k[8:]: v for k, v in doc.items() if k.startswith("refused:")}
    campaigns: dict[str, dict[str, int]] = {}
    for k, v in doc.items():
        if k.startswith("ad:"):
            campaign, _, what = k[3:].rpartition(":")
            campaigns.setdefault(campaign, {"imp": 0, "view": 0, "click": 0})[what] = v
    return refusals, campaigns


def build_report(store: ReportStore, query: ReportQuery,
                 venues: Collection[str] | None = None) -> dict[str, Any]:
    """The report of ``query``; ``venues`` restricts it to those venues (a venue account)."""
    if query.scope not in SCOPES:
        raise ReportRequestError("bad_scope", "scope: expected all, venue or ac",
                                 "范围应为 all、venue 或 ac")
    if query.scope != "all" and not query.name:
        raise ReportRequestError("bad_scope", "name the venue or AC", "请指定场所或 AC")
    if venues is not None and query.scope == "ac":
        raise ReportRequestError("bad_scope", "venue accounts see reports by venue",
                                 "场所账号只能按场所查看报表")
    if venues is not None and query.scope == "venue" and query.name not in venues:
        raise ReportRequestError("no_such_venue", "no such venue", "没有这个场所")
    days = [query.first + dt.timedelta(days=i) for i in range((query.last - query.first).days + 1)]
    by: dict[str, dict[str, dict[str, int]]] = {}
    if query.scope == "venue":
        per_day = [d.get(query.name, {}) for d in store.load(days, "v", [query.name])]
    elif query.scope == "ac":
        per_day = [d.get(query.name, {}) for d in store.load(days, "a", [query.name])]
    elif venues is not None:
        loaded = store.load(days, "v", sorted(venues)) if venues else [{} for _ in days]
        per_day = [add_docs(d.values()) for d in loaded]
        by["venue"] = _combine(loaded)
    else:
        per_day = [d.get("", {}) for d in store.load(days, "t", [""])]
        months, loose = _split_months(days)
        for dim, label in (("v", "venue"), ("a", "ac"), ("s", "ssid")):
            by[label] = _combine([store.load_month(m, dim) for m in months] + store.load(loose, dim))
    totals = add_docs(per_day)
    refusals, campaigns = _extras(totals)
    return {
        "period": {"from": query.first.isoformat(), "to": query.last.isoformat(), "days": len(days)},
        "scope": {"kind": query.scope, "name": query.name},
        "series": [{"day": day.isoformat(), **_view(doc)} for day, doc in zip(days, per_day, strict=True)],
        "totals": _view(totals),
        "refusals": refusals,
        "campaigns": campaigns,
        "breakdown": {label: {name: _view(doc) for name, doc in sorted(
            docs.items(), key=lambda kv: (-kv[1].get("logins", 0), kv[0]))}
            for label, docs in by.items()},
    }


def _split_months(days: list[dt.date]) -> tuple[list[dt.date], list[dt.date]]:
    """Whole calendar months in ``days`` (read from the month summaries) and the other days."""
    months: list[dt.date] = []
    loose: list[dt.date] = []
    chosen = set(days)
    for day in days:
        if day.day == 1:
            end = (day + dt.timedelta(days=32)).replace(day=1) - dt.timedelta(days=1)
            if end in chosen:
                months.append(day)
                continue
        if not any(m <= day and m.month == day.month and m.year == day.year for m in months):
            loose.append(day)
    return months, loose


def _combine(per_day: list[dict[str, dict[str, int]]]) -> dict[str, dict[str, int]]:
    grouped: dict[str, list[dict[str, int]]] = {}
    for day in per_day:
        for name, doc in day.items():
            grouped.setdefault(name, []).append(doc)
    return {name: add_docs(docs) for name, docs in grouped.items()}
