"""API: the reports of the console's reports page (``GET /api/v1/reports``).

Same period and scope arguments as ``/reports`` (portal/web/reports.py). API tokens belong to
NOC accounts (portal/apitokens.py: venue accounts hold none), so a token sees every venue."""

from __future__ import annotations

from typing import Any

from flask import request

from portal.reports.query import FIGURES, PERIODS, SCOPES, ReportRequestError
from portal.web.api.base import ApiError, operation, query

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
        "refusals": {**_COUNTS, "description": "RADIUS refusals by reason (fleet-wide counters: "
                                               "the total scope only)"},
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
                       "per day; peak_sessions over several days or venues is the largest single one.",
           parameters=[query("period", "string", "day, week (Mon-Sun), month (default) or custom",
                             enum=PERIODS),
                       query("day", "string", "a day in the period, YYYY-MM-DD (default: yesterday)"),
                       query("from", "string", "custom: first day, YYYY-MM-DD"),
                       query("to", "string", "custom: last day (inclusive), YYYY-MM-DD"),
                       query("scope", "string", "all (default), venue or ac", enum=SCOPES),
                       query("name", "string", "the venue id or AC name of scope venue/ac")],
           response=REPORT_SCHEMA, errors=(400,))
def get_report() -> Any:
    from portal.web.reports import report_from_args

    try:
        report, _ = report_from_args(request.args, None)
    except ReportRequestError as exc:
        raise ApiError(400, exc.code, str(exc), exc.message_zh) from None
    return report
