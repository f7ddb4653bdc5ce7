"""Ad campaigns over HTTP on real Redis: the console (roles, another operator's campaign → 404,
CSRF, escaping, per-field errors, stats chart + CSV, audit) and the phone side (a returning phone
sees the campaign; impression, completed view and click counted; click-through only to the
stored URL)."""

from __future__ import annotations

import csv
import io
import json
import re
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from flask import Flask
from flask.testing import FlaskClient

from ad_pages.campaigns import Campaign, Creative, Schedule
from portal.admin.accounts import Role
from portal.admin.audit import AuditLog
from portal.venues.campaign_store import CampaignStore
from portal.venues.venue_store import Venue, VenueStore
from portal.web import services
from tests.e2e.stack import AC_NAME, SSID, VENUE_URL, Stack, phone, running_stack, seed, stack_app, wait_for
from tests.portal.web.consolekit import create_account, csrf, login, make_app

# Click-through links must lead to a host on the venue's allow-list.
LIB = Venue(id="lib", name_zh="图书馆", name_en="Library", acs=(AC_NAME,), ssids=(SSID,),
            redirect_hosts=("shop.example.cn",))
MALL = Venue(id="mall", name_zh="商场", name_en="Mall", acs=("mall-ac",))
IMG = Creative("image", "/assets/lib/banner.png?v=1", "https://shop.example.cn/spring?a=1&b=2",
               title="春季特惠")


@pytest.fixture
def app(redis_client: Any, data_dir: Path) -> Flask:
    seed(redis_client, sim_port=1, venue=LIB)
    VenueStore(redis_client).put(MALL)
    app = make_app(redis_client, data_dir)
    services(app).journey.venues.cache_ttl = 0.0
    return app


def signed_in(app: Flask, redis: Any, name: str, role: Role = Role.VENUE,
              venues: tuple[str, ...] = ("lib",)) -> tuple[FlaskClient, str]:
    _, password = create_account(redis, name, role, venues)
    client = app.test_client()
    assert login(client, name, password).status_code == 302
    return client, csrf(client, "/venue/campaigns")


def form(token: str, **kw: Any) -> dict[str, Any]:
    data: dict[str, Any] = {"csrf_token": token, "name": "春季", "kind": "image", "image": IMG.image,
                            "click_url": IMG.click_url, "title": "t", "venues": ["lib"], "weight": "2",
                            "priority": "1", "frequency_cap": "3", "enabled": "on", "hours": "",
                            "start": "", "end": "", "ssids": ""}
    data.update(kw)
    return data


def test_operator_creates_edits_pauses_deletes_with_audit(app: Flask, redis_client: Any) -> None:
    alice, token = signed_in(app, redis_client, "alice")
    resp = alice.post("/venue/campaigns/new", data=form(token, name="<script>alert(1)</script>"))
    assert resp.status_code == 302
    store = CampaignStore(redis_client)
    [c] = store.all()
    assert c.venues == ("lib",) and c.weight == 2 and c.frequency_cap == 3 and c.created_by == "alice"
    page = alice.get("/venue/campaigns").get_data(as_text=True)
    assert "&lt;script&gt;alert(1)&lt;/script&gt;" in page and "<script>alert(1)" not in page
    edit = alice.get(f"/venue/campaigns/{c.id}/edit").get_data(as_text=True)
    assert "&lt;script&gt;" in edit and "<script>alert" not in edit
    assert alice.post(f"/venue/campaigns/{c.id}/edit",
                      data=form(token, name="夏季", hours="09:00-18:00")).status_code == 302
    assert store.get(c.id).name == "夏季" and store.get(c.id).schedule.hours == ((540, 1080),)
    pause = {"csrf_token": token, "enabled": "0"}
    assert alice.post(f"/venue/campaigns/{c.id}/enabled", data=pause).status_code == 302
    assert not store.get(c.id).enabled
    assert alice.post(f"/venue/campaigns/{c.id}/delete", data={"csrf_token": token}).status_code == 302
    assert store.get_or_none(c.id) is None
    entries = AuditLog(redis_client).recent(10, target=c.id)
    assert {(e.actor, e.area) for e in entries} == {("user:alice", "venue")}
    assert [e.action for e in entries] == ["campaign.delete", "campaign.update", "campaign.update",
                                           "campaign.create"]
    upd = AuditLog(redis_client).recent(10, target=c.id)[2]
    assert upd.before["name"] == "<script>alert(1)</script>" and upd.after["name"] == "夏季"


def test_operator_may_only_target_own_venues(app: Flask, redis_client: Any) -> None:
    alice, token = signed_in(app, redis_client, "alice")
    for venues in (["mall"], ["lib", "mall"], [], ["nosuch"]):
        resp = alice.post("/venue/campaigns/new", data=form(token, venues=venues))
        html = resp.get_data(as_text=True)
        assert resp.status_code == 400 and 'id="err-venues"' in html, venues
        assert "商场" not in html and 'value="mall"' not in html      # no hint of other venues
    foreign = alice.post("/venue/campaigns/new", data=form(token, image="/assets/mall/logo.png"))
    assert foreign.status_code == 400 and 'id="err-image"' in foreign.get_data(as_text=True)
    assert CampaignStore(redis_client).all() == []
    noc, ntoken = signed_in(app, redis_client, "noc", Role.NOC, ())
    all_venues = form(ntoken, venues=[], click_url="")       # no link: see tests/security/test_ad_click_hosts
    assert noc.post("/venue/campaigns/new", data=all_venues).status_code == 302
    assert noc.post("/venue/campaigns/new", data=form(ntoken, venues=["nosuch"])).status_code == 400
    [everywhere] = CampaignStore(redis_client).all()
    assert everywhere.venues == ()
    listing = alice.get("/venue/campaigns").get_data(as_text=True)
    assert f"/venue/campaigns/{everywhere.id}/edit" not in listing


def test_field_errors_in_both_languages(app: Flask, redis_client: Any) -> None:
    alice, token = signed_in(app, redis_client, "alice")
    bad = form(token, name="", image="https://evil.example/x.png", click_url="javascript:alert(1)",
               weight="0", hours="9-5", start="2026-05-31", end="2026-05-01")
    zh = alice.post("/venue/campaigns/new", data=bad).get_data(as_text=True)
    for name in ("name", "image", "click_url", "weight", "hours", "end"):
        assert f'id="err-{name}"' in zh, name
    assert "时段格式" in zh and "结束日期早于开始日期" in zh
    alice.set_cookie("cw_lang", "en")
    en = alice.post("/venue/campaigns/new", data=bad).get_data(as_text=True)
    assert "hours look like" in en and "the end date is before the start date" in en
    broken = form(token, kind="html", html="{% for x in %}")
    html = alice.post("/venue/campaigns/new", data=broken).get_data(as_text=True)
    assert 'id="err-html"' in html and "line 1" in html
    assert CampaignStore(redis_client).all() == []


def test_another_operators_campaign_is_404_everywhere(app: Flask, redis_client: Any) -> None:
    store = CampaignStore(redis_client)
    store.create(Campaign("mallc", "商场活动", IMG, venues=("mall",)))
    store.create(Campaign("allc", "全部", IMG))
    alice, token = signed_in(app, redis_client, "alice")
    listing = alice.get("/venue/campaigns").get_data(as_text=True)
    assert "商场活动" not in listing and "mallc" not in listing and "allc" not in listing
    for cid in ("mallc", "allc", "nosuch"):
        for path in (f"/venue/campaigns/{cid}/edit", f"/venue/campaigns/{cid}/stats",
                     f"/venue/campaigns/{cid}/stats.csv"):
            assert alice.get(path).status_code == 404, path
        for path, data in ((f"/venue/campaigns/{cid}/edit", form(token)),
                           (f"/venue/campaigns/{cid}/enabled", {"csrf_token": token, "enabled": "0"}),
                           (f"/venue/campaigns/{cid}/delete", {"csrf_token": token})):
            assert alice.post(path, data=data).status_code == 404, path
    assert store.get("mallc").name == "商场活动" and store.get("mallc").enabled and store.get("allc").enabled
    noc, _ = signed_in(app, redis_client, "noc", Role.NOC, ())
    assert noc.get("/venue/campaigns/mallc/edit").status_code == 200
    assert app.test_client().get("/venue/campaigns").status_code == 302          # not signed in


def test_csrf_required(app: Flask, redis_client: Any) -> None:
    alice, token = signed_in(app, redis_client, "alice")
    data = form(token)
    del data["csrf_token"]
    assert alice.post("/venue/campaigns/new", data=data).status_code == 400
    assert alice.post("/venue/campaigns/new", data=dict(data, csrf_token="forged")).status_code == 400
    assert CampaignStore(redis_client).all() == []


def test_stats_chart_and_csv(app: Flask, redis_client: Any) -> None:
    store = CampaignStore(redis_client)
    store.create(Campaign("x", "X", IMG, venues=("lib", "mall")))
    for _ in range(3):
        store.record_impression("x", "lib", phone(1))
    store.record_view("x", "lib")
    store.record_click("x", "lib")
    store.record_impression("x", "mall")
    noc, _ = signed_in(app, redis_client, "noc", Role.NOC, ())
    today = store.today().isoformat()
    html = noc.get("/venue/campaigns/x/stats").get_data(as_text=True)
    data = json.loads(re.search(r'id="chart-data">(.*?)</script>', html, re.S).group(1))  # type: ignore[union-attr]
    assert data["labels"][-1] == today and len(data["labels"]) == 14
    assert [s["values"][-1] for s in data["series"]] == [4, 1, 1]
    assert "CityCharts.line" in html and 'id="total-impressions">4<' in html
    resp = noc.get(f"/venue/campaigns/x/stats.csv?start={today}&end={today}")
    assert resp.status_code == 200 and resp.mimetype == "text/csv"
    assert resp.data.startswith(b"\xef\xbb\xbf") and "attachment" in resp.headers["Content-Disposition"]
    rows = list(csv.reader(io.StringIO(resp.data.decode("utf-8-sig"))))
    assert rows[1:] == [[today, "lib", "3", "1", "1"], [today, "mall", "1", "0", "0"]]
    assert noc.get("/venue/campaigns/x/stats?start=bad").status_code == 400
    assert noc.get("/venue/campaigns/x/stats.csv?start=2026-02-01&end=2026-01-01").status_code == 400


# --- the phone side ---------------------------------------------------------------------------------

@pytest.fixture
def stack(redis_client: Any, redis_url: str, data_dir: Path) -> Iterator[Stack]:
    with running_stack(redis_client, redis_url, data_dir) as s:
        s.journey.campaigns.cache_ttl = 0.0
        yield s


@pytest.fixture
def phone_app(stack: Stack) -> Flask:
    app = stack_app(stack)
    return app


def field(html: str, name: str) -> str:
    m = re.search(rf'name="{name}" value="([^"]*)"', html)
    assert m, f"no field {name}"
    return m.group(1)


def returning(client: FlaskClient, stack: Stack, i: int) -> str:
    """Log phone ``i`` in by SMS, log it out, and land again: the ad page's HTML."""
    html = client.get("/portal?" + stack.query(i)).get_data(as_text=True)
    c = field(html, "c")
    client.post("/portal/code", data={"c": c, "phone": phone(i)})
    client.post("/portal/login", data={"c": c, "phone": phone(i), "code": stack.last_code(phone(i))})
    ip = stack.journey.open_context(c).user_ip
    stack.journey.logout(AC_NAME, ip)
    assert wait_for(lambda: ip not in stack.ac.online())
    return client.get("/portal?" + stack.query(i)).get_data(as_text=True)


def test_returning_phone_sees_campaign_counts_and_click(phone_app: Flask, stack: Stack) -> None:
    store = stack.journey.campaigns
    library = json.loads(stack.venues.get("library").to_json())
    stack.venues.put(Venue.from_dict({**library, "redirect_hosts": ["shop.example.cn"]}))
    store.create(Campaign("spring", "Spring", IMG, venues=("library",), frequency_cap=1))
    store.create(Campaign("past", "Past", Creative("image", "/assets/library/old.png"), priority=9,
                          schedule=Schedule(end=store.today().replace(year=2020))))
    client = phone_app.test_client()
    html = returning(client, stack, 1)
    assert 'data-ad="spring"' in html and 'src="/assets/lib/banner.png?v=1"' in html and "past" not in html
    click = re.search(r'id="ad-click" href="([^"]+)"', html).group(1).replace("&amp;", "&")  # type: ignore[union-attr]
    assert click.startswith("/portal/ad/click/spring?t=")
    # The redirect goes to the stored URL whatever the query says (no open redirect).
    resp = client.get(click + "&url=https://evil.example/&next=https://evil.example/")
    assert resp.status_code == 302 and resp.headers["Location"] == IMG.click_url
    replayed = client.get(click)                          # followed again: redirected, not counted
    assert replayed.status_code == 302 and replayed.headers["Location"] == IMG.click_url
    forged = client.get("/portal/ad/click/spring?t=forged")
    assert forged.status_code == 302 and forged.headers["Location"] == IMG.click_url   # not counted
    assert client.get("/portal/ad/click/nosuch?t=x").status_code == 404
    store.put(Campaign("noclick", "n", Creative("image", "/assets/library/a.png")))
    assert client.get("/portal/ad/click/noclick?t=x").status_code == 404    # no stored URL: nowhere
    store.delete("noclick")
    c, ticket = field(html, "c"), field(html, "ticket")
    early = client.post("/portal/continue", data={"c": c, "ticket": ticket})
    assert early.status_code == 429 and 'data-ad="spring"' in early.get_data(as_text=True)
    stack.clock.advance(2.0)                              # the venue's 2-second ad countdown
    done = client.post("/portal/continue", data={"c": c, "ticket": ticket})
    assert done.status_code == 303 and done.headers["Location"] == VENUE_URL
    [row] = store.stats("spring", store.today(), store.today())
    assert (row.venue, row.impressions, row.views, row.clicks) == ("library", 1, 1, 1)
    # Capped at one a day: the next visit falls back to the venue's ads / operator default.
    ip = stack.journey.open_context(c).user_ip
    stack.journey.logout(AC_NAME, ip)
    assert wait_for(lambda: ip not in stack.ac.online())
    again = client.get("/portal?" + stack.query(1)).get_data(as_text=True)
    assert 'data-ad="operator-default"' in again


def test_html_creative_in_a_sandboxed_iframe_and_success_page(phone_app: Flask, stack: Stack) -> None:
    store = stack.journey.campaigns
    store.create(Campaign("h", "H", Creative("html", html='<p id="x">{{ venue.name }} & <b>hi</b></p>')))
    client = phone_app.test_client()
    html = returning(client, stack, 2)
    m = re.search(r'<iframe id="ad-html" sandbox="" [^>]*srcdoc="([^"]*)"', html)
    assert m and "&lt;p id=&#34;x&#34;&gt;市图书馆 &amp; &lt;b&gt;hi&lt;/b&gt;&lt;/p&gt;" in m.group(1)
    early = client.post("/portal/continue", data={"c": field(html, "c"), "ticket": field(html, "ticket")})
    assert early.status_code == 429 and 'id="ad-html"' in early.get_data(as_text=True)   # same ad again
    # A venue that wants it also shows the campaign on the success page.
    venue = stack.venues.get("library")
    wants = {**json.loads(venue.to_json()), "ads_on_success": True, "redirect_url": ""}
    stack.venues.put(Venue.from_dict(wants))
    client = phone_app.test_client()            # phone 3 is another browser than phone 2
    html = client.get("/portal?" + stack.query(3)).get_data(as_text=True)
    c = field(html, "c")
    client.post("/portal/code", data={"c": c, "phone": phone(3)})
    ok = client.post("/portal/login", data={"c": c, "phone": phone(3), "code": stack.last_code(phone(3))})
    assert 'id="success"' in ok.get_data(as_text=True) and 'data-ad="h"' in ok.get_data(as_text=True)
    assert sum(r.impressions for r in store.stats("h", store.today(), store.today())) == 2


# --- the JSON API -----------------------------------------------------------------------------------

def test_api_crud_stats_and_openapi(app: Flask, redis_client: Any) -> None:
    from tests.portal.web.api.apikit import assert_matches_openapi, auth, token

    api = app.test_client()
    w, r = auth(token(redis_client, "write")), auth(token(redis_client, "read"))
    body = {"name": "API 活动", "venues": ["lib"], "weight": 5, "frequency_cap": 2,
            "creative": {"kind": "image", "image": "/assets/lib/a.png", "click_url": "https://shop.example.cn/"},
            "schedule": {"start": "2026-01-01", "end": None, "hours": ["08:00-22:00"]}}
    created = api.post("/api/v1/campaigns", json=body, headers=w)
    assert created.status_code == 201, created.get_json()
    assert_matches_openapi(app, "POST", "/campaigns", created)
    cid = created.get_json()["id"]
    assert created.get_json()["created_by"].startswith("token:")
    assert api.post("/api/v1/campaigns", json=body, headers=r).status_code == 403       # read-only token
    assert api.get("/api/v1/campaigns").status_code == 401                              # no token
    dup = api.post("/api/v1/campaigns", json={**body, "id": cid}, headers=w)
    assert dup.status_code == 409
    listed = api.get("/api/v1/campaigns?venue=lib", headers=r)
    assert_matches_openapi(app, "GET", "/campaigns", listed)
    assert [c["id"] for c in listed.get_json()["campaigns"]] == [cid]
    assert api.get("/api/v1/campaigns?venue=mall", headers=r).get_json()["campaigns"] == []
    got = api.get(f"/api/v1/campaigns/{cid}", headers=r)
    assert_matches_openapi(app, "GET", "/campaigns/{campaign_id}", got)
    patched = api.patch(f"/api/v1/campaigns/{cid}", json={"creative": {"title": "新标题"}, "priority": 3},
                        headers=w)
    assert_matches_openapi(app, "PATCH", "/campaigns/{campaign_id}", patched)
    pj = patched.get_json()
    assert pj["priority"] == 3 and pj["creative"]["title"] == "新标题"
    assert pj["creative"]["image"] == "/assets/lib/a.png"
    wrong = {"venues": ["nosuch"], "creative": {"image": "//evil/x"}}
    bad = api.patch(f"/api/v1/campaigns/{cid}", json=wrong, headers=w)
    assert bad.status_code == 400 and "venues" in bad.get_json()["error"]["message"]
    assert "image" in bad.get_json()["error"]["message"] and bad.get_json()["error"]["message_zh"]
    assert_matches_openapi(app, "PATCH", "/campaigns/{campaign_id}", bad)
    CampaignStore(redis_client).record_impression(cid, "lib")
    stats = api.get(f"/api/v1/campaigns/{cid}/stats", headers=r)
    assert_matches_openapi(app, "GET", "/campaigns/{campaign_id}/stats", stats)
    assert [(x["venue"], x["impressions"]) for x in stats.get_json()["rows"]] == [("lib", 1)]
    assert api.get(f"/api/v1/campaigns/{cid}/stats?start=x", headers=r).status_code == 400
    gone = api.delete(f"/api/v1/campaigns/{cid}", headers=w)
    assert_matches_openapi(app, "DELETE", "/campaigns/{campaign_id}", gone)
    missing = api.get(f"/api/v1/campaigns/{cid}", headers=r)
    assert missing.status_code == 404
    assert_matches_openapi(app, "GET", "/campaigns/{campaign_id}", missing)
    actions = [e.action for e in AuditLog(redis_client).recent(10, target=cid)]
    assert actions == ["campaign.delete", "campaign.update", "campaign.create"]


def test_operator_turns_on_campaigns_on_the_success_page(app: Flask, redis_client: Any) -> None:
    alice, token = signed_in(app, redis_client, "alice")
    assert 'name="ads_on_success"' in alice.get("/venue/lib/settings").get_data(as_text=True)
    data = {"csrf_token": token, "name_zh": "图书馆", "name_en": "Library", "redirect_url": "",
            "redirect_delay": "3", "ad_seconds": "10", "lang_zh": "on", "ads_on_success": "on"}
    assert alice.post("/venue/lib/settings", data=data).status_code == 302
    assert VenueStore(redis_client).get("lib").ads_on_success
    del data["ads_on_success"]
    assert alice.post("/venue/lib/settings", data=data).status_code == 302
    assert not VenueStore(redis_client).get("lib").ads_on_success
