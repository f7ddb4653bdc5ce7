"""``next=`` on the console is visitor input: a control character must not turn a redirect into a 500.

Werkzeug refuses a newline in a ``Location`` header; before the fix ``/console/lang/en?next=/%0a`` and a
successful sign-in with ``next=/venue/%0a`` both answered HTTP 500 (the latter after creating the session).
"""
from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
from flask import Flask

from portal.admin.accounts import Role
from portal.web.safe_next import safe_next
from tests.portal.web.consolekit import create_account, csrf, make_app

HOSTILE = ["/\n", "/venue/\n", "/\r\nSet-Cookie: x=1", "/\t/evil.example", "/\x00", "/\x7f", "/\u2028",
           "/\u200b", " /admin", "//evil.example", "/\\evil.example", "https://evil.example/",
           "/" + "a" * 5000]


@pytest.fixture
def app(redis_client: Any, data_dir: Path) -> Flask:
    app = make_app(redis_client, data_dir)
    app.config["TESTING"] = False          # a crash must show as the 500 a phone/browser would get
    app.config["PROPAGATE_EXCEPTIONS"] = False
    return app


@pytest.mark.parametrize("target", HOSTILE)
def test_safe_next_refuses_control_characters_and_foreign_targets(target: str) -> None:
    assert safe_next(target) is None


def test_safe_next_keeps_same_site_paths() -> None:
    assert safe_next("/venue/mall-1/pages?x=%0a") == "/venue/mall-1/pages?x=%0a"


@pytest.mark.parametrize("query", ["/%0a", "/%0d%0aX:1", "/%09/evil.example", "/%00"])
def test_language_toggle_with_control_characters_redirects_home(app: Flask, query: str) -> None:
    resp = app.test_client().get(f"/console/lang/en?next={query}")
    assert resp.status_code == 302
    assert resp.headers["Location"] == "/login"


@pytest.mark.parametrize("target", ["/venue/\n", "/\r\n", "/venue/\t/x"])
def test_sign_in_with_control_characters_in_next_lands_home(app: Flask, redis_client: Any,
                                                            target: str) -> None:
    _, password = create_account(redis_client, "venue-op", Role.VENUE, ("mall-1",))
    client = app.test_client()
    token = csrf(client)
    resp = client.post("/login", data={"username": "venue-op", "password": password, "csrf_token": token,
                                       "next": target})
    assert resp.status_code == 302
    assert not any(ord(ch) < 32 for ch in resp.headers["Location"])
    assert client.get(resp.headers["Location"]).status_code == 200     # signed in, landed on a real page
