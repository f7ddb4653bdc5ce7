"""The venue console in headless Chromium (Debian's, via Playwright) on the real stack: an
operator signs in, edits the login page, previews it in the sandboxed frame, publishes, and a
phone behind the AC simulator gets the new page and logs in through it (RADIUS + simulator);
a second operator neither sees nor opens the first one's venue."""

from __future__ import annotations

import dataclasses
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from portal.admin.accounts import Role
from portal.runtime.settings import ConsoleSettings
from portal.venues.pages import default_source
from portal.venues.venue_assets import AssetStore
from portal.venues.venue_store import Venue, VenueStore
from tests.e2e.stack import Stack, phone, running_stack, serve_app, stack_app, user, wait_for
from tests.portal.venues.test_assets import GOOD
from tests.portal.web.consolekit import create_account

pytestmark = [pytest.mark.needs_chromium]


@pytest.fixture
def stack(redis_client: Any, redis_url: str, data_dir: Path) -> Iterator[Stack]:
    with running_stack(redis_client, redis_url, data_dir) as s:
        yield s


@pytest.fixture
def base_url(stack: Stack) -> Iterator[str]:
    settings = dataclasses.replace(stack.settings, console=ConsoleSettings(cookie_secure=False))
    app = stack_app(stack, settings)
    with serve_app(app) as url:
        yield url


def sign_in(browser: Any, base_url: str, username: str, password: str) -> Any:
    page = browser.new_context(locale="zh-CN").new_page()
    page.goto(f"{base_url}/venue")
    page.fill("#username", username)
    page.fill("#password", password)
    page.click("#signin")
    page.wait_for_url(f"{base_url}/venue")
    return page


def test_operator_edits_previews_publishes_and_phone_sees_it(browser: Any, stack: Stack,
                                                            base_url: str) -> None:
    VenueStore(stack.redis).put(Venue(id="mall", name_zh="购物中心", acs=("mall-ac",)))
    _, alice_pw = create_account(stack.redis, "alice", Role.VENUE, ("library",))
    _, bob_pw = create_account(stack.redis, "bob", Role.VENUE, ("mall",))

    console = sign_in(browser, base_url, "alice", alice_pw)
    assert console.locator("#venues").inner_text().count("library") >= 1
    assert "mall" not in console.locator("#venues").inner_text()
    console.click("a[href='/venue/library']")
    console.click("#tab-login")
    source = default_source("login").replace(
        '<div class="top"><p>{{ t.welcome }}</p><h1>{{ venue.name or t.title }}</h1></div>',
        '<div class="top"><h1 id="spring">春季特惠 · {{ venue.name }}</h1>'
        '<img id="logo" src="{{ assets["logo.png"] }}" alt=""></div>')
    AssetStore(stack.redis).put("library", "logo.png", GOOD["logo.png"], "alice")
    assert 'id="spring"' in source
    console.fill("#source", source)
    console.click("#preview")
    console.wait_for_selector("#preview-frame")
    frame = console.frame_locator("#preview-frame")
    assert frame.locator("#spring").inner_text(timeout=5000) == "春季特惠 · 市图书馆"
    frame.locator("#logo").evaluate("el => el.complete || new Promise(r => el.onload = el.onerror = r)")
    assert frame.locator("#logo").evaluate("el => el.naturalWidth") == 1          # assets load in previews
    # The preview runs in an opaque origin: the console's cookies are out of its reach.
    assert console.locator("#preview-frame").get_attribute("sandbox") == "allow-scripts"

    # Not published yet: a phone still gets the default page.
    phone_ctx = browser.new_context(locale="zh-CN", extra_http_headers={"Accept-Language": "zh-CN"})
    phone_page = phone_ctx.new_page()
    phone_page.route("https://**/*", lambda route: route.fulfill(status=200, content_type="text/html",
                                                                 body="<title>venue site</title>VENUE"))
    phone_page.goto(stack.redirect(3, f"{base_url}/portal"))
    assert phone_page.locator("#spring").count() == 0

    # A broken edit is refused with its line; the good one publishes.
    console.fill("#source", "<p>ok</p>\n{% if %}\n")
    console.click("#publish")
    assert "第 2 行" in console.locator("#problem").inner_text()
    console.fill("#source", source)
    console.fill("#note", "spring campaign")
    console.click("#publish")
    assert "v1" in console.locator("#published").inner_text()
    assert "spring campaign" in console.locator("#history").inner_text()

    # The phone behind the simulated AC sees the new page and logs in through it.
    phone_page.goto(stack.redirect(3, f"{base_url}/portal"))
    assert phone_page.locator("#spring").inner_text() == "春季特惠 · 市图书馆"
    logo = phone_page.locator("#logo")
    logo.evaluate("el => el.complete || new Promise(r => el.onload = el.onerror = r)")
    assert logo.evaluate("el => el.naturalWidth") == 1                          # asset loaded
    # Venue HTML runs in an opaque origin: its scripts cannot read the consoles on this host.
    assert phone_page.evaluate("window.origin") == "null"
    leaked = phone_page.evaluate("""async (url) => {
        try { const r = await fetch(url, {credentials: "include"}); return await r.text(); }
        catch (e) { return "blocked"; } }""", f"{base_url}/venue")
    assert leaked == "blocked"
    phone_page.fill("#phone", phone(3))
    phone_page.click("#send")
    phone_page.wait_for_selector("#notice")
    phone_page.fill("#code", stack.last_code(phone(3)))
    phone_page.click("#go")
    phone_page.wait_for_selector("#success")
    assert wait_for(lambda: user(3)[0] in stack.ac.online())

    # The second operator cannot see or open the first one's venue.
    other = sign_in(browser, base_url, "bob", bob_pw)
    assert "library" not in other.locator("#venues").inner_text()
    for path in ("/venue/library", "/venue/library/settings", "/venue/library/pages/login",
                 "/venue/library/pages/login/preview", "/venue/library/assets"):
        resp = other.goto(base_url + path)
        assert resp is not None and resp.status == 404, path
        assert "春季特惠" not in other.content() and "市图书馆" not in other.content()
    # Nor post to it, even with his own valid CSRF token.
    status = other.evaluate("""async (url) => {
        const r = await fetch(url, {method: "POST", headers: {"X-CSRF-Token": window.CityConsole.csrf(),
            "Content-Type": "application/x-www-form-urlencoded"}, body: "source=pwned&action=publish"});
        return r.status; }""", f"{base_url}/venue/library/pages/login")
    assert status == 404
    phone_page.context.close()
    console.context.close()
    other.context.close()
