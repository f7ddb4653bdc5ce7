"""Back to the default page: once a venue published its own page, the venue console (a button
behind a confirmation) and the API (``POST …/pages/{page}/restore-default``) make phones get the
default page again, drop the draft so the editor opens on the default source, keep the history
for rollbacks, audit it — and only for venues the account may manage."""

from __future__ import annotations

import html
import re
from pathlib import Path
from typing import Any

import pytest
from flask import Flask

from portal.admin.audit import AuditLog
from portal.venues.pages import PageStore, default_source
from portal.venues.venue_store import VenueStore
from portal.web import services
from tests.e2e.stack import seed
from tests.portal.venues.pagekit import login_page
from tests.portal.web.api.apikit import assert_matches_openapi, auth, token
from tests.portal.web.consolekit import make_app
from tests.portal.web.venue.test_venue_console import LIB, MALL, phone_login_page, signed_in

OWN = login_page('<h1 id="own-page">{{ venue.name }}</h1>')


@pytest.fixture
def app(redis_client: Any, data_dir: Path) -> Flask:
    seed(redis_client, sim_port=1, venue=LIB)
    VenueStore(redis_client).put(MALL)
    app = make_app(redis_client, data_dir, redirect_hosts=(".operator.example.cn",))
    services(app).journey.venues.cache_ttl = 0.0
    return app


def _untokened(page: str) -> str:
    """A phone page without its per-request tokens and nonces (long base64url runs)."""
    return re.sub(r"[A-Za-z0-9_\-.]{16,}", "…", page)


def _textarea(page: str) -> str:
    match = re.search(r'<textarea name="source" id="source"[^>]*>(.*?)</textarea>', page, re.S)
    assert match is not None
    return html.unescape(match.group(1))


def test_the_console_restores_the_default_page(app: Flask, redis_client: Any) -> None:
    default_phone_page = phone_login_page(app)
    alice, csrf = signed_in(app, redis_client, "alice")
    editor = alice.get("/venue/lib/pages/login").get_data(as_text=True)
    assert 'id="restore-default"' not in editor              # nothing to restore yet
    assert alice.post("/venue/lib/pages/login", data={"csrf_token": csrf, "source": OWN,
                                                      "action": "publish"}).status_code == 302
    alice.post("/venue/lib/pages/login", data={"csrf_token": csrf, "source": OWN + "<!-- wip -->",
                                               "action": "save"})
    assert 'id="own-page"' in phone_login_page(app)
    editor = alice.get("/venue/lib/pages/login").get_data(as_text=True)
    form = re.search(r'<form[^>]*id="restore-default-form"[^>]*>', editor)
    assert form is not None and 'data-confirm="恢复默认页？' in form.group(0)   # asks first (console.js)
    assert 'action="/venue/lib/pages/login/restore-default"' in form.group(0)

    assert alice.post("/venue/lib/pages/login/restore-default").status_code == 400     # no CSRF token
    assert 'id="own-page"' in phone_login_page(app)
    resp = alice.post("/venue/lib/pages/login/restore-default", data={"csrf_token": csrf})
    assert resp.status_code == 302
    assert _untokened(phone_login_page(app)) == _untokened(default_phone_page)
    state = PageStore(redis_client).state("lib", "login")
    assert state.published is None and state.draft is None
    editor = alice.get("/venue/lib/pages/login").get_data(as_text=True)
    assert "已恢复默认页" in editor and 'id="published">使用默认页' in editor
    assert _textarea(editor) == default_source("login")                     # the editor starts over
    assert 'id="rollback-1"' in editor                                       # history kept
    entry = AuditLog(redis_client).recent(1, area="venue", actor="user:alice")[0]
    assert (entry.action, entry.target) == ("page.restore_default", "lib/login")
    assert entry.before == {"version": 1, "draft": True} and entry.after == {"version": None, "draft": False}
    # A rollback brings the venue's own page back.
    alice.post("/venue/lib/pages/login/rollback", data={"csrf_token": csrf, "version": "1"})
    assert 'id="own-page"' in phone_login_page(app)


def test_only_the_venues_operators_may_restore(app: Flask, redis_client: Any) -> None:
    alice, csrf = signed_in(app, redis_client, "alice")
    alice.post("/venue/lib/pages/login", data={"csrf_token": csrf, "source": OWN, "action": "publish"})
    mallory, mcsrf = signed_in(app, redis_client, "mallory", venues=("mall",))
    refused = mallory.post("/venue/lib/pages/login/restore-default", data={"csrf_token": mcsrf})
    assert refused.status_code == 404
    assert alice.post("/venue/lib/pages/nope/restore-default", data={"csrf_token": csrf}).status_code == 404
    assert PageStore(redis_client).state("lib", "login").published == 1
    assert 'id="own-page"' in phone_login_page(app)


def test_the_api_restores_the_default_page(app: Flask, redis_client: Any) -> None:
    client = app.test_client()
    read, write = auth(token(redis_client, "read")), auth(token(redis_client, "write"))
    published = client.post("/api/v1/venues/lib/pages/login/publish", json={"source": OWN}, headers=write)
    assert published.status_code == 201
    assert client.post("/api/v1/venues/lib/pages/login/restore-default", headers=read).status_code == 403
    missing = client.post("/api/v1/venues/nope/pages/login/restore-default", headers=write)
    assert missing.status_code == 404
    assert_matches_openapi(app, "POST", "/venues/{venue_id}/pages/{page}/restore-default", missing)
    resp = client.post("/api/v1/venues/lib/pages/login/restore-default", headers=write)
    assert resp.status_code == 200, resp.get_data(as_text=True)
    assert_matches_openapi(app, "POST", "/venues/{venue_id}/pages/{page}/restore-default", resp)
    body = resp.get_json()
    assert body["published"] is None and body["published_source"] is None and body["draft"] is None
    assert 'id="own-page"' not in phone_login_page(app)
    doc = client.get("/api/v1/openapi.json").get_json()
    assert doc["paths"]["/venues/{venue_id}/pages/{page}/restore-default"]["post"]["summary"]
    entry = AuditLog(redis_client).recent(1, area="api")[0]
    assert (entry.action, entry.target, entry.before["version"]) == ("page.restore_default", "lib/login", 1)
    history = client.get("/api/v1/venues/lib/pages/login/history", headers=read).get_json()["versions"]
    assert [v["version"] for v in history] == [1]
