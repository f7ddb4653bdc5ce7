"""Our own scripts on a venue's published page, in headless Chromium on the real stack (RADIUS,
the AC simulator, Redis), for a venue the NOC has NOT opted into scripts:

* the editor's default login page published unchanged keeps its resend countdown and its
  corrected-number handling (the shipped inline script runs by its CSP hash);
* the default success page published unchanged still forwards the phone after its countdown;
* any other script on a venue page stays blocked — next to our script, on its own, or our script
  with one character changed.
"""

from __future__ import annotations

import dataclasses
import re
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from portal.admin.accounts import Role
from portal.runtime.settings import ConsoleSettings, PagesSettings
from portal.venues.pages import PageStore, default_source
from tests.e2e.stack import VENUE_URL, Stack, phone, running_stack, serve_app, stack_app
from tests.portal.venues.pagekit import login_page
from tests.portal.web.consolekit import create_account

pytestmark = [pytest.mark.needs_chromium]

IPHONE = ("Mozilla/5.0 (iPhone; CPU iPhone OS 17_5 like Mac OS X) AppleWebKit/605.1.15 "
          "(KHTML, like Gecko) Version/17.5 Mobile/15E148 Safari/604.1")
PIXEL = ("Mozilla/5.0 (Linux; Android 14; Pixel 8) AppleWebKit/537.36 (KHTML, like Gecko) "
         "Chrome/127.0.6533.103 Mobile Safari/537.36")
OTHER_SCRIPT = '<p id="other">no</p><script>document.getElementById("other").textContent="ran";</script>'


@pytest.fixture
def stack(redis_client: Any, redis_url: str, data_dir: Path) -> Iterator[Stack]:
    with running_stack(redis_client, redis_url, data_dir) as s:
        yield s


@pytest.fixture
def base_url(stack: Stack) -> Iterator[str]:
    # Pages re-read at once: a test publishes several versions in a row.
    settings = dataclasses.replace(stack.settings, console=ConsoleSettings(cookie_secure=False),
                                   pages=PagesSettings(cache_seconds=0.0))
    with serve_app(stack_app(stack, settings)) as url:
        yield url


def phone_page(browser: Any, agent: str, lang: str) -> Any:
    ctx = browser.new_context(user_agent=agent, locale=lang, is_mobile=True,
                              extra_http_headers={"Accept-Language": lang})
    ctx.route("https://**/*", lambda route: route.fulfill(status=200, content_type="text/html",
                                                           body="<title>venue site</title>VENUE"))
    return ctx.new_page()


def publish(stack: Stack, page: str, source: str) -> None:
    assert not stack.journey.venue("library").scripts_allowed
    PageStore(stack.redis).publish(stack.venues.get("library"), page, "alice", source=source)


def open_login(page: Any, stack: Stack, base_url: str, i: int) -> str:
    """The phone's login page (a venue page): its Content-Security-Policy."""
    reply = page.goto(stack.redirect(i, f"{base_url}/portal"))
    return str(reply.headers["content-security-policy"])


def countdown_runs(page: Any, number: str) -> bool:
    """Ask for a code; True when the page's script counts the resend wait down."""
    page.fill("#phone", number)
    page.click("#send")
    page.wait_for_selector("#notice")
    try:
        page.wait_for_function(
            '() => /^\\d+ 秒后可重新获取$/.test(document.getElementById("send").textContent)', timeout=3000)
    except Exception:      # Playwright's TimeoutError: the script did not run
        return False
    return True


def test_the_default_login_page_published_unchanged_keeps_its_countdown(
        browser: Any, stack: Stack, base_url: str) -> None:
    # The operator publishes the editor's default source as it stands.
    _, password = create_account(stack.redis, "alice", Role.VENUE, ("library",))
    console = browser.new_context(locale="zh-CN").new_page()
    console.goto(f"{base_url}/venue")
    console.fill("#username", "alice")
    console.fill("#password", password)
    console.click("#signin")
    console.goto(f"{base_url}/venue/library/pages/login")
    assert console.input_value("#source") == default_source("login")
    console.click("#publish")
    assert "v1" in console.locator("#published").inner_text()
    console.context.close()

    page = phone_page(browser, IPHONE, "zh-CN")
    policy = open_login(page, stack, base_url, 51)
    assert "allow-scripts" in policy and "script-src 'sha256-" in policy and "nonce" not in policy
    assert countdown_runs(page, phone(51))
    send = page.locator("#send")
    assert send.is_disabled()
    first = int(send.inner_text().split()[0])
    page.wait_for_function(f'() => parseInt(document.getElementById("send").textContent) < {first}',
                           timeout=5000)
    # A corrected number may ask at once.
    page.fill("#phone", phone(52))
    page.wait_for_function('() => !document.getElementById("send").disabled', timeout=3000)
    assert send.inner_text() == "获取验证码"
    page.context.close()


def test_any_other_script_on_a_venue_page_stays_blocked(browser: Any, stack: Stack, base_url: str) -> None:
    shipped = default_source("login")
    # Our script unchanged next to the venue's own: ours runs, theirs does not.
    publish(stack, "login", shipped.replace("{% endblock %}", OTHER_SCRIPT + "{% endblock %}"))
    page = phone_page(browser, IPHONE, "zh-CN")
    open_login(page, stack, base_url, 53)
    assert countdown_runs(page, phone(53))
    assert page.inner_text("#other") == "no"
    # The venue's script alone: no script runs at all.
    publish(stack, "login", login_page(OTHER_SCRIPT))
    policy = open_login(page, stack, base_url, 53)
    assert "script-src 'none'" in policy and "allow-scripts" not in policy
    page.wait_for_timeout(300)
    assert page.inner_text("#other") == "no"
    # Our script with one character changed is not ours any more.
    changed = shipped.replace("setTimeout(s,1000)", "setTimeout(s,999)")
    assert changed != shipped
    publish(stack, "login", changed)
    page.context.close()
    page = phone_page(browser, IPHONE, "zh-CN")       # another phone: another browser
    policy = open_login(page, stack, base_url, 54)
    assert "script-src 'none'" in policy
    assert not countdown_runs(page, phone(54))
    page.context.close()


def test_the_default_success_page_published_unchanged_still_forwards(
        browser: Any, stack: Stack, base_url: str) -> None:
    publish(stack, "success", default_source("success"))
    page = phone_page(browser, PIXEL, "en-US")
    open_login(page, stack, base_url, 55)
    page.fill("#phone", phone(55))
    page.click("#send")
    page.wait_for_selector("#notice")
    page.fill("#code", stack.last_code(phone(55)))
    with page.expect_navigation(url=VENUE_URL, timeout=10000):
        page.click("#go")
        page.wait_for_selector("#success")
        assert re.search(r"s until you are taken to", page.inner_text("#success"))
    assert page.inner_text("body") == "VENUE"
    page.context.close()
