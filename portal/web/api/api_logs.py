"""API: legal-log export, streamed (``GET /api/v1/logs/{stream}``).

``from``/``to``: a date ``YYYY-MM-DD`` (local days of the archive time zone; ``to`` inclusive),
an ISO 8601 date-time or epoch seconds (``[from, to)``). Filters: phone, mac, ac, venue, kind.
The body is CSV (UTF-8 with BOM, CRLF, for Excel) or JSON Lines, sent as it is read: memory
does not grow with the range. Every export is audited. The real-name log is personal data:
the operation needs the ``export`` scope, which ``read`` and ``write`` tokens do not have.
"""

from __future__ import annotations

import datetime as dt
import re
from typing import Any

from flask import Response, request

from portal.legal.log_archive import STREAMS
from portal.legal.logexport import FORMATS, ExportFilters, ExportRequestError, day_range
from portal.web.api.api_base import ApiError, api_audit, body_error, operation, query
from portal.web.api.texts import MOMENT_MISSING, NO_LOG, NOT_A_MOMENT, en_zh
from portal.web.noc.noc_logs import FILTERS, export_response, export_timezone

__all__: list[str] = []

_DATE = re.compile(r"^\d{4}-\d{2}-\d{2}$")


def _bound(name: str, raw: str, is_end: bool) -> float:
    raw = raw.strip()
    if not raw:
        raise body_error(*en_zh(MOMENT_MISSING, name=name))
    try:
        if _DATE.match(raw):
            day = dt.date.fromisoformat(raw)
            return day_range(day, day, export_timezone())[1 if is_end else 0]
        if re.fullmatch(r"\d+(\.\d+)?", raw):
            return float(raw)
        moment = dt.datetime.fromisoformat(raw.replace("Z", "+00:00"))
        if moment.tzinfo is None:
            from zoneinfo import ZoneInfo

            moment = moment.replace(tzinfo=ZoneInfo(export_timezone()))
        return moment.timestamp()
    except (ValueError, OverflowError):
        raise body_error(*en_zh(NOT_A_MOMENT, name=name, raw=raw[:40])) from None


@operation("/logs/{stream}", "GET", scope="export", tag="logs",
           summary="Export a legal log (realname, accounting, audit) as CSV or JSON Lines, streamed",
           description="from/to: YYYY-MM-DD (local days, to inclusive), ISO 8601 date-time or epoch "
                       "seconds ([from, to)). Content-Type text/csv (UTF-8 BOM, CRLF) or "
                       "application/x-ndjson. Personal data: needs an `export` token (no other "
                       "scope includes it). Audited with the token's id.",
           parameters=[query("from", description="start", required=True),
                       query("to", description="end", required=True),
                       query("format", description="csv (default) or jsonl", enum=FORMATS),
                       *(query(f, description=f"exact {f} filter") for f in FILTERS)],
           response={"type": "string", "description": "CSV or JSON Lines"},
           response_media="text/csv", errors=(404,))
def export_log(stream: str) -> Any:
    if stream not in STREAMS:
        raise ApiError(404, "bad_stream", *en_zh(NO_LOG, stream=stream, streams=", ".join(STREAMS)))
    args = request.args
    start = _bound("from", args.get("from", ""), False)
    end = _bound("to", args.get("to", ""), True)
    fmt = args.get("format", "csv") or "csv"
    filters = ExportFilters(**{f: args.get(f, "").strip() for f in FILTERS})
    try:
        response: Response = export_response(stream, start, end, filters, fmt,
                                              f"{args.get('from', '')}_{args.get('to', '')}"
                                              .replace(":", "").replace("/", "")[:60])
    except ExportRequestError as exc:
        raise ApiError(400, exc.code, str(exc), exc.message_zh) from None
    api_audit("log.export", stream, None, {"from": start, "to": end, "format": fmt,
                                           "filters": filters.active()})
    return response
