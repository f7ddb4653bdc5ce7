"""UniFi external portal: redirect parsing, limits → authorize-guest, and the API client against
the fake controller (login cookie, CSRF token, expired session, wrong password, UniFi OS)."""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from ac_adapters.gateways.base import GatewayLimits, GatewayRedirectError
from ac_adapters.gateways.unifi import (
    DEFAULT_MINUTES,
    UNIFI,
    authorize_payload,
    controller_url_problem,
    mac_link_local,
)
from ac_adapters.gateways.unifi_api import UnifiController, UnifiError
from tests.fakes.unifi_controller import FakeUnifiController


def test_redirect_and_link_local_key() -> None:
    parsed = UNIFI.parse_redirect({"unifi_site": "default", "id": "02:11:22:33:44:55",
                                   "ap": "F0-9F-C2-00-00-01", "url": "http://example.org/", "ssid": "Guest",
                                   "t": "1700000000"})
    assert (parsed.gateway_name, parsed.user_mac) == ("default", "02:11:22:33:44:55")
    assert parsed.user_ip == mac_link_local("02:11:22:33:44:55") == "fe80::11:22ff:fe33:4455"
    assert dict(parsed.state) == {"site": "default", "mac": "02:11:22:33:44:55", "ap": "f0:9f:c2:00:00:01"}
    for bad, code in (({"unifi_site": "a/b"}, "unknown_ac"), ({"id": "nope"}, "bad_mac"),
                      ({"ap": "x"}, "bad_redirect")):
        with pytest.raises(GatewayRedirectError) as err:
            UNIFI.parse_redirect({"unifi_site": "default", "id": "02:11:22:33:44:55", **bad})
        assert err.value.code == code


def test_limits_to_authorize_guest() -> None:
    state = {"site": "s", "mac": "02:11:22:33:44:55", "ap": "f0:9f:c2:00:00:01"}
    full = authorize_payload(state, GatewayLimits(session_seconds=3601, up_kbps=512, down_kbps=2048,
                                                  up_kbytes=2_000_000, down_kbytes=1_000_000))
    assert full == {"cmd": "authorize-guest", "mac": "02:11:22:33:44:55", "minutes": 61, "up": 512,
                    "down": 2048, "bytes": 1024, "ap_mac": "f0:9f:c2:00:00:01"}
    bare = authorize_payload({"mac": "02:11:22:33:44:55"}, GatewayLimits())
    assert bare == {"cmd": "authorize-guest", "mac": "02:11:22:33:44:55", "minutes": DEFAULT_MINUTES}
    assert authorize_payload(state, GatewayLimits(up_kbytes=10, down_kbytes=10))["bytes"] == 1


def test_controller_url_rules() -> None:
    assert controller_url_problem("https://hotspot@unifi.example:8443") == ""
    assert controller_url_problem("https://hotspot@udm.example/proxy/network") == ""
    for bad in ("", "ftp://u@h", "https://unifi.example:8443", "https://u:p@h", "https://u@h/api", "https://u@h/?x=1"):
        assert controller_url_problem(bad), bad


@pytest.fixture(params=[False, True], ids=["classic", "unifi-os"])
def controller(request: pytest.FixtureRequest) -> Iterator[FakeUnifiController]:
    fake = FakeUnifiController(user="api", password="pw-0123456789", sites=("default",),
                               unifi_os=request.param).start()
    yield fake
    fake.stop()


def test_client_logs_in_sends_csrf_and_relogs_after_expiry(controller: FakeUnifiController) -> None:
    client = UnifiController(controller.url(), "pw-0123456789", timeout=2)
    payload = {"cmd": "authorize-guest", "mac": "02:11:22:33:44:55", "minutes": 5}
    data = client.authorize("default", payload)
    assert data[0]["mac"] == "02:11:22:33:44:55" and controller.logins == 1
    client.unauthorize("default", "02:11:22:33:44:55")
    assert controller.guests["default"] == {} and controller.logins == 1
    controller.expire_sessions()
    client.authorize("default", payload)                     # 401 → logged in again, once
    assert controller.logins == 2 and "02:11:22:33:44:55" in controller.guests["default"]
    with pytest.raises(UnifiError, match="NoSiteContext"):
        client.authorize("elsewhere", payload)
    with pytest.raises(UnifiError, match="InvalidPayload"):
        client.authorize("default", {**payload, "minutes": 0})


def test_client_errors(controller: FakeUnifiController) -> None:
    with pytest.raises(UnifiError, match="login refused") as err:
        UnifiController(controller.url(), "wrong", timeout=2).authorize("default", {"cmd": "authorize-guest"})
    assert not err.value.timed_out
    with pytest.raises(UnifiError) as down:
        UnifiController("http://api@127.0.0.1:9", "pw", timeout=1).unauthorize("default", "02:11:22:33:44:55")
    assert down.value.timed_out
