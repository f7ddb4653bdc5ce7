"""CoovaChilli (UAM) in front of citywifi, end to end.

Real parts: Redis, our RADIUS server (a thread), the phone pages (the Flask app), the NOC console.
The gateway is ``tests/fakes/chilli.py`` (written from Chilli's documentation: md-signed
redirects, challenge-encoded logon, real Access-Request / accounting / RFC 5176 towards us),
each phone a loopback source address of its own so the fake tells phones apart as Chilli does.
"""

from __future__ import annotations

import dataclasses
import http.client
import json
import re
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any
from urllib.parse import parse_qs, urlsplit

import pytest
from flask import Flask
from flask.testing import FlaskClient

from portal.aaa.acs import AcRecord, AcRegistry
from portal.aaa.sessions import SessionRegistry
from portal.legal.reallog import RealNameLog
from portal.runtime.settings import ConsoleSettings
from portal.state import keys
from portal.venues.venue_store import Venue, VenueStore
from portal.web import build_services, create_app
from tests.e2e.stack import OPERATOR_URL, Stack, phone, running_stack, wait_for
from tests.fakes.chilli import FakeChilli
from tests.portal.web.api.apikit import auth, token
from tests.portal.web.consolekit import csrf
from tests.portal.web.noc.jobkit import console_job, finished_job
from tests.portal.web.noc.nockit import signed_in

GW = "chilli-cafe"
UAMSECRET = "uam-secret-0123456789"
RADIUS_SECRET = "chilli-radius-secret-0123"
PORTAL = "http://portal.test"


@dataclasses.dataclass
class Rig:
    stack: Stack
    chilli: FakeChilli
    app: Flask


def _rig(stack: Stack, **fake: Any) -> tuple[FakeChilli, Flask]:
    chilli = FakeChilli(uamsecret=UAMSECRET, radius_secret=RADIUS_SECRET, uamserver=f"{PORTAL}/portal",
                        auth_port=stack.radius_auth_port, acct_port=stack.extras["acct_port"], nasid=GW,
                        **fake).start()
    AcRegistry(stack.redis).put(AcRecord(
        name=GW, kind="chilli", addresses=(chilli.nas_ip,), secret=UAMSECRET, radius_secret=RADIUS_SECRET,
        rfc5176=True, coa_port=chilli.coa_port, client_address_check=False))
    VenueStore(stack.redis, cache_ttl=0.0).put(Venue(id="cafe", name_zh="咖啡馆", name_en="Cafe", acs=(GW,),
                                                     ad_seconds=1))
    settings = dataclasses.replace(stack.settings, console=ConsoleSettings(cookie_secure=False))
    app = create_app(build_services(settings, stack.redis, journey=stack.journey))
    app.config["TESTING"] = True
    return chilli, app


@pytest.fixture
def rig(redis_client: Any, redis_url: str, data_dir: Path) -> Iterator[Rig]:
    with running_stack(redis_client, redis_url, data_dir, web={"public_url": PORTAL}) as stack:
        chilli, app = _rig(stack)
        try:
            yield Rig(stack, chilli, app)
        finally:
            chilli.stop()


def browse(chilli: FakeChilli, source: str, url: str) -> http.client.HTTPResponse:
    """The phone at ``source`` (127.0.0.x) fetches ``url`` through the gateway."""
    parts = urlsplit(url)
    conn = http.client.HTTPConnection(chilli.uamip, chilli.uamport, timeout=10, source_address=(source, 0))
    conn.request("GET", parts.path + ("?" + parts.query if parts.query else ""),
                 headers={"Host": parts.netloc})
    resp = conn.getresponse()
    resp.read()
    conn.close()
    return resp


def portal_get(client: FlaskClient, url: str) -> Any:
    assert url.startswith(PORTAL + "/"), url
    return client.get(url[len(PORTAL):])


def _field(html: str, name: str) -> str:
    m = re.search(rf'name="{name}" value="([^"]*)"', html)
    assert m, html[:800]
    return m.group(1)


def sms_login(rig: Rig, client: FlaskClient, ip: str, number: str) -> str:
    """Browse → Chilli's notyet redirect → our login page → SMS code → the logon URL."""
    redirect = browse(rig.chilli, ip, "http://example.org/news").headers["Location"]
    page = portal_get(client, redirect)
    assert page.status_code == 200, page.get_data(as_text=True)[:800]
    c = _field(page.get_data(as_text=True), "c")
    client.post("/portal/code", data={"c": c, "phone": number})
    done = client.post("/portal/login", data={"c": c, "phone": number, "code": rig.stack.last_code(number)})
    assert done.status_code == 303, done.get_data(as_text=True)[:800]
    return str(done.headers["Location"])


def test_sms_login_returning_phone_and_noc_kick(rig: Rig) -> None:
    ip, mac, number = "127.0.0.10", "02:c0:00:00:00:0a", phone(70)
    rig.chilli.add_client(ip, mac)
    client = rig.app.test_client()
    logon = sms_login(rig, client, ip, number)
    parts = urlsplit(logon)
    q = parse_qs(parts.query)
    assert (parts.hostname, parts.port, parts.path) == (rig.chilli.uamip, rig.chilli.uamport, "/logon")
    assert q["username"] == [number] and len(q["password"][0]) == 32     # the token, XOR-encoded
    assert rig.stack.redis.hget(keys.portal_login(GW, ip), "phone") == number.encode()
    # The phone follows it: Chilli asks our RADIUS, which accepts with the plan in its dialect.
    landed = browse(rig.chilli, ip, logon)
    success = landed.headers["Location"]
    assert "res=success" in success, success
    (request,) = rig.chilli.requests
    assert request["User-Name"] == [number]
    accept = rig.chilli.clients[ip].accept
    assert accept["ChilliSpot-Bandwidth-Max-Up"] == [2000]
    assert accept["ChilliSpot-Bandwidth-Max-Down"] == [8000]
    assert accept["Session-Timeout"][0] <= 4 * 3600
    assert wait_for(lambda: SessionRegistry(rig.stack.redis).by_phone(number), 5)
    (session,) = SessionRegistry(rig.stack.redis).by_phone(number)
    assert (session.ac, session.ip, session.mac) == (GW, ip, mac)
    assert any(r.phone == number and r.ac == GW and r.mac == mac
               for r in RealNameLog(rig.stack.redis).recent(10))
    # res=success (md verified) → our welcome page (the status link), which forwards the phone
    # to the venue's post-login page.
    back = portal_get(client, success)
    assert back.status_code == 303 and back.headers["Location"].startswith(PORTAL + "/portal/welcome?s=")
    welcome = portal_get(client, back.headers["Location"]).get_data(as_text=True)
    assert OPERATOR_URL in welcome and "/portal/status" in welcome, welcome[:800]
    assert browse(rig.chilli, ip, "http://example.org/news").status == 200     # online
    # NOC kick: an RFC 5176 Disconnect to Chilli, which ends the session (Accounting-Stop).
    noc = signed_in(rig.app, rig.stack.redis)
    resp = noc.post("/noc/sessions/kick", data={"ac": GW, "session_id": session.session_id,
                                                "csrf_token": csrf(noc, "/noc/sessions")})
    job = console_job(noc, resp.headers["Location"])
    assert 'data-outcome="dm"' in job, job[:800]
    assert not rig.chilli.clients[ip].authenticated
    assert wait_for(lambda: not SessionRegistry(rig.stack.redis).by_phone(number), 5)
    # Returning phone: Chilli redirects again, the bound MAC gets the ad, then logs in by itself.
    again = portal_get(client, browse(rig.chilli, ip, "http://example.org/").headers["Location"])
    html = again.get_data(as_text=True)
    assert 'name="ticket"' in html, html[:800]
    time.sleep(1.2)
    cont = client.post("/portal/continue", data={"c": _field(html, "c"), "ticket": _field(html, "ticket")})
    assert cont.status_code == 303 and "/logon?" in cont.headers["Location"]
    assert "res=success" in browse(rig.chilli, ip, cont.headers["Location"]).headers["Location"]
    assert len(rig.chilli.requests) == 2 and rig.chilli.clients[ip].authenticated
    # Our status page's logout sends the phone to Chilli's /logoff, which lands on our offline page.
    token = rig.stack.journey.session_token(GW, ip, number)
    out = client.post("/portal/logout", data={"s": token})
    logoff = f"http://{rig.chilli.uamip}:{rig.chilli.uamport}/logoff"
    assert out.status_code == 200 and f'url={logoff}"' in out.get_data(as_text=True)
    off = browse(rig.chilli, ip, logoff).headers["Location"]
    assert not rig.chilli.clients[ip].authenticated
    page = portal_get(client, off + "&lang=en")
    assert page.status_code == 200 and "logged out" in page.get_data(as_text=True).lower()
    assert not rig.stack.redis.exists(keys.portal_login(GW, ip))


def test_replayed_challenge_and_logon(rig: Rig) -> None:
    ip, mac, number = "127.0.0.11", "02:c0:00:00:00:0b", phone(71)
    rig.chilli.add_client(ip, mac)
    client = rig.app.test_client()
    redirect = browse(rig.chilli, ip, "http://example.org/").headers["Location"]
    page = portal_get(client, redirect)
    c = _field(page.get_data(as_text=True), "c")
    client.post("/portal/code", data={"c": c, "phone": number})
    done = client.post("/portal/login", data={"c": c, "phone": number, "code": rig.stack.last_code(number)})
    logon = done.headers["Location"]
    assert "res=success" in browse(rig.chilli, ip, logon).headers["Location"]
    # The logon URL replayed: Chilli has spent that challenge → failed, shown with the reason.
    rig.chilli.clients[ip].authenticated = False
    failed = browse(rig.chilli, ip, logon).headers["Location"]
    assert "res=failed" in failed
    shown = portal_get(client, failed + "&lang=en")
    assert shown.status_code == 403 and "Login refused: no challenge" in shown.get_data(as_text=True)
    assert f"http://{rig.chilli.uamip}:{rig.chilli.uamport}/prelogin" in shown.get_data(as_text=True)
    # The old redirect replayed at the portal (md still verifies): its challenge carried a grant,
    # so the returning-phone path refuses to hand out a second one.
    html = portal_get(client, redirect).get_data(as_text=True)
    time.sleep(1.2)
    cont = client.post("/portal/continue", data={"c": _field(html, "c"), "ticket": _field(html, "ticket")})
    assert cont.status_code == 400 and 'data-code="bad_link"' in cont.get_data(as_text=True)
    assert len(rig.chilli.requests) == 1


def test_radius_reject_lands_as_failed(rig: Rig) -> None:
    ip, mac, number = "127.0.0.12", "02:c0:00:00:00:0c", phone(72)
    rig.chilli.add_client(ip, mac)
    client = rig.app.test_client()
    logon = sms_login(rig, client, ip, number)
    rig.stack.redis.delete(keys.login_tokens(number))        # the token expired before the phone came
    failed = browse(rig.chilli, ip, logon).headers["Location"]
    assert "res=failed" in failed and not rig.chilli.clients[ip].authenticated
    page = portal_get(client, failed + "&lang=en")
    assert page.status_code == 403 and "Login refused" in page.get_data(as_text=True)
    assert not SessionRegistry(rig.stack.redis).by_phone(number)


def test_plan_change_by_coa_and_quota_cut_by_disconnect(rig: Rig, redis_client: Any) -> None:
    ip, mac, number = "127.0.0.14", "02:c0:00:00:00:0e", phone(73)
    rig.chilli.add_client(ip, mac)
    client = rig.app.test_client()
    assert "res=success" in browse(rig.chilli, ip, sms_login(rig, client, ip, number)).headers["Location"]
    assert wait_for(lambda: SessionRegistry(rig.stack.redis).by_phone(number), 5)
    # The NOC lowers the plan's rates and caps the day's data: a CoA reaches Chilli at once.
    write = auth(token(redis_client, "write", "oss-chilli"))
    resp = client.patch("/api/v1/plans/basic", json={"up_kbps": 500, "down_kbps": 1000,
                                                    "daily_volume": 100_000}, headers=write)
    assert resp.status_code == 200, resp.get_json()
    job = finished_job(rig.app, redis_client, resp.get_json()["applying"]["status_url"], timeout=30)
    assert job["result"]["counts"]["coa"] == 1, job
    accept = rig.chilli.clients[ip].accept
    assert (accept["ChilliSpot-Bandwidth-Max-Up"], accept["ChilliSpot-Bandwidth-Max-Down"]) == ([500], [1000])
    # Chilli's meter reports the day's data used up: our accounting disconnects the phone.
    rig.chilli.interim(rig.chilli.clients[ip], 60_000, 50_000, 60)
    assert wait_for(lambda: not rig.chilli.clients[ip].authenticated, 10)
    assert wait_for(lambda: not SessionRegistry(rig.stack.redis).by_phone(number), 5)
    # … and the next login is refused before Chilli is even asked.
    redirect = browse(rig.chilli, ip, "http://example.org/").headers["Location"]
    page = portal_get(client, redirect + "&lang=en").get_data(as_text=True)
    assert "data allowance is used up" in page, page[:600]


def test_unsigned_or_wrongly_signed_redirect_is_refused(redis_client: Any, redis_url: str,
                                                         data_dir: Path) -> None:
    with running_stack(redis_client, redis_url, data_dir, web={"public_url": PORTAL}) as stack:
        chilli, app = _rig(stack, md_secret="not-the-uam-secret")
        try:
            chilli.add_client("127.0.0.13", "02:c0:00:00:00:0d")
            client = app.test_client()
            redirect = browse(chilli, "127.0.0.13", "http://example.org/").headers["Location"]
            page = portal_get(client, redirect)
            assert page.status_code == 400 and 'name="c"' not in page.get_data(as_text=True)
            unsigned = redirect.rsplit("&md=", 1)[0]
            assert portal_get(client, unsigned).status_code == 400
            # A forged success landing is refused too (no redirect, no status page).
            forged = portal_get(client, redirect.replace("res=notyet", "res=success"))
            assert forged.status_code == 400
        finally:
            chilli.stop()


def json_get(chilli: FakeChilli, source: str, path: str) -> tuple[str, dict[str, Any]]:
    """The phone at ``source`` asks Chilli's JSON interface with callback=cb: (content type, object)."""
    conn = http.client.HTTPConnection(chilli.uamip, chilli.uamport, timeout=10, source_address=(source, 0))
    conn.request("GET", path + ("&" if "?" in path else "?") + "callback=cb")
    resp = conn.getresponse()
    body = resp.read().decode()
    conn.close()
    assert resp.status == 200 and body.startswith("cb(") and body.endswith(")"), body[:200]
    return str(resp.headers["Content-Type"]), json.loads(body[3:-1])


def _json_login_page(rig: Rig, client: FlaskClient, ip: str, number: str) -> tuple[str, dict[str, Any], Any]:
    redirect = browse(rig.chilli, ip, "http://example.org/news").headers["Location"]
    c = _field(portal_get(client, redirect).get_data(as_text=True), "c")
    client.post("/portal/code", data={"c": c, "phone": number})
    page = client.post("/portal/login", data={"c": c, "phone": number, "code": rig.stack.last_code(number)})
    m = re.search(r'<script type="application/json" id="cw-chilli">(.*?)</script>',
                  page.get_data(as_text=True))
    return redirect, json.loads(m.group(1)) if m else {}, page


def test_json_interface_handoff_page_and_the_fakes_answers(rig: Rig) -> None:
    record = AcRegistry(rig.stack.redis).get(GW)
    AcRegistry(rig.stack.redis).put(dataclasses.replace(record, json_login=True))
    ip, mac, number = "127.0.0.15", "02:c0:00:00:00:0f", phone(74)
    rig.chilli.add_client(ip, mac)
    client = rig.app.test_client()
    redirect, config, page = _json_login_page(rig, client, ip, number)
    # The page, not a 303: its script may load Chilli's address and nothing else.
    assert page.status_code == 200 and config, page.get_data(as_text=True)[:600]
    root = f"http://{rig.chilli.uamip}:{rig.chilli.uamport}"
    assert "script-src 'nonce-" in page.headers["Content-Security-Policy"]
    assert page.headers["Content-Security-Policy"].split("script-src ")[1].split(";")[0].endswith(root)
    challenge = parse_qs(urlsplit(redirect).query)["challenge"][0]
    assert config["challenge"] == challenge and config["status"] == root + "/json/status"
    assert config["logon"].startswith(root + "/json/logon?username=" + number + "&password=")
    assert config["plain"].startswith(root + "/logon?")
    assert config["landing"].startswith(PORTAL + "/portal/welcome?s=")
    # Chilli's answers, as its JSON interface shapes them (JSONP, clientState, challenge …).
    ctype, status = json_get(rig.chilli, ip, "/json/status")
    assert ctype == "text/javascript"
    assert (status["version"], status["clientState"], status["nasid"]) == ("1.0", 0, GW)
    assert status["challenge"] == challenge and status["redir"]["ipAddress"] == ip and "session" not in status
    assert json_get(rig.chilli, ip, "/json/status")[1]["challenge"] == challenge     # status spends nothing
    assert json_get(rig.chilli, ip, "/json/logon?password=00")[1] == {"version": "1.0", "clientState": 0,
                                                                       "nasid": GW}   # no username
    _, logon = json_get(rig.chilli, ip, config["logon"][len(root):])
    assert logon["clientState"] == 1 and logon["session"]["userName"] == number and "challenge" not in logon
    assert wait_for(lambda: SessionRegistry(rig.stack.redis).by_phone(number), 5)
    _, already = json_get(rig.chilli, ip, config["logon"][len(root):])
    assert already["clientState"] == 1 and len(rig.chilli.requests) == 1
    _, off = json_get(rig.chilli, ip, "/json/logoff")
    assert off["clientState"] == 0 and len(off["challenge"]) == 32
    # A reject: clientState 0, the Reply-Message, and a fresh challenge for the next try.
    _, refused = json_get(rig.chilli, ip, f"/json/logon?username={number}&password={'00' * 16}")
    assert refused["clientState"] == 0 and refused["message"] and refused["challenge"] != off["challenge"]


def test_https_portal_keeps_the_logon_redirect_for_an_http_json_interface(
        redis_client: Any, redis_url: str, data_dir: Path) -> None:
    # An https page cannot load an http:// script (mixed content): without Chilli's HTTPS
    # listener (ssl=) the handoff stays the /logon redirect, even with json_login on.
    with running_stack(redis_client, redis_url, data_dir, web={"public_url": "https://portal.test"}) as stack:
        chilli = FakeChilli(uamsecret=UAMSECRET, radius_secret=RADIUS_SECRET,
                            uamserver="https://portal.test/portal", auth_port=stack.radius_auth_port,
                            acct_port=stack.extras["acct_port"], nasid=GW).start()
        try:
            AcRegistry(stack.redis).put(AcRecord(
                name=GW, kind="chilli", addresses=(chilli.nas_ip,), secret=UAMSECRET,
                radius_secret=RADIUS_SECRET, rfc5176=True, coa_port=chilli.coa_port,
                client_address_check=False, json_login=True))
            app = create_app(build_services(stack.settings, stack.redis, journey=stack.journey))
            ip, number = "127.0.0.16", phone(75)
            chilli.add_client(ip, "02:c0:00:00:00:10")
            client = app.test_client()
            redirect = browse(chilli, ip, "http://example.org/").headers["Location"]
            c = _field(client.get(redirect[len("https://portal.test"):]).get_data(as_text=True), "c")
            client.post("/portal/code", data={"c": c, "phone": number})
            done = client.post("/portal/login",
                               data={"c": c, "phone": number, "code": stack.last_code(number)})
            assert done.status_code == 303, done.get_data(as_text=True)[:400]
            assert "/logon?" in done.headers["Location"]
        finally:
            chilli.stop()


def test_a_redirect_naming_chillis_https_listener_gets_the_json_login_under_https(
        redis_client: Any, redis_url: str, data_dir: Path) -> None:
    # uamuissl: the signed redirect names Chilli's HTTPS listener (ssl=), so the page uses the
    # JSON interface there, even without json_login on the entry, and under an https portal.
    ssl = "https://hotspot.cafe.example:4990/"
    with running_stack(redis_client, redis_url, data_dir, web={"public_url": "https://portal.test"}) as stack:
        chilli = FakeChilli(uamsecret=UAMSECRET, radius_secret=RADIUS_SECRET, ssl=ssl,
                            uamserver="https://portal.test/portal", auth_port=stack.radius_auth_port,
                            acct_port=stack.extras["acct_port"], nasid=GW).start()
        try:
            AcRegistry(stack.redis).put(AcRecord(
                name=GW, kind="chilli", addresses=(chilli.nas_ip,), secret=UAMSECRET,
                radius_secret=RADIUS_SECRET, rfc5176=True, coa_port=chilli.coa_port,
                client_address_check=False))
            app = create_app(build_services(stack.settings, stack.redis, journey=stack.journey))
            ip, number = "127.0.0.17", phone(76)
            chilli.add_client(ip, "02:c0:00:00:00:11")
            client = app.test_client()
            redirect = browse(chilli, ip, "http://example.org/").headers["Location"]
            assert "&ssl=https%3a%2f%2fhotspot.cafe.example%3a4990%2f&" in redirect
            c = _field(client.get(redirect[len("https://portal.test"):]).get_data(as_text=True), "c")
            client.post("/portal/code", data={"c": c, "phone": number})
            page = client.post("/portal/login",
                               data={"c": c, "phone": number, "code": stack.last_code(number)})
            assert page.status_code == 200, page.get_data(as_text=True)[:400]
            found = re.search(r'id="cw-chilli">(.*?)</script>', page.get_data(as_text=True))
            assert found
            config = json.loads(found.group(1))
            assert config["status"] == ssl + "json/status" and config["logon"].startswith(ssl + "json/logon?")
            assert config["plain"].startswith(f"http://{chilli.uamip}:{chilli.uamport}/logon?")
            policy = page.headers["Content-Security-Policy"]
            assert "script-src 'nonce-" in policy and "https://hotspot.cafe.example:4990;" in policy
        finally:
            chilli.stop()
