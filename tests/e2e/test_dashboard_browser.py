"""The NOC live dashboard in headless Chromium: a NOC operator signs in, sees who is online, a
phone logs in through the AC simulator and RADIUS, and the figures and charts on the open page
change without a reload (the page fetches /noc/live.json every 5 s)."""

from __future__ import annotations

import dataclasses
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from portal.admin.accounts import AccountStore, Role
from portal.runtime.settings import ConsoleSettings
from tests.e2e.stack import AC_NAME, Stack, phone, running_stack, serve_app, stack_app, user, wait_for

pytestmark = [pytest.mark.needs_chromium]


@pytest.fixture
def stack(redis_client: Any, redis_url: str, data_dir: Path) -> Iterator[Stack]:
    with running_stack(redis_client, redis_url, data_dir) as s:
        yield s


@pytest.fixture
def site(stack: Stack) -> Iterator[str]:
    settings = dataclasses.replace(stack.settings, console=ConsoleSettings(cookie_secure=False))
    app = stack_app(stack, settings)
    with serve_app(app) as url:
        yield url


def test_dashboard_updates_without_reload_when_a_phone_logs_in(browser: Any, stack: Stack,
                                                               site: str) -> None:
    AccountStore(stack.redis).create("noc1", "noc-password-123", Role.NOC)
    errors: list[str] = []
    noc = browser.new_context(locale="en-US").new_page()
    noc.on("pageerror", lambda exc: errors.append(str(exc)))
    noc.goto(f"{site}/noc")                        # not signed in → the sign-in page
    noc.fill("#username", "noc1")
    noc.fill("#password", "noc-password-123")
    noc.click("#signin")
    noc.wait_for_url(f"{site}/noc", timeout=10000)
    assert noc.inner_text("#online-total") == "0"
    assert noc.inner_text("#logins-window") == "0"
    # The first refresh has drawn the charts (inline SVG, no CDN).
    noc.wait_for_selector("#chart-logins svg", timeout=10000)
    noc.wait_for_selector("#chart-codes svg")
    noc.evaluate("window.__noReload = 'still here'")

    # A phone logs in through the portal (SMS code), the AC and RADIUS.
    ph = browser.new_context(locale="zh-CN").new_page()
    ph.goto(stack.redirect(1, f"{site}/portal"))
    ph.fill("#phone", phone(1))
    ph.click("#send")
    ph.wait_for_selector("#notice")
    ph.fill("#code", stack.last_code(phone(1)))
    ph.click("#go")
    ph.wait_for_selector("#success")
    assert wait_for(lambda: stack.journey.sessions.by_phone(phone(1)), 10)
    assert user(1)[0] in stack.ac.online()

    # Within a couple of refreshes the open page shows it — no reload.
    # (polled from here: the page's CSP forbids the eval wait_for_function would need)
    assert wait_for(lambda: noc.inner_text("#online-total") == "1", 15, 0.2), \
        noc.inner_text("#online-total")
    assert wait_for(lambda: noc.inner_text("#logins-window") == "1", 15, 0.2)
    assert noc.evaluate("window.__noReload") == "still here"
    assert "Updated" in noc.inner_text("#updated")   # the console follows the browser (en-US)
    # The per-AC chart now has the simulator's AC as a bar label.
    assert AC_NAME in noc.inner_text("#chart-acs")
    assert errors == []
