"""Omada external portal, end to end: the phone pages, real Redis, and a fake of the
Omada controller's external-portal API (``tests/fakes/omada_controller.py``: operator login,
CSRF token, ``extPortal/auth``, expiring sessions)."""

from __future__ import annotations

import dataclasses
import re
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any
from urllib.parse import urlencode

import pytest
from flask import Flask
from flask.testing import FlaskClient

from portal.aaa.acs import AcRecord, AcRegistry
from portal.aaa.sessions import SessionRegistry
from portal.runtime.settings import ConsoleSettings
from portal.state import keys_gateway
from portal.venues.venue_store import Venue, VenueStore
from portal.web import build_services, create_app
from tests.e2e.stack import Stack, phone, running_stack
from tests.fakes.omada_controller import FakeOmadaController
from tests.portal.web.consolekit import csrf
from tests.portal.web.noc.jobkit import console_job
from tests.portal.web.noc.nockit import signed_in

SITE = "6578a1b2c3d4e5f6a7b8c9d0"
CID = "5f3c9e0a1b2c3d4e5f607182"
USER, PASSWORD = "portal-op", "omada-operator-pass-1"
AP = "AC-84-C6-00-00-01"


@dataclasses.dataclass
class Rig:
    stack: Stack
    controller: FakeOmadaController
    app: Flask

    def register(self, password: str = PASSWORD) -> None:
        AcRegistry(self.stack.redis).put(AcRecord(
            name=SITE, kind="omada", addresses=("127.0.0.5",), secret=password,
            controller_url=self.controller.url(), rfc5176=False, client_address_check=False))
        self.stack.journey._ac_cache.clear()


@pytest.fixture
def rig(redis_client: Any, redis_url: str, data_dir: Path) -> Iterator[Rig]:
    # The tests poll the controller themselves, step by step: the stack's RADIUS maintenance
    # thread must not run a round of its own in between (its first round may come late on a
    # busy box and write back counters it read before the test's own round).
    redis_client.set(keys_gateway.controller_poll_lock(), "1", ex=3600)
    with running_stack(redis_client, redis_url, data_dir, web={"public_url": "http://portal.test"}) as stack:
        controller = FakeOmadaController(user=USER, password=PASSWORD, cid=CID, sites=(SITE,)).start()
        VenueStore(stack.redis, cache_ttl=0.0).put(Venue(id="hotel", name_zh="酒店", name_en="Hotel",
                                                         acs=(SITE,), ad_seconds=1))
        settings = dataclasses.replace(stack.settings, console=ConsoleSettings(cookie_secure=False))
        app = create_app(build_services(settings, stack.redis, journey=stack.journey))
        app.config["TESTING"] = True
        rig = Rig(stack, controller, app)
        rig.register()
        try:
            yield rig
        finally:
            controller.stop()


def land(client: FlaskClient, mac: str, **extra: str) -> Any:
    fields = {"clientMac": mac, "apMac": AP, "ssidName": "Hotel-Guest", "t": str(int(time.time() * 1000)),
              "radioId": "1", "site": SITE, "redirectUrl": "http://example.org/", **extra}
    return client.get("/portal?" + urlencode({k: v for k, v in fields.items() if v}))


def code_login(rig: Rig, client: FlaskClient, mac: str, number: str, **extra: str) -> Any:
    page = land(client, mac, **extra)
    assert page.status_code == 200, page.get_data(as_text=True)[:800]
    c = re.search(r'name="c" value="([^"]*)"', page.get_data(as_text=True))
    assert c
    client.post("/portal/code", data={"c": c.group(1), "phone": number})
    code = rig.stack.last_code(number)
    return client.post("/portal/login", data={"c": c.group(1), "phone": number, "code": code})


def test_client_authorised_recorded_and_kick_explained(rig: Rig) -> None:
    mac, number = "02-F0-00-00-00-01", phone(95)
    done = code_login(rig, rig.app.test_client(), mac, number)
    assert done.status_code == 200, done.get_data(as_text=True)[:800]
    client = rig.controller.clients[SITE][mac]
    assert client == {"apMac": AP, "ssidName": "Hotel-Guest", "radioId": 1, "time": 4 * 3600 * 1_000_000,
                      "authType": 4}
    (session,) = SessionRegistry(rig.stack.redis).by_phone(number)
    assert (session.ac, session.mac) == (SITE, "02:f0:00:00:00:01")
    noc = signed_in(rig.app, rig.stack.redis)
    resp = noc.post("/noc/sessions/kick", data={"ac": SITE, "session_id": session.session_id,
                                                "csrf_token": csrf(noc, "/noc/sessions")})
    job = console_job(noc, resp.headers["Location"])
    assert 'data-outcome="no_remote_logout"' in job and "Omada" in job, job[:800]
    assert "不计入每日配额" in job, job[:1500]            # the console speaks Chinese by default
    # The status page's logout cannot reach it either, and says so.
    token = rig.stack.journey.session_token(SITE, session.ip or "", number)
    out = rig.app.test_client().post("/portal/logout", data={"s": token, "lang": "en"})
    assert out.status_code == 200 and "cannot be logged out from the portal" in out.get_data(as_text=True)
    # The operator session expired: the next authorisation logs in again by itself.
    rig.controller.expire_sessions()
    wired = code_login(rig, rig.app.test_client(), "02-F0-00-00-00-02", phone(96), apMac="",
                       gatewayMac="AC-84-C6-00-00-FE", vid="20")
    assert wired.status_code == 200 and rig.controller.logins == 2
    assert rig.controller.clients[SITE]["02-F0-00-00-00-02"]["gatewayMac"] == "AC-84-C6-00-00-FE"


def test_refusals(rig: Rig) -> None:
    rig.register(password="wrong-operator-password")
    refused = code_login(rig, rig.app.test_client(), "02-F0-00-00-00-03", phone(97))
    assert refused.status_code == 403 and 'data-code="ac_rejected"' in refused.get_data(as_text=True)
    assert not SessionRegistry(rig.stack.redis).by_phone(phone(97))
    unknown = land(rig.app.test_client(), "02-F0-00-00-00-04", site="nosuchsite")
    assert unknown.status_code == 400


def test_open_api_usage_reaches_the_noc_and_the_daily_quota(rig: Rig) -> None:
    """With an Open API application on the entry, the controller usage round reads the client's
    traffic: the NOC session list shows it, the authorisation's end books it, and the next login
    of the day is refused once the day's data is used up."""
    from portal.aaa.controller_usage import UnifiUsagePoller
    from portal.aaa.omada_usage import granted_seconds
    from portal.aaa.plans import PlanStore
    from portal.units import format_octets

    app_id, app_secret = "a1b2c3d4e5f60718", "f0e1d2c3b4a5968778695a4b"
    rig.controller.openapi = (app_id, app_secret)
    record = AcRegistry(rig.stack.redis).get(SITE)
    AcRegistry(rig.stack.redis).put(dataclasses.replace(record, openapi_client=f"{app_id}:{app_secret}"))
    plans = PlanStore(rig.stack.redis)
    plans.put(dataclasses.replace(plans.get("basic"), daily_volume=50_000_000, daily_time=None,
                                  session_timeout=900))
    mac, number = "02-F0-00-00-00-09", phone(98)
    assert code_login(rig, rig.app.test_client(), mac, number).status_code == 200
    rig.controller.use(SITE, mac, up=3_000_000, down=48_000_000)
    now = [time.time()]
    poller = UnifiUsagePoller(rig.stack.redis, timeout=2.0, clock=lambda: now[0])
    assert poller.poll().updated == 1
    noc = signed_in(rig.app, rig.stack.redis)
    listed = noc.get("/noc/sessions").get_data(as_text=True)
    assert f"<td>{format_octets(51_000_000)}</td>" in listed, listed[:3000]
    # The authorisation ends: the session closes and the day's 51 MB are booked.
    (session,) = SessionRegistry(rig.stack.redis).by_phone(number)
    now[0] = session.started + granted_seconds(session) + 1
    assert poller.poll().closed == 1
    assert not SessionRegistry(rig.stack.redis).by_phone(number)
    # The returning phone is refused at the landing, before the controller is asked.
    landed = land(rig.app.test_client(), mac, lang="en")
    assert landed.status_code == 403 and 'data-code="daily_volume_used"' in landed.get_data(as_text=True)
    assert len(rig.controller.clients[SITE]) == 1
