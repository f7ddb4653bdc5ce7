"""Attacks on the phone login flow, over real HTTP against the app, through the real RADIUS
server and the AC simulator: code requests, code checks, retries and logins
that an attacker replays, races or sends for another phone.

Phones and attackers connect from their own loopback addresses (``phone_http.Client``), so the
portal sees a peer address exactly as a Layer-3 portal sees a phone. What an attacker sends is
what the review sent: an AC redirect naming someone else's IP/MAC, invented devices to multiply
SMS codes, one code used many times at once or again after a failed AC login, the landing page
asked about a victim's MAC, and a third-party page posting the logout form.
"""

from __future__ import annotations

import base64
import dataclasses
import re
import threading
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any

import pytest

from ac_adapters.redirect import encode_des_mac
from ac_adapters.simulator import build_redirect_url
from portal.aaa.acs import AcRegistry
from portal.aaa.plans import Plan
from portal.legal.reallog import RealNameLog
from portal.phone.otp import OtpService
from portal.state import keys
from tests.e2e.stack import AC_NAME, Stack, phone, running_stack, user, wait_for
from tests.security.phone_http import Client, Page, field_value, serve

ATTACKER = "127.0.66.6"


def device(i: int) -> tuple[str, str]:
    """A phone the portal can see: its IP is a loopback address a test client can bind."""
    return f"127.0.10.{i + 1}", user(i)[1]


def redirect(stack: Stack, base: str, ip: str, mac: str, *, associate: bool = True,
             **extra: str) -> str:
    """The AC's redirect for (ip, mac) — for an associated phone (the simulator knows it) or,
    ``associate=False``, just the query an attacker types."""
    if associate:
        stack.ac.add_user(ip, mac)
    cfg = stack.ac.config
    url = build_redirect_url(base + "/portal", flavour=cfg.flavour, user_ip=ip, user_mac=mac,
                             ac_ip=cfg.nas_ip, ac_name=cfg.nas_identifier, ssid=cfg.ssid,
                             ap_mac=cfg.ap_mac, first_url=cfg.first_url)
    return url + "".join(f"&{k}={v}" for k, v in extra.items())


def sms_count(stack: Stack) -> int:
    return int(stack.redis.xlen(keys.sms_stream()))


def set_ac(stack: Stack, **changes: Any) -> None:
    registry = AcRegistry(stack.redis)
    registry.put(dataclasses.replace(registry.get(AC_NAME), **changes))
    stack.journey._ac_cache.clear()


def land(client: Client, url: str) -> tuple[Page, str]:
    page = client.get(url)
    return page, field_value(page.text, "c")


@pytest.fixture
def l3(redis_client: Any, redis_url: str, data_dir: Path) -> Iterator[tuple[Stack, str]]:
    """A Layer-3 deployment: the AC's client address check is on (the default)."""
    with running_stack(redis_client, redis_url, data_dir, client_address_check=True) as stack, \
            serve(stack) as base:
        yield stack, base


@pytest.fixture
def nat(redis_client: Any, redis_url: str, data_dir: Path) -> Iterator[tuple[Stack, str]]:
    """NAT hides phone addresses: the check is off, every phone arrives from one address."""
    with running_stack(redis_client, redis_url, data_dir, client_address_check=False) as stack, \
            serve(stack) as base:
        yield stack, base


# --- item 3: the redirect's user IP and MAC are claims ------------------------------------------------

def test_a_redirect_naming_another_address_is_refused(l3: tuple[Stack, str]) -> None:
    stack, base = l3
    ip, mac = device(1)
    url = redirect(stack, base, ip, mac)
    before = sms_count(stack)
    for lang, text in (("zh-CN", "此页面属于另一台设备"), ("en-US", "This page belongs to another device")):
        page = Client(base, ATTACKER, lang=lang).get(url)
        assert page.status == 403 and page.error_code == "address_mismatch", page.text[:300]
        assert text in page.text and field_value(page.text, "c") == ""
    # The phone itself gets its page; its token is useless from another address.
    victim = Client(base, ip)
    page, c = land(victim, url)
    assert page.status == 200 and c
    attacker = Client(base, ATTACKER)
    for path, form in (("/portal/code", {"c": c, "phone": phone(66)}),
                       ("/portal/login", {"c": c, "phone": phone(66), "code": "123456"})):
        resp = attacker.post(path, form)
        assert resp.status == 403 and resp.error_code == "address_mismatch", path
    assert sms_count(stack) == before
    # IPv4 seen through a dual-stack socket (::ffff:a.b.c.d) is the same address.
    from portal.phone.device_guard import same_address
    assert same_address(f"::ffff:{ip}", ip) and not same_address("unknown", ip)


def test_invented_devices_do_not_multiply_the_sms_budget(nat: tuple[Stack, str]) -> None:
    stack, base = nat
    cfg = dataclasses.replace(stack.journey.otp.cfg, per_source_hour=3)
    stack.journey.otp = OtpService(stack.redis, cfg, cfg.hmac_key.encode())
    results = []
    for n in range(8):
        # A script that drops cookies and invents a new IP/MAC pair for every code.
        bot = Client(base, ATTACKER, keep_cookies=False)
        url = redirect(stack, base, f"10.77.0.{n + 2}", f"02:77:00:00:00:{n + 2:02x}", associate=False)
        _, c = land(bot, url)
        results.append(bot.post("/portal/code", {"c": c, "phone": phone(100 + n)}))
    assert [r.status for r in results[:3]] == [200, 200, 200]
    assert {(r.status, r.error_code) for r in results[3:]} == {(429, "ip_hourly_cap")}
    assert sms_count(stack) == 3


def test_behind_nat_a_browser_stays_bound_to_its_first_device(nat: tuple[Stack, str]) -> None:
    stack, base = nat
    browser = Client(base, "127.0.0.1")
    mine = redirect(stack, base, *user(1))
    page, _ = land(browser, mine)
    assert page.status == 200 and "cw_dev" in browser.jar
    page, c = land(browser, redirect(stack, base, *user(2)))              # now name a neighbour
    assert page.status == 403 and page.error_code == "device_mismatch" and not c
    assert "另一台设备" in page.text
    other = redirect(stack, base, *user(2)).replace("/portal?", "/?")       # the same on "/"
    assert land(browser, other)[0].error_code == "device_mismatch"
    page, c = land(browser, mine)                                          # its own device: fine
    assert page.status == 200 and c
    browser.jar["cw_dev"] = browser.jar["cw_dev"][:-4] + "AAAA"           # a forged binding is no binding
    assert land(browser, redirect(stack, base, *user(3)))[0].status == 200


def test_an_ac_with_a_redirect_key_vouches_for_the_mac(nat: tuple[Stack, str]) -> None:
    stack, base = nat
    key = "k3y-EAG1"
    set_ac(stack, redirect_key=key)
    ip, mac = user(4)
    victim_mac = user(5)[1]
    client = Client(base, "127.0.0.1", keep_cookies=False)
    # A plain MAC is what anyone can type: refused when the AC encrypts its MACs.
    page = client.get(redirect(stack, base, ip, mac))
    assert page.status == 400 and page.error_code == "unvouched_redirect", page.text[:300]
    # Ciphertext made with another key, or a plain MAC that disagrees with the encrypted one.
    page = client.get(redirect(stack, base, ip, mac, wlanparameter=encode_des_mac(mac, "other-k1")))
    assert page.status == 400 and page.error_code == "bad_mac"
    page = client.get(redirect(stack, base, ip, victim_mac, wlanparameter=encode_des_mac(mac, key)))
    assert page.status == 400 and page.error_code == "bad_mac"
    # What the AC sends: the encrypted MAC (plus its plain copy) — accepted, and it logs in.
    url = redirect(stack, base, ip, mac, wlanparameter=encode_des_mac(mac, key))
    page, c = land(client, url)
    assert page.status == 200 and c
    assert client.post("/portal/code", {"c": c, "phone": phone(4)}).status == 200
    done = client.post("/portal/login", {"c": c, "phone": phone(4), "code": stack.last_code(phone(4))})
    assert done.success, done.text[:300]
    binding = stack.journey.credentials.binding_for_mac(mac)
    assert binding is not None and binding[0] == phone(4)


def test_the_real_name_record_keeps_claimed_device_and_observed_address(
        nat: tuple[Stack, str]) -> None:
    stack, base = nat
    ip, mac = user(6)
    client = Client(base, "127.0.0.1")
    _, c = land(client, redirect(stack, base, ip, mac))
    client.post("/portal/code", {"c": c, "phone": phone(6)})
    done = client.post("/portal/login", {"c": c, "phone": phone(6), "code": stack.last_code(phone(6))})
    assert done.success
    record = RealNameLog(stack.redis).recent(1)[0]
    assert (record.phone, record.ip, record.mac, record.observed_ip) == (phone(6), ip, mac, "127.0.0.1")


# --- item 4: a code verifies exactly once ----------------------------------------------------------

def test_fifty_parallel_logins_with_one_code_give_one_success(l3: tuple[Stack, str]) -> None:
    stack, base = l3
    ip, mac = device(7)
    client = Client(base, ip)
    _, c = land(client, redirect(stack, base, ip, mac))
    assert client.post("/portal/code", {"c": c, "phone": phone(7)}).status == 200
    form = {"c": c, "phone": phone(7), "code": stack.last_code(phone(7))}
    start = threading.Barrier(50)

    def attempt(_: int) -> Page:
        start.wait(timeout=30)
        return Client(base, ip).post("/portal/login", form)

    with ThreadPoolExecutor(max_workers=50) as pool:
        pages = list(pool.map(attempt, range(50)))
    assert sum(p.success for p in pages) == 1, sorted({(p.status, p.error_code) for p in pages})
    assert {p.error_code for p in pages if not p.success} <= {"used", "too_many_attempts"}
    assert len([r for r in RealNameLog(stack.redis).recent(10) if r.phone == phone(7)]) == 1
    assert wait_for(lambda: stack.ac.stats["acct_start"] >= 1)
    assert stack.ac.stats["acct_start"] == 1 and len(stack.journey.sessions.by_phone(phone(7))) == 1


def test_after_an_ac_failure_only_the_same_page_may_retry_with_the_same_code(
        l3: tuple[Stack, str]) -> None:
    stack, base = l3
    ip, mac = device(8)
    client = Client(base, ip)
    url = redirect(stack, base, ip, mac)
    _, c = land(client, url)
    client.post("/portal/code", {"c": c, "phone": phone(8)})
    code = stack.last_code(phone(8))
    good = AcRegistry(stack.redis).get(AC_NAME)
    set_ac(stack, secret="not-the-ac-secret")                  # the AC drops our packets: timeout
    page = client.post("/portal/login", {"c": c, "phone": phone(8), "code": code})
    assert page.status == 504 and page.error_code == "ac_timeout"
    set_ac(stack, secret=good.secret)
    wrong = "000000" if code != "000000" else "111111"
    page = client.post("/portal/login", {"c": c, "phone": phone(8), "code": wrong})
    assert not page.success and page.error_code == "wrong_code"
    _, other_c = land(Client(base, ip), url)                    # another page of the same device
    page = Client(base, ip).post("/portal/login", {"c": other_c, "phone": phone(8), "code": code})
    assert not page.success and page.error_code == "used"
    assert ip not in stack.ac.online()
    assert client.post("/portal/login", {"c": c, "phone": phone(8), "code": code}).success
    again = client.post("/portal/login", {"c": c, "phone": phone(8), "code": code})
    assert not again.success and again.error_code == "used"


# --- item 5: the landing page never discloses a number --------------------------------------------

def _payload(token: str) -> str:
    raw = token.split(".", 1)[0]
    return base64.urlsafe_b64decode(raw + "=" * (-len(raw) % 4)).decode()


def test_the_landing_page_never_shows_a_number_the_requester_has_not_proven(
        nat: tuple[Stack, str]) -> None:
    stack, base = nat
    ip, mac = user(9)
    number, masked = phone(9), phone(9)[:3] + "****" + phone(9)[-4:]
    victim = Client(base, "127.0.0.1")
    url = redirect(stack, base, ip, mac)
    _, c = land(victim, url)
    sent = victim.post("/portal/code", {"c": c, "phone": number})
    assert sent.status == 200 and field_value(sent.text, "phone") == masked
    # Anyone naming the victim's device while the code is pending: no number, not even masked.
    snoop, snoop_c = land(Client(base, "127.0.0.1"), redirect(stack, base, ip, mac.upper().replace(":", "-")))
    assert snoop.status == 200 and number not in snoop.text and masked not in snoop.text
    assert number not in _payload(snoop_c)
    # The victim's own browser (it typed the number) gets it back masked, and may post it masked.
    page, c2 = land(victim, url)
    assert field_value(page.text, "phone") == masked and number not in page.text
    assert number not in _payload(c2)
    done = victim.post("/portal/login", {"c": c2, "phone": masked, "code": stack.last_code(number)})
    assert done.success, done.text[:300]
    # A bound phone whose plan now refuses: the refusal is shown, the number is not.
    stack.journey.logout(AC_NAME, ip)
    stack.plans.put(Plan(name="old", valid_until=1000.0))
    stack.plans.assign_user(number, "old")
    refused = Client(base, "127.0.0.1").get(url)
    assert refused.error_code == "plan_expired"
    assert number not in refused.text and masked not in refused.text


# --- item 6: CSRF on phone POSTs ---------------------------------------------------------------------

def test_a_third_party_page_cannot_log_the_phone_out(l3: tuple[Stack, str]) -> None:
    stack, base = l3
    ip, mac = device(10)
    phone_browser = Client(base, ip)
    _, c = land(phone_browser, redirect(stack, base, ip, mac))
    phone_browser.post("/portal/code", {"c": c, "phone": phone(10)})
    assert phone_browser.post("/portal/login", {"c": c, "phone": phone(10),
                                                "code": stack.last_code(phone(10))}).success
    assert wait_for(lambda: stack.journey.sessions.by_phone(phone(10)))
    evil = {"Origin": "http://evil.example"}
    # The evil page makes the phone's browser post the logout form: with no token, or with
    # another site's Origin, it is refused, and the phone stays online.
    for headers in (evil, {}):
        page = phone_browser.post("/portal/logout", {}, headers=headers)
        assert page.status == 403 and page.error_code == "foreign_request", page.text[:300]
    status = phone_browser.get("/portal/status")                # our own page, found by address
    token = field_value(status.text, "s")
    assert token and 'id="state">在线' in status.text
    page = phone_browser.post("/portal/logout", {"s": token}, headers=evil)
    assert page.error_code == "foreign_request"
    # Nor may any other phone POST come from another site's page.
    page = phone_browser.post("/portal/code", {"c": c, "phone": phone(10)}, headers=evil)
    assert page.error_code == "foreign_request"
    assert ip in stack.ac.online()
    # The token from our page, from the phone, logs out (a same-site Origin is fine).
    page = phone_browser.post("/portal/logout", {"s": token}, headers={"Origin": base})
    assert page.status == 200 and "您已下线" in page.text
    assert wait_for(lambda: ip not in stack.ac.online())


def test_a_session_token_does_not_log_out_from_another_address(l3: tuple[Stack, str]) -> None:
    stack, base = l3
    ip, mac = device(11)
    phone_browser = Client(base, ip)
    _, c = land(phone_browser, redirect(stack, base, ip, mac))
    phone_browser.post("/portal/code", {"c": c, "phone": phone(11)})
    done = phone_browser.post("/portal/login", {"c": c, "phone": phone(11),
                                                "code": stack.last_code(phone(11))})
    token = re.search(r"s=([^&\"]+)", done.text).group(1)  # type: ignore[union-attr]
    page = Client(base, ATTACKER).post("/portal/logout", {"s": token})
    assert page.status == 403 and page.error_code == "address_mismatch"
    assert ip in stack.ac.online()
