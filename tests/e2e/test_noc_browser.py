"""The NOC's kick button in headless Chromium: a NOC operator signs in through the /login form,
opens Online, clicks the kick button of a phone that logged in through the AC simulator and our
RADIUS server, confirms, sees the outcome, and the session is gone from the list — and from the
simulator."""

from __future__ import annotations

import dataclasses
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from portal.admin.accounts import AccountStore, Role
from portal.runtime.settings import ConsoleSettings
from portal.web import create_app
from tests.e2e.stack import Stack, enable_rfc5176, login_through_ac, running_stack, serve_app, wait_for

pytestmark = [pytest.mark.needs_chromium]


@pytest.fixture
def stack(redis_client: Any, redis_url: str, data_dir: Path) -> Iterator[Stack]:
    with running_stack(redis_client, redis_url, data_dir, sim={"coa_port": 0}) as s:
        enable_rfc5176(s)
        yield s


@pytest.fixture
def site(stack: Stack) -> Iterator[str]:
    settings = dataclasses.replace(stack.settings, console=ConsoleSettings(cookie_secure=False))
    app = create_app(settings, stack.redis)
    with serve_app(app) as url:
        yield url


def test_noc_kicks_a_session_from_the_online_page(browser: Any, stack: Stack, site: str) -> None:
    AccountStore(stack.redis).create("noc1", "noc-password-123", Role.NOC)
    kept, _kept_ip, _ = login_through_ac(stack, 11)           # stays online: the list is not just emptied
    number, ip, _mac = login_through_ac(stack, 12)
    errors: list[str] = []
    page = browser.new_context(locale="en-US").new_page()
    page.on("pageerror", lambda exc: errors.append(str(exc)))
    page.on("dialog", lambda dialog: dialog.accept())          # "Disconnect this session?"
    page.goto(f"{site}/noc/sessions")                          # → the sign-in form
    page.fill("#username", "noc1")
    page.fill("#password", "noc-password-123")
    page.click("#signin")
    page.wait_for_url(f"{site}/noc/sessions", timeout=10000)
    # Online, from the nav bar as a user would.
    page.click('header nav a[href="/noc/sessions"]')   # en-US browser: the nav reads "Online"
    row = page.locator(f'tr.session[data-phone="{number}"]')
    row.wait_for(timeout=10000)
    assert page.locator(f'tr.session[data-phone="{kept}"]').count() == 1
    assert ip in row.inner_text()

    row.locator(".kick-button").click()
    # The kick runs as a job: its page reloads itself until the AC has answered.
    page.wait_for_selector('#job-outcomes [data-outcome="dm"]', timeout=15000)
    outcome = page.inner_text('#job-outcomes [data-outcome="dm"]')
    assert number in outcome and "RFC 5176" in outcome, outcome
    page.click("#job-back")
    page.wait_for_url(f"{site}/noc/sessions", timeout=10000)
    assert page.locator(f'tr.session[data-phone="{number}"]').count() == 0
    assert page.locator(f'tr.session[data-phone="{kept}"]').count() == 1
    assert errors == []
    assert wait_for(lambda: ip not in stack.ac.online(), 5)
    assert stack.ac.stats["dm_disconnect_ack"] == 1
