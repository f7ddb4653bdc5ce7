"""``/portal/ad/click/<id>`` must not redirect to any URL a
venue stored. The click-through host must be on the allow-list of the venue the ad runs at (the same
list as the post-login redirect: the venue's ``redirect_hosts`` plus the operator's
``web.redirect_hosts``), checked when the campaign is saved (console and API) and again when
a phone follows the link (campaigns stored earlier, allow-lists that shrank since)."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest
from flask import Flask
from flask.testing import FlaskClient

from ad_pages.campaigns import Campaign, Creative
from portal.admin.accounts import Role
from portal.venues.campaign_store import CampaignStore
from portal.venues.venue_store import Venue, VenueStore
from portal.web import services
from tests.e2e.stack import AC_NAME, SSID, seed
from tests.portal.web.api.apikit import auth, token
from tests.portal.web.consolekit import create_account, csrf, login, make_app

LIB = Venue(id="lib", name_zh="图书馆", name_en="Library", acs=(AC_NAME,), ssids=(SSID,),
            redirect_hosts=("lib.example.cn",))
EVIL = "https://evil.example/login?next=lib.example.cn"
OPERATOR_HOSTS = (".operator.example.cn",)


@pytest.fixture
def app(redis_client: Any, data_dir: Path) -> Flask:
    seed(redis_client, sim_port=1, venue=LIB)
    app = make_app(redis_client, data_dir, redirect_hosts=OPERATOR_HOSTS)
    services(app).journey.venues.cache_ttl = 0.0
    services(app).journey.campaigns.cache_ttl = 0.0
    return app


def venue_operator(app: Flask, redis: Any) -> tuple[FlaskClient, str]:
    _, password = create_account(redis, "alice", Role.VENUE, ("lib",))
    client = app.test_client()
    assert login(client, "alice", password).status_code == 302
    return client, csrf(client, "/venue/campaigns")


def form(token_: str, click_url: str) -> dict[str, Any]:
    return {"csrf_token": token_, "name": "spring", "kind": "image", "image": "/assets/lib/a.png",
            "click_url": click_url, "title": "t", "venues": ["lib"], "weight": "1", "priority": "0",
            "frequency_cap": "0", "enabled": "on", "hours": "", "start": "", "end": "", "ssids": ""}


def test_console_refuses_a_click_url_off_the_venues_allow_list(app: Flask, redis_client: Any) -> None:
    alice, tok = venue_operator(app, redis_client)
    resp = alice.post("/venue/campaigns/new", data=form(tok, EVIL))
    html = resp.get_data(as_text=True)
    assert resp.status_code == 400 and 'id="err-click_url"' in html
    assert "允许列表" in html and "lib.example.cn" in html
    alice.set_cookie("cw_lang", "en")
    english = alice.post("/venue/campaigns/new", data=form(tok, EVIL)).get_data(as_text=True)
    assert "not on the allow-list of venue lib" in english
    # Look-alikes of an allowed host are not it.
    for url in ("https://lib.example.cn.evil.example/", "https://evil.example/lib.example.cn",
                "https://lib.example.cn@evil.example/", "https://evil.example\\@lib.example.cn/"):
        assert alice.post("/venue/campaigns/new", data=form(tok, url)).status_code == 400, url
    assert CampaignStore(redis_client).all() == []
    for url in ("https://lib.example.cn/spring", "https://shop.operator.example.cn/"):
        assert alice.post("/venue/campaigns/new", data=form(tok, url)).status_code == 302, url
    assert len(CampaignStore(redis_client).all()) == 2


def test_api_refuses_a_click_url_off_the_allow_list(app: Flask, redis_client: Any) -> None:
    api = app.test_client()
    write = auth(token(redis_client, "write"))
    creative: dict[str, Any] = {"kind": "image", "image": "/assets/lib/a.png", "click_url": EVIL}
    body: dict[str, Any] = {"name": "x", "venues": ["lib"], "creative": creative}
    bad = api.post("/api/v1/campaigns", json=body, headers=write)
    assert bad.status_code == 400 and "click_url" in bad.get_json()["error"]["message"]
    assert "允许列表" in bad.get_json()["error"]["message_zh"]
    # A campaign for every venue runs at venues created later: only the operator's list counts.
    lib_link = {**creative, "click_url": "https://lib.example.cn/"}
    everywhere = {**body, "venues": [], "creative": lib_link}
    assert api.post("/api/v1/campaigns", json=everywhere, headers=write).status_code == 400
    good = api.post("/api/v1/campaigns", json={**body, "creative": lib_link}, headers=write)
    assert good.status_code == 201
    cid = good.get_json()["id"]
    patched = api.patch(f"/api/v1/campaigns/{cid}", json={"creative": {"click_url": EVIL}}, headers=write)
    assert patched.status_code == 400
    assert CampaignStore(redis_client).get(cid).creative.click_url == "https://lib.example.cn/"


def click_link(app: Flask, campaign: Campaign, venue: str = "lib") -> str:
    """The click link an ad page at ``venue`` carries (signed by the app, as a phone gets it)."""
    journey = services(app).journey
    ad = journey.campaigns.ad_for(campaign, venue, "zh", sign_click=journey._sign_click)
    assert ad is not None and ad["click"]
    return str(ad["click"])


def test_click_redirect_checks_the_allow_list_again(app: Flask, redis_client: Any) -> None:
    store = CampaignStore(redis_client)
    # Stored without the check (an older version, or straight into Redis).
    evil = store.put(Campaign("evil", "Evil", Creative("image", "/assets/lib/a.png", EVIL), venues=("lib",)))
    phone = app.test_client()
    for link in (click_link(app, evil), "/portal/ad/click/evil", "/portal/ad/click/evil?t=forged"):
        resp = phone.get(link, headers={"Accept-Language": "en"})
        assert resp.status_code == 403, link
        assert "Location" not in resp.headers and "evil.example" not in resp.get_data(as_text=True)
        assert "not allowed" in resp.get_data(as_text=True)
    assert "不在本场所的允许列表中" in phone.get("/portal/ad/click/evil").get_data(as_text=True)
    # An allowed host is followed ...
    ok = store.put(Campaign("ok", "OK", Creative("image", "/assets/lib/a.png", "https://lib.example.cn/s"),
                            venues=("lib",)))
    link = click_link(app, ok)
    assert phone.get(link).status_code == 302 and phone.get(link).headers["Location"] == "https://lib.example.cn/s"
    # ... until the NOC takes the host off the venue's allow-list: checked at redirect time too.
    data = json.loads(VenueStore(redis_client).get("lib").to_json())
    VenueStore(redis_client).put(Venue.from_dict({**data, "redirect_hosts": []}))
    assert phone.get(link).status_code == 403
