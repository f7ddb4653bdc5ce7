"""A plan the NOC changes reaches the sessions already online
under it, raised or lowered alike, and every view agrees with what the AC enforces.

Real parts only: Redis, our RADIUS server (thread), the AC simulator (Portal protocol, RADIUS
client with accounting, and its RFC 5176 DM/CoA server), the Flask app (console sign-in and CSRF,
API tokens) and phones logging in through the phone pages.

* An AC with RFC 5176: the API lowers the rate → a CoA with the new rate reaches the NAS, and
  the NOC's session list and the phone's status page show it; the console raises it again →
  the same; the session time is lowered below what the session has used → Disconnect.
* An AC without RFC 5176: the session keeps its previous limits (the AC still enforces them),
  and the session list and the phone's status page show those — under the archived revision
  ``basic@…`` — while a new login gets the new ones.
"""

from __future__ import annotations

import dataclasses
import re
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from flask import Flask
from flask.testing import FlaskClient

from portal.aaa.acs import AcRegistry
from portal.aaa.plans import PlanStore
from portal.aaa.sessions import SessionRegistry
from portal.admin.accounts import Role
from portal.runtime.settings import ConsoleSettings
from tests.e2e.stack import AC_NAME, Stack, phone, running_stack, stack_app, user, wait_for
from tests.portal.web.api.apikit import auth, token
from tests.portal.web.consolekit import create_account, csrf, login
from tests.portal.web.noc.jobkit import console_job, finished_job

HUAWEI_UP, HUAWEI_DOWN = "Huawei-Input-Average-Rate", "Huawei-Output-Average-Rate"


def _app(stack: Stack) -> Flask:
    settings = dataclasses.replace(stack.settings, console=ConsoleSettings(cookie_secure=False))
    app = stack_app(stack, settings)
    app.config["TESTING"] = True
    return app


def _phone_login(app: Flask, stack: Stack, i: int) -> tuple[str, str, str]:
    """A phone logs in through the phone pages; (number, IP, its status page URL)."""
    client = app.test_client()
    html = client.get("/portal?" + stack.query(i)).get_data(as_text=True)
    c = re.search(r'name="c" value="([^"]*)"', html)
    assert c, html[:500]
    number = phone(i)
    client.post("/portal/code", data={"c": c.group(1), "phone": number})
    done = client.post("/portal/login", data={"c": c.group(1), "phone": number,
                                              "code": stack.last_code(number)}).get_data(as_text=True)
    status = re.search(r'id="status" href="([^"]+)"', done)
    assert status, done[:800]
    assert wait_for(lambda: SessionRegistry(stack.redis).by_phone(number), 5)
    return number, user(i)[0], status.group(1).replace("&amp;", "&")


def _status(app: Flask, url: str) -> dict[str, str]:
    page = app.test_client().get(url).get_data(as_text=True)
    fields = dict(re.findall(r"<dt>([^<]+)</dt><dd[^>]*>([^<]*)</dd>", page))
    assert fields, page[:500]
    return fields


def _session(app: Flask, redis: Any, number: str) -> dict[str, Any]:
    body = app.test_client().get(f"/api/v1/sessions?phone={number}", headers=auth(token(redis))).get_json()
    (only,) = body["sessions"]
    return only


def _noc(app: Flask, redis: Any) -> FlaskClient:
    _account, password = create_account(redis, "noc-plans", Role.NOC)
    client = app.test_client()
    assert login(client, "noc-plans", password).status_code == 302
    return client


@pytest.fixture
def coa_stack(redis_client: Any, redis_url: str, data_dir: Path) -> Iterator[Stack]:
    with running_stack(redis_client, redis_url, data_dir, sim={"coa_port": 0}) as stack:
        registry = AcRegistry(stack.redis)
        assert stack.ac.coa_port is not None
        registry.put(dataclasses.replace(registry.get(AC_NAME), rfc5176=True, coa_port=stack.ac.coa_port))
        yield stack


def test_lower_raise_and_cut_a_plan_reaches_the_live_session(coa_stack: Stack, redis_client: Any) -> None:
    stack, app = coa_stack, _app(coa_stack)
    number, ip, status_url = _phone_login(app, stack, 1)
    live = stack.ac.online()[ip]
    assert (live.rates[HUAWEI_UP], live.rates[HUAWEI_DOWN]) == (2000 * 1000, 8000 * 1000)   # "basic"
    assert _status(app, status_url)["速率"] == "↓ 8 Mbit/s ↑ 2 Mbit/s"

    # 1. The API lowers the rates: answered at once, applied by a CoA the NAS acknowledged.
    write = auth(token(redis_client, "write", "oss"))
    resp = app.test_client().patch("/api/v1/plans/basic", json={"up_kbps": 500, "down_kbps": 1000},
                                   headers=write)
    assert resp.status_code == 200, resp.get_json()
    job = finished_job(app, redis_client, resp.get_json()["applying"]["status_url"], timeout=30)
    assert job["result"]["counts"]["coa"] == 1, job
    (detail,) = job["result"]["details"]
    assert (detail["phone"], detail["outcome"], detail["up_kbps"]) == (number, "coa", 500)
    live = stack.ac.online()[ip]
    assert stack.ac.stats["coa_applied"] == 1
    assert (live.rates[HUAWEI_UP], live.rates[HUAWEI_DOWN]) == (500 * 1000, 1000 * 1000)
    # … and every view says so: the session list, the phone's own status page.
    assert _session(app, redis_client, number)["plan"] == "basic"
    assert _status(app, status_url)["速率"] == "↓ 1 Mbit/s ↑ 0.5 Mbit/s"

    # 2. The console raises them again: the form says it is being applied, the job page shows it.
    noc = _noc(app, redis_client)
    form = {"title_zh": "基础套餐", "up_kbps": "3000", "down_kbps": "12000", "daily_time": "240",
            "max_sessions": "2", "mac_binding_days": "7", "csrf_token": csrf(noc, "/noc/plans")}
    saved = noc.post("/noc/plans/basic", data=form)
    assert saved.status_code == 302 and "/noc/jobs/" in saved.headers["Location"]
    assert "正在应用到约 1 个在线会话" in noc.get(saved.headers["Location"]).get_data(as_text=True)
    page = console_job(noc, saved.headers["Location"], timeout=30)
    assert 'data-outcome="coa"' in page
    assert "1 个已通过 CoA 应用新限制" in page
    live = stack.ac.online()[ip]
    assert stack.ac.stats["coa_applied"] == 2
    assert (live.rates[HUAWEI_UP], live.rates[HUAWEI_DOWN]) == (3000 * 1000, 12000 * 1000)
    assert _status(app, status_url)["速率"] == "↓ 12 Mbit/s ↑ 3 Mbit/s"

    # 3. The per-session time is cut below what the session has already used: Disconnect.
    started = SessionRegistry(redis_client).by_phone(number)[0].started
    assert wait_for(lambda: time.time() - started >= 2.5, 5)
    resp = app.test_client().patch("/api/v1/plans/basic", json={"session_timeout": 2}, headers=write)
    job = finished_job(app, redis_client, resp.get_json()["applying"]["status_url"], timeout=30)
    (detail,) = job["result"]["details"]
    assert detail["outcome"] == "disconnected" and "session_timeout_reached" in detail["detail"]
    assert stack.ac.stats["dm_disconnect_ack"] == 1
    assert wait_for(lambda: ip not in stack.ac.online(), 5)
    body = app.test_client().get(f"/api/v1/sessions?phone={number}",
                                 headers=auth(token(redis_client))).get_json()
    assert body["total"] == 0


def test_an_ac_without_coa_keeps_and_shows_the_previous_limits(redis_client: Any, redis_url: str,
                                                                 data_dir: Path) -> None:
    with running_stack(redis_client, redis_url, data_dir) as stack:      # seeded AC: no RFC 5176
        app = _app(stack)
        number, ip, status_url = _phone_login(app, stack, 2)
        write = auth(token(redis_client, "write"))
        resp = app.test_client().patch("/api/v1/plans/basic", json={"down_kbps": 1000, "daily_volume": 10**9},
                                       headers=write)
        job = finished_job(app, redis_client, resp.get_json()["applying"]["status_url"], timeout=30)
        (detail,) = job["result"]["details"]
        assert detail["outcome"] == "next_login" and job["result"]["counts"]["next_login"] == 1
        assert "keep their previous limits" in job["result"]["message"]
        # The AC still enforces the login's limits; every view shows those, by the revision.
        assert stack.ac.online()[ip].rates[HUAWEI_DOWN] == 8000 * 1000
        session = _session(app, redis_client, number)
        assert re.fullmatch(r"basic@[0-9a-f]{10}", session["plan"]), session["plan"]
        assert session["data_left"] is None                       # the old plan had no data cap
        assert _status(app, status_url)["速率"] == "↓ 8 Mbit/s ↑ 2 Mbit/s"
        assert _status(app, status_url)["剩余流量"] == "不限"
        revision = PlanStore(redis_client, cache_ttl=0).plan_named(session["plan"])
        assert revision is not None and revision.down_kbps == 8000
        listed = _noc(app, redis_client).get(f"/noc/sessions?phone={number}").get_data(as_text=True)
        assert "原限制，AC 未接受 CoA" in listed
        # A new login gets the new plan, and its views show the new limits.
        other, other_ip, other_status = _phone_login(app, stack, 3)
        assert stack.ac.online()[other_ip].rates[HUAWEI_DOWN] == 1000 * 1000
        assert _session(app, redis_client, other)["plan"] == "basic"
        assert _status(app, other_status)["速率"] == "↓ 1 Mbit/s ↑ 2 Mbit/s"
        assert _status(app, other_status)["剩余流量"] == "1.00 GB"                # decimal units
