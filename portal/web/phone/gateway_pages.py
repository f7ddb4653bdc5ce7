"""Gateway landings that are not a login redirect: how a logon ended (CoovaChilli ``res=success|
already|failed|logoff``, a MikroTik login page with ``error``), and the form a gateway's own
login page posts (``POST /portal/gateway``: MikroTik's ``login.html`` trampoline).

Chilli sends the phone back to our portal URL after it asked our RADIUS; the landing hands such
queries here before any login context is built (``portal.phone.gateway_login.gateway_result``, which
verifies the gateway's signature first). success / already → the allow-listed ``userurl``, else
our status page; failed → the reason (the RADIUS Reply-Message Chilli passes on) and a link to
the gateway's ``/prelogin``, which starts a fresh login; logoff → the offline page.
"""

from __future__ import annotations

import logging
from typing import Any
from urllib.parse import urlencode

from flask import Blueprint, Response, redirect, request, url_for
from werkzeug.wrappers import Response as BaseResponse

from ad_pages import texts
from portal.phone.gateway_login import check_source, gateway_result
from portal.phone.login_types import LoginError
from portal.web import services

__all__ = ["bp", "result_page"]

log = logging.getLogger("citywifi.web.gateway")

bp = Blueprint("gateway_pages", __name__)
_MAX_FIELDS = 40


@bp.post("/portal/gateway")
def posted_landing() -> BaseResponse:
    """A gateway's login page (RouterOS ``deploy/mikrotik/login.html``) posts its variables
    here from the phone's browser: the same landing as a redirect, so 303 to ``/portal`` with
    them as the query (every check happens there). No page token can exist yet: this is the
    first request; an Origin of another site is expected (the router's page)."""
    fields = [(k, v[:2000]) for k, v in list(request.form.items(multi=False))[:_MAX_FIELDS]]
    return redirect(url_for("phone.landing") + "?" + urlencode(fields), 303)


@bp.get("/guest/s/<site>/")
def unifi_landing(site: str) -> BaseResponse:
    """UniFi's external-portal redirect (``/guest/s/<site>/?id=…&ap=…&url=…&ssid=…``): the
    usual landing, with the site that names the registry entry."""
    given = [(k, v[:2000]) for k, v in list(request.args.items())[:_MAX_FIELDS] if k != "unifi_site"]
    fields = [("unifi_site", site[:64]), *given]
    return redirect(url_for("phone.landing") + "?" + urlencode(fields), 303)


def result_page(query: dict[str, Any], lang: str) -> BaseResponse | None:
    """The page for a gateway result landing; None when ``query`` is no such landing."""
    from portal.web.phone import phone_pages  # phone_pages imports this module: import when called

    journey = services().journey
    try:
        check_source(journey, query, phone_pages.observed_address())
        result = gateway_result(journey, query)
    except LoginError as exc:
        values, status = phone_pages._error_values(exc, lang)
        return phone_pages._render("error", journey.venue("none"), lang, status, retry_url="", **values)
    if result is None:
        return None
    venue = journey.venues.resolve(result.ac, None, None)
    log.info("gateway %s: res=%s for %s", result.ac, result.res, result.user_ip)
    if result.res in ("success", "already"):
        if result.next_url:
            return redirect(result.next_url, 303)
        if result.session_token:
            return redirect(url_for("phone.status", s=result.session_token, lang=lang), 303)
        target = journey.redirect_target(venue)       # a login we no longer know of
        if target:
            return redirect(target, 303)
        values, status = phone_pages._error_values(LoginError("gateway_online"), lang)
        return phone_pages._render("error", venue, lang, status, retry_url="", **values)
    if result.res == "logoff":
        journey.close(result.ac, result.user_ip, result.mac, "gateway logoff")
        return phone_pages._offline_page(lang, venue, notice=texts(lang)["logged_out"])
    values, status = phone_pages._error_values(LoginError("ac_rejected", reply_message=result.reply), lang)
    response: Response = phone_pages._render("error", venue, lang, status, retry_url=result.retry_url,
                                             **values)
    return response

