"""What the venue and NOC consoles share: sign-in sessions, roles, CSRF, language, audit.

Sign-in sessions are server-side: the signed cookie carries only a random session id whose
Redis record (TTL = ``console.session_hours``) names the account. Logout deletes it; a password
change or reset, disabling or deleting the account delete them all — done by the account store
(portal/admin/accounts.py), so the API and ``citywifi admin`` end them too and a copied cookie dies.

Form fields are checked as text where they are decoded (portal/text.py): no control
characters, no invalid Unicode reach a view.

CSRF: every state-changing request (POST/PUT/PATCH/DELETE) outside the phone pages, the
captive API and the bearer-token JSON API must carry the session's token — as the form field
``csrf_token`` or the ``X-CSRF-Token`` header. Phone pages carry their own signed context and
the JSON API uses no cookies, so neither can be ridden by another site.

Views use :func:`login_required` and, for anything taking a venue id, :func:`require_venue`
(404 rather than 403: an operator must not learn which other venues exist).

The service set and the helpers every console view uses (``tr``, ``login_required``, ``audit``…)
are in ``portal/web/console_helpers.py``, re-exported here.
"""

from __future__ import annotations

import hmac
import logging
from datetime import timedelta
from typing import Any

from flask import (
    Blueprint,
    Flask,
    Response,
    abort,
    flash,
    g,
    redirect,
    render_template,
    request,
    session,
    url_for,
)
from werkzeug.wrappers import Response as BaseResponse

from portal.admin.accounts import Account, AccountLocked, BadCredentials, Role
from portal.errors import CitywifiError, NotFound, ValidationError
from portal.runtime.settings import Settings
from portal.text import first_problem
from portal.venues.content_quotas import ContentRefused
from portal.web import console_texts as T
from portal.web.console_helpers import (
    ConsoleServices,
    audit,
    client_ip,
    console_nav,
    console_services,
    csp_nonce,
    csrf_token,
    current_account,
    login_required,
    require_venue,
    tr,
)
from portal.web.console_time import install_console_time
from portal.web.i18n import count_en
from portal.web.safe_next import safe_next
from portal.web.wiring import this_request

__all__ = [
    "ConsoleServices",
    "audit",
    "bp",
    "client_ip",
    "console_services",
    "csp_nonce",
    "csrf_token",
    "current_account",
    "error_page",
    "init_console",
    "is_console_request",
    "login_required",
    "refusal_page",
    "require_venue",
    "tr",
]

log = logging.getLogger("citywifi.console")
bp = Blueprint("console", __name__)

_UNSAFE = frozenset({"POST", "PUT", "PATCH", "DELETE"})
# Blueprints that do not use the console cookie (see module doc).
_CSRF_EXEMPT = frozenset({"phone", "captive", "api", "demo", "ops"})


def _home_for(account: Account) -> str:
    endpoint = "noc_dashboard.dashboard" if account.is_noc else "venue_console.index"
    try:
        return url_for(endpoint)
    except Exception:     # that console is not part of this build: the account page always is
        return url_for("console.password")


# -- request hooks ----------------------------------------------------------------------------------

def _before_request() -> Response | None:
    # The language chosen with the toggle (cookie), else the browser's (Accept-Language), else Chinese.
    from portal.web.i18n import pick_language

    req = this_request()                 # one proxy look-up, not one per attribute (wiring.py)
    chosen = req.cookies.get("cw_lang") if "cw_lang" in req.cookies else None   # no raised miss
    g.console_lang = pick_language(req.headers.get("Accept-Language"), chosen)
    g.account = None
    if not is_console_request():
        return None
    services = console_services()
    session_id = session.get("sid")
    if session_id:
        username = services.session_user(str(session_id))
        account = services.accounts.get(username) if username else None
        if account is None or account.disabled:
            session.pop("sid", None)
        else:
            g.account = account
    if request.method in _UNSAFE:
        sent = request.form.get("csrf_token") or request.headers.get("X-CSRF-Token") or ""
        expected = session.get("csrf") or ""
        if not expected or not hmac.compare_digest(str(sent), str(expected)):
            log.warning("CSRF token missing or wrong: %s %s from %s", request.method, request.path,
                        client_ip())
            zh, en = T.CSRF_REFUSED
            return Response(f"{zh}\n{en}\n", status=400, mimetype="text/plain")
        refused = _form_text_problem()
        if refused is not None:
            return refused
    return None


def _form_text_problem() -> Response | None:
    """400 if a submitted field (name, value or file name) is not text (portal/text.py): the
    same rule as the JSON API, applied where the form is decoded, before any view stores it."""
    fields = [(k, v) for k, values in request.form.lists() for v in values]
    fields += [(k, f.filename or "") for k, files in request.files.lists() for f in files]
    problem = next((p for k, v in fields if (p := first_problem({k: v})) is not None), None)
    if problem is None:
        return None
    log.warning("form refused: %s %s field %s %s, from %s", request.method, request.path, problem.where,
                problem.en, client_ip())
    zh, en = T.form_field_refused(problem.where, problem.zh, problem.en)
    return Response(f"{zh}\n{en}\n", status=400, mimetype="text/plain")


def is_console_request() -> bool:
    """True for console pages (anything not phone, captive API, JSON API or demo)."""
    req = this_request()
    return req.blueprint not in _CSRF_EXEMPT and not req.path.startswith(
        ("/portal", "/api/", "/demo", "/assets/", "/generate_204", "/hotspot-detect", "/healthz", "/readyz",
         "/metrics"))


def error_page(status: int) -> tuple[str, int]:
    """The console's page for an error status (a status without its own words: 500's)."""
    zh, en = T.ERROR_PAGES.get(status, T.INTERNAL_ERROR)
    return render_template("console/error.html", status=status, message=tr(zh, en)), status


def refusal_page(exc: ContentRefused) -> tuple[str, int, dict[str, str]]:
    """Venue content refused by a quota (409), the write rate (429) or the storage watermark
    (507): why, in the console language (deleting is never refused: the way out stays open)."""
    log.warning("venue content refused for %s on %s: %s", getattr(current_account(), "username", "?"),
                request.path, exc.message_en)
    headers = {"Retry-After": str(exc.retry_after)} if exc.retry_after else {}
    return render_template("console/error.html", status=exc.status,
                           message=exc.message(getattr(g, "console_lang", "zh"))), exc.status, headers


def _console_headers(response: Response) -> Response:
    if not is_console_request():
        return response
    # Console pages: our scripts only, no framing (clickjacking), no referrer leaks.
    response.headers.setdefault(
        "Content-Security-Policy",
        f"default-src 'self'; img-src 'self' data:; style-src 'self' 'unsafe-inline'; "
        f"script-src 'self' 'nonce-{csp_nonce()}'; frame-src 'self'; frame-ancestors 'self'; "
        f"form-action 'self'; base-uri 'none'; object-src 'none'")
    response.headers.setdefault("X-Frame-Options", "SAMEORIGIN")
    response.headers.setdefault("Referrer-Policy", "same-origin")
    return response


def init_console(app: Flask, settings: Settings) -> None:
    """Install the console's session settings, hooks, template helpers and routes."""
    app.config.update(
        SESSION_COOKIE_NAME="cw_console",
        SESSION_COOKIE_HTTPONLY=True,
        SESSION_COOKIE_SAMESITE="Lax",
        SESSION_COOKIE_SECURE=settings.console.cookie_secure,
        PERMANENT_SESSION_LIFETIME=timedelta(hours=settings.console.session_hours),
    )
    app.before_request(_before_request)
    app.jinja_env.globals.update(tr=tr, csrf_token=csrf_token, current_account=current_account,
                                 csp_nonce=csp_nonce, console_nav=console_nav, count_en=count_en,
                                 role_names=T.ROLE_NAMES, scope_names=T.SCOPE_NAMES,
                                 login_kind_names=T.LOGIN_KIND_NAMES)
    install_console_time(app, settings.quota.timezone)   # one zone for every console time
    app.after_request(_console_headers)
    app.register_blueprint(bp)


# -- sign in, sign out, own password --------------------------------------------------------------

@bp.route("/login", methods=["GET", "POST"])
def login() -> BaseResponse | str | tuple[str, int]:
    next_url = safe_next(request.values.get("next"))
    if request.method == "GET":
        return render_template("console/login.html", next=next_url or "")
    services = console_services()
    username = request.form.get("username", "").strip().lower()
    # What a stranger typed is only ever stored (audit) or logged cut to a username's length.
    shown = username if len(username) <= 64 else f"{username[:48]}…({len(username)} chars)"
    try:
        account = services.accounts.authenticate(username, request.form.get("password", ""), client_ip())
    except AccountLocked as exc:
        if exc.counted:       # this attempt reached the limit: once per lockout, not per attempt
            log.warning("console sign-in: %r locked (%s s) from %s", shown, exc.retry_after, client_ip())
            services.audit_failed_sign_in(f"user:{shown}", "login.locked", shown, client_ip())
        minutes = -(-exc.retry_after // 60)
        flash(tr(*T.account_locked(minutes)), "error")
        return render_template("console/login.html", next=next_url or "", username=shown), 429
    except BadCredentials:
        log.info("console sign-in failed for %r from %s", shown, client_ip())
        services.audit_failed_sign_in(f"user:{shown}", "login.failed", shown, client_ip())
        flash(tr(*T.BAD_CREDENTIALS), "error")
        return render_template("console/login.html", next=next_url or "", username=shown), 401
    session.clear()       # a fresh session (and CSRF token) after sign-in: no fixation
    session.permanent = True
    session["sid"] = services.open_session(account.username)
    g.account = account
    services.audit.record(f"user:{account.username}", "account", "login", account.username, ip=client_ip())
    return redirect(next_url or _home_for(account))


@bp.post("/logout")
def logout() -> BaseResponse:
    account = current_account()
    session_id = session.get("sid")
    if account is not None and session_id:
        console_services().close_session(str(session_id), account.username)
        audit("account", "logout", account.username)
    session.clear()
    return redirect(url_for("console.login"))


@bp.get("/console/lang/<lang>")
def set_language(lang: str) -> BaseResponse:
    back = safe_next(request.args.get("next")) or url_for("console.login")
    response = redirect(back)
    if lang in ("zh", "en"):
        response.set_cookie("cw_lang", lang, max_age=365 * 86400, samesite="Lax", httponly=True)
    return response


@bp.route("/account/password", methods=["GET", "POST"])
@login_required()
def password() -> str | tuple[str, int]:
    account = current_account()
    assert account is not None
    if request.method == "POST":
        new = request.form.get("new_password", "")
        if new != request.form.get("confirm_password", ""):
            flash(tr(*T.PASSWORDS_DIFFER), "error")
            return render_template("console/password.html"), 400
        services = console_services()
        try:
            services.accounts.change_password(account.username, request.form.get("old_password", ""), new,
                                              client_ip(), keep_session=str(session.get("sid")))
        except (BadCredentials, AccountLocked):
            flash(tr(*T.WRONG_CURRENT_PASSWORD), "error")
            return render_template("console/password.html"), 400
        except ValidationError as exc:
            flash(tr(*T.WEAK_PASSWORD) + f" ({exc})", "error")
            return render_template("console/password.html"), 400
        audit("account", "password.change", account.username)
        flash(tr(*T.PASSWORD_CHANGED), "ok")
    return render_template("console/password.html")


# -- administrators: accounts -----------------------------------------------------------------------

def _account_form() -> dict[str, Any]:
    venues = [v.strip() for v in request.form.get("venues", "").replace("，", ",").split(",") if v.strip()]
    return {"role": request.form.get("role", "venue"), "venues": venues,
            "display_name": request.form.get("display_name", "").strip()}


@bp.route("/admin/users", methods=["GET", "POST"])
@login_required(Role.ADMIN)
def users() -> str | tuple[str, int]:
    services = console_services()
    status = 200
    if request.method == "POST":
        form = _account_form()
        username = request.form.get("username", "").strip().lower()
        try:
            created = services.accounts.create(username, request.form.get("password", ""), form["role"],
                                               form["venues"], form["display_name"])
        except CitywifiError as exc:
            flash(tr(*T.ACCOUNT_NOT_CREATED) + str(exc), "error")
            status = 400
        else:
            audit("account", "account.create", created.username, None, created.public())
            flash(tr(*T.account_created(created.username)), "ok")
    return render_template("console/users.html", accounts=services.accounts.all(), roles=list(Role)), status


@bp.route("/admin/users/<username>", methods=["GET", "POST"])
@login_required(Role.ADMIN)
def user_edit(username: str) -> BaseResponse | str | tuple[str, int]:
    services = console_services()
    account = services.accounts.get(username)
    if account is None:
        abort(404)
    if request.method == "POST":
        action = request.form.get("action", "save")
        me = current_account()
        try:
            if action == "delete":
                if me is not None and me.username == username:
                    raise ValidationError("you cannot delete your own account")
                services.accounts.delete(username)       # ends its sign-ins too
                audit("account", "account.delete", username, account.public(), None)
                flash(tr(*T.account_deleted(username)), "ok")
                return redirect(url_for("console.users"))
            if action == "reset_password":
                services.accounts.set_password(username, request.form.get("password", ""))  # ends sign-ins
                audit("account", "account.password_reset", username)
                flash(tr(*T.PASSWORD_RESET), "ok")
            else:
                form = _account_form()
                disabled = request.form.get("disabled") == "1"
                if me is not None and me.username == username and (disabled or form["role"] != "admin"):
                    raise ValidationError("you cannot disable or demote your own account")
                changed = services.accounts.update(username, role=form["role"], venues=form["venues"],
                                                   display_name=form["display_name"], disabled=disabled)
                audit("account", "account.update", username, account.public(), changed.public())
                account = changed
                flash(tr(*T.SAVED), "ok")
        except (ValidationError, NotFound) as exc:
            flash(tr(*T.NOT_SAVED) + str(exc), "error")
            return render_template("console/user_edit.html", account=account, roles=list(Role)), 400
    return render_template("console/user_edit.html", account=account, roles=list(Role))


@bp.get("/admin/audit")
@login_required(Role.ADMIN, Role.NOC)
def audit_log() -> str:
    """The newest audit entries, filterable by area, actor and target."""
    area = request.args.get("area") or None
    actor = request.args.get("actor") or None
    target = request.args.get("target") or None
    entries = console_services().audit.recent(200, area=area, actor=actor, target=target)
    return render_template("console/audit.html", entries=entries, area=area or "", actor=actor or "",
                           target=target or "")
