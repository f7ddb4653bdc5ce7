"""API: the reports of the console's reports page (``GET /api/v1/reports``).

Same period and scope arguments as ``/reports`` (portal/web/reports_page.py). A NOC token sees every
venue; a venue account's token (portal/admin/apitokens.py) sees its account's venues only, as the
account does on the page, and is refused (403) another venue or an AC."""

from __future__ import annotations

from typing import Any

from flask import request

from portal.reports.query import FIGURES, PERIODS, SCOPES, ReportRequestError
from portal.web.api.api_base import ApiError, api_token, operation, query
from portal.web.api.texts import VENUE_TOKEN, en_zh

__all__ = ["REPORT_SCHEMA"]

_NUM: dict[str, Any] = {"type": "number"}
_FIGURES: dict[str, Any] = {
    "type": "object", "required": [name for name, _, _ in FIGURES],
    "properties": {name: {"type": "number", "description": en} for name, _, en in FIGURES},
}
_COUNTS: dict[str, Any] = {"type": "object", "additionalProperties": {"type": "integer"}}

REPORT_SCHEMA: dict[str, Any] = {
    "type": "object",
    "required": ["period", "scope", "series", "totals", "refusals", "campaigns", "breakdown"],
    "properties": {
        "period": {"type": "object", "required": ["from", "to", "days"],
                   "properties": {"from": {"type": "string", "format": "date"},
                                  "to": {"type": "string", "format": "date"},
                                  "days": {"type": "integer", "minimum": 1}}},
        "scope": {"type": "object", "required": ["kind", "name"],
                  "properties": {"kind": {"type": "string", "enum": list(SCOPES)},
                                 "name": {"type": "string"}}},
        "series": {"type": "array", "description": "one entry per local day, oldest first",
                   "items": {"allOf": [_FIGURES, {"type": "object", "required": ["day"], "properties": {
                       "day": {"type": "string", "format": "date"}}}]}},
        "totals": _FIGURES,
        "refusals": {**_COUNTS, "description": "RADIUS authentication refusals by reason in the "
                                               "scope (by venue, AC and SSID since the refusing "
                                               "worker records them by place; earlier days: "
                                               "fleet-wide, in the total only)"},
        "campaigns": {"type": "object", "additionalProperties": {
            "type": "object", "required": ["imp", "view", "click"],
            "properties": {"imp": _NUM, "view": _NUM, "click": _NUM}}},
        "breakdown": {"type": "object", "description": "scope all: figures by venue, AC and SSID",
                      "additionalProperties": {"type": "object", "additionalProperties": _FIGURES}},
    },
}


@operation("/reports", "GET", scope="read", tag="reports",
           summary="Daily roll-ups over a period: logins, phones, sessions, traffic, SMS, ads",
           description="Days are local days of the archive's time zone. phones and new_phones count "
                       "per day; peak_sessions over several days or venues is the largest single one. "
                       "A venue account's token: scope all adds up its own venues; another venue or "
                       "an AC is refused (403).",
           parameters=[query("period", "string", "day, week (Mon-Sun), month (default) or custom",
                             enum=PERIODS),
                       query("day", "string", "a day in the period, YYYY-MM-DD (default: yesterday)"),
                       query("from", "string", "custom: first day, YYYY-MM-DD"),
                       query("to", "string", "custom: last day (inclusive), YYYY-MM-DD"),
                       query("scope", "string", "all (default), venue or ac", enum=SCOPES),
                       query("name", "string", "the venue id or AC name of scope venue/ac")],
           response=REPORT_SCHEMA, errors=(400, 403), venue_scoped=True)
def get_report() -> Any:
    from portal.web.reports_page import report_from_args

    venues = api_token().venues
    scope = request.args.get("scope", "all")
    if venues is not None and (scope not in ("all", "venue") or (
            scope == "venue" and request.args.get("name", "") not in venues)):
        raise ApiError(403, "forbidden", *en_zh(VENUE_TOKEN))
    try:
        report, _ = report_from_args(request.args, venues)
    except ReportRequestError as exc:
        raise ApiError(400, exc.code, str(exc), exc.message_zh) from None
    return report
