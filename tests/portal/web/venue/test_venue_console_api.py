"""/api/v1 venues, pages and assets with bearer tokens; every response checked against OpenAPI."""

from __future__ import annotations

import base64
from pathlib import Path
from typing import Any

import pytest
from flask import Flask

from portal.admin.audit import AuditLog
from portal.venues.pages import PageStore
from portal.venues.venue_store import Venue, VenueStore
from portal.web import services
from tests.portal.venues.pagekit import login_page
from tests.portal.venues.test_assets import GOOD
from tests.portal.web.api.apikit import assert_matches_openapi, auth, token
from tests.portal.web.consolekit import make_app

LIB = Venue(id="lib", name_zh="图书馆", name_en="Library", redirect_hosts=("lib.example.cn",))


@pytest.fixture
def app(redis_client: Any, data_dir: Path) -> Flask:
    VenueStore(redis_client).put(LIB)
    app = make_app(redis_client, data_dir)
    services(app).journey.venues.cache_ttl = 0.0
    return app


def test_venues_read_and_patch(app: Flask, redis_client: Any) -> None:
    client = app.test_client()
    read, write = auth(token(redis_client, "read")), auth(token(redis_client, "write"))
    resp = client.get("/api/v1/venues", headers=read)
    assert resp.status_code == 200 and [v["id"] for v in resp.get_json()["venues"]] == ["lib"]
    assert "templates" not in resp.get_json()["venues"][0]
    assert_matches_openapi(app, "GET", "/venues", resp)
    resp = client.get("/api/v1/venues/lib", headers=read)
    assert_matches_openapi(app, "GET", "/venues/{venue_id}", resp)
    missing = client.get("/api/v1/venues/nope", headers=read)
    assert missing.status_code == 404
    assert_matches_openapi(app, "GET", "/venues/{venue_id}", missing)
    assert client.patch("/api/v1/venues/lib", json={"name_zh": "x"}, headers=read).status_code == 403
    assert client.patch("/api/v1/venues/lib", json={"name_zh": "x"}).status_code == 401
    change = {"name_zh": "新馆", "ad_seconds": 5, "redirect_url": "https://lib.example.cn/hi"}
    resp = client.patch("/api/v1/venues/lib", json=change, headers=write)
    assert resp.status_code == 200 and resp.get_json()["name_zh"] == "新馆"
    assert_matches_openapi(app, "PATCH", "/venues/{venue_id}", resp)
    bad = client.patch("/api/v1/venues/lib", json={"redirect_url": "https://evil.example.com/"},
                       headers=write)
    assert bad.status_code == 400 and "allow-list" in bad.get_json()["error"]["message"]
    assert "允许列表" in bad.get_json()["error"]["message_zh"]
    assert_matches_openapi(app, "PATCH", "/venues/{venue_id}", bad)
    assert client.patch("/api/v1/venues/lib", json={"ad_seconds": "x"}, headers=write).status_code == 400
    assert client.patch("/api/v1/venues/lib", json={"templates": {}}, headers=write).status_code == 400
    assert VenueStore(redis_client).get("lib").redirect_url == "https://lib.example.cn/hi"
    entry = AuditLog(redis_client).recent(1, area="api")[0]
    assert entry.action == "venue.update" and entry.actor.startswith("token:")


def test_pages_draft_publish_history_rollback(app: Flask, redis_client: Any) -> None:
    client, write = app.test_client(), auth(token(redis_client, "write"))
    first = login_page("<p>{{ venue.name }}</p>")
    resp = client.put("/api/v1/venues/lib/pages/login/draft", json={"source": first}, headers=write)
    assert resp.status_code == 200 and resp.get_json()["published"] is None
    assert_matches_openapi(app, "PUT", "/venues/{venue_id}/pages/{page}/draft", resp)
    resp = client.post("/api/v1/venues/lib/pages/login/publish", json={"note": "first"}, headers=write)
    assert resp.status_code == 201 and resp.get_json()["version"] == 1
    assert_matches_openapi(app, "POST", "/venues/{venue_id}/pages/{page}/publish", resp)
    client.post("/api/v1/venues/lib/pages/login/publish", json={"source": login_page("<p>two</p>")},
                headers=write)
    bad = client.post("/api/v1/venues/lib/pages/login/publish", json={"source": "<p>\n{% for %}</p>"},
                      headers=write)
    assert bad.status_code == 400 and bad.get_json()["error"]["code"] == "page_refused"
    error = bad.get_json()["error"]
    assert "line 2" in error["message"] and "第 2 行" in error["message_zh"]
    assert_matches_openapi(app, "POST", "/venues/{venue_id}/pages/{page}/publish", bad)
    hist = client.get("/api/v1/venues/lib/pages/login/history", headers=write)
    assert [v["version"] for v in hist.get_json()["versions"]] == [2, 1]
    assert_matches_openapi(app, "GET", "/venues/{venue_id}/pages/{page}/history", hist)
    back = client.post("/api/v1/venues/lib/pages/login/rollback", json={"version": 1}, headers=write)
    assert back.status_code == 201 and back.get_json()["version"] == 3
    assert_matches_openapi(app, "POST", "/venues/{venue_id}/pages/{page}/rollback", back)
    assert PageStore(redis_client).published_source("lib", "login") == first
    page = client.get("/api/v1/venues/lib/pages/login", headers=write)
    assert page.get_json()["published"] == 3
    assert_matches_openapi(app, "GET", "/venues/{venue_id}/pages/{page}", page)
    assert client.post("/api/v1/venues/lib/pages/login/rollback", json={"version": 42},
                       headers=write).status_code == 404
    assert client.get("/api/v1/venues/lib/pages/nope", headers=write).status_code == 404
    assert client.get("/api/v1/venues/other/pages/login", headers=write).status_code == 404


def test_assets_upload_list_delete(app: Flask, redis_client: Any) -> None:
    client, write = app.test_client(), auth(token(redis_client, "write"))
    body = {"name": "logo.png", "content_base64": base64.b64encode(GOOD["logo.png"]).decode()}
    resp = client.post("/api/v1/venues/lib/assets", json=body, headers=write)
    assert resp.status_code == 201 and resp.get_json()["url"].startswith("/assets/lib/logo.png?v=")
    assert_matches_openapi(app, "POST", "/venues/{venue_id}/assets", resp)
    for bad in ({"name": "../x.png", "content_base64": body["content_base64"]},
                {"name": "x.png", "content_base64": base64.b64encode(b"<script>").decode()},
                {"name": "x.png", "content_base64": "!!!"}):
        resp = client.post("/api/v1/venues/lib/assets", json=bad, headers=write)
        assert resp.status_code == 400, bad
        assert_matches_openapi(app, "POST", "/venues/{venue_id}/assets", resp)
    big = {"name": "big.png", "content_base64": base64.b64encode(GOOD["logo.png"] + b"\0" * 600_000).decode()}
    assert client.post("/api/v1/venues/lib/assets", json=big, headers=write).status_code in (400, 413)
    listed = client.get("/api/v1/venues/lib/assets", headers=write)
    assert [a["name"] for a in listed.get_json()["assets"]] == ["logo.png"]
    assert_matches_openapi(app, "GET", "/venues/{venue_id}/assets", listed)
    gone = client.delete("/api/v1/venues/lib/assets/logo.png", headers=write)
    assert gone.status_code == 200
    assert_matches_openapi(app, "DELETE", "/venues/{venue_id}/assets/{name}", gone)
    assert client.delete("/api/v1/venues/lib/assets/logo.png", headers=write).status_code == 404
