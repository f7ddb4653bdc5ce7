"""The reports page and ``GET /api/v1/reports``: periods, scopes, venue accounts, CSV and .xlsx.

Days are rolled up by the real job from real-name records in the real Redis stream."""

from __future__ import annotations

import csv
import io
from pathlib import Path
from typing import Any

import pytest
from flask import Flask
from openpyxl import load_workbook

from portal.admin.accounts import Role
from portal.web import services
from tests.portal.web.api.apikit import assert_matches_openapi, auth, token
from tests.portal.web.consolekit import create_account, login, make_app
from tests.portal.web.reportkit import seed


@pytest.fixture
def app(redis_client: Any, data_dir: Path) -> Flask:
    return make_app(redis_client, data_dir)


@pytest.fixture
def expect(app: Flask, redis_client: Any) -> dict[str, dict[str, int]]:
    return seed(redis_client, services(app).settings)


def test_api_month_venue_ac_and_errors(app: Flask, redis_client: Any,
                                       expect: dict[str, dict[str, int]]) -> None:
    client = app.test_client()
    headers = auth(token(redis_client, "read"))
    resp = client.get("/api/v1/reports?period=month&day=2026-11-15", headers=headers)
    assert resp.status_code == 200, resp.get_json()
    assert_matches_openapi(app, "GET", "/reports", resp)
    body = resp.get_json()
    assert body["period"] == {"from": "2026-11-01", "to": "2026-11-30", "days": 30}
    assert [p["logins"] for p in body["series"][:4]] == [5, 5, 5, 0]
    assert body["totals"]["logins"] == 15 and body["totals"]["sessions"] == 15
    assert body["totals"]["minutes"] == 15 * 30 and body["totals"]["bytes_down"] == 15 * 9000
    assert {v: d["logins"] for v, d in body["breakdown"]["venue"].items()} == {
        v: e["logins"] for v, e in expect.items()}
    assert body["breakdown"]["ac"]["ac-1"]["logins"] == 6
    resp = client.get("/api/v1/reports?period=week&day=2026-11-02&scope=venue&name=park", headers=headers)
    assert_matches_openapi(app, "GET", "/reports", resp)
    week = resp.get_json()
    assert week["period"]["from"] == "2026-11-02" and week["totals"]["logins"] == 2   # Mon–Sun
    resp = client.get("/api/v1/reports?period=custom&from=2026-11-01&to=2026-11-03&scope=ac&name=ac-1",
                      headers=headers)
    assert resp.get_json()["totals"]["logins"] == 6 and resp.get_json()["breakdown"] == {}
    # SMS and refusals split by place: mall sent 2 (8 fen) and delivered 1; park sent 1, refused 1.
    mall, park = (client.get(f"/api/v1/reports?period=month&day=2026-11-01&scope=venue&name={v}",
                             headers=headers).get_json() for v in ("mall", "park"))
    assert (mall["totals"]["sms_sent"], mall["totals"]["sms_delivered"], mall["totals"]["sms_yuan"],
            mall["refusals"]) == (2, 1, 0.08, {})
    assert (park["totals"]["sms_sent"], park["refusals"]) == (1, {"blocked": 1})
    assert body["totals"]["sms_sent"] == 3 and body["refusals"] == {"blocked": 1}
    assert body["breakdown"]["ac"]["ac-3"]["sms_sent"] == 1
    assert body["breakdown"]["ssid"]["CityWiFi"]["sms_sent"] == 3
    for bad in ("period=year", "period=custom&from=2026-11-05&to=2026-11-01", "day=11/01/2026",
                "scope=venue", "scope=planet&name=x"):
        resp = client.get(f"/api/v1/reports?{bad}", headers=headers)
        assert resp.status_code == 400, bad
        assert_matches_openapi(app, "GET", "/reports", resp)
        assert resp.get_json()["error"]["message_zh"]
    resp = client.get("/api/v1/reports")
    assert resp.status_code == 401
    assert_matches_openapi(app, "GET", "/reports", resp)


def test_noc_page_charts_table_and_exports(app: Flask, redis_client: Any,
                                           expect: dict[str, dict[str, int]]) -> None:
    _, password = create_account(redis_client, "noc1", Role.NOC)
    client = app.test_client()
    assert login(client, "noc1", password).status_code == 302
    html = client.get("/reports?period=month&day=2026-11-01").get_data(as_text=True)
    assert html.count("<svg") >= 5 and 'id="report-table"' in html and "reports.css" in html
    assert 'id="total-logins">15<' in html and "统计报表" in html
    assert "=cmd|ac" in html and "<script>" not in html.split("<main>")[1].split("</main>")[0]
    resp = client.get("/reports?period=month&day=2026-11-01&format=csv")
    assert resp.headers["Content-Type"].startswith("text/csv")
    rows = list(csv.reader(io.StringIO(resp.get_data(as_text=True).lstrip("\ufeff"))))
    assert rows[1][0] == "2026-11-01" and rows[1][1] == "5"
    assert rows[31][1] == "15"                                   # the totals row after 30 days
    assert any(r[:2] == ["ac", "'=cmd|ac"] for r in rows)        # a formula is shown as text
    resp = client.get("/reports?period=month&day=2026-11-01&format=xlsx")
    wb = load_workbook(io.BytesIO(resp.get_data()))
    sheet = wb.worksheets[0]
    assert sheet.cell(2, 1).value == "2026-11-01" and sheet.cell(2, 2).value == 5
    assert sheet.cell(32, 2).value == 15
    page = client.get("/reports?period=custom&from=2026-11-05&to=2026-11-01")
    assert page.status_code == 400 and "report-error" in page.get_data(as_text=True)


def test_venue_account_sees_only_its_venues(app: Flask, redis_client: Any,
                                            expect: dict[str, dict[str, int]]) -> None:
    _, password = create_account(redis_client, "parkowner", Role.VENUE, ("park",))
    client = app.test_client()
    assert login(client, "parkowner", password).status_code == 302
    html = client.get("/reports?period=month&day=2026-11-01").get_data(as_text=True)
    assert f'id="total-logins">{expect["park"]["logins"]}<' in html
    assert "mall" not in html and "ac-1" not in html and "breakdown-ac" not in html
    assert client.get("/reports?scope=venue&name=mall").status_code == 400
    assert client.get("/reports?scope=ac&name=ac-3").status_code == 400
    ok = client.get("/reports?period=month&day=2026-11-01&scope=venue&name=park&format=csv")
    rows = list(csv.reader(io.StringIO(ok.get_data(as_text=True).lstrip("\ufeff"))))
    assert rows[31][1] == str(expect["park"]["logins"]) and "mall" not in ok.get_data(as_text=True)
