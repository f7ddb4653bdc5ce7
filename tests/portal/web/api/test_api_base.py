"""The JSON API's foundation: tokens and scopes, errors, the OpenAPI document (both ways)."""

from __future__ import annotations

import re
from pathlib import Path
from typing import Any

import pytest
from flask import Flask
from openapi_spec_validator import validate

from portal.admin.apitokens import ApiTokenStore
from portal.admin.audit import AuditLog
from tests.portal.web.api.apikit import assert_matches_openapi, auth, token
from tests.portal.web.consolekit import make_app


@pytest.fixture
def app(redis_client: Any, data_dir: Path) -> Flask:
    return make_app(redis_client, data_dir)


def test_openapi_document_is_valid_and_matches_the_routes(app: Flask) -> None:
    doc = app.test_client().get("/api/v1/openapi.json").get_json()
    validate(doc)
    documented = {(re.sub(r"\{(\w+)\}", r"<\1>", path), method.upper())
                  for path, ops in doc["paths"].items() for method in ops}
    routed = set()
    for rule in app.url_map.iter_rules():
        if rule.rule.startswith("/api/v1/") and rule.endpoint != "api.openapi_json":
            for method in rule.methods - {"HEAD", "OPTIONS"}:  # type: ignore[operator]
                routed.add((rule.rule.removeprefix("/api/v1"), method))
    assert documented == routed
    for path, ops in doc["paths"].items():
        for method, op in ops.items():
            assert "401" in op["responses"], (method, path)
            if op["x-scope"] == "write":
                assert "403" in op["responses"], (method, path)


def test_no_token_bad_token_revoked_token(app: Flask, redis_client: Any) -> None:
    client = app.test_client()
    resp = client.get("/api/v1/whoami")
    assert resp.status_code == 401 and resp.get_json()["error"]["code"] == "unauthorized"
    assert resp.headers["WWW-Authenticate"].startswith("Bearer")
    assert_matches_openapi(app, "GET", "/whoami", resp)
    assert client.get("/api/v1/whoami", headers={"Authorization": "Basic abc"}).status_code == 401
    assert client.get("/api/v1/whoami", headers=auth("cw_000000000000_" + "x" * 40)).status_code == 401
    secret = token(redis_client, "read", "monitor")
    resp = client.get("/api/v1/whoami", headers=auth(secret))
    assert resp.status_code == 200 and resp.get_json()["name"] == "monitor"
    assert_matches_openapi(app, "GET", "/whoami", resp)
    ApiTokenStore(redis_client).revoke(resp.get_json()["id"])
    resp = client.get("/api/v1/whoami", headers=auth(secret))
    assert resp.status_code == 401 and "revoked" in resp.get_json()["error"]["message"]


def test_read_token_cannot_write_and_write_token_can(app: Flask, redis_client: Any) -> None:
    client = app.test_client()
    reader, writer = token(redis_client, "read"), token(redis_client, "admin", "provisioning")
    body = {"username": "api-made", "password": "api-made-pw".replace("api-made", "apm") + "-long",
            "role": "venue", "venues": ["mall-9"]}
    resp = client.post("/api/v1/accounts", json=body, headers=auth(reader))
    assert resp.status_code == 403 and resp.get_json()["error"]["message_zh"]
    assert_matches_openapi(app, "POST", "/accounts", resp)
    resp = client.post("/api/v1/accounts", json=body, headers=auth(writer))
    assert resp.status_code == 201, resp.get_json()
    assert_matches_openapi(app, "POST", "/accounts", resp)
    resp = client.get("/api/v1/accounts/api-made", headers=auth(reader))
    assert resp.status_code == 200 and resp.get_json()["venues"] == ["mall-9"]
    assert_matches_openapi(app, "GET", "/accounts/{username}", resp)
    resp = client.patch("/api/v1/accounts/api-made", json={"disabled": True}, headers=auth(writer))
    assert resp.status_code == 200 and resp.get_json()["disabled"] is True
    assert_matches_openapi(app, "PATCH", "/accounts/{username}", resp)
    entry = AuditLog(redis_client).recent(1, target="api-made")[0]
    assert entry.actor.startswith("token:") and entry.actor_name.startswith("provisioning (")
    assert entry.area == "api" and entry.after["disabled"] is True
    resp = client.get("/api/v1/audit?target=api-made", headers=auth(reader))
    assert [e["action"] for e in resp.get_json()["entries"]] == ["account.update", "account.create"]
    assert_matches_openapi(app, "GET", "/audit", resp)
    resp = client.delete("/api/v1/accounts/api-made", headers=auth(writer))
    assert resp.status_code == 200
    assert_matches_openapi(app, "DELETE", "/accounts/{username}", resp)


@pytest.mark.parametrize("method,path,kwargs,status,code", [
    ("post", "/api/v1/accounts", {"data": "{not json", "content_type": "application/json"}, 400, "invalid"),
    ("post", "/api/v1/accounts", {"data": "a=b"}, 415, "unsupported_media_type"),
    ("post", "/api/v1/accounts", {"json": [1, 2]}, 400, "invalid"),
    ("post", "/api/v1/accounts", {"json": {"username": "x"}}, 400, "invalid"),
    ("post", "/api/v1/accounts", {"json": {"username": "zed", "password": "short", "role": "venue"}}, 400,
     "invalid"),
    ("post", "/api/v1/accounts", {"json": {"username": "zed", "password": "p" * 12, "role": "god"}}, 400,
     "invalid"),
    ("patch", "/api/v1/accounts/nobody", {"json": {"disabled": True}}, 404, "not_found"),
    ("patch", "/api/v1/accounts/nobody", {"json": {"colour": "red"}}, 400, "invalid"),
    ("get", "/api/v1/no-such-thing", {}, 404, "not_found"),
    ("put", "/api/v1/whoami", {}, 405, "method_not_allowed"),
    ("get", "/api/v1/audit?limit=lots", {}, 400, "invalid"),
])
def test_bad_input_gets_a_clear_4xx(app: Flask, redis_client: Any, method: str, path: str,
                                    kwargs: dict[str, Any], status: int, code: str) -> None:
    client = app.test_client()
    resp = getattr(client, method)(path, headers=auth(token(redis_client, "admin")), **kwargs)
    assert resp.status_code == status, resp.get_data(as_text=True)
    error = resp.get_json()["error"]
    assert error["code"] == code and error["message"] and error["message_zh"]


def test_api_needs_no_csrf_and_ignores_console_cookies(app: Flask, redis_client: Any) -> None:
    from tests.portal.web.consolekit import create_account, login

    _, password = create_account(redis_client, "cookie-admin", "admin")
    client = app.test_client()
    login(client, "cookie-admin", password)
    # A signed-in console cookie is not an API credential (no CSRF-able API).
    assert client.get("/api/v1/accounts").status_code == 401
