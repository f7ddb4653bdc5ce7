"""The page the OS sends a logged-in phone to, in headless Chromium (iPhone and Pixel user agents,
zh-CN and en-US), through the real RADIUS server and the AC simulator, behind NAT (the AC's
client-address check off, so the portal cannot tell phones apart by address):

after an SMS login, ``/redirect`` (Windows' follow-up page), a bare ``/portal/status`` and the
RFC 8908 ``user-portal-url`` show this phone's online status with its plan figures and logout —
found by the session cookie of the browser that logged in — while another browser that brought a
redirect naming the same device (anyone can forge one) learns only that it is online, and a
browser the portal knows nothing about learns nothing.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest

from tests.e2e.stack import Stack, phone, running_stack, serve_app, stack_app, user, wait_for

pytestmark = [pytest.mark.needs_chromium]

IPHONE = ("Mozilla/5.0 (iPhone; CPU iPhone OS 17_5 like Mac OS X) AppleWebKit/605.1.15 "
          "(KHTML, like Gecko) Version/17.5 Mobile/15E148 Safari/604.1")
PIXEL = ("Mozilla/5.0 (Linux; Android 14; Pixel 8) AppleWebKit/537.36 (KHTML, like Gecko) "
         "Chrome/127.0.6533.103 Mobile Safari/537.36")


def phone_context(browser: Any, user_agent: str, lang: str) -> Any:
    ctx = browser.new_context(user_agent=user_agent, locale=lang, is_mobile=True,
                              extra_http_headers={"Accept-Language": lang})
    ctx.route("https://**/*", lambda route: route.fulfill(status=200, content_type="text/html",
                                                           body="<title>venue site</title>VENUE"))
    return ctx


def sms_login(page: Any, stack: Stack, base: str, i: int) -> None:
    page.goto(stack.redirect(i, base + "/portal"))
    page.fill("#phone", phone(i))
    page.click("#send")
    page.wait_for_selector("#notice")
    page.fill("#code", stack.last_code(phone(i)))
    page.click("#go")
    page.wait_for_selector("#success")
    assert wait_for(lambda: user(i)[0] in stack.ac.online())
    assert wait_for(lambda: stack.journey.sessions.by_phone(phone(i)))


def assert_own_status(page: Any, online: str, number: str) -> None:
    assert page.inner_text("#state") == online
    assert number[:3] + "****" + number[-4:] in page.inner_text("#status")
    assert page.inner_text("#time_left").count(":") == 2           # 3:59:59-like, from the plan
    assert page.is_visible("#logout") and not page.query_selector("#login")


@pytest.mark.parametrize(("agent", "lang", "online", "offline"), [
    (IPHONE, "zh-CN", "在线", "未在线"),
    (PIXEL, "en-US", "Online", "Offline"),
])
def test_logged_in_phone_finds_its_status_without_the_link(
        browser: Any, redis_client: Any, redis_url: str, data_dir: Path,
        agent: str, lang: str, online: str, offline: str) -> None:
    i = 41 if lang == "zh-CN" else 42
    with running_stack(redis_client, redis_url, data_dir) as stack, serve_app(stack_app(stack)) as base:
        ctx = phone_context(browser, agent, lang)
        page = ctx.new_page()
        sms_login(page, stack, base, i)

        # Windows' follow-up page: 302 to the status page, which is this phone's, online.
        reply = page.goto(base + "/redirect")
        assert reply.url == base + "/portal/status"
        assert reply.request.redirected_from.response().status == 302
        assert_own_status(page, online, phone(i))
        page.goto(base + "/portal/status")
        assert_own_status(page, online, phone(i))
        # The RFC 8908 API (asked with this browser's cookies) gives figures and leads there too.
        body = json.loads(ctx.request.get(base + "/api/captive").text())
        assert body["captive"] is False and body["user-portal-url"] == base + "/portal/status"
        assert 0 < body["seconds-remaining"] <= 4 * 3600
        page.goto(body["user-portal-url"])
        assert_own_status(page, online, phone(i))
        # A bare /portal (probes' target) is the status page as well.
        page.goto(base + "/portal")
        assert page.url.startswith(base + "/portal/status")
        assert_own_status(page, online, phone(i))

        # Another browser brings a redirect naming this device (a forged one passes the same
        # way): it learns the state the API would tell it, never the number, figures or logout.
        other_ctx = phone_context(browser, agent, lang)
        other = other_ctx.new_page()
        other.goto(stack.redirect(i, base + "/portal"))
        other.goto(base + "/portal/status")
        assert other.inner_text("#state") == online
        assert not other.query_selector("#time_left") and not other.query_selector("#logout")
        assert phone(i)[-4:] not in other.content()
        body = json.loads(other_ctx.request.get(base + "/api/captive").text())
        assert body["captive"] is False and body["user-portal-url"] == base + "/portal/status"
        assert "seconds-remaining" not in body and "bytes-remaining" not in body
        # A browser the portal knows nothing about: the neutral page.
        stranger_ctx = phone_context(browser, agent, lang)
        stranger = stranger_ctx.new_page()
        stranger.goto(base + "/portal/status")
        assert stranger.inner_text("#state") == offline and not stranger.query_selector("#logout")
        assert phone(i)[-4:] not in stranger.content()

        # The status found without the link logs out like the linked one.
        page.goto(base + "/portal/status")
        page.click("#logout")
        page.wait_for_selector("#notice")
        assert wait_for(lambda: user(i)[0] not in stack.ac.online())
        page.goto(base + "/portal/status")
        assert page.inner_text("#state") == offline and page.is_visible("#login")
        for c in (ctx, other_ctx, stranger_ctx):
            c.close()
