"""NOC console: the blocklist (``/noc/blocklist``) — phones and MACs that get no SMS code and no
login, each with a reason and an optional expiry (hours/days from now, or never).

Blocking does not end sessions already online: kick them from ``/noc/sessions``. Expired
entries read as not blocked and are not listed.
"""

from __future__ import annotations

from typing import Any

from flask import Blueprint, flash, redirect, render_template, request, url_for
from werkzeug.wrappers import Response as BaseResponse

from portal.aaa.blocklist import Blocklist
from portal.admin.accounts import Role
from portal.errors import ValidationError
from portal.web.console import audit, current_account, login_required, tr
from portal.web.noc import texts as T
from portal.web.noc.noc_forms import FormError, flash_error, form_number, form_text
from portal.web.wiring import services

__all__ = ["KINDS", "MAX_TTL", "blocklist", "bp", "entry_dict"]

bp = Blueprint("noc_blocklist", __name__, url_prefix="/noc/blocklist")

KINDS = ("phone", "mac")
MAX_TTL = 10 * 365 * 86400          # longer than that is "never"
_UNITS = {"hours": 3600, "days": 86400}


def blocklist() -> Blocklist:
    return Blocklist(services().redis)


def entry_dict(kind: str, entry: Any) -> dict[str, Any]:
    return {"kind": kind, "value": entry.value, "reason": entry.reason,
            "expires": entry.expires or None, "by": entry.by, "at": entry.at}


def check_kind(kind: str) -> str:
    if kind not in KINDS:
        raise FormError(*T.CHOOSE_BLOCK_KIND)
    return kind


@bp.route("", strict_slashes=False, methods=["GET"])
@login_required(Role.ADMIN, Role.NOC)
def index() -> str:
    store = blocklist()
    return render_template("noc/blocklist.html", entries={k: store.entries(k) for k in KINDS},
                           values={})


@bp.post("/add")
@login_required(Role.ADMIN, Role.NOC)
def add() -> BaseResponse | tuple[str, int]:
    form = request.form
    store = blocklist()
    try:
        kind = check_kind(form.get("kind", ""))
        value = form_text(form, "value", T.BLOCK_LABELS["value"], required=True, max_len=32)
        reason = form_text(form, "reason", T.BLOCK_LABELS["reason"], required=True, max_len=200)
        unit = _UNITS.get(form.get("unit", "days"), 86400)
        ttl = form_number(form, "duration", T.BLOCK_LABELS["duration"], scale=unit) or 0
        if ttl > MAX_TTL:
            raise FormError(*T.DURATION_TOO_LONG)
        account = current_account()
        entry = store.block(kind, value, reason, ttl=ttl, by=f"user:{account.username}" if account else "")
    except (FormError, ValidationError) as exc:
        flash_error(exc)
        return render_template("noc/blocklist.html", entries={k: store.entries(k) for k in KINDS},
                               values={k: str(v) for k, v in form.items() if k != "csrf_token"}), 400
    audit("noc", "blocklist.add", f"{kind}:{entry.value}", None, entry_dict(kind, entry))
    flash(tr(*T.blocked(entry.value)), "ok")
    return redirect(url_for("noc_blocklist.index"))


@bp.post("/remove")
@login_required(Role.ADMIN, Role.NOC)
def remove() -> BaseResponse:
    store = blocklist()
    kind, value = request.form.get("kind", ""), request.form.get("value", "")
    try:
        check_kind(kind)
        before = store.get(kind, value)
        removed = store.unblock(kind, value)
    except (FormError, ValidationError) as exc:
        flash_error(exc)
        return redirect(url_for("noc_blocklist.index"))
    if removed:
        audit("noc", "blocklist.remove", f"{kind}:{value}",
              entry_dict(kind, before) if before else None, None)
        flash(tr(*T.unblocked(value)), "ok")
    else:
        flash(tr(*T.not_blocked(value)), "error")
    return redirect(url_for("noc_blocklist.index"))
