"""NOC console: online sessions (``/noc/sessions``) — search, and kick a session or a phone.

Filters are query arguments (phone, mac, ip, ac, venue, ssid, offset, limit), so a search is a
link the NOC can share. Kicks are form POSTs (CSRF-checked by the console hook) that start a
background job (``portal/web/noc/noc_jobs.py``: a kick waits on the AC, a web thread must not) and
redirect to its page, which shows the outcome once the AC answered — disconnected via RFC 5176
DM, via Portal REQ_LOGOUT, or the AC did not answer — with a link back to the same search.
Every kick is audited (area "noc"), when asked for and when done.

The services behind the pages are shared with the JSON API (``portal/web/api/api_sessions.py``,
``users.py``): :func:`session_query`, :func:`noc_actions`, :func:`user_directory`. The enforcer
that sends the packets is ``radius.enforcement.Enforcer`` (Flask-free; the web layer is the edge
that wires it to the portal's use cases, see ``portal/noc/kick.py``).
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any
from urllib.parse import urlencode

from flask import Blueprint, flash, redirect, render_template, request, url_for
from werkzeug.wrappers import Response as BaseResponse

from portal.admin.accounts import Role
from portal.errors import ValidationError
from portal.noc.jobs import JobBusy
from portal.noc.kick import NocActions
from portal.noc.phone_profile import UserDirectory
from portal.noc.session_search import SessionFilter, SessionQuery
from portal.units import format_octets
from portal.web.console import client_ip, current_account, login_required, tr
from portal.web.noc import texts as T
from portal.web.wiring import services

if TYPE_CHECKING:
    from radius.enforcement import Enforcer

__all__ = ["bp", "enforcer", "fmt_bytes", "fmt_seconds", "noc_actions",
           "session_query", "user_directory"]

bp = Blueprint("noc_sessions", __name__, url_prefix="/noc/sessions")

_FILTERS = ("phone", "mac", "ip", "ac", "venue", "ssid")
PAGE = 50


# -- services (wired once per process: portal/web/wiring.py) --------------------------------

def session_query() -> SessionQuery:
    return services().session_query


def enforcer() -> Enforcer:
    """The app's ``radius.enforcement.Enforcer`` (DM/CoA with the Portal-logout fallback)."""
    return services().enforcer


def noc_actions() -> NocActions:
    return services().noc_actions


def user_directory() -> UserDirectory:
    return services().users


def fmt_bytes(n: int | None) -> str:
    """Octets in the decimal units of ``portal/units.py`` (what the phone shows); ∞ = no limit."""
    return format_octets(n, unlimited="∞")


def fmt_seconds(n: int | None) -> str:
    if n is None:
        return "∞"
    h, rest = divmod(int(n), 3600)
    m, s = divmod(rest, 60)
    return f"{h}:{m:02d}:{s:02d}"


def _int_arg(name: str, default: int) -> int:
    try:
        return max(0, int(request.args.get(name, default)))
    except ValueError:
        return default


def _back(form: Any) -> str:
    """The search the kick came from (only our own filter names survive)."""
    args = {k: form.get(f"f_{k}", "") for k in _FILTERS}
    query = urlencode({k: v for k, v in args.items() if v})
    return url_for("noc_sessions.index") + (f"?{query}" if query else "")


# -- views -------------------------------------------------------------------------------------

@bp.route("", strict_slashes=False)
@login_required(Role.ADMIN, Role.NOC)
def index() -> str | tuple[str, int]:
    raw = {k: request.args.get(k, "") for k in _FILTERS}
    offset, limit = _int_arg("offset", 0), min(_int_arg("limit", PAGE) or PAGE, 500)
    try:
        flt = SessionFilter.parse(raw)
    except ValidationError as exc:
        flash(tr(*T.INVALID_SEARCH) + str(exc), "error")
        return render_template("noc/sessions.html", page=None, filters=raw, fmt_bytes=fmt_bytes,
                               fmt_seconds=fmt_seconds, offset=0, limit=limit), 400
    page = session_query().search(flt, offset, limit)
    return render_template("noc/sessions.html", page=page, filters=raw, fmt_bytes=fmt_bytes,
                           fmt_seconds=fmt_seconds, offset=offset, limit=limit,
                           query=urlencode({k: v for k, v in raw.items() if v}))


def actor() -> str:
    account = current_account()
    return f"user:{account.username}" if account else "anonymous"


def _start(sessions: list[Any], kind: str, target: str, before: Any, back: str) -> BaseResponse:
    """Start a kick job and show its page (or say why not)."""
    from portal.web.noc.noc_jobs import start_kick

    try:
        job = start_kick(noc_actions(), sessions, kind=kind, target=target, actor=actor(),
                         area="noc", ip=client_ip(), before=before)
    except JobBusy:
        flash(tr(*T.JOBS_FULL), "error")
        return redirect(back)
    return redirect(url_for("noc_jobs.job", job_id=job.id, back=back))


@bp.post("/kick")
@login_required(Role.ADMIN, Role.NOC)
def kick() -> BaseResponse:
    ac, sid = request.form.get("ac", ""), request.form.get("session_id", "")
    view = session_query().one(ac, sid) if ac and sid else None
    if view is None:
        flash(tr(*T.SESSION_GONE), "error")
        return redirect(_back(request.form))
    return _start([view.session], "kick_session", f"{ac}|{sid}", view.as_dict(), _back(request.form))


@bp.post("/kick-phone")
@login_required(Role.ADMIN, Role.NOC)
def kick_phone() -> BaseResponse:
    from portal.aaa.credentials import normalise_phone

    try:
        phone = normalise_phone(request.form.get("phone", ""))
    except ValidationError:
        flash(tr(*T.NOT_A_PHONE), "error")
        return redirect(_back(request.form))
    back = (url_for("noc_users.user", phone=phone) if request.form.get("back", "") == "user"
            else _back(request.form))
    sessions = noc_actions().registry.by_phone(phone)
    if not sessions:
        flash(tr(*T.no_online_session(phone)), "error")
        return redirect(back)
    return _start(sessions, "kick_phone", phone, {"sessions": len(sessions)}, back)
