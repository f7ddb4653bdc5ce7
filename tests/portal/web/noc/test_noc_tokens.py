"""API tokens console (/noc/tokens, administrators only): create with scope and expiry (secret
shown once, works on the API, never in the audit log), revoke (refused at once), list with
last use; GET /api/v1/tokens is read-only and needs a write token; no API mints tokens."""

from __future__ import annotations

import json
import re
from pathlib import Path
from typing import Any

import pytest
from flask import Flask

from portal.admin.accounts import Role
from portal.admin.apitokens import ApiTokenStore
from portal.admin.audit import AuditLog
from portal.state import keys
from tests.portal.web.api.apikit import assert_matches_openapi, auth, token
from tests.portal.web.consolekit import csrf, make_app
from tests.portal.web.noc.nockit import post, signed_in

XSS = '<script>alert("x")</script>'


@pytest.fixture
def app(redis_client: Any, data_dir: Path) -> Flask:
    return make_app(redis_client, data_dir)


def test_admin_only_and_csrf(app: Flask, redis_client: Any) -> None:
    assert app.test_client().get("/noc/tokens").status_code == 302
    for role, name in ((Role.NOC, "noc1"), (Role.VENUE, "op1")):
        client = signed_in(app, redis_client, role, name)
        assert client.get("/noc/tokens").status_code == 403
        token_value = csrf(client, "/account/password")
        resp = client.post("/noc/tokens/new", data={"name": "x", "scope": "write", "csrf_token": token_value})
        assert resp.status_code == 403
    admin = signed_in(app, redis_client, Role.ADMIN, "root")
    assert admin.post("/noc/tokens/new", data={"name": "x", "scope": "read"}).status_code == 400
    assert ApiTokenStore(redis_client).all() == []


def test_create_use_revoke(app: Flask, redis_client: Any) -> None:
    admin = signed_in(app, redis_client, Role.ADMIN, "root")
    resp = post(admin, "/noc/tokens/new", {"name": "oss", "scope": "read", "expires": "2099-12-31"})
    assert resp.status_code == 201
    match = re.search(r'id="token-secret">([^<]+)<', resp.get_data(as_text=True))
    assert match
    secret = match.group(1)
    api = app.test_client()
    assert api.get("/api/v1/whoami", headers=auth(secret)).get_json()["name"] == "oss"
    (stored,) = ApiTokenStore(redis_client).all()
    assert stored.scope == "read" and stored.created_by == "user:root"
    assert (stored.expires_at or 0) > 4_000_000_000
    page = admin.get("/noc/tokens").get_data(as_text=True)
    assert secret not in page and stored.id in page and '<time datetime="' in page
    assert stored.last_used is None or f'data-at="{stored.last_used:.3f}"' in page
    assert post(admin, f"/noc/tokens/{stored.id}/revoke", {}).status_code == 302
    assert api.get("/api/v1/whoami", headers=auth(secret)).status_code == 401
    actions = [e.action for e in AuditLog(redis_client).recent(5, area="noc")]
    assert actions[:2] == ["token.revoke", "token.create"]
    raw = json.dumps([{k.decode(): v.decode() for k, v in r.items()}
                      for _i, r in redis_client.xrange(keys.audit_log())])
    assert secret not in raw and secret.split("_", 2)[2] not in raw
    assert post(admin, "/noc/tokens/ffffffffffff/revoke", {}).status_code == 302


TOKEN_ERRORS = [
    ({"name": "", "scope": "read"}, "Name is required"),
    ({"name": "x", "scope": "root"}, "Choose a scope"),
    ({"name": "x", "scope": "read", "expires": "2001-01-01"}, "must be in the future"),
    ({"name": "x", "scope": "read", "expires": "soon"}, "not a valid date"),
]


def test_validation(app: Flask, redis_client: Any) -> None:
    admin = signed_in(app, redis_client, Role.ADMIN, "root")
    admin.set_cookie("cw_lang", "en")
    for data, en in TOKEN_ERRORS:
        resp = post(admin, "/noc/tokens/new", data)
        assert resp.status_code == 400 and en in resp.get_data(as_text=True), en
    assert ApiTokenStore(redis_client).all() == []


def test_name_escaped(app: Flask, redis_client: Any) -> None:
    admin = signed_in(app, redis_client, Role.ADMIN, "root")
    assert post(admin, "/noc/tokens/new", {"name": XSS, "scope": "read"}).status_code == 201
    html = admin.get("/noc/tokens").get_data(as_text=True)
    assert XSS not in html and "&lt;script&gt;" in html


def test_api_listing_read_only_and_no_minting(app: Flask, redis_client: Any) -> None:
    client = app.test_client()
    read, write = token(redis_client, "read"), token(redis_client, "write")
    admin = token(redis_client, "admin")
    resp = client.get("/api/v1/tokens")
    assert resp.status_code == 401
    assert_matches_openapi(app, "GET", "/tokens", resp)
    for weaker in (read, write):
        resp = client.get("/api/v1/tokens", headers=auth(weaker))
        assert resp.status_code == 403
    assert_matches_openapi(app, "GET", "/tokens", resp)
    resp = client.get("/api/v1/tokens", headers=auth(admin))
    assert resp.status_code == 200
    assert {t["scope"] for t in resp.get_json()["tokens"]} == {"read", "write", "admin"}
    assert read not in resp.get_data(as_text=True) and admin not in resp.get_data(as_text=True)
    assert_matches_openapi(app, "GET", "/tokens", resp)
    for method in ("POST", "DELETE", "PATCH"):
        assert client.open("/api/v1/tokens", method=method, json={"name": "x", "scope": "write"},
                           headers=auth(admin)).status_code == 405
    assert len(ApiTokenStore(redis_client).all()) == 3
