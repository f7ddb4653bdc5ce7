"""Requests without the AC's redirect (status page without token, OS probes, RFC 8908 API, a bare
/portal) identify a phone only by what the portal can verify.

Before, the status page, the probes and the API took the request's address for the phone's
wherever the phone's AC was. Behind NAT (an AC with ``client_address_check`` off) the portal sees
the NAT's address, and private ranges overlap between networks: whoever reached the portal from
an address equal to a NAT'ed phone's private IP got that phone's status page — its masked number,
quota, and the session token its logout form needs — and could log it out.

Real HTTP, real RADIUS and AC simulator; every client from its own loopback address.
"""

from __future__ import annotations

import json
import re
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from tests.e2e.stack import Stack, phone, running_stack, wait_for
from tests.security.phone_http import Client, field_value, serve
from tests.security.test_phone_flow import device, land, redirect


@pytest.fixture
def nat(redis_client: Any, redis_url: str, data_dir: Path) -> Iterator[tuple[Stack, str]]:
    with running_stack(redis_client, redis_url, data_dir, client_address_check=False) as stack, \
            serve(stack) as base:
        yield stack, base


@pytest.fixture
def l3(redis_client: Any, redis_url: str, data_dir: Path) -> Iterator[tuple[Stack, str]]:
    with running_stack(redis_client, redis_url, data_dir, client_address_check=True) as stack, \
            serve(stack) as base:
        yield stack, base


def test_behind_nat_an_address_equal_to_a_phones_ip_learns_nothing_and_logs_nobody_out(
        nat: tuple[Stack, str]) -> None:
    stack, base = nat
    victim_ip, mac = device(40)                      # the phone's private address behind the NAT
    browser = Client(base, "127.0.0.1")              # it reaches the portal through the NAT
    _, c = land(browser, redirect(stack, base, victim_ip, mac))
    browser.post("/portal/code", {"c": c, "phone": phone(40)})
    assert browser.post("/portal/login", {"c": c, "phone": phone(40),
                                          "code": stack.last_code(phone(40))}).success
    assert wait_for(lambda: stack.journey.sessions.by_phone(phone(40)))

    # Someone whose address (as the portal sees it) equals the phone's private IP.
    other = Client(base, victim_ip)
    status = other.get("/portal/status")
    assert status.status == 200 and "189****0040" not in status.text
    assert field_value(status.text, "s") == "" and 'id="logout"' not in status.text
    api = json.loads(other.get("/api/captive").text)
    assert api["captive"] is True and "seconds-remaining" not in api
    assert other.get("/generate_204").status == 302
    assert other.post("/portal/logout", {"s": ""}).error_code == "foreign_request"
    assert victim_ip in stack.ac.online()
    # The phone's own browser still sees itself through its remembered redirect: online.
    assert browser.get("/generate_204").status == 204


def test_a_remembered_redirect_serves_only_the_address_that_brought_it(l3: tuple[Stack, str]) -> None:
    stack, base = l3
    ip, mac = device(41)
    phone_browser = Client(base, ip)
    page, c = land(phone_browser, redirect(stack, base, ip, mac))
    assert page.status == 200 and c
    # The OS of that phone (no cookies) finds the login page; another address finds nothing.
    own = Client(base, ip, keep_cookies=False).get("/portal")
    assert own.status == 200 and stack.journey.open_context(field_value(own.text, "c")).user_ip == ip
    stranger = Client(base, "127.0.66.6").get("/portal")
    assert stranger.status == 200 and field_value(stranger.text, "c") == "" and 'id="help"' in stranger.text
    # A forged or foreign memory cookie is no memory.
    forged = Client(base, "127.0.66.7")
    forged.jar["cw_ac"] = "eyJxIjoid2xhbnVzZXJpcD0xMjcuMC4xMC40MiJ9.AAAAAAAAAAAAAAAAAAAAAAAA"
    assert 'id="help"' in forged.get("/portal").text
    assert re.search(r'id="login" href="http://captive.apple.com/"', stranger.text)
