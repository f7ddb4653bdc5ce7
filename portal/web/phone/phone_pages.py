"""Phone pages: landing (AC redirect) → code → login → success; returning phone → ad → login;
status and logout; the WISPr 1.0 login for smart clients.

Everything in the AC's redirect is a claim made through the phone. Each request is checked
against what the portal can really see (``portal.phone.device_guard``): the observed peer address
(:func:`observed_address`, the one place that reads it) must be the redirect's user IP where the
AC's ``client_address_check`` is on; behind NAT the AC's encrypted MAC or a browser binding
cookie stands in. Every phone POST needs a token from our own page — the signed context ``c``
(code, login, ad, WISPr) or the session token ``s`` (logout) — and a POST whose ``Origin`` names
another site is refused outright (CSRF). Phone numbers from the state are shown only masked and
only to the browser that proved them.
"""

from __future__ import annotations

import contextlib
import dataclasses
import html
import logging
from typing import Any
from urllib.parse import urlencode, urlsplit

from flask import Blueprint, Response, redirect, request, url_for
from werkzeug.exceptions import HTTPException
from werkzeug.wrappers import Response as BaseResponse

from ad_pages import texts
from portal.phone.device_guard import BINDING_COOKIE, PROOF_COOKIE, DeviceGuard
from portal.phone.login import LoginError, LoginSuccess, PhoneContext
from portal.phone.login_types import mask_phone, plan_title
from portal.phone.phone_memory import decode_query
from portal.state import STATE_ERRORS
from portal.units import format_duration, format_octets, format_rate
from portal.venues.pages import build_context
from portal.venues.venue_store import FALLBACK, Venue
from portal.web import services
from portal.web.client_address import client_address
from portal.web.errors import user_error
from portal.web.i18n import other_language, pick_language
from portal.web.phone import gateway_pages, gateway_phone, phone_lookup
from portal.web.phone.captive import probe_for_host
from portal.web.phone.late_tokens import hide_tokens
from portal.web.phone.phone_origin import LogLimiter, foreign_origin, form_or_query
from portal.web.phone.venue_csp import VENUE_PAGE_CSP, new_nonce, shipped_script_sources, venue_page_csp
from portal.web.wiring import this_request

__all__ = ["VENUE_PAGE_CSP", "bp", "http_error", "internal_error", "login_error", "observed_address"]

log = logging.getLogger("citywifi.web.phone")
_errors_log = LogLimiter(log, burst=20, window=10.0)   # per error code: bad links are free to send

bp = Blueprint("phone", __name__)

PHONE_INPUT_MAX = 65
"""Characters of a posted phone number passed on: one more than ``sms_gateway.numbers`` accepts,
so an overlong value is refused as a whole, never cut into a valid-looking number."""


def observed_address() -> str:
    """The address this request really came from: the peer after the deployment's trusted
    proxies (``portal.web.client_address``). The one place phone views read it."""
    return client_address() or "unknown"


def _guard() -> DeviceGuard:
    """The app's guard (signed with the journey's key)."""
    return services().device_guard


def _set_cookie(response: BaseResponse, name: str, value: str, ttl: int) -> None:
    # Lax: sent on the AC's redirect (a top-level GET from anywhere), never on another site's POST.
    # Path "/": the landing answers on "/" too, and a binding must hold whichever path names a device.
    response.set_cookie(name, value, max_age=ttl, path="/", httponly=True, samesite="Lax",
                        secure=request.is_secure)


def _foreign_origin() -> bool:
    return foreign_origin(services().settings.web.public_url)


def _lang(venue: Venue | None = None) -> str:
    allowed = venue.languages if venue is not None and venue.languages else ("zh", "en")
    return pick_language(this_request().headers.get("Accept-Language"), form_or_query("lang"), allowed)


def _other_lang_url(lang: str) -> str:
    req = this_request()
    if req.method != "GET":
        return ""
    args = req.args.to_dict()
    args["lang"] = other_language(lang)
    return f"{req.path}?{urlencode(args)}"


def _urls() -> dict[str, str]:      # the same on every page: built once per script root
    if (found := _URLS.get(request.script_root)) is None:
        found = _URLS[request.script_root] = {"code": url_for("phone.code"), "login": url_for("phone.login"),
                                              "next": url_for("phone.ad_continue"),
                                              "logout": url_for("phone.logout")}
    return dict(found)


_URLS: dict[str, dict[str, str]] = {}


def _render(page: str, venue: Venue, lang: str, status: int = 200, *, ctx: PhoneContext | None = None,
            **values: Any) -> Response:
    svc = services()
    # One context builder for phones and the console preview (portal.venues.pages, docs/templates.md).
    try:
        source = svc.pages.source_for(venue, page)
        assets = svc.assets.urls(venue.id) if source else {}
    except STATE_ERRORS:
        log.warning("venue %s page %s: published source unreadable; default page", venue.id, page)
        source, assets = None, {}
    if source and svc.breaker.is_open(venue.id, page, source):
        source = None           # this version blew its budget on a phone moments ago: default page
    lang_url = values.pop("lang_url", "") or _other_lang_url(lang)
    nonce = new_nonce() if source and venue.scripts_allowed else ""   # NOC opt-in: venue_csp.py
    context = build_context(venue, lang, urls=_urls(), lang_url=lang_url,
                            digits=svc.settings.otp.digits, assets=assets, **values, csp_nonce=nonce)
    # Venue code never sees the phone's tokens (late_tokens.py); our default pages place them
    # where binding would (test_late_tokens.py renders both ways), so they skip hide and re-parse.
    context, late = hide_tokens(context) if source else (context, None)
    try:
        result = svc.renderer.render(page, context, source)
    except Exception:     # the default template itself failed: still never a bare 500
        log.exception("default page %s failed to render", page)
        message = html.escape(str(context.get("error") or "Error"))
        return Response(f"<!doctype html><meta charset=utf-8><p>{message}</p>",
                        status=500 if status < 400 else status, mimetype="text/html")
    if result.fallback_reason:
        svc.breaker.observe(venue.id, page, source or "", result.fallback_reason)   # budget: cool-down
        log.warning("venue %s page %s: fallback to default (%s)", venue.id, page, result.fallback_reason)
        with contextlib.suppress(*STATE_ERRORS):
            svc.pages.record_fallback(venue.id, page, result.fallback_reason)
    response = Response(late.bind(result.html) if late else result.html, status=status, mimetype="text/html")
    if late and late.ambiguous:     # the venue's forms get no token (portal/web/phone/late_tokens.py)
        log.warning("venue %s page %s: no token bound (%s)", venue.id, page, late.ambiguous)
    if result.source == "venue":
        # Untrusted HTML seeing the phone's tokens: nothing foreign; scripts only by NOC opt-in.
        response.headers["Content-Security-Policy"] = venue_page_csp(
            (*venue.redirect_hosts, *svc.settings.web.redirect_hosts), script_nonce=nonce,
            script_hashes=shipped_script_sources(result.html),      # our own scripts, unchanged
            any_form_target=ctx is not None and svc.journey.hands_off_to_gateway(ctx))
    return response


def _error_values(exc: LoginError, lang: str) -> tuple[dict[str, Any], int]:
    err = user_error(exc.code, lang, retry_after=exc.retry_after, attempts_left=exc.attempts_left,
                     reply_message=exc.reply_message,
                     carriers=services().settings.number_policy.allowed_carriers)
    _errors_log.log(exc.code, logging.INFO, "phone error code=%s status=%s ip=%s detail=%r", exc.code,
                    err.status, client_address(), exc.detail[:120])
    return {"error": err.message, "error_code": err.code}, err.status


def _error_page(code: str, lang: str, venue: Venue | None = None, **kw: Any) -> Response:
    values, status = _error_values(LoginError(code, **kw), lang)
    return _render("error", venue or FALLBACK, lang, status, retry_url="", **values)


def _context() -> tuple[PhoneContext, str]:
    journey = services().journey
    c = request.values.get("c", "")
    return journey.open_context(c), c


def _login_page(ctx: PhoneContext, c: str, lang: str, status: int = 200, **values: Any) -> Response:
    venue = services().journey.venue(ctx)
    from portal.web.phone.wispr import redirect_block

    return _render("login", venue, lang, status, ctx=ctx, c=c, wispr=redirect_block(c, venue, ctx), **values)


# --- landing -----------------------------------------------------------------------------------

@bp.get("/")
@bp.get("/portal")
def landing() -> BaseResponse:
    """The AC's redirect (or a gateway's "how the logon ended", ``gateway_pages``) lands here.
    Without parameters (probe, RFC 8908 ``user-portal-url``, typed ``/portal``) the remembered
    redirect is replayed through the same checks (``phone_lookup``), else a how-to page."""
    journey = services().journey
    query = {k: v for k, v in request.args.lists() if k not in ("lang",)}
    lang = _lang()
    if query and (page := gateway_pages.result_page(query, lang)) is not None:
        return page
    recalled = not query
    if recalled:
        probe = probe_for_host()             # a probe host whose check URL is "/" (Ubuntu)
        if probe is not None:
            return probe
        if phone_lookup.own_login() is not None:
            return redirect(url_for("phone.status", lang=request.args.get("lang") or None), 303)
        remembered = phone_lookup.remembered_query()
        if not remembered:
            return _offline_page(lang, known=False)
        query = decode_query(remembered)
    guard = _guard()
    binding = None
    try:
        ctx = journey.context(query)
        mode = journey.device_check(ctx)
        guard.check_address(mode, ctx.user_ip, observed_address())
        if mode == "cookie":
            binding = guard.bind(ctx, request.cookies.get(BINDING_COOKIE))
        proven = guard.proven(ctx, request.cookies.get(PROOF_COOKIE))
        ctx = dataclasses.replace(ctx, phone_proof=journey.phone_proof(ctx, proven))
        c = journey.sign_context(ctx)
        venue = journey.venue(ctx)
        lang = _lang(venue)
        land = journey.landing(ctx, lang)
    except LoginError as exc:
        if recalled:
            # What was remembered no longer lands (AC removed, another device in this browser…):
            # forget it and explain the way to a fresh redirect instead of an error.
            log.info("remembered redirect for %s no longer lands: %s", observed_address(), exc)
            response = _offline_page(lang, known=False)
            phone_lookup.forget(response)
            return response
        err_values, err_status = _error_values(exc, lang)
        return _render("error", journey.venue("none"), lang, err_status, retry_url="", **err_values)
    if land.ad is not None:
        response = _ad_page(ctx, c, venue, lang, land.ad.ticket, land.ad.seconds, land.ad.ad)
    else:
        values: dict[str, Any] = {}
        status = 200
        if land.refusal is not None:
            values, status = _error_values(land.refusal, lang)
        response = _login_page(ctx, c, lang, status, phone=land.phone, code_sent=land.code_pending,
                               resend_in=land.resend_in, **values)
    if binding is not None:
        _set_cookie(response, BINDING_COOKIE, binding, guard.binding_ttl)
    if not recalled:
        phone_lookup.remember(response, ctx, mode, query)
    return response


def _offline_page(lang: str, venue: Venue | None = None, status: int = 200, *, known: bool | None = None,
                  **values: Any) -> Response:
    """The status page of a phone that is not online, with the way (back) to the login page:
    "log in" replays its remembered redirect (``known``; None = look it up); with nothing
    remembered, the page explains that the Wi-Fi's own redirect is needed and links to a
    plain-http address the AC intercepts (``web.intercepted_url``)."""
    t = texts(lang)
    if online_elsewhere := values.pop("online_elsewhere", False):   # known by its redirect alone:
        login_url, help_text = "", t["online_elsewhere"]             # the state, never the figures
    elif known if known is not None else bool(phone_lookup.remembered_query()):
        login_url, help_text = url_for("phone.landing", lang=lang), t["offline_help"]
    else:
        login_url, help_text = services().settings.web.intercepted_url, t["offline_unknown"]
    # After a POST (logout) the language link leads to this same status, in the other language.
    lang_url = "" if request.method == "GET" else url_for("phone.status", lang=other_language(lang))
    return _render("status", venue or services().journey.venue("none"), lang, status, online=False,
                   login_url=login_url, help=help_text, lang_url=lang_url, online_elsewhere=online_elsewhere,
                   **values)


def _ad_page(ctx: PhoneContext, c: str, venue: Venue, lang: str, ticket: str, seconds: int,
             ad: dict[str, str], status: int = 200, **values: Any) -> Response:
    return _render("ad", venue, lang, status, ctx=ctx, c=c, ticket=ticket, seconds=seconds, ad=ad, **values)


# --- SMS code and login -------------------------------------------------------------------------

def _checked_context() -> tuple[PhoneContext, str]:
    """The signed context of a phone POST, after the checks every such POST needs: not from
    another site, and from the device itself where the AC's address check is on."""
    if _foreign_origin():
        raise LoginError("foreign_request", detail=f"Origin {request.headers.get('Origin', '')[:100]!r}")
    ctx, c = _context()
    _guard().check_address(services().journey.device_check(ctx), ctx.user_ip, observed_address())
    return ctx, c


def _posted_form() -> tuple[PhoneContext, str, str, str] | Response:
    """The signed context, its token, the venue's language and the phone number of a POST, or
    the error page when the context is missing, forged, expired or not this device's."""
    lang = _lang()
    try:
        ctx, c = _checked_context()
    except LoginError as exc:
        return _error_page(exc.code, lang)
    phone = request.form.get("phone", "").strip()[:PHONE_INPUT_MAX]
    return ctx, c, _lang(services().journey.venue(ctx)), phone


@bp.post("/portal/code")
def code() -> Response:
    journey = services().journey
    form = _posted_form()
    if isinstance(form, Response):
        return form
    ctx, c, lang, shown = form
    phone = journey.posted_phone(ctx, shown)
    if not phone:
        values, status = _error_values(LoginError("phone_missing"), lang)
        return _login_page(ctx, c, lang, status, **values)
    try:
        sent = journey.request_code(ctx, phone, lang, observed=observed_address())
    except LoginError as exc:
        values, status = _error_values(exc, lang)
        return _login_page(ctx, c, lang, status, phone=shown, code_sent=exc.code == "resend_too_soon",
                           resend_in=exc.retry_after if exc.code == "resend_too_soon" else 0, **values)
    t = texts(lang)
    # This browser typed the number: the page (a fresh context proving it) and a cookie for a
    # reopened window may offer it back — masked, like everywhere a page repeats a number.
    ctx = dataclasses.replace(ctx, phone_proof=journey.phone_proof(ctx, sent.phone))
    response = _login_page(ctx, journey.sign_context(ctx), lang, phone=mask_phone(sent.phone),
                           code_sent=True, resend_in=sent.resend_in,
                           notice=f"{t['code_sent']} {mask_phone(sent.phone)}")
    guard = _guard()
    _set_cookie(response, PROOF_COOKIE, guard.proof(ctx, sent.phone), guard.proof_ttl)
    return response


@bp.post("/portal/login")
def login() -> Response:
    journey = services().journey
    form = _posted_form()
    if isinstance(form, Response):
        return form
    ctx, c, lang, shown = form
    code = request.form.get("code", "").strip()[:12]
    try:
        ok = journey.login_with_code(ctx, journey.posted_phone(ctx, shown), code, page=c,
                                     observed=observed_address())
    except LoginError as exc:
        values, status = _error_values(exc, lang)
        return _login_page(ctx, c, lang, status, phone=shown, code_sent=bool(shown), **values)
    return _success_page(ctx, ok, lang)


def _success_page(ctx: PhoneContext, ok: LoginSuccess, lang: str) -> Response:
    if ok.handoff:      # the gateway lets the phone in when it follows this (gateway_login)
        return gateway_phone.handoff_page(ctx, ok, lang)
    venue = services().journey.venue(ctx)
    status_url = url_for("phone.status", s=ok.session_token, lang=lang)
    # A venue may also show a campaign on the success page (impression counted, no countdown).
    ad = services().journey.campaign_ad(ctx, ok.phone, lang) if venue.ads_on_success else None
    return phone_lookup.keep_session(_render(
        "success", venue, lang, redirect_url=ok.redirect_url, delay=ok.delay, ad=ad, status_url=status_url,
        redirect_host=urlsplit(ok.redirect_url).hostname or "" if ok.redirect_url else "",
        plan=plan_title(ok.plan, lang)), ok.session_token)


# --- returning phone ------------------------------------------------------------------------------

@bp.post("/portal/continue")
def ad_continue() -> BaseResponse:
    journey = services().journey
    lang = _lang()
    try:
        ctx, c = _checked_context()
    except LoginError as exc:
        return _error_page(exc.code, lang)
    venue = journey.venue(ctx)
    lang = _lang(venue)
    ticket = request.form.get("ticket", "")
    try:
        ok = journey.redeem_ad(ctx, ticket, observed=observed_address())
    except LoginError as exc:
        values, status = _error_values(exc, lang)
        if exc.code == "too_early":
            # Same ticket, the countdown resumes with what is really left.
            return _ad_page(ctx, c, venue, lang, ticket, exc.retry_after,
                            journey.ticket_ad(ctx, ticket, lang), status, **values)
        retry = url_for("phone.landing") + "?" + urlencode(journey.redirect_query(ctx))  # same context
        return _render("error", venue, lang, status, retry_url=retry, **values)
    if ok.redirect_url:
        # Allow-listed by PhoneJourney.redirect_target.
        return phone_lookup.keep_session(redirect(ok.redirect_url, 303), ok.session_token)
    return _success_page(ctx, ok, lang)


@bp.get("/portal/ad/click/<campaign_id>")
def ad_click(campaign_id: str) -> BaseResponse:
    """Count a click (signed token ``t``) and 302 to the campaign's STORED URL — nothing in
    the request can choose the target, so this is no open redirect — and only if its host is on
    the allow-list of the venue the ad was shown at (else an error page)."""
    from portal.errors import NotFound

    try:
        target = services().journey.ad_click(campaign_id[:64], request.args.get("t", "")[:2000])
    except NotFound:
        return _error_page("not_found", _lang())
    except LoginError as exc:       # the stored URL's host is not allowed (any more)
        return _error_page(exc.code, _lang())
    return redirect(target, 302)


# --- status and logout ------------------------------------------------------------------------------

def _online_status(lang: str) -> tuple[str, str, Any] | Response:
    """(AC, user IP, status view) of the phone's online session, or the page to show instead
    (an error, or "offline"); for the status page and a gateway phone's welcome page."""
    token = request.values.get("s", "")
    try:
        found = phone_lookup.own_login(token)     # the link's token, the session cookie, the address
    except LoginError as exc:
        return _error_page(exc.code, lang)
    return found or _offline_page(lang, online_elsewhere=not token and phone_lookup.remembered_online())


@bp.get("/portal/status")
def status() -> Response:
    journey = services().journey
    lang = _lang()
    online = _online_status(lang)
    if isinstance(online, Response):
        return online
    ac, ip, view = online
    venue = journey.venue(view.venue)
    token = request.values.get("s", "")
    if not token:
        # Found by the request's own address: the logout form still needs our token.
        token = journey.session_token(ac, ip, view.phone)
    return _render("status", venue, lang, online=True, s=token,
                   phone=view.phone[:3] + "****" + view.phone[-4:] if view.phone else "",
                   plan=view.plan_in(lang),
                   time_left=format_duration(view.seconds_remaining),
                   data_left=format_octets(view.bytes_remaining),   # decimal units, as the NOC's
                   rate=format_rate(view.down_kbps, view.up_kbps), devices=view.devices,
                   max_devices=view.max_devices or 0)


@bp.post("/portal/logout")
def logout() -> BaseResponse:
    """Logout needs the session token of our status page (``s``): a third-party page can make
    a phone's browser POST here, but cannot know the token. Where the AC's address check is on,
    it must also come from the phone's own address."""
    journey = services().journey
    lang = _lang()
    token = request.form.get("s", "")
    if _foreign_origin() or not token:
        log.info("logout refused: no page token or foreign Origin %r from %s",
                 request.headers.get("Origin", "")[:100], observed_address())
        return _error_page("foreign_request", lang)
    try:
        ac, ip, phone = journey.open_session_token(token)
        if journey.acs.get_or_none(ac) is not None and journey.checks_addresses(ac):
            _guard().check_address("address", ip, observed_address())
    except LoginError as exc:
        return _error_page(exc.code, lang)
    view = journey.status(ac, ip, phone or None)
    if not view.online:
        return _error_page("not_online", lang)
    away = gateway_phone.logout_page(ac, ip, lang)      # openNDS, Chilli, MikroTik: the gateway ends it
    if away is not None or not journey.logout(ac, ip):
        return away if away is not None else _error_page("ac_timeout", lang, journey.venue(view.venue))
    return _offline_page(lang, journey.venue(view.venue), notice=texts(lang)["logged_out"])


# --- errors --------------------------------------------------------------------------------------

def http_error(exc: HTTPException) -> Response:
    """A phone-facing page for an HTTP error (404, 405, a bad link)."""
    code = {404: "not_found", 405: "method", 413: "too_large"}.get(exc.code or 0, "bad_link")
    return _error_page(code, _lang())


def login_error(exc: LoginError) -> Response:
    values, status = _error_values(exc, _lang())
    return _render("error", FALLBACK, _lang(), status, retry_url="", **values)


def internal_error(exc: Exception) -> Response:
    """Anything unexpected while serving a phone: a calm page, the details in the log."""
    if isinstance(exc, STATE_ERRORS):
        log.error("Redis unavailable serving %s: %s", request.path, exc)
        return _error_page("state_unavailable", _lang())
    log.exception("unexpected error serving %s", request.path)
    return _error_page("internal", _lang())


from portal.web.phone import gateway_welcome as _welcome  # noqa: E402,F401  (adds /portal/welcome to bp)
from portal.web.phone import wispr as _wispr_views  # noqa: E402,F401  (adds /portal/wispr to bp)
