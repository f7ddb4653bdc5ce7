"""openNDS level 3 through the phone pages and a fake authmon written from openNDS 9.10's
authmon.sh / post-request.php: the encrypted redirect lands, the login queues the grant, authmon's
poll gets it with the plan's limits (minutes), applies it ("ndsctl auth", simulated) and
acknowledges it; the gateway's ndsctl_auth event (our BinAuth hook) then opens the session.
authmon is believed only from the gateway's own address and with its own gatewayhash."""

from __future__ import annotations

import base64
import hashlib
import re
import secrets
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any
from urllib.parse import quote, unquote, urlencode

import pytest
from flask import Flask

from ac_adapters.gateways.opennds import rhid
from ac_adapters.gateways.opennds_events import SIGNATURE_HEADER, sign_event
from ac_adapters.gateways.opennds_l3 import encrypt_fas, gateway_hash
from portal.aaa.acs import AcRecord, AcRegistry
from portal.aaa.plans import Plan, PlanStore
from tests.e2e.stack import Stack, running_stack, stack_app

GW, GW_IP, HOOK, FASKEY = "cafe-gw3", "127.0.0.3", "gw-hook-secret-3", "l3faskey12345"
PHONE, MAC, IP = "18900000078", "6a:1f:0e:9c:22:43", "192.168.78.10"


@pytest.fixture
def stack(redis_client: Any, redis_url: str, data_dir: Path) -> Iterator[Stack]:
    with running_stack(redis_client, redis_url, data_dir) as s:
        yield s


@pytest.fixture
def app(stack: Stack, redis_client: Any) -> Flask:
    AcRegistry(redis_client).put(AcRecord(name="other-gw", addresses=("127.0.0.4",), secret="x" * 16,
                                          kind="opennds", faskey="otherkey12345"))
    AcRegistry(redis_client).put(AcRecord(name=GW, addresses=(GW_IP,), secret=HOOK, kind="opennds",
                                          faskey=FASKEY))
    return stack_app(stack)


class FakeAuthmon:
    """authmon's side of the protocol: form fields auth_get, gatewayhash, payload (base64),
    posted to the FAS URL; a list answer starts with '*' and holds URL-encoded entries."""

    def __init__(self, app: Flask, source: str = GW_IP, name: str = GW) -> None:
        self.client = app.test_client()
        self.client.environ_base["REMOTE_ADDR"] = source
        self.hash = gateway_hash(name)
        self.applied: list[list[str]] = []

    def post(self, action: str, payload: str = "none") -> Any:
        return self.client.post("/portal", data={"auth_get": action, "gatewayhash": self.hash,
                                                 "payload": base64.b64encode(payload.encode()).decode()},
                                headers={"User-Agent": "openNDS(authmon;NDS:9.10.0;)"})

    def poll(self) -> str:
        """One loop of authmon: view, "ndsctl auth" each entry, acknowledge what was applied."""
        answer = self.post("view").get_data(as_text=True)
        acks = "*"
        if answer.startswith("*"):
            for encoded in answer[2:1026].split():
                params = unquote(encoded).split()
                self.applied.append(params)
                acks += " " + params[0]
        assert self.post("view", acks).get_data(as_text=True) == "ack"
        return answer


def event(app: Flask, ev: str, token: str) -> Any:
    now = int(time.time())
    hid = hashlib.sha256(token.encode()).hexdigest()
    body = urlencode({"v": "1", "gw": GW, "ev": ev, "mac": MAC, "hid": hid, "in": 0, "out": 0,
                      "start": now, "end": 0, "ts": now, "nonce": secrets.token_hex(8)}).encode()
    gateway = app.test_client()
    gateway.environ_base["REMOTE_ADDR"] = GW_IP
    return gateway.post("/api/gateway/opennds/events", data=body,
                        headers={SIGNATURE_HEADER: sign_event(HOOK, body)})


def test_level3_login_reaches_the_gateway_through_authmon(app: Flask, stack: Stack,
                                                         redis_client: Any) -> None:
    PlanStore(redis_client, cache_ttl=0.0).put(Plan("basic", session_timeout=5400, up_kbps=512,
                                                    down_kbps=4096))
    authmon = FakeAuthmon(app)
    assert authmon.post("clear").status_code == 200                  # authmon's start-up clear
    token = secrets.token_hex(4)
    hid = hashlib.sha256(token.encode()).hexdigest()
    text = (f"hid={hid}, clientip={IP}, clientmac={MAC}, client_type=cpd_can, gatewayname={GW}, "
            f"version=9.10.0, gatewayaddress=192.168.78.1:2050, authdir=opennds_auth, "
            f"originurl={quote('http://example.com/', safe='')}, clientif=lan0, ")
    iv = secrets.token_hex(8)
    phone = app.test_client()
    page = phone.get("/portal?" + urlencode({"fas": encrypt_fas(text, iv, FASKEY), "iv": iv}))
    html = page.get_data(as_text=True)
    assert page.status_code == 200, html[:500]
    c = re.search(r'name="c" value="([^"]*)"', html).group(1)  # type: ignore[union-attr]
    phone.post("/portal/code", data={"c": c, "phone": PHONE})
    done = phone.post("/portal/login", data={"c": c, "phone": PHONE, "code": stack.last_code(PHONE)})
    # No redirect through the phone at level 3: the usual success page while authmon fetches it.
    assert done.status_code == 200 and 'id="success"' in done.get_data(as_text=True)

    # Another gateway's address, or this address with another gateway's hash: nothing handed out.
    assert FakeAuthmon(app, source="127.0.0.9").post("view").status_code == 403
    assert FakeAuthmon(app, name="other-gw").post("view").status_code == 403
    assert FakeAuthmon(app, source="127.0.0.4", name="other-gw").poll() == "*"

    answer = authmon.poll()
    assert answer.startswith("* ") and authmon.applied == [
        [rhid(hid, FASKEY), "90", "512", "4096", "0", "0", "citywifi"]]    # 5400 s = 90 minutes
    assert authmon.poll() == "*"                                     # acknowledged: not handed out again
    # openNDS ran "ndsctl auth": our BinAuth hook reports ndsctl_auth, and the session is ours.
    assert event(app, "ndsctl_auth", token).status_code == 200
    [session] = stack.journey.sessions.by_phone(PHONE)
    assert (session.ac, session.ip, session.mac) == (GW, IP, MAC)


def test_a_level3_redirect_no_gateway_key_opens_is_refused(app: Flask) -> None:
    text = (f"hid={'a' * 64}, clientip={IP}, clientmac={MAC}, gatewayname={GW}, "
            "gatewayaddress=192.168.78.1:2050, ")
    iv = secrets.token_hex(8)
    forged = encrypt_fas(text, iv, "forgedkey999")
    resp = app.test_client().get("/portal?" + urlencode({"fas": forged, "iv": iv}))
    assert resp.status_code == 400 and 'data-code="unknown_ac"' in resp.get_data(as_text=True)


@pytest.mark.parametrize(("form", "status"), [
    ({"auth_get": "reboot", "gatewayhash": gateway_hash(GW)}, 400),
    ({"auth_get": "view", "gatewayhash": gateway_hash(GW), "payload": "%%%"}, 400),
    ({"auth_get": "view", "gatewayhash": gateway_hash(GW), "payload": "x" * 5000}, 413),
    ({}, 400),
])
def test_malformed_authmon_posts_are_4xx(app: Flask, form: dict[str, str], status: int) -> None:
    client = app.test_client()
    client.environ_base["REMOTE_ADDR"] = GW_IP
    resp = client.post("/portal", data=form)
    assert resp.status_code == status and resp.get_data(as_text=True).startswith("ERROR:")
