"""The NOC live dashboard: ``/noc`` (page) and ``/noc/live.json`` (its figures, every 5 s).

The page is rendered once; ``static/noc_dashboard.js`` fetches ``/noc/live.json`` and redraws
the figures and ``CityCharts`` charts in place, so nothing reloads. The figures are
:meth:`portal.noc.livestats.LiveStats.snapshot` (also served to programs as ``GET
/api/v1/stats/live``, see ``portal/web/api/api_stats.py``).
"""

from __future__ import annotations

import json
from typing import Any

from flask import Blueprint, Response, jsonify, render_template, request

from portal.admin.accounts import Role
from portal.noc.livestats import LiveStats
from portal.web.console import login_required, tr
from portal.web.noc.texts import REJECT_REASONS
from portal.web.wiring import services

__all__ = ["bp", "livestats", "window_minutes"]

bp = Blueprint("noc_dashboard", __name__, url_prefix="/noc")

WINDOWS = (15, 60, 180, 720, 1440)     # minutes the page offers

def reject_names(lang: str) -> str:
    """The reject chart's labels in ``lang`` as JSON, for a data- attribute (CSP: no inline script)."""
    index = 1 if lang == "en" else 0
    return json.dumps({k: v[index] for k, v in REJECT_REASONS.items()}, ensure_ascii=False)


def livestats() -> LiveStats:
    """The app's LiveStats (shared with /metrics)."""
    return services().livestats


def window_minutes(raw: Any, default: int = 60) -> int:
    """``minutes`` query value → 1…1440 (anything unparseable = ``default``)."""
    try:
        value = int(raw)
    except (TypeError, ValueError):
        return default
    return max(1, min(value, 1440))


@bp.route("", strict_slashes=False)
@login_required(Role.ADMIN, Role.NOC)
def dashboard() -> str:
    minutes = window_minutes(request.args.get("minutes"))
    return render_template("noc/dashboard.html", snapshot=livestats().snapshot(minutes),
                           minutes=minutes, windows=WINDOWS, reject_names=reject_names(tr("zh", "en")))


@bp.route("/live.json")
@login_required(Role.ADMIN, Role.NOC)
def live() -> Response:
    response = jsonify(livestats().snapshot(window_minutes(request.args.get("minutes"))))
    response.headers["Cache-Control"] = "no-store"
    return response
