"""Venue-scoped API tokens: a venue account's token reads its own venues' reports and nothing else.

Real Flask app, real Redis, tokens made through the venue console form and through
``citywifi admin create-token --owner`` (a real subprocess); reports rolled up by the real job."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest
from flask import Flask

from portal.admin.accounts import AccountStore, Role
from portal.admin.apitokens import ApiTokenStore
from portal.web import services
from tests.portal.web.api.apikit import assert_matches_openapi, auth
from tests.portal.web.consolekit import create_account, csrf, login, make_app
from tests.portal.web.reportkit import seed

MONTH = "/api/v1/reports?period=month&day=2026-11-01"


@pytest.fixture
def app(redis_client: Any, data_dir: Path) -> Flask:
    app = make_app(redis_client, data_dir)
    seed(redis_client, services(app).settings)          # venues mall (ac-1, ac-2) and park (ac-3)
    return app


def _console_token(app: Flask, username: str, password: str, name: str = "bi") -> str:
    client = app.test_client()
    assert login(client, username, password).status_code == 302
    page = client.get("/venue/tokens")
    assert page.status_code == 200 and "/api/v1/reports" in page.get_data(as_text=True)
    resp = client.post("/venue/tokens/new", data={"name": name, "scope": "admin",
                                                  "csrf_token": csrf(client, "/venue/tokens")})
    assert resp.status_code == 201
    html = resp.get_data(as_text=True)
    start = html.index('id="token-secret">') + len('id="token-secret">')
    return html[start:html.index("<", start)]


def test_a_venue_token_reads_its_own_venue_and_nothing_else(app: Flask, redis_client: Any) -> None:
    _, password = create_account(redis_client, "mallboss", Role.VENUE, ("mall",))
    secret = _console_token(app, "mallboss", password)
    token = ApiTokenStore(redis_client).verify(secret)
    assert token is not None and token.scope == "read"      # the form's scope field is ignored
    assert token.venues == ("mall",) and token.grants == frozenset({"read"})
    client = app.test_client()
    headers = auth(secret)
    own = client.get(MONTH + "&scope=venue&name=mall", headers=headers)
    assert own.status_code == 200 and own.get_json()["totals"]["logins"] == 12
    assert_matches_openapi(app, "GET", "/reports", own)
    # scope all: its venues added up, no breakdown of anybody else's.
    everything = client.get(MONTH, headers=headers).get_json()
    assert everything["totals"]["logins"] == 12
    assert set(everything["breakdown"].get("venue", {})) <= {"mall"}
    # Another venue, an AC (even its own venue's), a venue that does not exist: 403.
    for query in ("&scope=venue&name=park", "&scope=ac&name=ac-3", "&scope=ac&name=ac-1",
                  "&scope=venue&name=nowhere", "&scope=venue", "&scope=planet&name=park"):
        resp = client.get(MONTH + query, headers=headers)
        assert resp.status_code == 403, (query, resp.get_data(as_text=True))
        assert resp.get_json()["error"]["code"] == "forbidden"
        assert_matches_openapi(app, "GET", "/reports", resp)
    # Every operation not declared venue-scoped refuses it, reads included.
    for path in ("/api/v1/sessions", "/api/v1/accounts", "/api/v1/venues", "/api/v1/plans",
                 "/api/v1/logs/realname?start=2026-11-01&end=2026-11-02", "/api/v1/stats/live"):
        resp = client.get(path, headers=headers)
        assert resp.status_code == 403, (path, resp.status_code)
    who = client.get("/api/v1/whoami", headers=headers)
    assert who.status_code == 200 and who.get_json()["venues"] == ["mall"]
    assert client.post("/api/v1/tokens/x/revoke", headers=headers).status_code == 403


def test_the_token_follows_its_account(app: Flask, redis_client: Any) -> None:
    """Venues taken from the account take them from its token; deleting the account kills it."""
    accounts = AccountStore(redis_client)
    _, password = create_account(redis_client, "chain", Role.VENUE, ("mall", "park"))
    secret = _console_token(app, "chain", password)
    client = app.test_client()
    assert client.get(MONTH + "&scope=venue&name=park", headers=auth(secret)).status_code == 200
    assert client.get(MONTH, headers=auth(secret)).get_json()["totals"]["logins"] == 15
    accounts.update("chain", venues=("mall",))
    assert client.get(MONTH + "&scope=venue&name=park", headers=auth(secret)).status_code == 403
    assert client.get(MONTH, headers=auth(secret)).get_json()["totals"]["logins"] == 12
    accounts.delete("chain")
    assert client.get(MONTH, headers=auth(secret)).status_code == 401
    # Same name again: someone else, and the old token stays dead.
    create_account(redis_client, "chain", Role.VENUE, ("mall", "park"))
    assert client.get(MONTH, headers=auth(secret)).status_code == 401


def test_venue_accounts_manage_only_their_own_tokens(app: Flask, redis_client: Any) -> None:
    _, pw_a = create_account(redis_client, "va", Role.VENUE, ("mall",))
    _, pw_b = create_account(redis_client, "vb", Role.VENUE, ("park",))
    secret_a = _console_token(app, "va", pw_a, "a-bi")
    token_a = ApiTokenStore(redis_client).verify(secret_a)
    assert token_a is not None
    b = app.test_client()
    login(b, "vb", pw_b)
    assert "a-bi" not in b.get("/venue/tokens").get_data(as_text=True)
    stolen = b.post(f"/venue/tokens/{token_a.id}/revoke", data={"csrf_token": csrf(b, "/venue/tokens")})
    assert stolen.status_code == 404
    assert ApiTokenStore(redis_client).verify(secret_a) is not None
    # Its owner revokes it; it stops at once.
    a = app.test_client()
    login(a, "va", pw_a)
    assert "a-bi" in a.get("/venue/tokens").get_data(as_text=True)
    done = a.post(f"/venue/tokens/{token_a.id}/revoke", data={"csrf_token": csrf(a, "/venue/tokens")})
    assert done.status_code == 302
    assert a.get(MONTH, headers=auth(secret_a)).status_code == 401
    # NOC accounts have no venue token page; venue accounts no NOC token page.
    _, pw_noc = create_account(redis_client, "nocop", Role.NOC)
    noc = app.test_client()
    login(noc, "nocop", pw_noc)
    assert noc.get("/venue/tokens").status_code == 403
    assert a.get("/noc/tokens").status_code == 403
    # A venue account can never mint more than read, whatever asks.
    with pytest.raises(Exception, match="may not create"):
        ApiTokenStore(redis_client).create("w", "write", "user:va")


def test_cli_token_for_an_owner_acts_for_it_and_dies_with_it(
        app: Flask, redis_client: Any, redis_url: str, data_dir: Path) -> None:
    create_account(redis_client, "hotel", Role.VENUE, ("park",))
    env = {**os.environ, "CITYWIFI_REDIS_URL": redis_url, "CITYWIFI_DATA_DIR": str(data_dir)}
    cli = [sys.executable, "-m", "portal.cli", "admin", "create-token"]
    made = subprocess.run([*cli, "hotel-bi", "--owner", "hotel"], env=env, capture_output=True,
                          text=True, timeout=60)
    assert made.returncode == 0, made.stderr
    out = json.loads(made.stdout)
    assert out["created_by"] == "user:hotel" and out["issued_by"].startswith("cli:")
    client = app.test_client()
    headers = auth(out["secret"])
    assert client.get(MONTH + "&scope=venue&name=park", headers=headers).status_code == 200
    assert client.get(MONTH + "&scope=venue&name=mall", headers=headers).status_code == 403
    assert client.get("/api/v1/sessions", headers=headers).status_code == 403
    # More than the owner's role, or an owner that does not exist: refused, nothing minted.
    for args in (["w", "--owner", "hotel", "--scope", "write"], ["x", "--owner", "ghost"]):
        refused = subprocess.run([*cli, *args], env=env, capture_output=True, text=True, timeout=60)
        assert refused.returncode == 1 and "may not create" in refused.stderr, refused.stderr
    assert len(ApiTokenStore(redis_client).all()) == 1
    AccountStore(redis_client).update("hotel", disabled=True)
    assert client.get(MONTH, headers=headers).status_code == 401
