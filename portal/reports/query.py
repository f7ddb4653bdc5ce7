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
from portal.reports.texts import FIGURES, REQUEST_ERRORS
from portal.texts import fill

__all__ = ["FIGURES", "MAX_DAYS", "PERIODS", "SCOPES", "ReportQuery", "ReportRequestError",
           "build_report", "period_bounds"]

PERIODS = ("day", "week", "month", "custom")
SCOPES = ("all", "venue", "ac")
MAX_DAYS = 400
# FIGURES (name, zh, en: what tables and exports show, in order) is portal/reports/texts.py's,
# re-exported here.


class ReportRequestError(ValidationError):
    """A report request names a bad period or scope (zh/en message for the page and the API)."""

    code = "bad_report_request"

    def __init__(self, code: str, en: str, zh: str) -> None:
        super().__init__(en)
        self.code = code
        self.message_zh = zh


def _refused(code: str, text: tuple[str, str]) -> ReportRequestError:
    """A :class:`ReportRequestError` saying ``text`` (zh, en; portal/reports/texts.py)."""
    return ReportRequestError(code, text[1], text[0])


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
            raise _refused("bad_period", REQUEST_ERRORS["custom_needs_dates"])
        if last < first:
            raise _refused("bad_period", REQUEST_ERRORS["ends_before_start"])
        if (last - first).days >= MAX_DAYS:
            raise _refused("bad_period", fill(REQUEST_ERRORS["too_many_days"], days=MAX_DAYS))
        return first, last
    raise _refused("bad_period", REQUEST_ERRORS["bad_period"])


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
        raise _refused("bad_scope", REQUEST_ERRORS["bad_scope"])
    if query.scope != "all" and not query.name:
        raise _refused("bad_scope", REQUEST_ERRORS["needs_name"])
    if venues is not None and query.scope == "ac":
        raise _refused("bad_scope", REQUEST_ERRORS["venue_account_scope"])
    if venues is not None and query.scope == "venue" and query.name not in venues:
        raise _refused("no_such_venue", REQUEST_ERRORS["no_such_venue"])
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
