"""Behind nginx (web.proxy_hops = 1, nginx's address in web.trusted_proxies) the phone's address
is the one nginx put in X-Forwarded-For; from any other peer, or with no proxy configured, the
header is ignored and removed (a phone cannot claim an IP). Attacks over real HTTP against a
running gunicorn are in tests/security/test_proxy_trust.py."""

from __future__ import annotations

import dataclasses
from pathlib import Path
from typing import Any

from portal.commands.web import build_wsgi
from portal.runtime.settings import RedisSettings, Settings, WebSettings


def _seen_environ(settings: Settings, headers: dict[str, str], peer: str = "127.0.0.1") -> dict[str, Any]:
    app = build_wsgi(settings)
    seen: dict[str, Any] = {}

    def inner(environ: dict[str, Any], start_response: Any) -> list[bytes]:
        seen.update(environ)
        return []

    # Replace the Flask app under the client-address middleware by a recorder.
    app.wsgi_app.app = inner
    entry = app.wsgi_app
    environ = {"REQUEST_METHOD": "GET", "PATH_INFO": "/portal", "REMOTE_ADDR": peer,
               "wsgi.url_scheme": "http", "SERVER_NAME": "x", "SERVER_PORT": "80",
               **{"HTTP_" + k.upper().replace("-", "_"): v for k, v in headers.items()}}
    entry(environ, lambda *a: None)
    return seen


def _settings(tmp_path: Path, hops: int) -> Settings:
    proxies = ("127.0.0.1/32", "::1/128") if hops else ()
    return dataclasses.replace(Settings(), data_dir=tmp_path,
                               redis=RedisSettings(url="redis://127.0.0.1:1/0"),
                               web=WebSettings(secret_key="k" * 32, proxy_hops=hops, trusted_proxies=proxies))


def test_one_trusted_hop_takes_the_address_nginx_set(tmp_path: Path) -> None:
    # nginx overwrites X-Forwarded-For with $remote_addr; even if a header were appended to,
    # only the last entry (the one our proxy wrote) is believed.
    seen = _seen_environ(_settings(tmp_path, 1), {"X-Forwarded-For": "6.6.6.6, 10.20.0.7",
                                                  "X-Forwarded-Proto": "https"})
    assert seen["REMOTE_ADDR"] == "10.20.0.7"
    assert seen["wsgi.url_scheme"] == "https"
    assert "HTTP_X_FORWARDED_FOR" not in seen    # nothing later can read the raw header


def test_a_peer_that_is_not_a_trusted_proxy_cannot_speak_for_others(tmp_path: Path) -> None:
    seen = _seen_environ(_settings(tmp_path, 1), {"X-Forwarded-For": "10.20.0.7",
                                                  "X-Forwarded-Proto": "https"}, peer="10.20.0.66")
    assert seen["REMOTE_ADDR"] == "10.20.0.66"
    assert seen["wsgi.url_scheme"] == "http"
    assert "HTTP_X_FORWARDED_FOR" not in seen and "HTTP_X_FORWARDED_PROTO" not in seen


def test_without_a_proxy_forwarded_headers_are_ignored(tmp_path: Path) -> None:
    seen = _seen_environ(_settings(tmp_path, 0), {"X-Forwarded-For": "10.20.0.7", "X-Real-IP": "10.20.0.7"})
    assert seen["REMOTE_ADDR"] == "127.0.0.1"
    assert "HTTP_X_FORWARDED_FOR" not in seen and "HTTP_X_REAL_IP" not in seen
