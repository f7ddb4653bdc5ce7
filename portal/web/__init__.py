"""The portal web application: Flask app factory, one blueprint per audience.

``create_app(settings, redis=None)`` builds the services once (``app.extensions["citywifi"]``)
and registers ``phone`` (landing, code, login, ad, status, logout), ``captive`` (RFC 8908 API
and OS probe URLs) and, in demo mode, ``demo`` (the SMS outbox page).
"""

from __future__ import annotations

import logging
from dataclasses import dataclass
from typing import Any

from flask import Flask, Response, request

from portal.settings import Settings

__all__ = ["Services", "create_app", "services"]

log = logging.getLogger("citywifi.web")


@dataclass
class Services:
    settings: Settings
    redis: Any
    journey: Any          # portal.login.PhoneJourney
    renderer: Any         # ad_pages.PageRenderer


def services(app: Flask | None = None) -> Services:
    from flask import current_app

    return (app or current_app).extensions["citywifi"]


def create_app(settings: Settings, redis: Any = None) -> Flask:
    """The WSGI app. ``redis`` None = connect with ``settings.redis`` (lazily, per process)."""
    from ad_pages import PageRenderer
    from portal.login import build_journey, web_secret
    from portal.state import redis_from_settings
    from portal.web import captive, phone

    if redis is None:
        redis = redis_from_settings(settings.redis)
    app = Flask(__name__)
    app.config.update(SECRET_KEY=web_secret(settings), MAX_CONTENT_LENGTH=64 * 1024,
                      JSON_AS_ASCII=False)
    app.extensions["citywifi"] = Services(settings, redis, build_journey(settings, redis), PageRenderer())
    app.register_blueprint(phone.bp)
    app.register_blueprint(captive.bp)
    if settings.web.demo:
        from portal.web import demo

        app.register_blueprint(demo.bp)
    phone.register_error_handlers(app)

    @app.after_request
    def _no_store(response: Response) -> Response:
        # Portal pages and probe answers must never be cached (captive-clients §2.6).
        response.headers.setdefault("Cache-Control", "no-store")
        response.headers.setdefault("X-Content-Type-Options", "nosniff")
        if request.path.startswith("/portal"):
            response.headers.setdefault("Referrer-Policy", "no-referrer")
        return response

    return app
