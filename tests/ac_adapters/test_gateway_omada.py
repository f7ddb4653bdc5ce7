"""Omada external portal: redirect parsing, the extPortal/auth body, and the API client against
the fake controller (operator login, CSRF token, expired session, refusals)."""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from ac_adapters.gateways.base import GatewayLimits, GatewayRedirectError
from ac_adapters.gateways.omada import OMADA, auth_payload, omada_url_problem
from ac_adapters.gateways.omada_api import OmadaController, OmadaError
from tests.fakes.omada_controller import FakeOmadaController

EAP = {"clientMac": "02-11-22-33-44-55", "apMac": "AC-84-C6-00-00-01", "ssidName": "Guest",
       "t": "1700000000000", "radioId": "1", "site": "site1", "redirectUrl": "http://example.org/"}


def test_redirects_and_payloads() -> None:
    eap = OMADA.parse_redirect(EAP)
    assert (eap.gateway_name, eap.user_mac) == ("site1", "02:11:22:33:44:55")
    assert eap.user_ip == "fe80::11:22ff:fe33:4455"
    assert auth_payload(eap.state, GatewayLimits(session_seconds=600)) == {
        "clientMac": "02-11-22-33-44-55", "site": "site1", "time": 600_000_000, "authType": 4,
        "apMac": "AC-84-C6-00-00-01", "ssidName": "Guest", "radioId": 1}
    wired = OMADA.parse_redirect({"clientMac": "02:11:22:33:44:55", "gatewayMac": "ac84c60000fe", "vid": "20",
                                  "site": "site1"})
    body = auth_payload(wired.state, GatewayLimits())
    assert (body["gatewayMac"], body["vid"], body["time"]) == ("AC-84-C6-00-00-FE", 20, 86400 * 1_000_000)
    for bad, code in (({"site": "a b"}, "unknown_ac"), ({"clientMac": "x"}, "bad_mac"),
                      ({"apMac": ""}, "bad_redirect"), ({"radioId": "one"}, "bad_redirect")):
        with pytest.raises(GatewayRedirectError) as err:
            OMADA.parse_redirect({**EAP, **bad})
        assert err.value.code == code, bad
    assert omada_url_problem("https://op@omada.example:8043/5f3c9e0a1b2c") == ""
    for url in ("https://omada.example:8043/cid", "https://op@omada.example:8043/", "https://op:pw@h/cid"):
        assert omada_url_problem(url), url


@pytest.fixture
def controller() -> Iterator[FakeOmadaController]:
    fake = FakeOmadaController(user="op", password="pw-0123456789", cid="cid1", sites=("site1",)).start()
    yield fake
    fake.stop()


def test_client_logs_in_and_again_after_expiry(controller: FakeOmadaController) -> None:
    client = OmadaController(controller.url(), "pw-0123456789", timeout=2)
    body = auth_payload(OMADA.parse_redirect(EAP).state, GatewayLimits(session_seconds=60))
    client.authorize(body)
    assert controller.logins == 1 and controller.clients["site1"]["02-11-22-33-44-55"]["time"] == 60_000_000
    controller.expire_sessions()
    client.authorize(body)
    assert controller.logins == 2
    with pytest.raises(OmadaError, match="-41501"):
        client.authorize({**body, "site": "elsewhere"})


def test_client_refusals(controller: FakeOmadaController) -> None:
    with pytest.raises(OmadaError, match="login refused") as wrong:
        OmadaController(controller.url(), "nope", timeout=2).authorize({})
    assert not wrong.value.timed_out
    with pytest.raises(OmadaError, match="login refused"):          # another controller id: 302
        OmadaController(controller.url(cid="other"), "pw-0123456789", timeout=2).authorize({})
    with pytest.raises(OmadaError) as down:
        OmadaController("http://op@127.0.0.1:9/cid", "pw", timeout=1).authorize({})
    assert down.value.timed_out
