"""openNDS through the phone pages and the NOC, its gateway simulated by its hook's signed events:
the grant kept at the handoff backs the session its client_auth opens; the status page stays
online; the phone's logout sends it to the gateway's deny URL (the only way 9.10 can end it);
a NOC kick says plainly that nothing can be sent, and sends nothing."""

from __future__ import annotations

import base64
import hashlib
import re
import secrets
import socket
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any
from urllib.parse import parse_qs, quote, urlencode, urlsplit

import pytest
from flask import Flask

from ac_adapters.gateways.opennds_events import SIGNATURE_HEADER, sign_event
from portal.aaa.acs import AcRecord, AcRegistry
from portal.admin.accounts import Role
from portal.state import keys
from tests.e2e.stack import AC_NAME, Stack, running_stack, stack_app
from tests.portal.web.api.apikit import auth, token
from tests.portal.web.consolekit import create_account, csrf, login
from tests.portal.web.noc.jobkit import console_job, finished_job

GW, GW_IP, HOOK, FASKEY = "cafe-gw1", "127.0.0.2", "gw-hook-secret-1", "s3cr3tkey123"
PHONE, MAC, IP = "18900000077", "6a:1f:0e:9c:22:41", "192.168.77.10"


@pytest.fixture
def stack(redis_client: Any, redis_url: str, data_dir: Path) -> Iterator[Stack]:
    # A public URL, as a gateway deployment has: the gateway sends its phones back to our pages.
    with running_stack(redis_client, redis_url, data_dir, web={"public_url": "http://portal.example"}) as s:
        yield s


@pytest.fixture
def silent_coa() -> Iterator[socket.socket]:
    sock = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    sock.bind((GW_IP, 0))
    sock.setblocking(False)
    try:
        yield sock
    finally:
        sock.close()


@pytest.fixture
def app(stack: Stack, redis_client: Any, silent_coa: socket.socket) -> Flask:
    # rfc5176 left on and a listening CoA port: if a kick sent anything, the socket would get it.
    AcRegistry(redis_client).put(AcRecord(name=GW, addresses=(GW_IP,), secret=HOOK, kind="opennds",
                                          faskey=FASKEY, coa_port=silent_coa.getsockname()[1]))
    return stack_app(stack)


def fas_query(hid: str) -> str:
    text = ", ".join([f"hid={hid}", f"clientip={IP}", f"clientmac={MAC}", "client_type=cpd_can",
                      f"gatewayname={GW}", "version=9.10.0", "gatewayaddress=192.168.77.1:2050",
                      f"originurl={quote('http://example.com/', safe='')}", "clientif=lan0"])
    return urlencode({"fas": base64.b64encode(text.encode()).decode()})


def event(app: Flask, ev: str, hid: str, **counts: int) -> Any:
    now = int(time.time())
    body = urlencode({"v": "1", "gw": GW, "ev": ev, "mac": MAC, "hid": hid, "in": counts.get("down", 0),
                      "out": counts.get("up", 0), "start": now - 30, "end": now if "deauth" in ev else 0,
                      "ts": now, "nonce": secrets.token_hex(8)}).encode()
    gateway = app.test_client()
    gateway.environ_base["REMOTE_ADDR"] = GW_IP
    return gateway.post("/api/gateway/opennds/events", data=body,
                        headers={SIGNATURE_HEADER: sign_event(HOOK, body)})


def test_phone_login_session_status_logout_and_kick_on_opennds(app: Flask, stack: Stack, redis_client: Any,
                                                              silent_coa: socket.socket) -> None:
    token_ = secrets.token_hex(4)
    hid = hashlib.sha256(token_.encode()).hexdigest()
    phone_ = app.test_client()
    page = phone_.get("/portal?" + fas_query(hid)).get_data(as_text=True)
    c = re.search(r'name="c" value="([^"]*)"', page).group(1)  # type: ignore[union-attr]
    phone_.post("/portal/code", data={"c": c, "phone": PHONE})
    resp = phone_.post("/portal/login", data={"c": c, "phone": PHONE, "code": stack.last_code(PHONE)})
    grant = urlsplit(resp.headers["Location"])
    assert resp.status_code == 303 and grant.netloc == "192.168.77.1:2050", resp.headers
    landing = parse_qs(grant.query)["redir"][0]
    # A gateway NATs its phones: the phone's address names no login here (two gateways, or a
    # gateway and a carrier AC, may hand out the same private address).
    assert redis_client.get(keys.login_by_ip(IP)) is None and not stack.journey.checks_addresses(GW)
    # The gateway let the phone in: its hook reports client_auth. The session is ours from now on.
    started = event(app, "client_auth", hid)
    assert started.status_code == 200, started.get_json()
    [session] = stack.journey.sessions.by_phone(PHONE)
    assert (session.ac, session.ip, session.mac) == (GW, IP, MAC)
    # Past the 30 s start grace the status page still says online (the session backs it).
    redis_client.hset(keys.portal_login(GW, IP), "at", f"{time.time() - 300:.3f}")
    token_s = stack.journey.session_token(GW, IP, PHONE)
    status = phone_.get(f"/portal/status?s={token_s}").get_data(as_text=True)
    assert 'id="state">在线' in status, (landing, status[:500])

    # NOC kick: nothing can be sent to openNDS 9.10; the job says so in both languages.
    resp = app.test_client().post(f"/api/v1/sessions/{GW}/{session.session_id}/kick",
                                  headers=auth(token(redis_client, "write", "noc-bot")))
    job = finished_job(app, redis_client, resp.get_json()["status_url"])
    (kick,) = job["result"]["kicks"]
    assert (kick["ok"], kick["method"], kick["outcome"]) == (False, "unsupported", "no_remote_logout")
    assert "ndsctl deauth" in kick["message"] and "不支持从外部下线" in kick["message_zh"]
    with pytest.raises(BlockingIOError):
        silent_coa.recv(4096)                        # no Disconnect-Request went to the gateway
    _account, password = create_account(redis_client, "noc-a", Role.NOC)
    noc = app.test_client()
    assert login(noc, "noc-a", password).status_code == 302
    resp = noc.post("/noc/sessions/kick", data={"ac": GW, "session_id": session.session_id,
                                                "csrf_token": csrf(noc, "/noc/sessions")})
    console = console_job(noc, resp.headers["Location"])
    assert 'data-outcome="no_remote_logout"' in console and "ndsctl deauth" in console
    assert stack.journey.sessions.by_phone(PHONE)          # still online: nothing pretended

    # The phone's logout: a page that sends its browser to the gateway's deny URL.
    resp = phone_.post("/portal/logout", data={"s": token_s})
    html = resp.get_data(as_text=True)
    assert resp.status_code == 200 and "http://192.168.77.1:2050/opennds_deny/" in html
    assert 'http-equiv="refresh"' in html and "正在 Wi-Fi 网关上下线" in html and "Logging out" in html
    assert "form-action 'none'" in resp.headers["Content-Security-Policy"]
    # openNDS deauthenticates it there and its hook reports client_deauth: offline, bytes booked.
    stopped = event(app, "client_deauth", hid, down=120_000, up=8_000)
    assert stopped.status_code == 200 and stopped.get_json()["bytes"] == 128_000
    assert stack.journey.sessions.by_phone(PHONE) == []
    assert 'id="state">在线' not in phone_.get(f"/portal/status?s={token_s}").get_data(as_text=True)
    assert stack.journey.usage.get(PHONE, time.time()).daily_volume == 128_000


def test_a_carrier_ac_logout_is_unchanged_by_the_gateway_path(app: Flask, stack: Stack) -> None:
    """A Portal-protocol AC still logs out from here (REQ_LOGOUT), never via a gateway page."""
    from portal.web.phone import gateway_phone

    with app.test_request_context():
        assert gateway_phone.logout_page(AC_NAME, "10.0.0.1", "zh") is None


def test_a_gateway_phone_whose_venue_has_a_post_login_page_keeps_its_status_link(
        app: Flask, stack: Stack, redis_client: Any) -> None:
    """openNDS sends the phone on to the grant's ``redir``: with a venue post-login page that is
    our success page (status link, then the venue's page), not the venue's page straight."""
    from portal.venues.venue_store import Venue, VenueStore

    VenueStore(redis_client).put(Venue(id="cafe", name_zh="咖啡馆", name_en="Cafe", acs=(GW,),
                                       redirect_url="http://shop.example/", redirect_hosts=("shop.example",)))
    hid = hashlib.sha256(secrets.token_hex(4).encode()).hexdigest()
    phone_ = app.test_client()
    page = phone_.get("/portal?" + fas_query(hid)).get_data(as_text=True)
    c = re.search(r'name="c" value="([^"]*)"', page).group(1)  # type: ignore[union-attr]
    phone_.post("/portal/code", data={"c": c, "phone": PHONE})
    resp = phone_.post("/portal/login", data={"c": c, "phone": PHONE, "code": stack.last_code(PHONE)})
    landing = urlsplit(parse_qs(urlsplit(resp.headers["Location"]).query)["redir"][0])
    assert landing.path == "/portal/welcome", landing
    assert event(app, "client_auth", hid).status_code == 200
    # The venue page is chosen from the session's venue: a next= in the request changes nothing.
    html = phone_.get(f"{landing.path}?{landing.query}&next=http://evil.example/").get_data(as_text=True)
    assert 'content="3;url=http://shop.example/"' in html and "//evil.example/\"" not in html, html[:1500]
    status = re.search(r'id="status" href="([^"]+)"', html)
    assert status, html[:1500]
    assert 'id="state">在线' in phone_.get(status.group(1).replace("&amp;", "&")).get_data(as_text=True)
    # Without a valid sealed token: no success page, no redirect.
    forged = phone_.get("/portal/welcome?s=" + "A" * 60).get_data(as_text=True)
    assert "shop.example" not in forged and 'id="status"' not in forged
