"""UniFi external portal, end to end: the phone pages, real Redis, and a fake of the
controller's API (``tests/fakes/unifi_controller.py``: login cookie and CSRF token, stamgr guest
commands, expiring sessions, guests' byte counters) that the portal authorises and unauthorises
guests through, and whose usage the maintenance poller books (``portal/aaa/controller_usage.py``).
"""

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
from portal.aaa.controller_usage import UnifiUsagePoller
from portal.aaa.plans import Plan
from portal.aaa.sessions import SessionRegistry
from portal.aaa.usage import UsageBook
from portal.legal.reallog import RealNameLog
from portal.runtime.settings import ConsoleSettings
from portal.state import keys, keys_gateway
from portal.venues.venue_store import Venue, VenueStore
from portal.web import build_services, create_app
from tests.e2e.stack import Stack, phone, running_stack
from tests.fakes.unifi_controller import FakeUnifiController
from tests.portal.web.api.apikit import auth, token
from tests.portal.web.consolekit import csrf
from tests.portal.web.noc.jobkit import console_job
from tests.portal.web.noc.nockit import signed_in

SITE = "cafe1x2y"
USER, PASSWORD = "hotspot", "controller-pass-0123"
PORTAL = "http://portal.test"
AP = "f0:9f:c2:00:00:01"


@dataclasses.dataclass
class Rig:
    stack: Stack
    controller: FakeUnifiController
    app: Flask

    def register(self, password: str = PASSWORD, url: str = "") -> None:
        AcRegistry(self.stack.redis).put(AcRecord(
            name=SITE, kind="unifi", addresses=("127.0.0.4",), secret=password,
            controller_url=url or self.controller.url(), rfc5176=False, client_address_check=False))
        self.stack.journey._ac_cache.clear()      # an edit reaches the journey after its cache TTL


@pytest.fixture
def rig(redis_client: Any, redis_url: str, data_dir: Path) -> Iterator[Rig]:
    # The tests poll the controller themselves, step by step: the stack's RADIUS maintenance
    # thread must not run a round of its own in between (its first round may come late on a
    # busy box and write back counters it read before the test's own round).
    redis_client.set(keys_gateway.controller_poll_lock(), "1", ex=3600)
    with running_stack(redis_client, redis_url, data_dir, web={"public_url": PORTAL}) as stack:
        controller = FakeUnifiController(user=USER, password=PASSWORD, sites=(SITE,)).start()
        VenueStore(stack.redis, cache_ttl=0.0).put(Venue(id="cafe-u", name_zh="咖啡馆", name_en="Cafe",
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


def land(client: FlaskClient, mac: str, site: str = SITE) -> Any:
    """UniFi's redirect, as the controller sends the phone's browser to the portal."""
    query = urlencode({"ap": AP, "id": mac, "t": str(int(time.time())), "url": "http://example.org/",
                       "ssid": "CafeGuest"})
    first = client.get(f"/guest/s/{site}/?{query}")
    assert first.status_code == 303
    return client.get(first.headers["Location"])


def _field(html: str, name: str) -> str:
    m = re.search(rf'name="{name}" value="([^"]*)"', html)
    assert m, html[:800]
    return m.group(1)


def code_login(rig: Rig, client: FlaskClient, mac: str, number: str) -> tuple[str, Any]:
    page = land(client, mac)
    assert page.status_code == 200, page.get_data(as_text=True)[:800]
    c = _field(page.get_data(as_text=True), "c")
    client.post("/portal/code", data={"c": c, "phone": number})
    code = rig.stack.last_code(number)
    return c, client.post("/portal/login", data={"c": c, "phone": number, "code": code})


def test_guest_authorised_kicked_and_returning(rig: Rig, redis_client: Any) -> None:
    mac, number = "02:e0:00:00:00:01", phone(90)
    client = rig.app.test_client()
    _c, done = code_login(rig, client, mac, number)
    assert done.status_code == 200, done.get_data(as_text=True)[:800]
    guest = rig.controller.guests[SITE][mac]
    assert (guest["minutes"], guest["up"], guest["down"], guest["ap_mac"]) == (240, 2000, 8000, AP)
    assert rig.controller.logins == 1
    (session,) = SessionRegistry(rig.stack.redis).by_phone(number)
    assert (session.ac, session.mac, session.plan) == (SITE, mac, "basic")
    records = RealNameLog(rig.stack.redis).recent(5)
    assert any(r.phone == number and r.mac == mac and r.ac == SITE for r in records)
    listed = client.get(f"/api/v1/sessions?phone={number}", headers=auth(token(redis_client))).get_json()
    assert [s["ac"] for s in listed["sessions"]] == [SITE]
    # NOC kick → unauthorize-guest on the controller; the ended authorisation's counters are
    # read back and booked to the phone's day.
    rig.controller.use(SITE, mac, rx=1_000_000, tx=4_000_000)
    noc = signed_in(rig.app, rig.stack.redis)
    resp = noc.post("/noc/sessions/kick", data={"ac": SITE, "session_id": session.session_id,
                                                "csrf_token": csrf(noc, "/noc/sessions")})
    job = console_job(noc, resp.headers["Location"])
    assert 'data-outcome="controller"' in job, job[:800]
    assert mac not in rig.controller.guests[SITE] and not SessionRegistry(rig.stack.redis).by_phone(number)
    book = UsageBook(rig.stack.redis, rig.stack.settings.quota.timezone)
    assert book.get(number, time.time()).daily_volume == 5_000_000
    # Returning phone: ad, then authorised again without a code; the controller session is reused.
    html = land(client, mac).get_data(as_text=True)
    assert 'name="ticket"' in html, html[:800]
    time.sleep(1.2)
    cont = client.post("/portal/continue", data={"c": _field(html, "c"), "ticket": _field(html, "ticket")})
    assert cont.status_code in (200, 303), cont.get_data(as_text=True)[:800]
    assert mac in rig.controller.guests[SITE] and rig.controller.logins == 1
    # The controller's login session expired meanwhile: the status page's logout logs in anew.
    rig.controller.expire_sessions()
    page = client.get("/portal/status?s=" + rig.stack.journey.session_token(SITE, session.ip or "", number))
    status = re.search(r'name="s" value="([^"]+)"', page.get_data(as_text=True))
    assert status
    out = client.post("/portal/logout", data={"s": status.group(1)})
    assert out.status_code == 200 and mac not in rig.controller.guests[SITE]
    assert rig.controller.logins == 2 and not SessionRegistry(rig.stack.redis).by_phone(number)


def test_controller_refusal_retry_and_unreachable(rig: Rig) -> None:
    mac, number = "02:e0:00:00:00:02", phone(91)
    rig.register(password="not-the-password-1")
    client = rig.app.test_client()
    c, refused = code_login(rig, client, mac, number)
    assert refused.status_code == 403 and 'data-code="ac_rejected"' in refused.get_data(as_text=True)
    assert mac not in rig.controller.guests[SITE]
    # Fixed in the registry: the same code from the same page gets its one retry.
    rig.register()
    again = client.post("/portal/login", data={"c": c, "phone": number, "code": rig.stack.last_code(number)})
    assert again.status_code == 200 and mac in rig.controller.guests[SITE]
    # The controller unreachable: "did not answer", nothing recorded as online.
    rig.register(url=f"http://{USER}@127.0.0.1:9")
    other, other_number = "02:e0:00:00:00:03", phone(92)
    _c, down = code_login(rig, rig.app.test_client(), other, other_number)
    assert down.status_code == 504 and not SessionRegistry(rig.stack.redis).by_phone(other_number)


def test_quota_maps_to_a_data_cap_and_unknown_sites_are_refused(rig: Rig) -> None:
    rig.stack.plans.put(Plan(name="basic", up_kbps=1000, down_kbps=4000, session_timeout=1800,
                             daily_volume=300_000_000, max_sessions=2))
    mac, number = "02:e0:00:00:00:04", phone(93)
    _c, done = code_login(rig, rig.app.test_client(), mac, number)
    assert done.status_code == 200
    guest = rig.controller.guests[SITE][mac]
    assert (guest["minutes"], guest["qos_usage_quota"]) == (30, 299)  # 300 MB left, rounded down
    page = land(rig.app.test_client(), "02:e0:00:00:00:05", site="nosuchsite")
    assert page.status_code == 400 and 'name="c"' not in page.get_data(as_text=True)


def test_polled_usage_books_into_the_daily_quota(rig: Rig) -> None:
    """Usage read from the controller ends up in the phone's day: a second login the same day
    gets only what is left, and once that is used too the phone is refused in both languages."""
    rig.stack.plans.put(Plan(name="basic", up_kbps=1000, down_kbps=4000, session_timeout=1800,
                             daily_volume=300_000_000, max_sessions=2))
    mac, number = "02:e0:00:00:00:06", phone(94)
    client = rig.app.test_client()
    _c, done = code_login(rig, client, mac, number)
    assert done.status_code == 200 and rig.controller.guests[SITE][mac]["qos_usage_quota"] == 299
    poller = UnifiUsagePoller(rig.stack.redis, timezone=rig.stack.settings.quota.timezone, timeout=2.0)
    rig.controller.use(SITE, mac, rx=10_000_000, tx=240_000_000)
    assert poller.poll().updated == 1
    (session,) = SessionRegistry(rig.stack.redis).by_phone(number)
    assert session.octets == 250_000_000                # the NOC sees the controller's counters
    rig.controller.expire_guest(SITE, mac)               # its minutes ran out
    assert poller.poll().closed == 1 and not SessionRegistry(rig.stack.redis).by_phone(number)
    book = UsageBook(rig.stack.redis, rig.stack.settings.quota.timezone)
    assert book.get(number, time.time()).daily_volume == 250_000_000
    # Returning the same day: ad, then authorised with only the 50 MB left (rounded down).
    html = land(client, mac).get_data(as_text=True)
    assert 'name="ticket"' in html, html[:800]
    time.sleep(1.2)
    cont = client.post("/portal/continue", data={"c": _field(html, "c"), "ticket": _field(html, "ticket")})
    assert cont.status_code in (200, 303), cont.get_data(as_text=True)[:800]
    assert rig.controller.guests[SITE][mac]["qos_usage_quota"] == 49
    rig.controller.use(SITE, mac, tx=50_000_000)         # over its cap: the controller cuts it off
    assert mac not in rig.controller.guests[SITE]
    assert poller.poll().closed == 1
    assert book.get(number, time.time()).daily_volume == 300_000_000
    causes = [f[b"cause"] for _, f in rig.stack.redis.xrange(keys.real_name_log()) if f[b"kind"] == b"logout"]
    assert causes == [b"unifi:expired", b"unifi:expired"]
    # The day's allowance is used up: refused at the landing, in Chinese and in English.
    for lang, text in (("zh", "今日流量已用完"), ("en", "data allowance is used up")):
        client.environ_base["HTTP_ACCEPT_LANGUAGE"] = lang
        page = land(client, mac).get_data(as_text=True)
        assert text in page and 'name="ticket"' not in page, page[:1500]
    assert mac not in rig.controller.guests[SITE]
