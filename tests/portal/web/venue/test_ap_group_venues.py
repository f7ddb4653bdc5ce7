"""End to end: a Huawei AC names the AP's group in its redirect
(``ap-group-name``); the NOC gives a venue that AP group (API, and the venue settings form);
the phone's landing page is that venue's, the login is recorded under it, and a phone in
another group of the same AC and SSID lands on the AC/SSID venue.

Real Redis, our RADIUS server, the AC simulator (Huawei flavour, sending its AP group), the
Flask app with the NOC signed in and an API token.
"""

from __future__ import annotations

import dataclasses
import re
from pathlib import Path
from typing import Any
from urllib.parse import quote

from flask import Flask

from portal.admin.accounts import Role
from portal.legal.reallog import RealNameLog
from portal.runtime.settings import ConsoleSettings
from tests.e2e.stack import AC_NAME, Stack, phone, running_stack, stack_app, wait_for
from tests.portal.web.api.apikit import assert_matches_openapi, auth, token
from tests.portal.web.consolekit import create_account, csrf, login

GROUP = "图书馆-2F"


def _app(stack: Stack) -> Flask:
    settings = dataclasses.replace(stack.settings, console=ConsoleSettings(cookie_secure=False))
    app = stack_app(stack, settings)
    return app


def _land(app: Flask, query: str) -> str:
    resp = app.test_client().get("/portal?" + query, headers={"Accept-Language": "zh-CN"})
    assert resp.status_code == 200, resp.get_data(as_text=True)[:300]
    return resp.get_data(as_text=True)


def test_a_venue_matched_by_ap_group_from_the_landing_page_to_the_login_record(
        redis_client: Any, redis_url: str, data_dir: Path) -> None:
    with running_stack(redis_client, redis_url, data_dir, sim={"ap_group": GROUP}) as stack:
        app = _app(stack)
        query = stack.query(1)
        assert "ap-group-name=" + quote(GROUP) in query            # the simulated AC sends it
        assert "市图书馆" in _land(app, query)                        # only the AC + SSID venue yet

        # The NOC creates a venue for the AP group through the API …
        write = auth(token(redis_client, "write", "noc-bot"))
        resp = app.test_client().post("/api/v1/venues", headers=write, json={
            "id": "lib2f", "name_zh": "图书馆二楼", "name_en": "Library 2F", "acs": [AC_NAME],
            "ap_groups": [GROUP]})
        assert resp.status_code == 201, resp.get_json()
        assert resp.get_json()["ap_groups"] == [GROUP]
        assert_matches_openapi(app, "POST", "/venues", resp)
        bad = app.test_client().patch("/api/v1/venues/lib2f", headers=write, json={"ap_groups": ["a\u0001"]})
        assert bad.status_code == 400 and "ap_groups" in bad.get_json()["error"]["message"]

        # … and the phone in that group lands on it, and its login is recorded there.
        page = _land(app, query)
        assert "图书馆二楼" in page and "市图书馆" not in page
        client = app.test_client()
        c = re.search(r'name="c" value="([^"]*)"', client.get("/portal?" + query).get_data(as_text=True))
        assert c is not None
        client.post("/portal/code", data={"c": c.group(1), "phone": phone(1)})
        done = client.post("/portal/login", data={"c": c.group(1), "phone": phone(1),
                                                  "code": stack.last_code(phone(1))})
        assert 'id="success"' in done.get_data(as_text=True)
        assert wait_for(lambda: stack.journey.sessions.by_phone(phone(1)))
        (record,) = [r for r in RealNameLog(redis_client).recent(10) if r.phone == phone(1)]
        assert record.venue == "lib2f"

        # A phone of another AP group on the same AC and SSID: the AC/SSID venue.
        other = stack.query(2).replace(quote(GROUP), "lobby")
        assert "市图书馆" in _land(app, other)

        # The NOC adds that group in the venue settings form (network fields, NOC only).
        _account, password = create_account(redis_client, "noc-venues", Role.NOC)
        noc = app.test_client()
        assert login(noc, "noc-venues", password).status_code == 302
        form = {"name_zh": "图书馆二楼", "name_en": "Library 2F", "redirect_delay": "3", "ad_seconds": "10",
                "lang_zh": "on", "lang_en": "on", "acs": AC_NAME, "ssids": "", "ap_macs": "",
                "ap_groups": f"{GROUP}, lobby", "redirect_hosts": "", "default_plan": "",
                "csrf_token": csrf(noc, "/venue/lib2f/settings")}
        saved = noc.post("/venue/lib2f/settings", data=form)
        assert saved.status_code in (200, 302), saved.get_data(as_text=True)[:500]
        shown = noc.get("/venue/lib2f/settings").get_data(as_text=True)
        assert f'value="{GROUP}, lobby"' in shown
        assert "图书馆二楼" in _land(app, other)
