"""MikroTik RouterOS Hotspot with citywifi as its external login page, end to end.

Real parts: Redis, our RADIUS server (a thread), the phone pages, the NOC console, and the
``login.html`` trampoline we ship (``deploy/mikrotik/login.html``), which the fake router
(``tests/fakes/mikrotik.py``, written from RouterOS's Hotspot documentation) serves with its
variables filled in; the fake's HTTP-CHAP login asks our RADIUS for real.
"""

from __future__ import annotations

import dataclasses
import http.client
import re
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any
from urllib.parse import parse_qs, urlencode, urlsplit

import pytest
from flask import Flask
from flask.testing import FlaskClient

from portal.aaa.acs import AcRecord, AcRegistry
from portal.aaa.sessions import SessionRegistry
from portal.runtime.settings import ConsoleSettings
from portal.state import keys
from portal.venues.venue_store import Venue, VenueStore
from portal.web import build_services, create_app
from tests.e2e.stack import OPERATOR_URL, Stack, phone, running_stack, wait_for
from tests.fakes.mikrotik import FakeMikrotik
from tests.portal.web.consolekit import csrf
from tests.portal.web.noc.jobkit import console_job
from tests.portal.web.noc.nockit import signed_in

GW = "mt-cafe"
ROUTER_IP = "127.0.0.3"          # its RADIUS source, and the address it NATs its clients to
RADIUS_SECRET = "mikrotik-radius-secret-0123"
PORTAL = "http://portal.test"


@dataclasses.dataclass
class Rig:
    stack: Stack
    router: FakeMikrotik
    app: Flask

    def portal(self) -> FlaskClient:
        """The phone's browser as the portal sees it: from the router's NAT address."""
        client = self.app.test_client()
        client.environ_base["REMOTE_ADDR"] = ROUTER_IP
        return client


@pytest.fixture
def rig(redis_client: Any, redis_url: str, data_dir: Path) -> Iterator[Rig]:
    with running_stack(redis_client, redis_url, data_dir, web={"public_url": PORTAL}) as stack:
        router = FakeMikrotik(portal_url=PORTAL, identity=GW, radius_secret=RADIUS_SECRET,
                              auth_port=stack.radius_auth_port, acct_port=stack.extras["acct_port"],
                              nas_ip=ROUTER_IP).start()
        AcRegistry(stack.redis).put(AcRecord(
            name=GW, kind="mikrotik", addresses=(ROUTER_IP,), secret=RADIUS_SECRET, rfc5176=True,
            coa_port=router.coa_port, client_address_check=False))
        VenueStore(stack.redis, cache_ttl=0.0).put(Venue(id="shop", name_zh="小店", name_en="Shop", acs=(GW,),
                                                         ad_seconds=1))
        settings = dataclasses.replace(stack.settings, console=ConsoleSettings(cookie_secure=False))
        app = create_app(build_services(settings, stack.redis, journey=stack.journey))
        app.config["TESTING"] = True
        try:
            yield Rig(stack, router, app)
        finally:
            router.stop()


def browse(router: FakeMikrotik, source: str, url: str) -> tuple[int, dict[str, str], str]:
    parts = urlsplit(url)
    conn = http.client.HTTPConnection(router.http_ip, router.http_port, timeout=10,
                                      source_address=(source, 0))
    target = parts.path + ("?" + parts.query if parts.query else "")
    conn.request("GET", target, headers={"Host": parts.netloc})
    resp = conn.getresponse()
    body = resp.read().decode()
    conn.close()
    return resp.status, dict(resp.headers), body


def post_form(client: FlaskClient, fields: list[tuple[str, str]]) -> Any:
    """The browser's form submission, fields in the page's order."""
    return client.post("/portal/gateway", data=urlencode(fields),
                       content_type="application/x-www-form-urlencoded")


def land(rig: Rig, client: FlaskClient, page: str) -> Any:
    """The browser submits the router's login.html to the portal, then follows the 303."""
    action, fields = rig.router.form_of(page)
    assert action == f"{PORTAL}/portal/gateway"
    posted = post_form(client, fields)
    assert posted.status_code == 303
    return client.get(posted.headers["Location"])


def _field(html: str, name: str) -> str:
    m = re.search(rf'name="{name}" value="([^"]*)"', html)
    assert m, html[:800]
    return m.group(1)


def sms_login(rig: Rig, client: FlaskClient, ip: str, number: str) -> str:
    status, _h, page = browse(rig.router, ip, "http://example.org/news")
    assert status == 200 and "$(" not in page
    landing = land(rig, client, page)
    assert landing.status_code == 200, landing.get_data(as_text=True)[:800]
    c = _field(landing.get_data(as_text=True), "c")
    client.post("/portal/code", data={"c": c, "phone": number})
    done = client.post("/portal/login", data={"c": c, "phone": number, "code": rig.stack.last_code(number)})
    assert done.status_code == 303, done.get_data(as_text=True)[:800]
    return str(done.headers["Location"])


def test_sms_login_returning_phone_and_noc_kick(rig: Rig) -> None:
    ip, mac, number = "127.0.0.20", "02:d0:00:00:00:14", phone(80)
    rig.router.add_client(ip, mac)
    client = rig.portal()
    login = sms_login(rig, client, ip, number)
    parts, q = urlsplit(login), parse_qs(urlsplit(login).query)
    assert f"{parts.scheme}://{parts.netloc}{parts.path}" == rig.router.link_login_only
    assert q["username"] == [number] and re.fullmatch(r"[0-9a-f]{32}", q["password"][0])
    # After the router's login: our welcome page (the status link), which forwards the phone to
    # the venue's post-login page.
    (welcome_url,) = q["dst"]
    assert welcome_url.startswith(PORTAL + "/portal/welcome?s="), welcome_url
    status, headers, _ = browse(rig.router, ip, login)
    assert status == 302 and headers["Location"] == welcome_url
    welcome = client.get(welcome_url[len(PORTAL):]).get_data(as_text=True)
    assert OPERATOR_URL in welcome and "/portal/status" in welcome, welcome[:800]
    (request,) = rig.router.requests
    assert request["User-Name"] == [number] and "CHAP-Password" in request
    assert rig.router.clients[ip].accept["Mikrotik-Rate-Limit"] == ["2000k/8000k"]
    assert wait_for(lambda: SessionRegistry(rig.stack.redis).by_phone(number), 5)
    (session,) = SessionRegistry(rig.stack.redis).by_phone(number)
    assert (session.ac, session.ip, session.mac) == (GW, ip, mac)
    assert browse(rig.router, ip, "http://example.org/")[0] == 200 and "internet" in \
        browse(rig.router, ip, "http://example.org/")[2]
    noc = signed_in(rig.app, rig.stack.redis)
    resp = noc.post("/noc/sessions/kick", data={"ac": GW, "session_id": session.session_id,
                                                "csrf_token": csrf(noc, "/noc/sessions")})
    assert 'data-outcome="dm"' in console_job(noc, resp.headers["Location"])
    assert not rig.router.clients[ip].authenticated
    assert wait_for(lambda: not SessionRegistry(rig.stack.redis).by_phone(number), 5)
    # Returning phone: the router's page again → ad → the router's login with a fresh token.
    html = land(rig, client, browse(rig.router, ip, "http://example.org/")[2]).get_data(as_text=True)
    assert 'name="ticket"' in html, html[:800]
    time.sleep(1.2)
    cont = client.post("/portal/continue", data={"c": _field(html, "c"), "ticket": _field(html, "ticket")})
    assert cont.status_code == 303 and cont.headers["Location"].startswith(rig.router.link_login_only + "?")
    assert browse(rig.router, ip, cont.headers["Location"])[0] == 302
    assert rig.router.clients[ip].authenticated and len(rig.router.requests) == 2
    # Our status page's logout sends the phone to the router's /logout servlet.
    out = client.post("/portal/logout", data={"s": rig.stack.journey.session_token(GW, ip, number)})
    logout = rig.router.link_login_only[:-5] + "logout"
    assert out.status_code == 200 and f'url={logout}"' in out.get_data(as_text=True)
    assert browse(rig.router, ip, logout)[0] == 200
    assert not rig.router.clients[ip].authenticated
    assert wait_for(lambda: not SessionRegistry(rig.stack.redis).by_phone(number), 5)


def test_refusals_and_replays(rig: Rig) -> None:
    ip, mac, number = "127.0.0.21", "02:d0:00:00:00:15", phone(81)
    rig.router.add_client(ip, mac)
    client = rig.portal()
    login = sms_login(rig, client, ip, number)
    rig.stack.redis.delete(keys.login_tokens(number))          # the token expired meanwhile
    status, _h, page = browse(rig.router, ip, login)
    assert status == 200 and not rig.router.clients[ip].authenticated
    # RouterOS shows login.html again with $(error): the portal shows the refusal and the way back.
    refused = land(rig, client, page)
    text = refused.get_data(as_text=True)
    assert refused.status_code == 403 and 'data-code="ac_rejected"' in text
    assert rig.router.link_login_only in text
    # The same login URL against the router's fresh challenge: the digest no longer matches.
    again = browse(rig.router, ip, login)[2]
    assert _field(again, "error") and not rig.router.clients[ip].authenticated
    # A login URL that worked, replayed (after the phone left): that challenge is spent.
    ip2 = "127.0.0.23"
    rig.router.add_client(ip2, "02:d0:00:00:00:17")
    ok = sms_login(rig, rig.portal(), ip2, phone(82))
    assert browse(rig.router, ip2, ok)[0] == 302 and rig.router.clients[ip2].authenticated
    rig.router.clients[ip2].authenticated = False
    assert _field(browse(rig.router, ip2, ok)[2], "error") == "no challenge"
    assert len(rig.router.requests) == 3


def test_forged_landings_are_refused(rig: Rig) -> None:
    ip = "127.0.0.22"
    rig.router.add_client(ip, "02:d0:00:00:00:16")
    page = browse(rig.router, ip, "http://example.org/")[2]
    _action, fields = rig.router.form_of(page)
    # From somewhere that is neither the router nor the client it names.
    stranger = rig.app.test_client()
    stranger.environ_base["REMOTE_ADDR"] = "198.51.100.7"
    posted = post_form(stranger, fields)
    assert stranger.get(posted.headers["Location"]).status_code == 400
    # A login link naming a host (it would receive the phone's number) or another servlet.
    for link in ("http://evil.example/login", f"http://{rig.router.http_ip}/status"):
        forged = [(n, link if n == "link-login-only" else v) for n, v in fields]
        client = rig.portal()
        answer = client.get(post_form(client, forged).headers["Location"])
        assert answer.status_code == 400 and 'name="c"' not in answer.get_data(as_text=True)
    # Not octal-escaped CHAP values are not the router's.
    forged = [(n, "abc" if n == "chap-challenge" else v) for n, v in fields]
    client = rig.portal()
    assert client.get(post_form(client, forged).headers["Location"]).status_code == 400
