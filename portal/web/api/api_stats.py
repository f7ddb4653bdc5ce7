"""API: the live figures of the NOC dashboard (``GET /api/v1/stats/live``)."""

from __future__ import annotations

from typing import Any

from flask import request

from portal.web.api.api_base import ApiError, operation, query
from portal.web.api.texts import BAD_MINUTES, en_zh

__all__ = ["LIVE_SCHEMA"]

_SERIES: dict[str, Any] = {"type": "array", "items": {"type": "integer"}}
_COUNTS: dict[str, Any] = {"type": "object", "additionalProperties": {"type": "integer"}}
_BY_NAME: dict[str, Any] = {"type": "object", "additionalProperties": _SERIES}

LIVE_SCHEMA: dict[str, Any] = {
    "type": "object",
    "required": ["now", "minutes", "labels", "minute_starts", "logins", "logins_window",
                 "logins_by_venue", "codes", "codes_window", "rejects", "rejects_window", "sms", "online"],
    "properties": {
        "now": {"type": "number", "description": "server time, epoch seconds"},
        "minutes": {"type": "integer", "minimum": 1, "maximum": 1440},
        "labels": {"type": "array", "items": {"type": "string"}, "description": "HH:MM, local time"},
        "minute_starts": {"type": "array", "items": {"type": "integer"}},
        "logins": {"type": "object", "required": ["sms", "returning", "silent", "total"],
                   "additionalProperties": _SERIES,
                   "description": "logins per minute by kind (oldest first; the last is the current minute)"},
        "logins_window": _COUNTS,
        "logins_by_venue": _COUNTS,
        "codes": {"type": "object", "required": ["sent", "failed", "delivered", "undelivered"],
                  "additionalProperties": _SERIES},
        "codes_window": _COUNTS,
        "rejects": _BY_NAME,
        "rejects_window": _COUNTS,
        "sms": {"type": "object", "required": ["month", "sent", "spent_fen", "budget_fen", "price_fen",
                                               "budget_used"],
                "properties": {"month": {"type": "string"}, "sent": {"type": "integer"},
                               "spent_fen": {"type": "integer"}, "budget_fen": {"type": "integer"},
                               "price_fen": {"type": "integer"},
                               "budget_used": {"type": ["number", "null"]}}},
        "online": {"type": "object", "required": ["total", "by_ac", "by_venue"],
                   "properties": {"total": {"type": "integer"}, "by_ac": _COUNTS, "by_venue": _COUNTS}},
    },
}


@operation("/stats/live", "GET", scope="read", tag="stats", summary="Live figures (the NOC dashboard's)",
           parameters=[query("minutes", "integer", "window of the per-minute series, 1-1440 (default 60)")],
           response=LIVE_SCHEMA, errors=(400,))
def live_stats() -> Any:
    from portal.web.noc.noc_dashboard import livestats

    raw = request.args.get("minutes", "60")
    if not raw.isdigit() or not 1 <= int(raw) <= 1440:
        raise ApiError(400, "invalid_minutes", *en_zh(BAD_MINUTES))
    return livestats().snapshot(int(raw))
