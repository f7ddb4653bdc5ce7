"""NOC console: legal-log export (``/noc/logs``) — real-name, accounting and audit logs by date
range and filters, downloaded as CSV (for Excel) or JSON Lines, streamed. The console's export
is a CSRF-protected POST form.

The download is a generator over :meth:`portal.legal.logexport.LogExporter.export`: rows go out in
chunks as they are read from the archive files and Redis, so memory does not grow with the
range. Bad requests are found before the first byte (the exporter checks its arguments at the
call; the first chunk is pulled before the response starts) and answered 400. Every export is
audited (who, which log, which range and filters): the logs are personal data.

:func:`export_response` is shared with ``GET /api/v1/logs/{stream}``.
"""

from __future__ import annotations

import datetime as dt
import itertools
import re
from collections.abc import Iterator
from typing import Any

from flask import Blueprint, Response, flash, render_template, request

from portal.admin.accounts import Role
from portal.legal.log_archive import STREAMS, archive_timezone
from portal.legal.logexport import FORMATS, ExportFilters, ExportRequestError, LogExporter, day_range
from portal.state import keys
from portal.web.console import audit, login_required, tr
from portal.web.noc import texts as T
from portal.web.noc.noc_forms import FormError, form_date
from portal.web.wiring import services

__all__ = ["CONTENT_TYPES", "FILTERS", "bp", "export_response", "export_timezone", "exporter"]

bp = Blueprint("noc_logs", __name__, url_prefix="/noc/logs")

CONTENT_TYPES = {"csv": "text/csv; charset=utf-8", "jsonl": "application/x-ndjson"}
FILTERS = ("phone", "mac", "ac", "venue", "kind")


def exporter() -> LogExporter:
    """The app's LogExporter (built on first use: it reads the archive key)."""
    return services().log_exporter.get()


def export_timezone() -> str:
    return archive_timezone(services().settings)


def export_response(stream: str, start: float, end: float, filters: ExportFilters, fmt: str,
                    label: str) -> Response:
    """A streamed download. Raises ExportRequestError (before anything is sent) on bad input."""
    chunks = exporter().export(stream, start, end, filters, fmt)
    first = next(chunks, "")       # any late argument error surfaces here, still before the response

    def body() -> Iterator[bytes]:
        for chunk in itertools.chain((first,), chunks):
            yield chunk.encode("utf-8")

    ext = "csv" if fmt == "csv" else "jsonl"
    label = re.sub(r"[^0-9A-Za-z_.\-]", "", label)[:80]
    response = Response(body(), mimetype=CONTENT_TYPES[fmt].split(";")[0],
                        content_type=CONTENT_TYPES[fmt])
    response.headers["Content-Disposition"] = f'attachment; filename="{stream}-{label}.{ext}"'
    response.headers["Cache-Control"] = "no-store"
    response.headers["X-Accel-Buffering"] = "no"     # nginx: pass the stream through as it comes
    return response


def _archive_status() -> dict[str, str]:
    raw = services().redis.hgetall(keys.archive_last_run())
    return {(k.decode() if isinstance(k, bytes) else k): (v.decode() if isinstance(v, bytes) else v)
            for k, v in raw.items()}


def _page(values: dict[str, str], status: int = 200) -> tuple[str, int]:
    return render_template("noc/logs.html", values=values, streams=T.STREAM_LABELS, formats=FORMATS,
                           archive=_archive_status(), timezone=export_timezone()), status


@bp.route("", strict_slashes=False)
@login_required(Role.ADMIN, Role.NOC)
def index() -> tuple[str, int]:
    today = dt.datetime.now(_zone()).date().isoformat()
    return _page({"from": today, "to": today, "stream": "realname", "format": "csv"})


def _zone() -> Any:
    from zoneinfo import ZoneInfo

    return ZoneInfo(export_timezone())


@bp.post("/export")
@login_required(Role.ADMIN, Role.NOC)
def export() -> Response | tuple[str, int]:
    # POST with the session's CSRF token, never a GET link: another site must not be able to
    # make a signed-in NOC browser run (and audit) an export of personal data. The API's GET
    # is safe — it takes a bearer token, never cookies.
    args = request.form
    values = {k: str(args.get(k, "")).strip() for k in ("stream", "from", "to", "format", *FILTERS)}
    try:
        stream = values["stream"]
        if stream not in STREAMS:
            raise FormError(*T.CHOOSE_LOG)
        first = form_date(values["from"], T.LOG_LABELS["from"])
        last = form_date(values["to"], T.LOG_LABELS["to"])
        if first is None or last is None:
            raise FormError(*T.BOTH_DATES)
        start, end = day_range(first, last, export_timezone())
        filters = ExportFilters(**{k: values[k] for k in FILTERS})
        fmt = values["format"] or "csv"
        response = export_response(stream, start, end, filters, fmt, f"{first}_{last}")
    except FormError as exc:
        flash(tr(exc.zh, exc.en), "error")
        return _page(values, 400)
    except ExportRequestError as exc:
        flash(tr(exc.message_zh, str(exc)), "error")
        return _page(values, 400)
    audit("noc", "log.export", stream, None,
          {"from": str(first), "to": str(last), "format": fmt, "filters": filters.active()})
    return response
