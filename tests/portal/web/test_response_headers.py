"""Headers every phone-side response carries (``portal.web.create_app``'s after-request hook):
never cached (docs/protocols/captive-clients.md §2.6), no MIME sniffing, no Referer leaving a
portal page, never framed (clickjacking). A view's own Cache-Control and policy are kept, the
framing rule added to its policy. The hook reads the names present in one pass instead of
werkzeug's raising lookups; the answers must stay exactly these."""

from __future__ import annotations

import dataclasses
from pathlib import Path

from flask import Response

from portal.commands.web import build_wsgi
from portal.runtime.settings import RedisSettings, Settings, WebSettings

SHOWN = ("Cache-Control", "X-Content-Type-Options", "Referrer-Policy", "X-Frame-Options",
         "Content-Security-Policy")


def _app(tmp_path: Path) -> object:
    settings = dataclasses.replace(Settings(), data_dir=tmp_path, redis=RedisSettings(url="redis://127.0.0.1:1/0"),
                                   web=WebSettings(secret_key="k" * 32))
    app = build_wsgi(settings)

    def own() -> Response:
        return Response("x", headers={"Cache-Control": "max-age=60",
                                      "Content-Security-Policy": "default-src 'self'",
                                      "Referrer-Policy": "origin"})

    app.add_url_rule("/portal/own-headers", "own_headers", own)
    return app


def _headers(app: object, path: str) -> list[tuple[str, str]]:
    response = app.test_client().get(path)      # type: ignore[attr-defined]
    return [(k, v) for k, v in response.headers.items() if k in SHOWN]


def test_phone_side_responses_get_the_protective_headers(tmp_path: Path) -> None:
    app = _app(tmp_path)
    assert _headers(app, "/healthz") == [
        ("Cache-Control", "no-store"), ("X-Content-Type-Options", "nosniff"), ("X-Frame-Options", "DENY"),
        ("Content-Security-Policy", "frame-ancestors 'none'")]
    assert _headers(app, "/portal/no-such-page") == [
        ("Cache-Control", "no-store"), ("X-Content-Type-Options", "nosniff"),
        ("Referrer-Policy", "no-referrer"), ("X-Frame-Options", "DENY"),
        ("Content-Security-Policy", "frame-ancestors 'none'")]


def test_a_views_own_headers_are_kept_and_framing_is_added_to_its_policy(tmp_path: Path) -> None:
    assert _headers(_app(tmp_path), "/portal/own-headers") == [
        ("Cache-Control", "max-age=60"),
        ("Content-Security-Policy", "default-src 'self'; frame-ancestors 'none'"),
        ("Referrer-Policy", "origin"), ("X-Content-Type-Options", "nosniff"), ("X-Frame-Options", "DENY")]


def test_hot_paths_read_the_request_and_services_themselves(tmp_path: Path) -> None:
    # portal.web.wiring: this_request() and services() skip Flask's proxies (a failed attribute
    # look-up each), and must be the very objects the proxies stand for.
    from flask import request

    from portal.web.client_address import client_address
    from portal.web.wiring import EXTENSION, services, this_request

    app = _app(tmp_path)
    with app.test_request_context("/portal?lang=en", environ_base={"REMOTE_ADDR": "10.1.2.3"}):
        assert this_request() is request._get_current_object()      # type: ignore[attr-defined]
        assert services() is app.extensions[EXTENSION]               # type: ignore[attr-defined]
        assert client_address() == "10.1.2.3"                        # REMOTE_ADDR when no proxy ran
