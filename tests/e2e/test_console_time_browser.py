"""In headless Chromium set to another zone (New York) the consoles still show the operator's
configured zone: the dashboard's "Updated …" and times the scripts format read in Asia/Shanghai
with "UTC+8", like the chart axis and the server-rendered times."""

from __future__ import annotations

import datetime as dt
import re
from collections.abc import Iterator
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo

import pytest

from portal.admin.accounts import AccountStore, Role
from tests.e2e.stack import serve_app, wait_for
from tests.portal.web.test_console_time import NOON_UTC, _app

pytestmark = [pytest.mark.needs_chromium]
SHANGHAI = ZoneInfo("Asia/Shanghai")


@pytest.fixture
def site(redis_client: Any, data_dir: Path) -> Iterator[str]:
    with serve_app(_app(redis_client, data_dir, "Asia/Shanghai")) as url:
        yield url


def test_script_times_use_the_configured_zone_not_the_browsers(browser: Any, redis_client: Any,
                                                                site: str) -> None:
    AccountStore(redis_client).create("noc1", "noc-password-123", Role.NOC)
    errors: list[str] = []
    noc = browser.new_context(locale="en-US", timezone_id="America/New_York").new_page()
    noc.on("pageerror", lambda exc: errors.append(str(exc)))
    noc.goto(f"{site}/noc")
    noc.fill("#username", "noc1")
    noc.fill("#password", "noc-password-123")
    noc.click("#signin")
    noc.wait_for_url(f"{site}/noc", timeout=10000)
    assert noc.evaluate("new Date(0).getTimezoneOffset()") == 300      # the browser really is in New York
    assert wait_for(lambda: noc.inner_text("#updated").startswith("Updated "), 15, 0.2), \
        noc.inner_text("#updated")
    shown = re.fullmatch(r"Updated (\d\d):(\d\d):\d\d UTC\+8", noc.inner_text("#updated"))
    assert shown is not None, noc.inner_text("#updated")
    now = dt.datetime.now(SHANGHAI)
    minutes = {(now - dt.timedelta(minutes=m)).strftime("%H:%M") for m in (0, 1)}
    assert f"{shown.group(1)}:{shown.group(2)}" in minutes               # Shanghai's clock, not New York's
    # A time a script adds later ([data-epoch], CityConsole.stamp) reads the same way.
    text = noc.evaluate("""(at) => { const el = document.createElement('span');
        el.setAttribute('data-epoch', String(at)); document.body.appendChild(el);
        CityConsole.stamp(document); return el.textContent; }""", NOON_UTC)
    assert text == "2026-12-07 20:00:00 UTC+8"
    assert errors == []


def test_the_reject_chart_names_its_reasons(browser: Any, redis_client: Any, site: str) -> None:
    """Reasons are ids in the figures ("blocked"); the chart shows their names in the console
    language."""
    from portal.noc.livestats import LiveStats
    LiveStats(redis_client).record_rejects({"blocked": 2, "something_new": 1})
    AccountStore(redis_client).create("noc2", "noc-password-123", Role.NOC)
    noc = browser.new_context(locale="en-US").new_page()
    noc.goto(f"{site}/noc")
    noc.fill("#username", "noc2")
    noc.fill("#password", "noc-password-123")
    noc.click("#signin")
    noc.wait_for_url(f"{site}/noc", timeout=10000)
    noc.wait_for_selector("#chart-rejects svg", timeout=10000)
    assert wait_for(lambda: "Blocked" in noc.inner_text("#chart-rejects"), 10, 0.2), \
        noc.inner_text("#chart-rejects")
    chart = noc.inner_text("#chart-rejects")
    assert "blocked" not in chart and "something_new" in chart       # an unknown reason keeps its id
