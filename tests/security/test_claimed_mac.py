"""A phone that claims another device's MAC in its portal URL, against an AC that reports the
MAC it learnt at layer 2 (the simulator's ``learned_macs`` mode, as hardware ACs behave).

The address check makes the request come from the redirect's user IP, but the
MAC in the URL is still only a claim: an attacker on the Wi-Fi can type the victim's MAC next to
its own IP. What stops it is the AC: it reports the attacker's real MAC in the Access-Request's
Calling-Station-Id, and our RADIUS server spends a login token only for the MAC it was minted
for. Driven end to end: real HTTP from the attacker's own loopback address, the real Portal
exchange with the simulated AC, real RADIUS over loopback, real Redis.
"""

from __future__ import annotations

import dataclasses
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any
from urllib.parse import parse_qsl, urlencode, urlsplit

import pytest

from ac_adapters.profiles import RedirectParams, get_profile
from ac_adapters.simulator import build_redirect_url
from portal.aaa.acs import AcRegistry
from portal.legal.reallog import RealNameLog
from portal.phone.otp import OtpService
from tests.e2e.stack import AC_NAME, Stack, phone, running_stack, wait_for
from tests.security.phone_http import Client, Page, field_value, serve

VICTIM_IP, VICTIM_MAC = "127.0.10.41", "02:5e:00:00:41:01"
ATTACKER_IP, ATTACKER_MAC = "127.0.66.7", "02:66:00:00:66:07"
VICTIM, ATTACKER = phone(41), phone(66)
ZH = "接入控制器报告的设备地址（MAC）与此页面所写的不一致"
EN = "the access controller reports another device address (MAC) than this page named"


@pytest.fixture
def l3(redis_client: Any, redis_url: str, data_dir: Path) -> Iterator[tuple[Stack, str]]:
    """Layer-3 portal (address check on) in front of an AC that reports learnt MACs."""
    with running_stack(redis_client, redis_url, data_dir, client_address_check=True,
                       sim={"learned_macs": True}) as stack, serve(stack) as base:
        stack.ac.add_user(VICTIM_IP, VICTIM_MAC)          # both devices associated: the AC
        stack.ac.add_user(ATTACKER_IP, ATTACKER_MAC)      # learnt each one's MAC at layer 2
        yield stack, base


def url_for(stack: Stack, base: str, ip: str, mac: str, mac_name: str = "") -> str:
    """The AC's redirect for ``ip`` naming ``mac``; with ``mac_name`` the MAC is carried by that
    parameter alone (every other user-MAC name removed), as an attacker may spell it."""
    cfg = stack.ac.config
    url = build_redirect_url(base + "/portal", flavour=cfg.flavour, user_ip=ip, user_mac=mac,
                             ac_ip=cfg.nas_ip, ac_name=cfg.nas_identifier, ssid=cfg.ssid,
                             ap_mac=cfg.ap_mac, first_url=cfg.first_url)
    if not mac_name:
        return url
    names = {n.lower() for n in mac_names(stack)}
    query = [(k, v) for k, v in parse_qsl(urlsplit(url).query) if k.lower() not in names]
    return f"{base}/portal?{urlencode([*query, (mac_name, mac)])}"


def mac_names(stack: Stack) -> list[str]:
    """Every user-MAC parameter name the portal reads: the AC's profile and the fallbacks."""
    profile = get_profile(AcRegistry(stack.redis).get(AC_NAME).vendor)
    return list(dict.fromkeys([*profile.redirect.user_mac, *RedirectParams().user_mac]))


def victim_logs_in_and_leaves(stack: Stack, base: str) -> float:
    """The victim logs in with an SMS code (its MAC is bound), then goes offline; returns the
    binding's expiry."""
    victim = Client(base, VICTIM_IP)
    page = victim.get(url_for(stack, base, VICTIM_IP, VICTIM_MAC))
    c = field_value(page.text, "c")
    assert victim.post("/portal/code", {"c": c, "phone": VICTIM}).status == 200
    done = victim.post("/portal/login", {"c": c, "phone": VICTIM, "code": stack.last_code(VICTIM)})
    assert done.success, done.text[:300]
    stack.journey.logout(AC_NAME, VICTIM_IP)
    assert wait_for(lambda: VICTIM_IP not in stack.ac.online())
    binding = stack.journey.credentials.binding_for_mac(VICTIM_MAC)
    assert binding is not None and binding[0] == VICTIM
    return binding[1]


def assert_refused(page: Page, lang: str) -> None:
    assert not page.success and page.status == 403, page.text[:400]
    assert page.error_code == "mac_mismatch", page.text[:400]
    assert (ZH if lang == "zh-CN" else EN) in page.text


def assert_nothing_granted(stack: Stack, expiry: float) -> None:
    """The attacker is not online, the victim's binding is untouched and not moved, and the
    real-name log holds no login from the attacker's address or for the attacker's number."""
    time.sleep(0.3)                                    # let a (wrongly) started session report
    assert ATTACKER_IP not in stack.ac.online()
    assert stack.journey.sessions.by_phone(VICTIM) == []
    assert stack.journey.sessions.by_phone(ATTACKER) == []
    assert stack.journey.credentials.binding_for_mac(VICTIM_MAC) == (VICTIM, expiry)
    assert stack.journey.credentials.binding_for_mac(ATTACKER_MAC) is None
    assert stack.journey.credentials.macs_for_phone(ATTACKER) == []
    records = RealNameLog(stack.redis).recent(50)
    assert [r for r in records if r.ip == ATTACKER_IP or r.phone == ATTACKER] == []


def test_returning_phone_ad_does_not_log_in_a_device_claiming_a_bound_mac(
        l3: tuple[Stack, str]) -> None:
    stack, base = l3
    expiry = victim_logs_in_and_leaves(stack, base)
    requests_before = stack.ac.stats["access_requests"]
    # The attacker lands once per spelling of the MAC parameter (both languages), then waits
    # out every ad countdown at once and presses "continue" on each page.
    tickets: list[tuple[Client, str, str]] = []
    for n, name in enumerate(mac_names(stack)):
        lang = ("zh-CN", "en-US")[n % 2]
        attacker = Client(base, ATTACKER_IP, lang=lang)
        page = attacker.get(url_for(stack, base, ATTACKER_IP, VICTIM_MAC.upper(), name))
        assert page.status == 200, (name, page.text[:300])
        assert VICTIM not in page.text and VICTIM[-4:] not in page.text
        ticket = field_value(page.text, "ticket")
        assert ticket, f"{name}: the portal took the claimed MAC (an ad page) — else nothing to test"
        tickets.append((attacker, field_value(page.text, "c"), ticket))
    time.sleep(stack.venues.get("library").ad_seconds + 0.3)
    for attacker, c, ticket in tickets:
        assert_refused(attacker.post("/portal/continue", {"c": c, "ticket": ticket}), attacker.lang)
    # Each attempt reached the AC and RADIUS, which saw the attacker's real MAC and refused.
    assert stack.ac.stats["access_requests"] - requests_before == len(tickets)
    assert stack.ac.stats["portal_mac_ignored"] >= len(tickets)
    assert_nothing_granted(stack, expiry)
    # The victim itself comes back through the same path and is let in.
    victim = Client(base, VICTIM_IP)
    page = victim.get(url_for(stack, base, VICTIM_IP, VICTIM_MAC))
    time.sleep(stack.venues.get("library").ad_seconds + 0.3)
    done = victim.post("/portal/continue", {"c": field_value(page.text, "c"),
                                            "ticket": field_value(page.text, "ticket")})
    assert done.status == 303 and done.headers["Location"] == "https://library.example.cn/", done.text[:300]
    assert wait_for(lambda: VICTIM_IP in stack.ac.online())
    assert stack.ac.online()[VICTIM_IP].mac == VICTIM_MAC


def test_an_sms_code_for_the_attackers_own_number_does_not_take_over_the_victims_mac(
        l3: tuple[Stack, str]) -> None:
    stack, base = l3
    expiry = victim_logs_in_and_leaves(stack, base)
    attacker = Client(base, ATTACKER_IP)
    page = attacker.get(url_for(stack, base, ATTACKER_IP, VICTIM_MAC))
    c = field_value(page.text, "c")
    assert page.status == 200 and c
    sent = attacker.post("/portal/code", {"c": c, "phone": ATTACKER})
    assert sent.status == 200, sent.text[:300]
    form = {"c": c, "phone": ATTACKER, "code": stack.last_code(ATTACKER)}
    assert_refused(attacker.post("/portal/login", form), "zh-CN")
    # The retry a failed AC login allows (same page, same code) is refused the same way.
    attacker.lang = "en-US"
    assert_refused(attacker.post("/portal/login", form), "en-US")
    assert_nothing_granted(stack, expiry)
    # With its own MAC the attacker's device logs in as any phone does (the refusal was the MAC;
    # another number of the attacker's, the first one's code being in its resend interval).
    attacker = Client(base, ATTACKER_IP)
    c = field_value(attacker.get(url_for(stack, base, ATTACKER_IP, ATTACKER_MAC)).text, "c")
    attacker.post("/portal/code", {"c": c, "phone": phone(67)})
    done = attacker.post("/portal/login", {"c": c, "phone": phone(67), "code": stack.last_code(phone(67))})
    assert done.success, done.text[:300]
    assert wait_for(lambda: ATTACKER_IP in stack.ac.online())
    assert stack.ac.online()[ATTACKER_IP].mac == ATTACKER_MAC
    assert stack.journey.credentials.binding_for_mac(VICTIM_MAC) == (VICTIM, expiry)


def test_an_ac_that_echoes_the_claimed_mac_gives_no_such_check(
        redis_client: Any, redis_url: str, data_dir: Path) -> None:
    """The limit SECURITY.md states: an AC that reports whatever MAC the portal names (here the
    simulator without ``learned_macs``, the attacker's IP first seen in the portal's request)
    lets the claim through — the defence above is the AC's, not the portal's alone."""
    with running_stack(redis_client, redis_url, data_dir, client_address_check=True) as stack, \
            serve(stack) as base:
        stack.ac.add_user(VICTIM_IP, VICTIM_MAC)
        victim_logs_in_and_leaves(stack, base)
        attacker = Client(base, ATTACKER_IP)
        page = attacker.get(url_for(stack, base, ATTACKER_IP, VICTIM_MAC))
        time.sleep(stack.venues.get("library").ad_seconds + 0.3)
        done = attacker.post("/portal/continue", {"c": field_value(page.text, "c"),
                                                  "ticket": field_value(page.text, "ticket")})
        assert done.status == 303                       # logged in: sent to the venue's page
        assert wait_for(lambda: ATTACKER_IP in stack.ac.online())
        assert stack.ac.online()[ATTACKER_IP].mac == VICTIM_MAC


def test_naming_the_victims_mac_does_not_use_up_its_sms_limits(l3: tuple[Stack, str]) -> None:
    """The per-device SMS limits count the claimed MAC together with the observed address: an
    attacker typing the victim's MAC exhausts only its own share, the victim still gets a code."""
    stack, base = l3
    cfg = dataclasses.replace(stack.journey.otp.cfg, per_mac_hour=2, per_mac_day=2)
    stack.journey.otp = OtpService(stack.redis, cfg, cfg.hmac_key.encode())
    attacker = Client(base, ATTACKER_IP)
    c = field_value(attacker.get(url_for(stack, base, ATTACKER_IP, VICTIM_MAC)).text, "c")
    pages = [attacker.post("/portal/code", {"c": c, "phone": phone(70 + n)}) for n in range(3)]
    assert [p.status for p in pages[:2]] == [200, 200]
    assert (pages[2].status, pages[2].error_code) == (429, "device_hourly_cap")
    victim = Client(base, VICTIM_IP)
    c = field_value(victim.get(url_for(stack, base, VICTIM_IP, VICTIM_MAC)).text, "c")
    assert victim.post("/portal/code", {"c": c, "phone": VICTIM}).status == 200
