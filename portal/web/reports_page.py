"""Reports page (``/reports``) for the NOC and for venue accounts (their own venues only).

Period (day / week / month / custom) and scope (all / venue / AC; venue accounts: all of theirs
or one of them) come from the query string, so a report is a link that can be shared and
bookmarked. The page shows charts drawn on the server as inline SVG, the daily table, the
breakdown; ``format=csv`` and ``format=xlsx`` download the same report; the print stylesheet
(``static/reports-print.css``) leaves out the forms and navigation.

:func:`report_from_args` is shared with ``GET /api/v1/reports``.
"""

from __future__ import annotations

import datetime as dt
import time
from collections.abc import Collection, Mapping
from typing import Any

from flask import Blueprint, Response, render_template, request

from portal.admin.accounts import Role
from portal.reports.query import (
    FIGURES,
    PERIODS,
    ReportQuery,
    ReportRequestError,
    build_report,
    period_bounds,
)
from portal.reports.render import bar_chart, csv_text, series_chart, table_rows, xlsx_bytes
from portal.reports.store import ReportStore
from portal.state import keys_reports as rk
from portal.web import console_texts as T
from portal.web.console import current_account, login_required, tr
from portal.web.wiring import services

__all__ = ["bp", "report_from_args", "store"]

bp = Blueprint("reports", __name__, url_prefix="/reports")

XLSX = "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet"


def store() -> ReportStore:
    """The app's ReportStore (built on first use: it reads the archive key)."""
    return services().reports.get()


def _date(args: Mapping[str, str], name: str) -> dt.date | None:
    raw = args.get(name, "")
    if not raw:
        return None
    try:
        return dt.date.fromisoformat(raw)
    except ValueError:
        zh, en = T.bad_report_date(name)
        raise ReportRequestError("bad_date", en, zh) from None


def report_from_args(args: Mapping[str, str], venues: Collection[str] | None,
                     now: float | None = None) -> tuple[dict[str, Any], dict[str, str]]:
    """The report a query string asks for (default: yesterday's… month so far) and the
    normalised arguments. Raises ReportRequestError."""
    s = store()
    yesterday = s.today(time.time() if now is None else now) - dt.timedelta(days=1)
    period = args.get("period", "month")
    if period not in PERIODS:
        period_bounds(period, yesterday)           # raises the bilingual error
    day = _date(args, "day") or yesterday
    first, last = period_bounds(period, day, _date(args, "from"), _date(args, "to"))
    scope = args.get("scope", "all")
    name = args.get("name", "") if scope != "all" else ""
    report = build_report(s, ReportQuery(first, last, scope, name), venues)
    return report, {"period": period, "day": day.isoformat(), "from": first.isoformat(),
                    "to": last.isoformat(), "scope": scope, "name": name}


def _account_venues() -> tuple[str, ...] | None:
    account = current_account()
    return account.venues if account is not None and account.role is Role.VENUE else None


@bp.get("")
@login_required()
def index() -> Any:
    venues = _account_venues()
    try:
        report, values = report_from_args(request.args, venues)
    except ReportRequestError as exc:
        report, values = None, dict(request.args)
        error = tr(exc.message_zh, str(exc))
    else:
        error = ""
    fmt = request.args.get("format", "")
    if report is not None and fmt in ("csv", "xlsx"):
        stem = f"report-{values['from']}-{values['to']}"
        if fmt == "csv":
            return Response(csv_text(report, tr), content_type="text/csv; charset=utf-8",
                            headers={"Content-Disposition": f'attachment; filename="{stem}.csv"'})
        return Response(xlsx_bytes(report, tr), content_type=XLSX,
                        headers={"Content-Disposition": f'attachment; filename="{stem}.xlsx"'})
    if venues is None:
        venue_choices = sorted(services().journey.venues.all())
        from portal.aaa.acs import AcRegistry
        ac_choices = sorted(AcRegistry(services().redis).names())
    else:
        venue_choices, ac_choices = sorted(venues), []
    charts: dict[str, str] = {}
    header: list[str] = []
    rows: list[list[Any]] = []
    if report is not None:
        series = report["series"]
        charts["logins"] = series_chart([(p["day"], p["logins"]) for p in series],
                                        title=tr(*T.REPORT_CHART_TITLES["logins"]))
        charts["traffic"] = series_chart(
            [(p["day"], round((p["bytes_up"] + p["bytes_down"]) / 1e9, 3)) for p in series],
            title=tr(*T.REPORT_CHART_TITLES["traffic"]))
        charts["minutes"] = series_chart([(p["day"], p["minutes"]) for p in series],
                                         title=tr(*T.REPORT_CHART_TITLES["minutes"]))
        for label, docs in report["breakdown"].items():
            charts["by_" + label] = bar_chart(
                [(n, d["logins"]) for n, d in docs.items()],
                title=tr(*T.BREAKDOWN_TITLES[label]))
        header, rows = table_rows(report, tr)
    last_run = {k.decode(): v.decode() for k, v in services().redis.hgetall(rk.report_last_run()).items()}
    return render_template("console/reports.html", report=report, values=values, error=error,
                           charts=charts, header=header, rows=rows, figures=FIGURES,
                           venue_choices=venue_choices, ac_choices=ac_choices,
                           restricted=venues is not None, last_run=last_run), (400 if error else 200)
