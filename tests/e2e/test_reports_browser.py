"""The reports page in headless Chromium: a NOC operator and a venue owner, zh and en, the CSV
download, the print layout; screenshots go to the test artefacts folder."""

from __future__ import annotations

import csv
import io
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from flask import Flask

from portal.admin.accounts import Role
from portal.web import services
from tests.e2e.stack import serve_app
from tests.portal.web.consolekit import create_account, make_app
from tests.portal.web.reportkit import seed

pytestmark = [pytest.mark.needs_chromium]

REPORT = "/reports?period=month&day=2026-11-01"


@pytest.fixture
def app(redis_client: Any, data_dir: Path) -> Flask:
    app = make_app(redis_client, data_dir)
    seed(redis_client, services(app).settings)
    return app


@pytest.fixture
def site(app: Flask) -> Iterator[str]:
    with serve_app(app) as url:
        yield url


def sign_in(browser: Any, site: str, username: str, password: str, locale: str) -> Any:
    page = browser.new_context(locale=locale, accept_downloads=True).new_page()
    page.goto(f"{site}{REPORT}")                     # → the sign-in form, then back here
    page.fill("#username", username)
    page.fill("#password", password)
    page.click("#signin")
    page.wait_for_selector("#report-table")
    return page


# Draws each character in the heading's font on a canvas and returns its pixels as text: without a
# font that has the glyph, Chromium draws the same "tofu" box for every character.
_GLYPHS_JS = """(chars) => {
  const font = getComputedStyle(document.querySelector('h1')).font;
  const canvas = document.createElement('canvas');
  canvas.width = canvas.height = 64;
  const c = canvas.getContext('2d');
  return chars.map((ch) => {
    c.clearRect(0, 0, 64, 64);
    c.font = font.replace(/\\d+(\\.\\d+)?px/, '40px');
    c.fillStyle = '#000';
    c.fillText(ch, 4, 48);
    const data = c.getImageData(0, 0, 64, 64).data;
    let ink = 0, out = '';
    for (let i = 3; i < data.length; i += 4) { if (data[i] > 0) ink++; out += data[i] > 127 ? '1' : '0'; }
    return [Math.round(c.measureText(ch).width * 10) / 10, ink, out];
  });
}"""


def assert_chinese_glyphs(page: Any) -> None:
    """The zh page's characters are drawn as glyphs, not boxes: each has ink, no two of 统计报表
    look alike, and none looks like a private-use code point no font has (U+E000, U+F8FE)."""
    drawn = page.evaluate(_GLYPHS_JS, ["统", "计", "报", "表", "\ue000", "\uf8fe"])
    chinese, tofu = drawn[:4], drawn[4:]
    assert all(ink > 50 for _, ink, _ in chinese), drawn
    assert len({bits for _, _, bits in chinese}) == 4, "CJK characters drawn as identical boxes"
    assert not {bits for _, _, bits in chinese} & {bits for _, _, bits in tofu}, "drawn as tofu"


def test_noc_reads_prints_and_downloads_a_month(browser: Any, site: str, redis_client: Any,
                                                artefacts: Path) -> None:
    _, password = create_account(redis_client, "noc1", Role.NOC)
    page = sign_in(browser, site, "noc1", password, "zh-CN")
    errors: list[str] = []
    page.on("pageerror", lambda exc: errors.append(str(exc)))
    assert page.locator("h1").inner_text() == "统计报表"
    assert page.locator("#total-logins").inner_text() == "15"
    assert page.locator("svg.report-chart").count() >= 6           # 3 series + venue, AC, SSID
    box = page.locator("figure.chart-logins svg").bounding_box()
    assert box is not None and box["width"] > 300 and box["height"] > 80
    assert page.locator("figure.chart-logins rect.bar").count() == 30
    assert page.locator("#report-table tbody tr").count() == 31   # 30 days + the total
    assert page.locator("#breakdown-venue tbody tr").count() == 2
    assert_chinese_glyphs(page)
    page.screenshot(path=str(artefacts / "reports-noc-zh.png"), full_page=True)
    with page.expect_download() as info:
        page.click("#export-csv")
    rows = list(csv.reader(io.StringIO(Path(info.value.path()).read_text("utf-8-sig"))))
    assert rows[0][0] == "日期" and rows[31][1] == "15"
    # Another period through the form: a custom range of two days.
    page.select_option("select[name=period]", "custom")
    page.fill("input[name=from]", "2026-11-02")
    page.fill("input[name=to]", "2026-11-03")
    page.click("#show-report")
    page.wait_for_selector("#report-table")
    assert page.locator("#total-logins").inner_text() == "10"
    # English, then the print layout: no navigation, no form, the charts and tables stay.
    page.click("#lang-toggle")
    page.wait_for_selector("#report-table")
    assert page.locator("h1").inner_text() == "Reports"
    assert page.locator("#total-logins").inner_text() == "10"
    page.emulate_media(media="print")
    assert not page.locator("#report-form").is_visible()
    assert not page.locator("header.top").is_visible()
    assert page.locator("#report-table").is_visible() and page.locator("svg.report-chart").first.is_visible()
    page.screenshot(path=str(artefacts / "reports-noc-en-print.png"), full_page=True)
    assert page.pdf(format="A4")[:4] == b"%PDF"
    assert errors == []


def test_venue_owner_sees_only_their_venue(browser: Any, site: str, redis_client: Any,
                                           artefacts: Path) -> None:
    _, password = create_account(redis_client, "parkowner", Role.VENUE, ("park",))
    page = sign_in(browser, site, "parkowner", password, "en-US")
    assert page.locator("#total-logins").inner_text() == "3"
    text = page.locator("main").inner_text()
    assert "mall" not in text and "ac-1" not in text
    assert page.locator("select[name=scope] option[value=ac]").count() == 0
    assert page.locator("nav a[href='/reports']").count() == 1
    page.screenshot(path=str(artefacts / "reports-venue-en.png"), full_page=True)
    page.goto(f"{site}/reports?scope=venue&name=mall")
    assert page.locator("#report-error").is_visible()
