"""Console actions that the API lacked or did differently: creating a venue, revoking a token,
and an account's password reset / disabling ending its console sign-ins (real Redis)."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
from flask import Flask

from portal.aaa.plans import Plan, PlanStore
from portal.admin.apitokens import ApiTokenStore
from portal.admin.audit import AuditLog
from portal.venues.venue_store import VenueStore
from tests.portal.web.api.apikit import assert_matches_openapi, auth, owner, token
from tests.portal.web.consolekit import create_account, login, make_app


@pytest.fixture
def app(redis_client: Any, data_dir: Path) -> Flask:
    return make_app(redis_client, data_dir)


def test_create_venue(app: Flask, redis_client: Any) -> None:
    client = app.test_client()
    write, read = auth(token(redis_client, "write", "oss")), auth(token(redis_client, "read"))
    PlanStore(redis_client, cache_ttl=0.0).put(Plan("basic"))
    body = {"id": "station-1", "name_zh": "火车站", "name_en": "Station", "acs": ["ac1"],
            "default_plan": "basic"}
    resp = client.post("/api/v1/venues", json=body, headers=read)
    assert resp.status_code == 403
    assert_matches_openapi(app, "POST", "/venues", resp)
    resp = client.post("/api/v1/venues", json=body, headers=write)
    assert resp.status_code == 201 and resp.get_json()["name_zh"] == "火车站"
    assert_matches_openapi(app, "POST", "/venues", resp)
    venue = VenueStore(redis_client, cache_ttl=0.0).get("station-1")
    assert venue.acs == ("ac1",) and venue.default_plan == "basic"
    assert PlanStore(redis_client).rules() == {"venue:station-1": "basic"}
    entry = AuditLog(redis_client).recent(1, area="api")[0]
    assert (entry.actor_name.split(" ")[0], entry.action, entry.target) == (
        "oss", "venue.create", "station-1")
    assert client.get("/api/v1/venues/station-1", headers=read).status_code == 200
    for bad, status, words in (
            (body, 409, "exists"),
            ({"id": "a b"}, 400, "venue id"),
            ({"id": "new"}, 400, "reserved"),
            ({"id": "x1", "default_plan": "nope"}, 400, "default_plan"),
            ({"id": "x2", "redirect_url": "https://evil.example/"}, 400, "redirect_url")):
        resp = client.post("/api/v1/venues", json=bad, headers=write)
        assert resp.status_code == status and words in resp.get_json()["error"]["message"], resp.get_json()
        assert resp.get_json()["error"]["message_zh"]
        assert_matches_openapi(app, "POST", "/venues", resp)
    assert VenueStore(redis_client, cache_ttl=0.0).get_or_none("x1") is None


def test_revoke_token(app: Flask, redis_client: Any) -> None:
    client = app.test_client()
    store = ApiTokenStore(redis_client)
    leaked, leaked_secret = store.create("leaked", "write", owner(redis_client))
    writer, reader = auth(token(redis_client, "admin", "incident")), auth(token(redis_client, "read"))
    peer = auth(token(redis_client, "write", "peer"))
    assert client.get("/api/v1/whoami", headers=auth(leaked_secret)).status_code == 200
    for weaker in (reader, peer):       # a write token cannot revoke its peers either
        resp = client.post(f"/api/v1/tokens/{leaked.id}/revoke", headers=weaker)
        assert resp.status_code == 403
    assert_matches_openapi(app, "POST", "/tokens/{token_id}/revoke", resp)
    resp = client.post(f"/api/v1/tokens/{leaked.id}/revoke", headers=writer)
    assert resp.status_code == 200 and resp.get_json()["revoked"] is True
    assert_matches_openapi(app, "POST", "/tokens/{token_id}/revoke", resp)
    assert client.get("/api/v1/whoami", headers=auth(leaked_secret)).status_code == 401
    entry = AuditLog(redis_client).recent(1, area="api")[0]
    assert (entry.actor_name.split(" ")[0], entry.action, entry.target) == (
        "incident", "token.revoke", leaked.id)
    resp = client.post("/api/v1/tokens/000000000000/revoke", headers=writer)
    assert resp.status_code == 404
    assert_matches_openapi(app, "POST", "/tokens/{token_id}/revoke", resp)
    assert not any(path.startswith("/tokens") and "post" in ops and "revoke" not in path
                   for path, ops in client.get("/api/v1/openapi.json").get_json()["paths"].items())


@pytest.mark.parametrize("change", [{"password": "Fresh-river-lantern-7"}, {"disabled": True}])
def test_password_reset_or_disable_through_the_api_ends_console_sign_ins(
        app: Flask, redis_client: Any, change: dict[str, Any]) -> None:
    _account, password = create_account(redis_client, "op7", "noc")
    browser = app.test_client()
    assert login(browser, "op7", password).status_code == 302
    assert browser.get("/noc/plans").status_code == 200
    resp = app.test_client().patch("/api/v1/accounts/op7", json=change,
                                   headers=auth(token(redis_client, "admin")))
    assert resp.status_code == 200
    if "disabled" in change:
        resp = app.test_client().patch("/api/v1/accounts/op7", json={"disabled": False},
                                       headers=auth(token(redis_client, "admin")))
        assert resp.status_code == 200
    # The old cookie no longer opens the console, even once the account is enabled again.
    resp = browser.get("/noc/plans")
    assert resp.status_code == 302 and "/login" in resp.headers["Location"]
