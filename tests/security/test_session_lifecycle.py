"""Any password change or reset, from anywhere, ends the account's other console
sign-ins. ``citywifi admin set-password`` used to leave them signed in (only the console's reset
ended them): the sessions now live in the account store, which ends them itself.
"""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest
from flask import Flask
from flask.testing import FlaskClient

from portal.admin.accounts import AccountStore, Role
from tests.portal.web.api.apikit import auth, token
from tests.portal.web.consolekit import create_account, csrf, login, make_app

REPO = Path(__file__).resolve().parents[2]


@pytest.fixture
def app(redis_client: Any, data_dir: Path) -> Flask:
    return make_app(redis_client, data_dir)


def _signed_in(app: Flask, username: str, password: str) -> FlaskClient:
    client = app.test_client()
    assert login(client, username, password).status_code == 302
    assert client.get("/account/password").status_code == 200
    return client


def _still_in(client: FlaskClient) -> bool:
    return client.get("/account/password").status_code == 200


def test_cli_set_password_ends_console_sessions(app: Flask, redis_client: Any, redis_url: str,
                                                tmp_path: Path) -> None:
    _, password = create_account(redis_client, "alice", Role.ADMIN)
    browser = _signed_in(app, "alice", password)
    env = {**os.environ, "CITYWIFI_REDIS_URL": redis_url, "CITYWIFI_DATA_DIR": str(tmp_path),
           "PYTHONPATH": os.pathsep.join(filter(None, [str(REPO), os.environ.get("PYTHONPATH")]))}
    env.pop("CITYWIFI_CONFIG", None)
    done = subprocess.run([sys.executable, "-m", "portal.cli", "admin", "set-password", "alice",
                           "--password-stdin"], input=b"Fresh-river-stone-88\n", env=env, cwd=tmp_path,
                          capture_output=True, timeout=60)
    assert done.returncode == 0, done.stderr
    assert not _still_in(browser), "the copied console cookie outlived the CLI password reset"
    assert login(app.test_client(), "alice", "Fresh-river-stone-88").status_code == 302


def test_api_console_reset_and_own_change_end_the_other_sessions(app: Flask, redis_client: Any) -> None:
    _, admin_pw = create_account(redis_client, "root", Role.ADMIN)
    _, bob_pw = create_account(redis_client, "bob", Role.NOC)
    # The API's reset.
    bob = _signed_in(app, "bob", bob_pw)
    resp = app.test_client().patch("/api/v1/accounts/bob", json={"password": "Api-reset-pass-1"},
                                   headers=auth(token(redis_client, "admin")))
    assert resp.status_code == 200 and not _still_in(bob)
    # The console's reset by an administrator.
    bob = _signed_in(app, "bob", "Api-reset-pass-1")
    root = _signed_in(app, "root", admin_pw)
    resp = root.post("/admin/users/bob", data={"action": "reset_password", "password": "Console-reset-2",
                                               "csrf_token": csrf(root, "/admin/users/bob")})
    assert resp.status_code == 200 and not _still_in(bob)
    # Bob's own change: his other browser is signed out, the one he used stays in.
    laptop = _signed_in(app, "bob", "Console-reset-2")
    phone = _signed_in(app, "bob", "Console-reset-2")
    resp = laptop.post("/account/password", data={"old_password": "Console-reset-2",
                                                  "new_password": "Own-change-pass-3",
                                                  "confirm_password": "Own-change-pass-3",
                                                  "csrf_token": csrf(laptop, "/account/password")})
    assert resp.status_code == 200
    assert _still_in(laptop) and not _still_in(phone)


def test_the_store_itself_ends_sessions(redis_client: Any) -> None:
    """Whatever calls it (a script, a future view): set_password, disable and delete end sign-ins."""
    store = AccountStore(redis_client)
    store.create("carol", "Lantern-long-secret-1", Role.VENUE, ("v1",))
    for change in (lambda: store.set_password("carol", "Other-long-secret-2"),
                   lambda: store.update("carol", disabled=True),
                   lambda: store.delete("carol")):
        session = store.open_session("carol")
        assert store.session_user(session) == "carol"
        change()
        assert store.session_user(session) is None
