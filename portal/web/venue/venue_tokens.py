"""Venue console: the venue account's own API tokens (``/venue/tokens``).

A venue account makes ``read`` tokens for its own programs (a hotel's BI tool, a mall's
dashboard) and revokes them; it sees and revokes only the tokens that act for it. Such a token is
venue-scoped (portal/admin/apitokens.py): ``GET /api/v1/reports`` answers it for this account's venues
only, every other API operation refuses it. NOC accounts manage tokens on ``/noc/tokens``.
"""

from __future__ import annotations

from flask import Blueprint, abort, flash, redirect, render_template, request, url_for
from werkzeug.wrappers import Response as BaseResponse

from portal.admin.accounts import Account, Role
from portal.errors import ValidationError
from portal.web import console_texts as CT
from portal.web.console import audit, current_account, login_required, tr
from portal.web.noc.noc_forms import FormError, end_of_day, flash_error, form_date, form_text
from portal.web.noc.noc_tokens import token_store
from portal.web.wiring import services

__all__ = ["bp"]

bp = Blueprint("venue_tokens", __name__, url_prefix="/venue/tokens")


def _account() -> Account:
    account = current_account()
    assert account is not None          # login_required
    return account


def _page(values: dict[str, str] | None = None, status: int = 200, *, secret: str = "",
          created: object = None) -> tuple[str, int]:
    tokens = list(reversed(token_store().owned_by(_account().username)))
    return render_template("venue/tokens.html", tokens=tokens, values=values or {}, secret=secret,
                           created=created), status


@bp.route("", strict_slashes=False)
@login_required(Role.VENUE)
def index() -> tuple[str, int]:
    return _page()


@bp.post("/new")
@login_required(Role.VENUE)
def create() -> tuple[str, int]:
    form = request.form
    account = _account()
    try:
        name = form_text(form, "name", CT.TOKEN_LABELS["name"], required=True, max_len=64)
        until = form_date(form.get("expires", ""), CT.TOKEN_LABELS["expires"])
        expires_at = end_of_day(until, str(services().settings.quota.timezone)) if until else None
        token, secret = token_store().create(name, "read", f"user:{account.username}", expires_at)
    except (FormError, ValidationError) as exc:
        if isinstance(exc, ValidationError) and "future" in str(exc):
            exc = FormError(*CT.TOKEN_EXPIRY_PAST)
        flash_error(exc)
        return _page({k: str(v) for k, v in form.items() if k != "csrf_token"}, 400)
    audit("venue", "token.create", token.id, None, token.as_dict())
    return _page(secret=secret, created=token, status=201)


@bp.post("/<token_id>/revoke")
@login_required(Role.VENUE)
def revoke(token_id: str) -> BaseResponse:
    store = token_store()
    before = store.get(token_id)
    # Another account's token is not there as far as this account can tell.
    if before is None or before.created_by != f"user:{_account().username}":
        abort(404)
    token = store.revoke(token_id, "revoked by its venue account")
    audit("venue", "token.revoke", token_id, before.as_dict(), token.as_dict())
    flash(tr(*CT.token_revoked(token.name)), "ok")
    return redirect(url_for("venue_tokens.index"))
