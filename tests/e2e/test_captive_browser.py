"""Phones that find the portal by themselves, in headless Chromium with iOS and
Android user agents, through the real RADIUS server and the AC simulator: the OS probe (or the
RFC 8908 API) → the portal → login → the probe says online.

* iOS, an AC with its client-address check on (the portal sees phones' own addresses): the
  phone is Chromium itself on 127.0.0.1. The probe and the API are asked by a browser context
  without the login window's cookies (the OS asks on its own), and still find the login page.
* Android, an AC behind NAT (check off): the browser's signed cookie carries its redirect.
"""

from __future__ import annotations

import json
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import pytest

from tests.conftest import free_tcp_port
from tests.e2e.stack import Stack, phone, running_stack, stack_app, user, wait_for

pytestmark = [pytest.mark.needs_chromium]

IOS_SAFARI = ("Mozilla/5.0 (iPhone; CPU iPhone OS 17_5 like Mac OS X) AppleWebKit/605.1.15 "
              "(KHTML, like Gecko) Version/17.5 Mobile/15E148 Safari/604.1")
IOS_PROBE = "CaptiveNetworkSupport-481.100.3 wispr"
ANDROID_WEBVIEW = ("Mozilla/5.0 (Linux; Android 14; Pixel 8 Build/AP2A.240805.005; wv) AppleWebKit/537.36 "
                   "(KHTML, like Gecko) Version/4.0 Chrome/127.0.6533.103 Mobile Safari/537.36")
SUCCESS = "<HTML><HEAD><TITLE>Success</TITLE></HEAD><BODY>Success</BODY></HTML>"


@contextmanager
def serving(stack: Stack) -> Iterator[str]:
    """The app on a real HTTP server: its base URL (http://127.0.0.1:port)."""
    from werkzeug.serving import make_server

    app = stack_app(stack)
    server = make_server("127.0.0.1", free_tcp_port(), app, threaded=True)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{server.server_port}"
    finally:
        server.shutdown()
        thread.join(5)


def context(browser: Any, user_agent: str, lang: str = "zh-CN") -> Any:
    ctx = browser.new_context(user_agent=user_agent, locale=lang,
                              extra_http_headers={"Accept-Language": lang})
    ctx.route("https://**/*", lambda route: route.fulfill(status=200, content_type="text/html",
                                                           body="<title>venue site</title>VENUE"))
    return ctx


def login_here(page: Any, stack: Stack, number: str) -> None:
    """On a login page: ask for the code, type it, connect."""
    page.fill("#phone", number)
    page.click("#send")
    page.wait_for_selector("#notice")
    page.fill("#code", stack.last_code(number))
    page.click("#go")
    page.wait_for_selector("#success")


def test_ios_probe_and_captive_api_lead_to_the_login_page(browser: Any, redis_client: Any, redis_url: str,
                                                          data_dir: Path) -> None:
    with running_stack(redis_client, redis_url, data_dir, client_address_check=True) as stack, \
            serving(stack) as base:
        ip, mac = "127.0.0.1", user(30)[1]           # the phone: Chromium, as the portal sees it
        stack.ac.add_user(ip, mac)
        os_side = context(browser, IOS_PROBE)        # the OS's own requests: no browser cookies
        cna = context(browser, IOS_SAFARI)

        # Nothing known yet: the probe's redirect lands on a page that explains (200, no error).
        probe = os_side.new_page()
        reply = probe.goto(base + "/hotspot-detect.html")
        assert reply.status == 200 and reply.url == base + "/portal"
        assert probe.is_visible("#help") and not probe.query_selector("#error")
        assert probe.get_attribute("#login", "href") == "http://captive.apple.com/"

        # The AC redirects the phone once (its first probe, intercepted): the login sheet opens
        # and is closed before logging in.
        sheet = cna.new_page()
        sheet.goto(stack.ac.redirect_url(ip, base + "/portal"))
        assert sheet.is_visible("#phone")
        sheet.close()

        # The probe again, from the OS without cookies: 302 to /portal, which is the login page.
        reply = probe.goto(base + "/hotspot-detect.html")
        assert reply.url == base + "/portal" and probe.is_visible("#phone")
        assert reply.request.redirected_from.response().status == 302
        # The RFC 8908 API names the same page; opened, it is the login page too.
        api = os_side.request.get(base + "/api/captive", headers={"Accept": "application/captive+json"})
        assert api.headers["content-type"] == "application/captive+json"
        body = json.loads(api.text())
        assert body["captive"] is True and body["user-portal-url"] == base + "/portal"
        sheet = cna.new_page()
        sheet.goto(body["user-portal-url"])
        login_here(sheet, stack, phone(30))
        assert wait_for(lambda: ip in stack.ac.online())

        # Online: the probe answers exactly what iOS expects, the API says so, and a bare
        # /portal shows the status page.
        assert os_side.request.get(base + "/hotspot-detect.html").text() == SUCCESS
        body = json.loads(os_side.request.get(base + "/api/captive").text())
        assert body["captive"] is False and body["user-portal-url"] == base + "/portal/status"
        assert wait_for(lambda: stack.journey.sessions.by_phone(phone(30)))
        status = os_side.new_page()
        status.goto(base + "/portal")
        assert status.inner_text("#state") == "在线"
        cna.close()
        os_side.close()


def test_android_probe_leads_to_the_login_page_behind_nat(browser: Any, redis_client: Any, redis_url: str,
                                                          data_dir: Path) -> None:
    with running_stack(redis_client, redis_url, data_dir) as stack, serving(stack) as base:
        phone_ctx = context(browser, ANDROID_WEBVIEW, "en-US")
        page = phone_ctx.new_page()
        # The AC's redirect of its first probe (its address check is off: NAT).
        page.goto(stack.redirect(31, base + "/portal"))
        assert page.is_visible("#phone")
        # The user wanders off; the login app re-probes: 302 → /portal → this phone's login page.
        page.goto(base + "/generate_204")
        assert page.url == base + "/portal" and page.is_visible("#phone")
        assert page.inner_text("h1") == "City Library"
        login_here(page, stack, phone(31))
        ip = user(31)[0]
        assert wait_for(lambda: ip in stack.ac.online())
        probe = phone_ctx.request.get(base + "/generate_204", max_redirects=0)
        assert probe.status == 204 and probe.text() == ""
        assert phone_ctx.request.get(base + "/connecttest.txt").text() == "Microsoft Connect Test"
        # Windows' follow-up page and Ubuntu's root probe are answered like the other probes.
        windows = phone_ctx.request.get(base + "/redirect", max_redirects=0)
        assert windows.status == 302 and windows.headers["location"].endswith("/portal/status")
        ubuntu = phone_ctx.request.get(base + "/", max_redirects=0,
                                       headers={"Host": "connectivity-check.ubuntu.com."})
        assert ubuntu.status == 204 and ubuntu.headers["x-networkmanager-status"] == "online"
        # A browser that never brought a redirect is told how to get one, in its language.
        stranger = context(browser, ANDROID_WEBVIEW, "en-US")
        other = stranger.new_page()
        assert other.goto(base + "/generate_204").status == 200
        assert "Make sure you are connected to this Wi-Fi" in other.inner_text("#help")
        assert stranger.request.get(base + "/", max_redirects=0,
                                    headers={"Host": "connectivity-check.ubuntu.com"}).status == 302
        other.click("#lang")
        assert "确认已连接本 Wi-Fi" in other.inner_text("#help")
        phone_ctx.close()
        stranger.close()
