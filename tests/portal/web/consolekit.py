"""Helpers for console tests: an app on real Redis, accounts, sign-in and CSRF tokens."""

from __future__ import annotations

import dataclasses
import re
import secrets
from pathlib import Path
from typing import Any

from flask import Flask
from flask.testing import FlaskClient

from portal.admin.accounts import Account, AccountStore, Role
from portal.runtime.settings import ConsoleSettings, ContentSettings, Settings
from portal.web import create_app

__all__ = ["create_account", "csrf", "login", "make_app", "make_settings"]


def make_settings(data_dir: Path, **web: Any) -> Settings:
    base = Settings(data_dir=data_dir)
    return dataclasses.replace(
        base,
        web=dataclasses.replace(base.web, secret_key="console-test-secret", **web),
        console=ConsoleSettings(cookie_secure=False, session_hours=1, max_failures=5, lockout_seconds=60),
        # Tests save faster than any person: the write rate is tested on its own
        # (tests/security/test_venue_write_rate.py), which turns it on.
        content=ContentSettings(writes_per_minute=0, writes_per_hour=0),
    )


def make_app(redis: Any, data_dir: Path, **web: Any) -> Flask:
    app = create_app(make_settings(data_dir, **web), redis)
    app.config["TESTING"] = True
    return app


def create_account(redis: Any, username: str, role: Role | str = Role.ADMIN,
                   venues: tuple[str, ...] = ()) -> tuple[Account, str]:
    password = "pw-" + secrets.token_urlsafe(12)
    return AccountStore(redis).create(username, password, role, venues), password


_CSRF = re.compile(r'name="csrf_token" value="([^"]+)"|name="csrf-token" content="([^"]+)"')


def csrf(client: FlaskClient, path: str = "/login") -> str:
    """The CSRF token of ``client``'s session, read from a page like a browser would."""
    html = client.get(path).get_data(as_text=True)
    m = _CSRF.search(html)
    assert m, f"no CSRF token on {path}"
    return m.group(1) or m.group(2)


def login(client: FlaskClient, username: str, password: str) -> Any:
    """Sign in through the form; returns the response (302 on success)."""
    token = csrf(client, "/login")
    return client.post("/login", data={"username": username, "password": password, "csrf_token": token})
