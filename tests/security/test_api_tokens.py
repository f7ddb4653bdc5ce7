"""API tokens and what they may do.

Item 4 — a token minted by an administrator who was then deleted still created a new admin.
A token now acts for its creator and dies with them (deleted, disabled, demoted), and never
grants more than the creator's current role, even if the role changes behind the stores' back.

Item 10 — a ``read`` token exported the whole real-name log. Exports of personal data need the
separate ``export`` scope (documented in the OpenAPI document); audit entries name tokens by
id; ``citywifi archive export`` from the command line leaves an audit entry.
"""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest
from flask import Flask

from portal.admin.accounts import AccountStore, Role
from portal.admin.apitokens import ApiTokenStore
from portal.admin.audit import AuditLog
from portal.state import keys
from tests.portal.web.api.apikit import auth
from tests.portal.web.consolekit import create_account, csrf, login, make_app

REPO = Path(__file__).resolve().parents[2]
NEW_ADMIN = {"username": "mallory", "password": "Mallory-takes-over-9", "role": "admin"}


@pytest.fixture
def app(redis_client: Any, data_dir: Path) -> Flask:
    return make_app(redis_client, data_dir)


def _mint(app: Flask, redis: Any, creator: str, scope: str) -> tuple[str, str]:
    """An administrator signs in and creates a token in the console: (token id, secret)."""
    client = app.test_client()
    password = "Creator-password-77"
    AccountStore(redis).set_password(creator, password)
    assert login(client, creator, password).status_code == 302
    resp = client.post("/noc/tokens/new", data={"name": f"{creator}-{scope}", "scope": scope,
                                                "csrf_token": csrf(client, "/noc/tokens")})
    assert resp.status_code == 201, resp.get_data(as_text=True)[:300]
    token = next(t for t in ApiTokenStore(redis).all() if t.name == f"{creator}-{scope}")
    html = resp.get_data(as_text=True)
    start = html.index(f"cw_{token.id}_")
    return token.id, html[start:start + 60].split("<")[0].split('"')[0].strip()


def _creates_admin(app: Flask, secret: str) -> int:
    return app.test_client().post("/api/v1/accounts", json=NEW_ADMIN, headers=auth(secret)).status_code


def test_token_of_a_deleted_admin_cannot_create_an_admin(app: Flask, redis_client: Any) -> None:
    create_account(redis_client, "eve", Role.ADMIN)
    create_account(redis_client, "root", Role.ADMIN)
    _id, secret = _mint(app, redis_client, "eve", "admin")
    assert app.test_client().get("/api/v1/whoami", headers=auth(secret)).status_code == 200
    # root deletes eve in the console.
    _mint(app, redis_client, "root", "read")
    root = app.test_client()
    login(root, "root", "Creator-password-77")
    resp = root.post("/admin/users/eve", data={"action": "delete",
                                               "csrf_token": csrf(root, "/admin/users/eve")})
    assert resp.status_code == 302
    assert _creates_admin(app, secret) == 401
    assert AccountStore(redis_client).get("mallory") is None
    # A new account under the same name is someone else: the old token stays dead.
    create_account(redis_client, "eve", Role.ADMIN)
    assert _creates_admin(app, secret) == 401


def test_disabled_or_demoted_creator(app: Flask, redis_client: Any) -> None:
    create_account(redis_client, "ann", Role.ADMIN)
    create_account(redis_client, "ben", Role.ADMIN)
    _aid, ann_admin = _mint(app, redis_client, "ann", "admin")
    _bid, ben_admin = _mint(app, redis_client, "ben", "admin")
    _wid, ben_write = _mint(app, redis_client, "ben", "write")
    accounts = AccountStore(redis_client)
    # Disabled: every token of the account stops, for good (enabling again does not revive it).
    accounts.update("ann", disabled=True)
    assert app.test_client().get("/api/v1/whoami", headers=auth(ann_admin)).status_code == 401
    accounts.update("ann", disabled=False)
    assert app.test_client().get("/api/v1/whoami", headers=auth(ann_admin)).status_code == 401
    # Demoted to NOC: the admin token is gone, the write token keeps what a NOC account may do.
    accounts.update("ben", role=Role.NOC)
    assert _creates_admin(app, ben_admin) == 401
    assert _creates_admin(app, ben_write) == 403
    assert app.test_client().get("/api/v1/plans", headers=auth(ben_write)).status_code == 200
    # Demoted to venue operator: no API standing at all.
    accounts.update("ben", role=Role.VENUE, venues=["v1"])
    assert app.test_client().get("/api/v1/plans", headers=auth(ben_write)).status_code == 401
    assert AccountStore(redis_client).get("mallory") is None


def test_a_token_never_grants_more_than_its_creators_current_role(app: Flask, redis_client: Any) -> None:
    """Even when the role changes without the store's revocation (a restore, a script), the check
    at every use caps the token."""
    create_account(redis_client, "cal", Role.ADMIN)
    _id, secret = _mint(app, redis_client, "cal", "admin")
    redis_client.hset(keys.console_account("cal"), "role", "noc")
    assert _creates_admin(app, secret) == 403
    whoami = app.test_client().get("/api/v1/whoami", headers=auth(secret)).get_json()
    assert "admin" not in whoami["grants"]
    redis_client.hset(keys.console_account("cal"), "disabled", "1")
    assert app.test_client().get("/api/v1/whoami", headers=auth(secret)).status_code == 401
    with pytest.raises(Exception, match="may not create"):
        ApiTokenStore(redis_client).create("x", "admin", "user:nobody")


def test_exports_need_the_export_scope(app: Flask, redis_client: Any) -> None:
    create_account(redis_client, "dora", Role.ADMIN)
    url = "/api/v1/logs/realname?from=2026-05-01&to=2026-05-01"
    for scope in ("read", "write", "admin"):
        _id, secret = _mint(app, redis_client, "dora", scope)
        assert app.test_client().get(url, headers=auth(secret)).status_code == 403, scope
    export_id, secret = _mint(app, redis_client, "dora", "export")
    resp = app.test_client().get(url, headers=auth(secret))
    assert resp.status_code == 200
    assert app.test_client().get("/api/v1/plans", headers=auth(secret)).status_code == 200   # reads too
    doc = app.test_client().get("/api/v1/openapi.json").get_json()
    assert doc["paths"]["/logs/{stream}"]["get"]["x-scope"] == "export"
    assert "`export`" in doc["info"]["description"]
    # The audit entry names the token by id (names need not be unique).
    entry = next(e for e in AuditLog(redis_client).recent(20, area="api") if e.action == "log.export")
    assert entry.actor == f"token:{export_id}" and "dora-export" in entry.actor_name


def test_cli_archive_export_is_audited(redis_client: Any, redis_url: str, tmp_path: Path) -> None:
    env = {**os.environ, "CITYWIFI_REDIS_URL": redis_url, "CITYWIFI_DATA_DIR": str(tmp_path),
           "PYTHONPATH": os.pathsep.join(filter(None, [str(REPO), os.environ.get("PYTHONPATH")]))}
    env.pop("CITYWIFI_CONFIG", None)
    done = subprocess.run([sys.executable, "-m", "portal.cli", "archive", "export", "--from", "2026-05-01",
                           "--to", "2026-05-03", "--phone", "13800138000"], env=env, cwd=tmp_path,
                          capture_output=True, timeout=60)
    assert done.returncode == 0, done.stderr
    (entry,) = [e for e in AuditLog(redis_client).recent(10) if e.action == "log.export"]
    assert entry.actor.startswith("cli:") and entry.target == "realname"
    assert entry.after["filters"] == {"phone": "13800138000"} and entry.after["from"] == "2026-05-01"
