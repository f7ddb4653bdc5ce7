"""Ad campaigns in headless Chromium (Debian's, via Playwright) on the real stack: an operator
creates a campaign in the console; a returning phone behind the AC simulator (RADIUS + portal
protocol) sees it inside its schedule, its countdown completes (a completed view), a click goes
through our counter to the stored URL; outside the schedule (a controllable clock, then a date
range in the past) the phone gets the operator's default ad; the figures reach the stats page."""

from __future__ import annotations

import dataclasses
import json
from collections.abc import Iterator
from datetime import datetime, time, timedelta
from pathlib import Path
from typing import Any

import pytest

from portal.admin.accounts import Role
from portal.runtime.settings import ConsoleSettings
from portal.venues.venue_assets import AssetStore
from portal.venues.venue_store import Venue
from tests.e2e.stack import (
    AC_NAME,
    VENUE_URL,
    Stack,
    phone,
    running_stack,
    serve_app,
    stack_app,
    user,
    wait_for,
)
from tests.portal.venues.test_assets import GOOD
from tests.portal.web.consolekit import create_account

pytestmark = [pytest.mark.needs_chromium]

SHOP = "https://shop.example.cn/spring"


@pytest.fixture
def stack(redis_client: Any, redis_url: str, data_dir: Path) -> Iterator[Stack]:
    with running_stack(redis_client, redis_url, data_dir) as s:
        s.journey.campaigns.cache_ttl = 0.0
        # The NOC allows the advertiser's host at this venue (click-throughs go only there).
        library = json.loads(s.venues.get("library").to_json())
        s.venues.put(Venue.from_dict({**library, "redirect_hosts": ["shop.example.cn"]}))
        yield s


@pytest.fixture
def base_url(stack: Stack) -> Iterator[str]:
    settings = dataclasses.replace(stack.settings, console=ConsoleSettings(cookie_secure=False))
    app = stack_app(stack, settings)
    with serve_app(app) as url:
        yield url


def phone_page(browser: Any) -> Any:
    ctx = browser.new_context(locale="zh-CN", extra_http_headers={"Accept-Language": "zh-CN"})
    # The venue's and the advertiser's sites are "the Internet": answer them locally.
    ctx.route("https://**/*", lambda route: route.fulfill(status=200, content_type="text/html",
                                                          body="<title>outside</title>OUTSIDE"))
    return ctx.new_page()


def offline(stack: Stack, i: int) -> None:
    ip, _mac = user(i)
    stack.journey.logout(AC_NAME, ip)
    assert wait_for(lambda: ip not in stack.ac.online())


def test_campaign_created_in_console_is_served_only_within_its_schedule(
        browser: Any, stack: Stack, base_url: str) -> None:
    store = stack.journey.campaigns
    _, password = create_account(stack.redis, "alice", Role.VENUE, ("library",))
    asset = AssetStore(stack.redis).put("library", "spring.png", GOOD["logo.png"], "alice")
    # A controllable clock for the campaign schedule: today, 09:30 local time.
    today = store.today()
    morning = datetime.combine(today, time(9, 30), store.tz).timestamp()
    store.clock = lambda: morning

    console = browser.new_context(locale="zh-CN").new_page()
    console.goto(f"{base_url}/venue/campaigns")
    console.fill("#username", "alice")
    console.fill("#password", password)
    console.click("#signin")
    console.goto(f"{base_url}/venue/campaigns")
    console.click("#new-campaign")
    console.fill("input[name=name]", "春季 <b>特惠</b>")
    console.fill("input[name=image]", asset.url)
    console.fill("input[name=click_url]", SHOP)
    console.fill("input[name=title]", "春季特惠")
    console.fill("input[name=hours]", "09:00-10:00")
    console.check("#targets input[value=library]")
    console.click("#save-campaign")
    console.wait_for_selector("#campaigns")
    assert "春季 <b>特惠</b>" in console.locator("#campaigns").inner_text()     # shown as text
    [campaign] = store.all()
    assert campaign.venues == ("library",) and campaign.schedule.hours == ((540, 600),)

    # A phone logs in by SMS once, then comes back: the campaign is on its ad page.
    page = phone_page(browser)
    portal = f"{base_url}/portal"
    page.goto(stack.redirect(1, portal))
    page.fill("#phone", phone(1))
    page.click("#send")
    page.wait_for_selector("#notice")
    page.fill("#code", stack.last_code(phone(1)))
    page.click("#go")
    page.wait_for_selector("#success")
    offline(stack, 1)
    page.goto(stack.redirect(1, portal))
    assert page.get_attribute("#ad", "data-ad") == campaign.id
    img = page.locator("#ad img")
    img.evaluate("el => el.complete || new Promise(r => el.onload = el.onerror = r)")
    assert img.evaluate("el => el.naturalWidth") == 1          # the asset, from our own host
    # A click opens the advertiser through our counter (a new tab; the countdown carries on).
    # (Playwright does not route redirected navigations: watch for the browser's request.)
    with page.context.expect_event("request", lambda r: r.url == SHOP, timeout=5000), \
            page.context.expect_page() as popup:
        page.click("#ad-click")
    popup.value.close()
    # The countdown completes, the server logs the phone in and sends it to the venue's site.
    ip, _mac = user(1)
    with page.expect_request(VENUE_URL, timeout=8000):
        pass
    assert wait_for(lambda: ip in stack.ac.online())
    [row] = store.stats(campaign.id, today, today)
    assert (row.venue, row.impressions, row.views, row.clicks) == ("library", 1, 1, 1)

    # 11:00: outside the campaign's hours → the operator's default ad.
    store.clock = lambda: morning + 5400
    offline(stack, 1)
    page = phone_page(browser)
    page.goto(stack.redirect(1, portal))
    assert page.get_attribute("#ad", "data-ad") == "operator-default"

    # Back at 09:30, but the operator moves the campaign's dates into the past.
    store.clock = lambda: morning
    console.goto(f"{base_url}/venue/campaigns/{campaign.id}/edit")
    console.fill("input[name=start]", (today - timedelta(days=30)).isoformat())
    console.fill("input[name=end]", (today - timedelta(days=1)).isoformat())
    console.click("#save-campaign")
    console.wait_for_selector("#campaigns")
    assert "不在排期内" in console.locator(f"#campaign-{campaign.id}").inner_text()
    page.goto(stack.redirect(1, portal))
    assert page.get_attribute("#ad", "data-ad") == "operator-default"

    # The stats page draws the day's figures.
    console.goto(f"{base_url}/venue/campaigns/{campaign.id}/stats")
    assert console.locator("#chart-campaign svg").count() == 1
    assert console.inner_text("#total-impressions") == "1" and console.inner_text("#total-clicks") == "1"
