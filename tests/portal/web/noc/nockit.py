"""Helpers for the NOC console and API tests: a signed-in console client, form POSTs with the CSRF
token, and the world of the session pages (an app with short DM/CoA timeouts, ACs on loopback
ports, open sessions with their real-name log entry)."""

from __future__ import annotations

import dataclasses
import time
from pathlib import Path
from typing import Any

from flask import Flask
from flask.testing import FlaskClient

from portal.aaa.acs import AcRecord, AcRegistry
from portal.aaa.sessions import OnlineSession, SessionRegistry
from portal.admin.accounts import Role
from portal.legal.reallog import LoginRecord, RealNameLog
from portal.web import create_app
from tests.conftest import free_udp_port
from tests.portal.web.consolekit import create_account, csrf, login, make_settings

__all__ = ["SECRET", "make_noc_app", "open_session", "post", "put_ac", "signed_in"]

SECRET = "radius-secret-1234"     # the RADIUS/DM secret of the ACs put_ac registers


def signed_in(app: Flask, redis: Any, role: Role = Role.NOC, name: str = "noc1",
              venues: tuple[str, ...] | None = None) -> FlaskClient:
    """A client signed in through the form as a new account ``name`` (a venue operator gets venue
    ``v1`` unless ``venues`` says otherwise)."""
    if venues is None:
        venues = ("v1",) if role == Role.VENUE else ()
    client = app.test_client()
    _account, password = create_account(redis, name, role, venues)
    assert login(client, name, password).status_code == 302
    return client


def post(client: FlaskClient, path: str, data: dict[str, str]) -> Any:
    """A form POST with the session's CSRF token (read once from a page, like a browser)."""
    token_value = getattr(client, "cw_csrf", None)
    if token_value is None:
        token_value = client.cw_csrf = csrf(client, "/account/password")  # type: ignore[attr-defined]
    return client.post(path, data={**data, "csrf_token": token_value})


def make_noc_app(redis: Any, data_dir: Path) -> Flask:
    """The app with short DM/CoA timeouts (an AC that does not answer costs ~0.4 s)."""
    settings = make_settings(data_dir)
    settings = dataclasses.replace(settings, radius=dataclasses.replace(
        settings.radius, coa_timeout=0.2, coa_retries=2))
    app = create_app(settings, redis)
    app.config["TESTING"] = True
    return app


def put_ac(redis: Any, name: str, coa_port: int, *, rfc5176: bool = True,
           address: str = "127.0.0.1") -> AcRecord:
    ac = AcRecord(name=name, addresses=(address,), secret="portal-secret", radius_secret=SECRET,
                  coa_port=coa_port, port=free_udp_port(), rfc5176=rfc5176, timeout=0.2, retries=1)
    AcRegistry(redis).put(ac)
    return ac


def open_session(redis: Any, phone: str, ac: str, sid: str, i: int, *, plan: str = "basic",
                 ssid: str = "CityWiFi", venue: str = "library", started: int | None = None,
                 octets: int = 5000) -> OnlineSession:
    now = int(time.time())
    started = started or now - 20
    mac, ip = f"02:00:00:00:00:{i:02x}", f"10.0.0.{i}"
    session = OnlineSession(ac, sid, phone, mac=mac, ip=ip, started=started, updated=now,
                            interim=300, plan=plan, session_time=now - started,
                            input_octets=octets // 5, output_octets=octets - octets // 5)
    SessionRegistry(redis).open(session)
    RealNameLog(redis).append(LoginRecord(phone=phone, mac=mac, ip=ip, ac=ac, ap="ap-1", ssid=ssid,
                                          venue=venue, kind="sms", plan=plan, at=started - 1.0))
    return session
