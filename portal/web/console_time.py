"""Times in the consoles, all in one zone: the operator's configured time zone
(``quota.timezone``, the zone the live dashboard's chart axis, the daily quotas and the reports
already use), labelled with its UTC offset — never the browser's zone, which made the NOC read
"02:55" on a chart beside "Updated 7:54:46 PM".

Templates write ``{{ at|stamp }}``: a ``<time>`` element whose text is the local date-time with
its label ("2026-12-07 20:15:03 UTC+8") and whose ``datetime`` attribute is ISO 8601 with the
same offset, so the page is right without JavaScript. Times the scripts produce (the dashboard's
"Updated …", ``[data-epoch]`` filled in later) are formatted by ``console.js`` in the zone named
on ``<body data-tz=…>``.
"""

from __future__ import annotations

import datetime as dt
import time
from typing import Any
from zoneinfo import ZoneInfo

from flask import Flask
from markupsafe import Markup, escape

__all__ = ["install_console_time", "local_stamp", "zone_label"]


def zone_label(tz: ZoneInfo, at: float | None = None) -> str:
    """"UTC+8", "UTC+5:30", "UTC-3", "UTC": the zone's offset at ``at`` (default: now)."""
    offset = dt.datetime.fromtimestamp(time.time() if at is None else at, tz).utcoffset()
    minutes = int(offset.total_seconds() // 60) if offset is not None else 0
    if minutes == 0:
        return "UTC"
    sign, minutes = ("+" if minutes > 0 else "-"), abs(minutes)
    hours, rest = divmod(minutes, 60)
    return f"UTC{sign}{hours}" + (f":{rest:02d}" if rest else "")


def _epoch(value: Any) -> float | None:
    try:
        at = float(value)
    except (TypeError, ValueError):
        return None
    return at if at > 0 else None


def local_stamp(value: Any, tz: ZoneInfo) -> Markup:
    """``<time datetime="ISO+offset" title="zone">YYYY-MM-DD HH:MM:SS UTC±h</time>`` for an
    epoch (seconds); "-" for nothing (0, empty, not a number)."""
    at = _epoch(value)
    if at is None:
        return Markup("-")
    when = dt.datetime.fromtimestamp(at, tz)
    text = f"{when:%Y-%m-%d %H:%M:%S} {zone_label(tz, at)}"
    return Markup('<time datetime="{}" title="{}" data-at="{}">{}</time>').format(
        when.isoformat(timespec="seconds"), escape(str(tz.key)), f"{at:.3f}", text)


def install_console_time(app: Flask, timezone: str) -> None:
    """The ``stamp`` filter and the ``console_tz`` / ``console_tz_label`` template globals."""
    tz = ZoneInfo(timezone)
    app.jinja_env.filters["stamp"] = lambda value: local_stamp(value, tz)
    app.jinja_env.globals.update(console_tz=tz.key, console_tz_label=lambda: zone_label(tz))
