"""POST /api/gateway/opennds/events: openNDS session events (from our BinAuth hook) become
session start/stop with bytes and seconds; everything else answers a clear 4xx, never a 500."""

from __future__ import annotations

import hashlib
import secrets
import time
from pathlib import Path
from typing import Any
from urllib.parse import urlencode

import pytest
from flask import Flask
from flask.testing import FlaskClient

from ac_adapters.gateways.opennds_events import MAX_BODY, SIGNATURE_HEADER, sign_event
from portal.aaa.acs import AcRecord, AcRegistry
from portal.aaa.gateway_sessions import GatewaySessions, session_id_for
from portal.aaa.sessions import SessionRegistry
from portal.aaa.usage import UsageBook
from portal.state import keys
from portal.web import services
from tests.portal.web.consolekit import make_app

GW, GW_IP, HOOK_SECRET, FASKEY = "cafe-gw1", "10.77.0.1", "gw-hook-secret-1", "s3cr3tkey123"
PHONE, MAC, IP = "18900000077", "6a:1f:0e:9c:22:41", "192.168.77.10"
URL = "/api/gateway/opennds/events"


@pytest.fixture
def app(redis_client: Any, data_dir: Path) -> Flask:
    AcRegistry(redis_client).put(AcRecord(name=GW, addresses=(GW_IP,), secret=HOOK_SECRET,
                                          kind="opennds", faskey=FASKEY))
    return make_app(redis_client, data_dir)


def client(app: Flask, source: str = GW_IP) -> FlaskClient:
    c = app.test_client()
    c.environ_base["REMOTE_ADDR"] = source
    return c


def body(event: str, hid: str, **over: Any) -> bytes:
    fields = {"v": "1", "gw": GW, "ev": event, "mac": MAC, "hid": hid, "in": "0", "out": "0",
              "start": "0", "end": "0", "ts": str(int(time.time())), "nonce": secrets.token_hex(8)}
    fields.update({k: str(v) for k, v in over.items()})
    return urlencode(fields).encode()


def post(c: FlaskClient, raw: bytes, secret: str = HOOK_SECRET) -> Any:
    return c.post(URL, data=raw, headers={SIGNATURE_HEADER: sign_event(secret, raw),
                                          "Content-Type": "application/x-www-form-urlencoded"})


def granted(redis_client: Any, seconds: int = 3600) -> str:
    """What the portal keeps when it sends the phone to the gateway (gateway_login.handoff)."""
    hid = hashlib.sha256(secrets.token_hex(4).encode()).hexdigest()
    GatewaySessions(redis_client).remember_grant(GW, hid, phone=PHONE, plan="default", mac=MAC, ip=IP,
                                                 venue="cafe", ssid="", session_seconds=seconds)
    return hid


def test_start_then_deauth_opens_and_closes_the_session_with_bytes_seconds_and_usage(
        app: Flask, redis_client: Any) -> None:
    c, hid = client(app), granted(redis_client)
    journey = services(app).journey
    # The portal login as _logged_in writes it, older than the 30 s start grace.
    redis_client.hset(keys.portal_login(GW, IP), mapping={"phone": PHONE, "mac": MAC, "plan": "default",
                                                          "venue": "cafe", "at": f"{time.time() - 120:.3f}"})
    now = int(time.time())
    resp = post(c, body("client_auth", hid, start=now, end=now + 3600))
    assert resp.status_code == 200 and resp.get_json()["result"] == "started", resp.get_json()
    registry = SessionRegistry(redis_client)
    [session] = registry.by_ac(GW)
    assert (session.phone, session.mac, session.ip, session.venue, session.session_id) == \
        (PHONE, MAC, IP, "cafe", session_id_for(hid))
    # Silent for its granted length (no interim from openNDS), then reaped if no stop comes.
    assert 3600 < session.deadline(60) - session.updated < 3600 + 400
    assert journey.status(GW, IP, PHONE).online            # not "offline after 30 s" any more

    resp = post(c, body("ndsctl_deauth", hid, start=now - 300, end=now, **{"in": 2_000_000, "out": 30_000}))
    assert resp.status_code == 200, resp.get_json()
    assert resp.get_json() | {"session_id": ""} == {"ok": True, "result": "stopped", "session_id": "",
                                                    "seconds": 300, "bytes": 2_030_000}
    assert registry.by_ac(GW) == [] and not journey.status(GW, IP, PHONE).online
    usage = UsageBook(redis_client).get(PHONE, time.time())
    assert (usage.daily_volume, usage.daily_time) == (2_030_000, 300)
    logout = [f for _, f in redis_client.xrange(keys.real_name_log()) if f[b"kind"] == b"logout"]
    assert len(logout) == 1
    assert logout[0][b"cause"] == b"opennds:ndsctl_deauth" and logout[0][b"phone"] == PHONE.encode()
    # The same stop again (a new nonce: not a replay of the body) books nothing twice.
    again = post(c, body("ndsctl_deauth", hid, start=now - 300, end=now, **{"in": 2_000_000}))
    assert again.status_code == 404 and again.get_json()["error"] == "unknown_client"
    assert UsageBook(redis_client).get(PHONE, time.time()).daily_volume == 2_030_000


def test_a_stop_whose_start_was_lost_still_books_the_session(app: Flask, redis_client: Any) -> None:
    hid, now = granted(redis_client), int(time.time())
    resp = post(client(app), body("timeout_deauth", hid, start=now - 60, end=now, **{"in": 5000, "out": 700}))
    assert resp.status_code == 200 and resp.get_json()["bytes"] == 5700
    assert UsageBook(redis_client).get(PHONE, time.time()).daily_volume == 5700


def test_bad_signature_and_the_faskey_as_secret_are_401(app: Flask, redis_client: Any) -> None:
    c, hid = client(app), granted(redis_client)
    raw = body("client_auth", hid)
    assert post(c, raw, secret=FASKEY).status_code == 401          # the phone-facing key: never
    assert post(c, raw, secret="other").get_json()["error"] == "bad_signature"
    unsigned = c.post(URL, data=raw, content_type="application/x-www-form-urlencoded")
    assert unsigned.status_code == 401
    tampered = raw.replace(b"in=0", b"in=9")
    resp = c.post(URL, data=tampered, headers={SIGNATURE_HEADER: sign_event(HOOK_SECRET, raw)})
    assert resp.status_code == 401
    assert SessionRegistry(redis_client).by_ac(GW) == []


def test_replay_and_a_stale_clock_are_refused(app: Flask, redis_client: Any) -> None:
    c, hid = client(app), granted(redis_client)
    old = body("client_auth", hid, ts=int(time.time()) - 3600)
    resp = post(c, old)
    assert resp.status_code == 401 and resp.get_json()["error"] == "stale"
    raw = body("client_auth", hid)
    assert post(c, raw).status_code == 200
    resp = post(c, raw)
    assert resp.status_code == 409 and resp.get_json()["error"] == "replay"


def test_a_resent_event_is_applied_once_by_its_nonce(app: Flask, redis_client: Any) -> None:
    """The hook's spool resends an undelivered event later with the same nonce and a fresh ts
    (new signature): applied if it never arrived; a copy of one that did is 409, booked once."""
    c, hid = client(app), granted(redis_client)
    assert post(c, body("client_auth", hid)).status_code == 200
    stop = {"end": int(time.time()), "in": 50_000, "out": 5_000, "nonce": "spooled0001"}
    # First sent an hour ago: that body is stale now, so the hook sends it again with a fresh ts.
    assert post(c, body("client_deauth", hid, ts=int(time.time()) - 3600, **stop)).status_code == 401
    resent = post(c, body("client_deauth", hid, **stop))
    assert resent.status_code == 200 and resent.get_json()["bytes"] == 55_000, resent.get_json()
    again = post(c, body("client_deauth", hid, ts=int(time.time()) + 1, **stop))
    assert again.status_code == 409 and again.get_json()["error"] == "replay"
    assert UsageBook(redis_client).get(PHONE, time.time()).daily_volume == 55_000


def test_unknown_gateway_wrong_kind_and_wrong_source(app: Flask, redis_client: Any) -> None:
    hid = granted(redis_client)
    AcRegistry(redis_client).put(AcRecord(name="carrier-ac", addresses=("10.9.9.9",), secret=HOOK_SECRET))
    for gw, source in (("nobody", GW_IP), ("carrier-ac", "10.9.9.9")):
        resp = post(client(app, source), body("client_auth", hid, gw=gw))
        assert resp.status_code == 404 and resp.get_json()["error"] == "unknown_gateway", gw
    resp = post(client(app, "10.77.0.99"), body("client_auth", hid))
    assert resp.status_code == 403 and resp.get_json()["error"] == "wrong_source"
    assert SessionRegistry(redis_client).by_ac(GW) == []


def test_unknown_client_is_404(app: Flask) -> None:
    resp = post(client(app), body("client_auth", "ab" * 32))
    assert resp.status_code == 404 and resp.get_json()["error"] == "unknown_client"


@pytest.mark.parametrize(("raw", "status"), [
    (b"x" * (MAX_BODY + 1), 413),
    (b"v=1&" + b"a=" + b"b" * 60_000, 413),
    (b"\xff\xfe\x00garbage", 400),
    (b"", 400),
    (b"v=2&gw=cafe-gw1", 400),
    (b"v=1&gw=cafe-gw1&ev=reboot&mac=6a:1f:0e:9c:22:41&hid=" + b"a" * 64 + b"&nonce=abcdefgh", 400),
    (b"v=1&gw=cafe-gw1&ev=client_auth&mac=nope&hid=" + b"a" * 64 + b"&nonce=abcdefgh", 400),
    (b"v=1&gw=cafe-gw1&ev=client_auth&mac=6a:1f:0e:9c:22:41&hid=" + b"a" * 64 + b"&nonce=abcdefgh&in=-5",
     400),
    (b"v=1&v=1&gw=cafe-gw1", 400),
])
def test_malformed_or_oversized_bodies_are_clear_4xx(app: Flask, raw: bytes, status: int) -> None:
    resp = post(client(app), raw)
    assert resp.status_code == status, resp.get_data()[:200]
    assert resp.get_json()["ok"] is False


def test_two_gateways_with_one_client_subnet_keep_their_phones_apart(app: Flask, redis_client: Any) -> None:
    AcRegistry(redis_client).put(AcRecord(name="cafe-gw2", addresses=("10.88.0.1",), secret="gw2-hook-secret",
                                          kind="opennds", faskey=FASKEY))
    other = "18900000088"
    hid1, hid2 = granted(redis_client), hashlib.sha256(b"other-client").hexdigest()
    GatewaySessions(redis_client).remember_grant("cafe-gw2", hid2, phone=other, plan="default", mac=MAC,
                                                 ip=IP, venue="", ssid="", session_seconds=600)
    assert post(client(app), body("client_auth", hid1)).status_code == 200
    # gw2's event names gw1's client: not gw1's grant, so unknown there (keyed by gateway).
    assert post(client(app, "10.88.0.1"), body("client_auth", hid1, gw="cafe-gw2"),
                secret="gw2-hook-secret").status_code == 404
    assert post(client(app, "10.88.0.1"), body("client_auth", hid2, gw="cafe-gw2"),
                secret="gw2-hook-secret").status_code == 200
    journey = services(app).journey
    for gw, phone in ((GW, PHONE), ("cafe-gw2", other)):
        redis_client.hset(keys.portal_login(gw, IP), mapping={"phone": phone, "mac": MAC, "at": "1"})
        [session] = SessionRegistry(redis_client).by_ac(gw)
        assert session.phone == phone and journey.status(gw, IP).phone == phone


def test_a_plan_change_or_kick_on_an_opennds_session_sends_nothing(app: Flask, redis_client: Any) -> None:
    """openNDS takes neither a Disconnect nor a CoA: the enforcer is never called; the plan
    applies at the next login and the kick says it cannot."""
    from portal.aaa.plans import Plan, PlanStore
    from portal.noc.kick import NocActions

    calls: list[str] = []

    class Enforcer:
        def disconnect(self, *args: Any, **kw: Any) -> Any:
            calls.append("disconnect")

        def coa(self, *args: Any, **kw: Any) -> Any:
            calls.append("coa")

    PlanStore(redis_client).put(Plan("gold", up_kbps=4000, down_kbps=16000))
    assert post(client(app), body("client_auth", granted(redis_client))).status_code == 200
    actions = NocActions(redis_client, Enforcer(), plans=PlanStore(redis_client),
                         usage=UsageBook(redis_client))
    change = actions.change_plan(PHONE, "gold")
    assert [o.outcome for o in change.sessions] == ["next_login"]
    [kick] = actions.kick_phone(PHONE)
    assert (kick.ok, kick.outcome) == (False, "no_remote_logout") and "ndsctl deauth" in kick.message_en
    assert calls == [] and SessionRegistry(redis_client).by_ac(GW)


def test_the_real_name_record_keeps_the_gateways_session_start(app: Flask, redis_client: Any) -> None:
    """A start event that names no start opens the session at our receive time; the stop event
    carries the gateway's own session start, and the legal record keeps that one."""
    c, hid = client(app), granted(redis_client)
    assert post(c, body("client_auth", hid)).get_json()["result"] == "started"
    [session] = SessionRegistry(redis_client).by_ac(GW)
    gateway_start = session.started - 1          # the gateway's clock ticked before our receive
    resp = post(c, body("client_deauth", hid, start=gateway_start, end=gateway_start + 30))
    assert resp.get_json()["result"] == "stopped", resp.get_json()
    [logout] = [f for _, f in redis_client.xrange(keys.real_name_log()) if f[b"kind"] == b"logout"]
    assert int(logout[b"start"]) == gateway_start and int(logout[b"t"]) == 30, logout
