"""Administrators' console: API tokens (``/noc/tokens``) — create (name, scope, optional expiry;
the secret is shown once), revoke, list with last use.

Tokens are created only here, by a signed-in administrator: no API operation creates or revokes
a token, so a leaked token cannot mint itself successors. ``GET /api/v1/tokens`` (write scope)
lists them read-only for audit scripts. A token acts for the administrator who created it and
dies with that account (portal/admin/apitokens.py).
"""

from __future__ import annotations

from flask import Blueprint, flash, redirect, render_template, request, url_for
from werkzeug.wrappers import Response as BaseResponse

from portal.admin.accounts import Role
from portal.admin.apitokens import SCOPES, ApiTokenStore
from portal.errors import NotFound, ValidationError
from portal.web import console_texts as CT
from portal.web.console import audit, current_account, login_required, tr
from portal.web.noc import texts as T
from portal.web.noc.noc_forms import FormError, end_of_day, flash_error, form_date, form_text
from portal.web.wiring import services

__all__ = ["bp", "token_store"]

bp = Blueprint("noc_tokens", __name__, url_prefix="/noc/tokens")


def token_store() -> ApiTokenStore:
    return services().api_tokens


def _page(values: dict[str, str] | None = None, status: int = 200) -> tuple[str, int]:
    return render_template("noc/tokens.html", tokens=list(reversed(token_store().all())), scopes=SCOPES,
                           values=values or {}), status


@bp.route("", strict_slashes=False)
@login_required(Role.ADMIN)
def index() -> tuple[str, int]:
    return _page()


@bp.post("/new")
@login_required(Role.ADMIN)
def create() -> tuple[str, int]:
    form = request.form
    try:
        name = form_text(form, "name", CT.TOKEN_LABELS["name"], required=True, max_len=64)
        scope = form.get("scope", "")
        if scope not in SCOPES:
            raise FormError(*T.CHOOSE_TOKEN_SCOPE)
        until = form_date(form.get("expires", ""), CT.TOKEN_LABELS["expires"])
        expires_at = end_of_day(until, str(services().settings.quota.timezone)) if until else None
        account = current_account()
        assert account is not None
        token, secret = token_store().create(name, scope, f"user:{account.username}", expires_at)
    except (FormError, ValidationError) as exc:
        if isinstance(exc, ValidationError) and "future" in str(exc):
            exc = FormError(*CT.TOKEN_EXPIRY_PAST)
        flash_error(exc)
        return _page({k: str(v) for k, v in form.items() if k != "csrf_token"}, 400)
    audit("noc", "token.create", token.id, None, token.as_dict())
    return render_template("noc/token_secret.html", token=token, secret=secret), 201


@bp.post("/<token_id>/revoke")
@login_required(Role.ADMIN)
def revoke(token_id: str) -> BaseResponse:
    store = token_store()
    before = store.get(token_id)
    try:
        token = store.revoke(token_id)
    except NotFound:
        flash(tr(*CT.NO_SUCH_TOKEN), "error")
        return redirect(url_for("noc_tokens.index"))
    audit("noc", "token.revoke", token_id, before.as_dict() if before else None, token.as_dict())
    flash(tr(*CT.token_revoked(token.name)), "ok")
    return redirect(url_for("noc_tokens.index"))
