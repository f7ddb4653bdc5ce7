"""The portal web application: Flask app factory, one blueprint per audience.

``create_app(settings, redis=None)`` wires the services once (:func:`portal.web.wiring.
build_services`, kept in ``app.extensions["citywifi"]``); ``create_app(services)`` takes a set
already wired (tests, with the pieces they replace). It registers ``phone`` (landing, code,
login, ad, status, logout), ``captive`` (RFC 8908 API and OS probe URLs), the venue and NOC
consoles, ``/api/v1`` and, in demo mode, ``demo`` (the SMS outbox page).
"""

from __future__ import annotations

import logging
from typing import Any

from flask import Flask, Request, Response, request
from flask.sessions import SecureCookieSession, SecureCookieSessionInterface

from portal.runtime.settings import Settings
from portal.web.wiring import EXTENSION, Services, build_services, services

__all__ = ["Services", "build_services", "create_app", "public_base_url", "services"]

log = logging.getLogger("citywifi.web")


def public_base_url() -> str:
    """``http(s)://host[:port]`` phones reach the portal at, for absolute links (probe redirects,
    RFC 8908 and WISPr URLs): ``web.public_url``, never the Host header a client chose. Only
    where it may be empty (demo mode; ``citywifi web`` refuses otherwise) the request's own host."""
    return services().settings.web.public_url.rstrip("/") or request.host_url.rstrip("/")


def create_app(config: Settings | Services, redis: Any = None) -> Flask:
    """The WSGI app. ``config``: the settings (the services are wired from them and ``redis``;
    None = connect with ``settings.redis``, lazily, per process) or a :class:`Services` set."""
    from portal.phone.login import web_secret
    from portal.web.api import init_api
    from portal.web.client_address import ForwardedHeaders, ProxyTrust
    from portal.web.console import init_console
    from portal.web.phone import captive, gateway_pages, phone_pages

    if isinstance(config, Services):
        if redis is not None:
            raise TypeError("create_app(services): the services carry their own Redis client")
        wired = config
    else:
        wired = build_services(config, redis)
    settings = wired.settings
    app = Flask(__name__)
    # Before anything reads the request: who the client is (web.trusted_proxies, web.proxy_hops).
    app.wsgi_app = ForwardedHeaders(app.wsgi_app, ProxyTrust.from_settings(settings.web))  # type: ignore[method-assign]
    app.config.update(SECRET_KEY=web_secret(settings), MAX_CONTENT_LENGTH=64 * 1024,
                      JSON_AS_ASCII=False)
    app.extensions[EXTENSION] = wired
    app.session_interface = _CookieFirstSessions()
    app.register_blueprint(phone_pages.bp)
    app.register_blueprint(gateway_pages.bp)    # POST /portal/gateway: a gateway's login-page form
    app.register_blueprint(captive.bp)
    from portal.web.phone import asset_routes

    app.register_blueprint(asset_routes.bp)
    if settings.web.demo:
        from portal.web.phone import demo_outbox

        app.register_blueprint(demo_outbox.bp)
    init_console(app, settings)
    from portal.web.venue import venue_campaigns, venue_console, venue_tokens

    app.register_blueprint(venue_console.bp)
    app.register_blueprint(venue_campaigns.bp)  # /venue/campaigns: ad campaigns and their figures
    app.register_blueprint(venue_tokens.bp)     # /venue/tokens: a venue account's own API tokens
    from portal.web import ops
    from portal.web.noc import noc_dashboard

    ops.init_ops(app)                           # /metrics, /healthz, /readyz
    app.register_blueprint(noc_dashboard.bp)    # /noc live dashboard
    from portal.web.noc import noc_sessions, noc_users

    app.register_blueprint(noc_sessions.bp)     # /noc/sessions: online sessions, kick
    app.register_blueprint(noc_users.bp)        # /noc/users: a phone's plan, usage, devices
    from portal.web import reports_page
    from portal.web.noc import noc_acs, noc_blocklist, noc_jobs, noc_logs, noc_plans, noc_tokens
    for module in (noc_plans, noc_acs, noc_blocklist, noc_tokens, noc_logs, noc_jobs, reports_page):
        app.register_blueprint(module.bp)       # /noc/plans, /noc/acs, /noc/blocklist, /noc/tokens, /noc/logs
    init_api(app)
    from portal.web.gateway import gateway_hook

    app.register_blueprint(gateway_hook.bp)     # /api/gateway: what gateways post (openNDS events)
    app.register_blueprint(gateway_hook.authmon_bp)     # POST /portal: openNDS level-3 authmon polls
    _dispatch_errors(app)

    @app.after_request
    def _no_store(response: Response) -> Response:
        # Portal pages and probe answers must never be cached (docs/protocols/captive-clients.md §2.6).
        # Names present, read in one pass: werkzeug's Headers raise (and catch) an HTTPException
        # for each name a setdefault() or get() misses, three to four per phone response.
        present = {name.lower() for name, _ in response.headers}
        if "cache-control" not in present:
            response.headers["Cache-Control"] = "no-store"
        if "x-content-type-options" not in present:
            response.headers["X-Content-Type-Options"] = "nosniff"
        if "referrer-policy" not in present and request.path.startswith("/portal"):
            response.headers["Referrer-Policy"] = "no-referrer"
        from portal.web.console import is_console_request

        if not is_console_request():
            _forbid_framing(response, "content-security-policy" in present)
        return response

    return app


class _CookieFirstSessions(SecureCookieSessionInterface):
    """Flask's signed-cookie sessions (the consoles'), looking for the cookie before building
    the signing serializer: phones and probes never send one, and Flask built a serializer (key
    derivation set-up included) for each of their requests only to find no cookie."""

    def open_session(self, app: Flask, request: Request) -> SecureCookieSession | None:
        name = self.get_cookie_name(app)     # `in` first: a get() miss raises inside werkzeug
        if app.secret_key and not (name in request.cookies and request.cookies.get(name)):
            return self.session_class()
        return super().open_session(app, request)


def _forbid_framing(response: Response, has_policy: bool = True) -> None:
    """Phone pages, probes, the captive API and assets are never shown inside another page: a
    framing site could overlay the login or logout buttons (clickjacking). Console pages set
    their own policy (same-origin framing, for the venue page preview)."""
    response.headers["X-Frame-Options"] = "DENY"
    policy = response.headers.get("Content-Security-Policy", "") if has_policy else ""
    if "frame-ancestors" not in policy:
        response.headers["Content-Security-Policy"] = (
            f"{policy.rstrip('; ')}; frame-ancestors 'none'" if policy else "frame-ancestors 'none'")


def _dispatch_errors(app: Flask) -> None:
    """One error handler per kind, choosing the audience's answer: JSON for the API, the
    console's page for the consoles, the phone's page (zh/en, venue-neutral) for the rest."""
    from werkzeug.exceptions import HTTPException

    from portal.phone.login import LoginError
    from portal.venues.content_quotas import ContentRefused
    from portal.web import console
    from portal.web.api import api_base
    from portal.web.phone import phone_pages

    @app.errorhandler(HTTPException)
    def _http(exc: HTTPException) -> Any:
        if request.path.startswith("/api/"):
            return api_base.http_error(exc)
        if console.is_console_request():
            return console.error_page(exc.code or 500)
        return phone_pages.http_error(exc)

    @app.errorhandler(LoginError)
    def _login_error(exc: LoginError) -> Any:
        return phone_pages.login_error(exc)

    @app.errorhandler(Exception)
    def _any(exc: Exception) -> Any:
        if request.path.startswith("/api/"):
            return api_base.internal_error(exc)
        if isinstance(exc, ContentRefused) and console.is_console_request():
            return console.refusal_page(exc)       # a quota or the storage watermark, in zh/en
        if console.is_console_request():
            from portal.state import STATE_ERRORS

            if isinstance(exc, STATE_ERRORS):
                log.error("Redis unavailable serving %s: %s", request.path, exc)
                return console.error_page(503)
            log.exception("unexpected error serving %s", request.path)
            return console.error_page(500)
        return phone_pages.internal_error(exc)
