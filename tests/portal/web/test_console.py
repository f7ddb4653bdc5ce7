"""Console sign-in, sessions, CSRF, roles, account administration — over HTTP on real Redis."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
from flask import Flask

from portal.admin.accounts import AccountStore, Role
from portal.admin.audit import AuditLog
from portal.state import keys
from tests.portal.web.consolekit import create_account, csrf, login, make_app


@pytest.fixture
def app(redis_client: Any, data_dir: Path) -> Flask:
    return make_app(redis_client, data_dir)


def test_sign_in_lands_by_role_and_sign_out_kills_the_session(app: Flask, redis_client: Any) -> None:
    _, password = create_account(redis_client, "alice", Role.ADMIN)
    client = app.test_client()
    assert client.get("/admin/users").status_code == 302          # not signed in → login
    assert "/login?next=/admin/users" in client.get("/admin/users").headers["Location"]
    resp = login(client, "alice", password)
    assert resp.status_code == 302
    page = client.get("/admin/users")
    assert page.status_code == 200 and "alice" in page.get_data(as_text=True)
    cookie = client.get_cookie("cw_console")
    assert cookie is not None
    # Sign out, then replay the old cookie: the server-side session is gone.
    client.post("/logout", data={"csrf_token": csrf(client, "/account/password")})
    replay = app.test_client()
    replay.set_cookie("cw_console", cookie.value)
    assert replay.get("/admin/users").status_code == 302
    entries = [e.action for e in AuditLog(redis_client).recent(10, actor="user:alice")]
    assert entries[:2] == ["logout", "login"]


def test_wrong_password_then_lockout_is_shown_in_both_languages(app: Flask, redis_client: Any) -> None:
    _, bob_password = create_account(redis_client, "bob", Role.NOC)
    client = app.test_client()
    resp = login(client, "bob", "wrong-password")
    assert resp.status_code == 401 and "用户名或密码错误" in resp.get_data(as_text=True)
    for _ in range(3):
        login(client, "bob", "wrong-password")
    resp = login(client, "bob", "wrong-password")
    assert resp.status_code == 429 and "已锁定" in resp.get_data(as_text=True)
    client.set_cookie("cw_lang", "en")
    resp = login(client, "bob", "wrong-password")
    assert resp.status_code == 429 and "locked" in resp.get_data(as_text=True)
    assert "the account is locked for 1 minute." in resp.get_data(as_text=True)   # 60 s: not "1 minutes"
    # The lockout belongs to the guessing address: bob at his own desk still signs in.
    desk = app.test_client()
    desk.environ_base["REMOTE_ADDR"] = "10.20.30.40"
    assert login(desk, "bob", bob_password).status_code == 302


def test_post_without_or_with_wrong_csrf_token_is_refused(app: Flask, redis_client: Any) -> None:
    _, password = create_account(redis_client, "carol", Role.ADMIN)
    client = app.test_client()
    assert client.post("/login", data={"username": "carol", "password": password}).status_code == 400
    login(client, "carol", password)
    resp = client.post("/admin/users", data={"username": "mallory", "password": "x" * 12, "role": "admin"})
    assert resp.status_code == 400 and "reload the page" in resp.get_data(as_text=True)
    resp = client.post("/admin/users", data={"username": "mallory", "password": "mallory-pass-1",
                                             "role": "admin", "csrf_token": "forged"})
    assert resp.status_code == 400
    assert AccountStore(redis_client).get("mallory") is None
    # A JS client sends the header instead of the field.
    token = csrf(client, "/admin/users")
    resp = client.post("/admin/users", data={"username": "trent", "password": "strong-secret-ok1",
                                             "role": "noc"}, headers={"X-CSRF-Token": token})
    assert resp.status_code == 200 and AccountStore(redis_client).get("trent") is not None


def test_next_parameter_never_leaves_the_site(app: Flask, redis_client: Any) -> None:
    _, password = create_account(redis_client, "dave", Role.ADMIN)
    for target in ("//evil.example/x", "https://evil.example/", "/\\evil.example"):
        client = app.test_client()
        token = csrf(client)
        resp = client.post("/login", data={"username": "dave", "password": password, "csrf_token": token,
                                           "next": target})
        assert resp.status_code == 302 and "evil" not in resp.headers["Location"]
    client = app.test_client()
    token = csrf(client)
    resp = client.post("/login", data={"username": "dave", "password": password, "csrf_token": token,
                                       "next": "/admin/audit"})
    assert resp.headers["Location"] == "/admin/audit"


def test_roles_guard_admin_pages(app: Flask, redis_client: Any) -> None:
    _, password = create_account(redis_client, "erin", Role.VENUE, ("mall-1",))
    client = app.test_client()
    login(client, "erin", password)
    assert client.get("/admin/users").status_code == 403
    assert client.get("/admin/audit").status_code == 403
    assert client.get("/account/password").status_code == 200


def test_admin_creates_edits_disables_and_deletes_accounts_with_audit(app: Flask, redis_client: Any) -> None:
    _, password = create_account(redis_client, "root", Role.ADMIN)
    admin = app.test_client()
    login(admin, "root", password)
    token = csrf(admin, "/admin/users")
    resp = admin.post("/admin/users", data={
        "username": "venue-op", "password": "venue-op-secret".replace("venue-op", "vo") + "123",
        "role": "venue", "venues": "mall-1，mall-2", "display_name": "<script>alert(1)</script>",
        "csrf_token": token})
    html = resp.get_data(as_text=True)
    assert resp.status_code == 200
    assert "<script>alert(1)</script>" not in html and "&lt;script&gt;alert(1)&lt;/script&gt;" in html
    created = AccountStore(redis_client).get("venue-op")
    assert created is not None and created.venues == ("mall-1", "mall-2")
    # The new operator signs in; the admin disables them; their session ends at once.
    operator = app.test_client()
    assert login(operator, "venue-op", "vo-secret123").status_code == 302
    assert operator.get("/account/password").status_code == 200
    resp = admin.post("/admin/users/venue-op", data={"action": "save", "role": "venue", "venues": "mall-1",
                                                      "disabled": "1", "csrf_token": token})
    assert resp.status_code == 200
    assert operator.get("/account/password").status_code == 302
    # An admin cannot lock themselves out.
    resp = admin.post("/admin/users/root", data={"action": "save", "role": "noc", "csrf_token": token})
    assert resp.status_code == 400 and AccountStore(redis_client).get("root").role is Role.ADMIN  # type: ignore[union-attr]
    resp = admin.post("/admin/users/venue-op", data={"action": "delete", "csrf_token": token})
    assert resp.status_code == 302 and AccountStore(redis_client).get("venue-op") is None
    actions = [e.action for e in AuditLog(redis_client).recent(20, area="account")]
    assert {"account.create", "account.update", "account.delete"} <= set(actions)
    update = AuditLog(redis_client).recent(20, target="venue-op")
    changed = next(e for e in update if e.action == "account.update")
    assert changed.before["disabled"] is False and changed.after["disabled"] is True
    audit_page = admin.get("/admin/audit?target=venue-op").get_data(as_text=True)
    assert "account.delete" in audit_page


def test_password_change_ends_other_sessions(app: Flask, redis_client: Any) -> None:
    _, password = create_account(redis_client, "gina", Role.NOC)
    first, second = app.test_client(), app.test_client()
    login(first, "gina", password)
    login(second, "gina", password)
    token = csrf(first, "/account/password")
    resp = first.post("/account/password", data={"old_password": password, "new_password": "another-long-pw",
                                                 "confirm_password": "another-long-pw", "csrf_token": token})
    assert resp.status_code == 200
    assert first.get("/account/password").status_code == 200
    assert second.get("/account/password").status_code == 302
    assert AccountStore(redis_client).authenticate("gina", "another-long-pw")
    resp = first.post("/account/password", data={"old_password": "wrong-old-pass", "new_password": "x" * 12,
                                                 "confirm_password": "x" * 12, "csrf_token": token})
    assert resp.status_code == 400


def test_console_pages_carry_security_headers_and_cookie_flags(redis_client: Any, data_dir: Path) -> None:
    app = make_app(redis_client, data_dir)
    app.config["SESSION_COOKIE_SECURE"] = True
    _, password = create_account(redis_client, "hank", Role.ADMIN)
    client = app.test_client()
    resp = client.get("/login")
    csp = resp.headers["Content-Security-Policy"]
    assert "script-src 'self' 'nonce-" in csp and "frame-ancestors 'self'" in csp
    assert resp.headers["X-Frame-Options"] == "SAMEORIGIN"
    cookie_header = resp.headers.get("Set-Cookie", "")
    assert "HttpOnly" in cookie_header and "SameSite=Lax" in cookie_header and "Secure" in cookie_header
    # Phone pages keep their own (no console CSP, no console cookie).
    phone = client.get("/portal")
    assert "nonce-" not in phone.headers.get("Content-Security-Policy", "")
    assert redis_client.exists(keys.console_account("hank"))
    del password


def test_language_toggle_and_unknown_console_page(app: Flask, redis_client: Any) -> None:
    client = app.test_client()
    resp = client.get("/console/lang/en?next=/login")
    assert resp.status_code == 302 and resp.headers["Location"] == "/login"
    assert "Console sign-in" in client.get("/login").get_data(as_text=True)
    assert client.get("/console/lang/en?next=https://evil.example").headers["Location"] == "/login"
    _, password = create_account(redis_client, "ivan", Role.ADMIN)
    login(client, "ivan", password)
    resp = client.get("/admin/users/nobody")
    assert resp.status_code == 404 and "There is no such page" in resp.get_data(as_text=True)


def test_admin_cli_creates_user_and_token(redis_url: str, redis_client: Any, data_dir: Path) -> None:
    import json
    import os
    import subprocess
    import sys

    env = {**os.environ, "CITYWIFI_REDIS_URL": redis_url, "CITYWIFI_DATA_DIR": str(data_dir)}
    done = subprocess.run([sys.executable, "-m", "portal.cli", "admin", "create-user", "Root2", "--role",
                           "admin", "--password-stdin"], input="cli-made-secret\n", env=env,
                          capture_output=True, text=True, timeout=60)
    assert done.returncode == 0, done.stderr
    assert json.loads(done.stdout)["username"] == "root2"
    assert AccountStore(redis_client).authenticate("root2", "cli-made-secret").is_admin
    cli = [sys.executable, "-m", "portal.cli", "admin"]
    weak = subprocess.run([*cli, "create-user", "x2", "--password-stdin"],
                          input="short\n", env=env, capture_output=True, text=True, timeout=60)
    assert weak.returncode == 1 and "password" in weak.stderr
    made = subprocess.run([*cli, "create-token", "nms", "--scope", "read"],
                          env=env, capture_output=True, text=True, timeout=60)
    assert made.returncode == 0, made.stderr
    secret = json.loads(made.stdout)["secret"]
    from portal.admin.apitokens import ApiTokenStore

    assert ApiTokenStore(redis_client).verify(secret).scope == "read"  # type: ignore[union-attr]


def test_the_console_follows_the_browsers_language_until_the_toggle_says_otherwise(
        app: Flask, redis_client: Any) -> None:
    """An English browser gets the English console."""
    english = app.test_client()
    english.environ_base["HTTP_ACCEPT_LANGUAGE"] = "en-US,en;q=0.9"
    page = english.get("/login").get_data(as_text=True)
    assert '<html lang="en">' in page and 'id="lang-toggle">中文' in page
    chinese = app.test_client()
    chinese.environ_base["HTTP_ACCEPT_LANGUAGE"] = "zh-CN,zh;q=0.9,en;q=0.8"
    assert '<html lang="zh-CN">' in chinese.get("/login").get_data(as_text=True)
    assert '<html lang="zh-CN">' in app.test_client().get("/login").get_data(as_text=True)   # none: zh
    # The toggle (cookie) wins over the browser.
    english.get("/console/lang/zh")
    assert '<html lang="zh-CN">' in english.get("/login").get_data(as_text=True)


def test_one_nav_item_is_current_on_each_noc_page(app: Flask, redis_client: Any) -> None:
    """On /noc/sessions only "Online" is highlighted, not "Dashboard" (/noc) as well."""
    import re

    _, password = create_account(redis_client, "nav", Role.ADMIN)
    client = app.test_client()
    login(client, "nav", password)
    for path in ("/noc", "/noc/sessions", "/noc/plans", "/admin/users"):
        html = client.get(path).get_data(as_text=True)
        nav = html.split("<nav>", 1)[1].split("</nav>", 1)[0]
        current = re.findall(r'<a href="([^"]+)" class="active" aria-current="page">', nav)
        assert current == [path], (path, current)


def test_an_oversized_post_is_called_too_large_not_an_internal_error(app: Flask, redis_client: Any) -> None:
    """A body over the request limit (64 KB) is a 413 whose page says so in both languages, not
    the "internal error, logged" page of a 500."""
    client = app.test_client()
    resp = client.post("/login", data={"username": "x" * 70_000, "password": "p"},
                       headers={"Accept-Language": "en-US"})
    page = resp.get_data(as_text=True)
    assert resp.status_code == 413 and "too large" in page and "Internal error" not in page
    resp = client.post("/login", data={"username": "x" * 70_000, "password": "p"},
                       headers={"Accept-Language": "zh-CN"})
    assert resp.status_code == 413 and "太大" in resp.get_data(as_text=True)
