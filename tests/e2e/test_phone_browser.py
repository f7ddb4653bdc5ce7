"""The phone user's journey in headless Chromium (Debian's /usr/bin/chromium via Playwright),
through the real RADIUS server and the AC simulator: first login with an SMS code, forced
redirect, logout, returning phone through the ad page (including skipping the countdown),
NTF_LOGOUT, and the error messages a user can meet."""

from __future__ import annotations

import dataclasses
import threading
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from portal.aaa.acs import AcRegistry
from portal.aaa.blocklist import Blocklist
from portal.aaa.plans import Plan
from portal.aaa.sessions import OnlineSession
from portal.aaa.usage import UsageBook
from portal.state import keys
from tests.conftest import free_tcp_port
from tests.e2e.stack import AC_NAME, VENUE_URL, Stack, phone, running_stack, stack_app, user, wait_for

pytestmark = [pytest.mark.needs_chromium]


@pytest.fixture
def stack(redis_client: Any, redis_url: str, data_dir: Path) -> Iterator[Stack]:
    with running_stack(redis_client, redis_url, data_dir) as s:
        yield s


@pytest.fixture
def portal(stack: Stack) -> Iterator[str]:
    from werkzeug.serving import make_server

    app = stack_app(stack)
    port = free_tcp_port()
    server = make_server("127.0.0.1", port, app, threaded=True)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{port}/portal"
    finally:
        server.shutdown()
        thread.join(5)


def new_page(browser: Any, lang: str = "zh-CN") -> Any:
    context = browser.new_context(locale=lang, extra_http_headers={"Accept-Language": lang})
    # The venue's and operator's sites are "the Internet": answer them locally.
    context.route("https://**/*", lambda route: route.fulfill(status=200, content_type="text/html",
                                                               body="<title>venue site</title>VENUE"))
    return context.new_page()


def sms_login(page: Any, stack: Stack, portal: str, i: int, number: str | None = None) -> None:
    number = number or phone(i)
    page.goto(stack.redirect(i, portal))
    page.fill("#phone", number)
    page.click("#send")
    page.wait_for_selector("#notice")
    page.fill("#code", stack.last_code(number))
    page.click("#go")


def error_of(page: Any) -> tuple[str, str]:
    el = page.wait_for_selector("#error")
    return el.get_attribute("data-code"), el.inner_text()


def test_first_login_redirect_returning_phone_and_logout(browser: Any, stack: Stack, portal: str) -> None:
    page = new_page(browser)
    sms_login(page, stack, portal, 1)
    page.wait_for_selector("#success")
    ip, _mac = user(1)
    assert ip in stack.ac.online()
    status_url = page.get_attribute("#status", "href")
    # Forced redirect to the venue's (allow-listed) site after the configured delay (1 s).
    page.wait_for_url(VENUE_URL, timeout=5000)
    assert "VENUE" in page.content()

    # Status page, then logout (REQ_LOGOUT on the AC).
    assert wait_for(lambda: stack.journey.sessions.by_phone(phone(1)))
    page.goto(portal.rsplit("/portal", 1)[0] + status_url)
    assert page.inner_text("#state") == "在线"
    page.click("#logout")
    page.wait_for_selector("#notice")
    assert wait_for(lambda: ip not in stack.ac.online())

    # Returning phone: the ad page, a countdown the server enforces.
    page.goto(stack.redirect(1, portal))
    page.wait_for_selector("#ad")
    assert page.is_disabled("#go")
    page.evaluate("document.getElementById('f').submit()")       # try to skip the countdown
    # The page counts down again and submits by itself; the server now logs the phone in and
    # 303s to the venue's site (Playwright does not route redirected navigations, so we watch
    # for the browser's request rather than a rendered page).
    with page.expect_request(VENUE_URL, timeout=8000):
        code, text = error_of(page)
        assert code == "too_early" and "请看完广告" in text
        assert ip not in stack.ac.online()
    assert ip in stack.ac.online()
    stats = stack.redis.hgetall(keys.venue_stats("library"))
    assert int(stats[b"ad_impressions"]) == 1 and int(stats[b"ad_views"]) == 1

    # NTF_LOGOUT from the AC closes the portal's view: the status page says offline.
    stack.ac.kick(ip)
    assert wait_for(lambda: not stack.redis.exists(keys.portal_login(AC_NAME, ip)))
    page = page.context.new_page()     # the old tab is on the (unresolvable) venue site
    page.goto(portal.rsplit("/portal", 1)[0] + status_url)
    assert page.inner_text("#state") == "未在线"
    page.context.close()


def test_reopened_window_finishes_without_a_new_code(browser: Any, stack: Stack, portal: str) -> None:
    page = new_page(browser, "en-US")
    page.goto(stack.redirect(2, portal))
    page.fill("#phone", phone(2))
    page.click("#send")
    page.wait_for_selector("#notice")
    assert page.input_value("#phone") == "189****0002"      # numbers are repeated masked only
    # The login window is closed and reopened with its cookies (the browser proved the number):
    # the masked number and the code field come back, and the masked number logs in.
    page.close()
    page = page.context.new_page()
    page.goto(stack.redirect(2, portal))
    assert page.input_value("#phone") == "189****0002"
    assert page.get_attribute("#code", "autocomplete") == "one-time-code"
    assert page.is_disabled("#send")              # resend countdown still running
    page.fill("#code", stack.last_code(phone(2)))
    page.click("#go")
    page.wait_for_selector("#success")
    page.context.close()
    # A window without those cookies (a CNA sheet that lost them, or anyone naming the device)
    # gets the code field but no number: the user types it again.
    page = new_page(browser, "en-US")
    page.goto(stack.redirect(11, portal))
    page.fill("#phone", phone(11))
    page.click("#send")
    page.wait_for_selector("#notice")
    page.context.close()
    page = new_page(browser, "en-US")
    page.goto(stack.redirect(11, portal))
    assert page.input_value("#phone") == "" and phone(11) not in page.content()
    assert page.is_disabled("#send")
    page.fill("#phone", phone(11))
    page.fill("#code", stack.last_code(phone(11)))
    page.click("#go")
    page.wait_for_selector("#success")
    page.context.close()


def test_error_messages(browser: Any, stack: Stack, portal: str) -> None:
    seen: dict[str, str] = {}
    page = new_page(browser, "en-US")
    # Each phone is its own browser: behind NAT (the test stack's AC), one browser is bound to
    # the first device it opened (tests/security/test_phone_flow.py).
    phones: dict[int, Any] = {}

    def as_phone(i: int) -> Any:
        if i not in phones:
            phones[i] = new_page(browser, "en-US")
        return phones[i]

    # Not an operator number; then wrong code ×5 → too many attempts; resend too soon.
    page.goto(stack.redirect(3, portal))
    page.fill("#phone", "13800138000")
    page.click("#send")
    code, text = error_of(page)
    seen[code] = text
    page.fill("#phone", phone(3))
    page.click("#send")
    page.wait_for_selector("#notice")
    for _ in range(5):
        page.fill("#code", "000000" if stack.last_code(phone(3)) != "000000" else "111111")
        page.click("#go")
        code, text = error_of(page)
        seen.setdefault(code, text)
    page.evaluate("document.getElementById('send').disabled = false")
    page.click("#send")
    code, text = error_of(page)
    seen[code] = text

    # Expired code.
    page = as_phone(4)
    page.goto(stack.redirect(4, portal))
    page.fill("#phone", phone(4))
    page.click("#send")
    page.wait_for_selector("#notice")
    stack.redis.hset(keys.otp_code(phone(4)), "exp", "1")
    page.fill("#code", stack.last_code(phone(4)))
    page.click("#go")
    code, text = error_of(page)
    seen[code] = text

    def refused(i: int, prepare: Any = None) -> None:
        page = as_phone(i)
        page.goto(stack.redirect(i, portal))
        page.fill("#phone", phone(i))
        page.click("#send")
        page.wait_for_selector("#notice")
        restore = prepare() if prepare else None
        page.fill("#code", stack.last_code(phone(i)))
        page.click("#go")
        c, t = error_of(page)
        seen[c] = t
        if restore:
            restore()

    # Plan and quota refusals (before the AC).
    UsageBook(stack.redis).add(phone(5), 4 * 3600, 0, time.time())
    refused(5)
    stack.plans.put(Plan(name="old", valid_until=1000.0))
    stack.plans.assign_user(phone(6), "old")
    refused(6)
    now = int(time.time())
    for n in (1, 2):
        stack.journey.sessions.open(OnlineSession(ac=AC_NAME, session_id=f"other{n}", phone=phone(7),
                                                  mac=f"02:00:00:00:07:0{n}", started=now, updated=now))
    refused(7)

    # The AC: no answer (wrong secret) → timeout; RADIUS reject → the Reply-Message is shown.
    registry = AcRegistry(stack.redis)
    good = registry.get(AC_NAME)

    def break_ac() -> Any:
        registry.put(dataclasses.replace(good, secret="not-the-secret"))
        stack.journey._ac_cache.clear()

        def fix() -> None:
            registry.put(good)
            stack.journey._ac_cache.clear()
        return fix

    refused(8, break_ac)
    def block_device() -> None:    # after the code was sent: only RADIUS sees the block
        Blocklist(stack.redis).block("mac", user(9)[1], reason="e2e", by="test")

    refused(9, block_device)

    # Portal busy: every AC login slot taken.
    def take_slots() -> Any:
        slots = stack.journey._slots
        taken = 0
        while slots.acquire(blocking=False):
            taken += 1

        def give_back() -> None:
            for _ in range(taken):
                slots.release()
        return give_back

    refused(10, take_slots)
    page.context.close()
    for other in phones.values():
        other.context.close()

    assert "not a mobile number of this operator" in seen["carrier_not_allowed"]
    assert "Wrong code; 4 tries left" in seen["wrong_code"]
    assert "Too many wrong tries" in seen["too_many_attempts"]
    assert "ask for a new one in" in seen["resend_too_soon"] and "seconds" in seen["resend_too_soon"]
    assert "expired" in seen["expired"]
    assert "Today's online time is used up" in seen["daily_time_used"]
    assert "Your plan has expired" in seen["plan_expired"]
    assert "Too many devices" in seen["too_many_devices"]
    assert "did not answer" in seen["ac_timeout"]
    assert seen["ac_rejected"].startswith("Login refused:") and "blocked" in seen["ac_rejected"]
    assert "busy" in seen["busy"]
    for text in seen.values():
        assert "Traceback" not in text and "Internal Server Error" not in text


def test_number_field_autofill_format_and_a_corrected_number(browser: Any, stack: Stack, portal: str) -> None:
    """An autofill-formatted number is typed in full (no maxlength cut), and
    after a code went to a mistyped number, correcting it enables "Get code" at once."""
    page = new_page(browser, "en-US")
    page.goto(stack.redirect(12, portal))
    page.type("#phone", "+86 189-0000-0099")             # one digit wrong
    assert page.input_value("#phone") == "+86 189-0000-0099"
    page.click("#send")
    page.wait_for_selector("#notice")
    assert page.is_disabled("#send")                     # the resend countdown for that number
    page.fill("#phone", "")
    page.type("#phone", "+86 189-0000-0012")
    assert page.is_enabled("#send") and page.inner_text("#send") == "Get code"
    page.click("#send")
    assert "189****0012" in page.wait_for_selector("#notice").inner_text()
    page.fill("#code", stack.last_code(phone(12)))
    page.click("#go")
    page.wait_for_selector("#success")
    page.context.close()


@pytest.mark.parametrize(("lang", "words"), [
    ("zh-CN", "此号码尚未获取验证码，请先点击“获取验证码”"),
    ("en-US", "No code was sent to this number yet: tap Get code first"),
])
def test_a_code_for_a_number_that_was_never_sent_one(browser: Any, stack: Stack, portal: str,
                                                     lang: str, words: str) -> None:
    """The tester's walk: a code to one number, the number corrected, any code, Connect."""
    i = 41 if lang == "zh-CN" else 43
    page = new_page(browser, lang)
    page.goto(stack.redirect(i, portal))
    page.fill("#phone", phone(i))
    page.click("#send")
    page.wait_for_selector("#notice")
    page.fill("#phone", phone(i + 1))
    page.fill("#code", "123456")
    page.click("#go")
    code, text = error_of(page)
    assert code == "no_code" and words in text
    assert "过期" not in text and "expired" not in text
    page.context.close()
