"""Stored web addresses are checked by one validator when saved and when used; preview links are
built from an allow-list of parameters.

An attack run stored ``redirect_url=https://www.mall.com:99999/`` (venue settings) and
``click_url=…:99999/`` (a campaign): both were accepted, and then every ``POST /portal/continue``
and ``GET /portal/ad/click/<id>`` answered 500 (``ValueError: Port out of range`` while building
the ``Location``). And ``/venue/<v>/pages/login/preview?page=x`` (or ``?venue_id=``) answered 500
(``url_for`` got two values), while ``?_anchor=`` and ``?_external=1`` leaked into the language link.
"""
from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest
from flask import Flask
from flask.testing import FlaskClient

from ad_pages.campaigns import Campaign, Creative
from ad_pages.web_url import web_url_problem
from portal.admin.accounts import Role
from portal.venues.campaign_store import CampaignStore
from portal.venues.venue_store import Venue, VenueSettingsError, VenueStore, update_venue
from portal.web import services
from tests.e2e.stack import AC_NAME, SSID, seed
from tests.portal.web.consolekit import create_account, csrf, login, make_app

LIB = Venue(id="lib", name_zh="图书馆", name_en="Library", acs=(AC_NAME,), ssids=(SSID,),
            redirect_hosts=("lib.example.cn",), redirect_url="https://lib.example.cn/")
BAD_URLS = ("https://lib.example.cn:99999/", "https://lib.example.cn:0/", "https://lib.example.cn:-1/",
            "https://lib.example.cn:http/", "https://[lib.example.cn/", "https://lib.example.cn:65536/x")


@pytest.fixture
def app(redis_client: Any, data_dir: Path) -> Flask:
    seed(redis_client, sim_port=1, venue=LIB)
    app = make_app(redis_client, data_dir, redirect_hosts=(".operator.example.cn",),
                   operator_url="https://www.operator.example.cn/")
    services(app).journey.venues.cache_ttl = 0.0
    services(app).journey.campaigns.cache_ttl = 0.0
    return app


def alice(app: Flask, redis: Any) -> FlaskClient:
    _, password = create_account(redis, "alice", Role.VENUE, ("lib",))
    client = app.test_client()
    assert login(client, "alice", password).status_code == 302
    return client


@pytest.mark.parametrize("url", BAD_URLS)
def test_the_validator_refuses_addresses_parsers_disagree_on(url: str) -> None:
    assert web_url_problem(url) is not None
    assert web_url_problem("https://lib.example.cn:8443/x?y=1") is None


def test_bad_ports_are_refused_when_saved(app: Flask, redis_client: Any) -> None:
    client = alice(app, redis_client)
    token = csrf(client, "/venue/lib/settings")
    form = {"csrf_token": token, "name_zh": "图书馆", "name_en": "Library", "redirect_delay": "2",
            "ad_seconds": "5", "lang_zh": "on", "lang_en": "on"}
    for url in BAD_URLS:
        assert client.post("/venue/lib/settings", data={**form, "redirect_url": url}).status_code == 400, url
    assert VenueStore(redis_client).get("lib").redirect_url == "https://lib.example.cn/"
    campaign = {"csrf_token": token, "name": "spring", "kind": "image", "image": "/assets/lib/a.png",
                "title": "t", "venues": ["lib"], "weight": "1", "priority": "0", "frequency_cap": "0",
                "enabled": "on", "hours": "", "start": "", "end": "", "ssids": ""}
    for url in BAD_URLS:
        resp = client.post("/venue/campaigns/new", data={**campaign, "click_url": url})
        assert resp.status_code == 400, url
    assert CampaignStore(redis_client).all() == []


def test_a_bad_stored_url_never_gives_a_phone_a_500(app: Flask, redis_client: Any) -> None:
    """Stored by an earlier version (or straight into Redis): the phone gets the fallback."""
    data = json.loads(VenueStore(redis_client).get("lib").to_json())
    VenueStore(redis_client).put(Venue.from_dict({**data, "redirect_url": "https://lib.example.cn:99999/"}))
    journey = services(app).journey
    assert journey.redirect_target(VenueStore(redis_client).get("lib")) == "https://www.operator.example.cn/"
    store = CampaignStore(redis_client)
    bad = store.put(Campaign("bad", "Bad", Creative("image", "/assets/lib/a.png", "https://lib.example.cn:99999/"),
                             venues=("lib",)))
    ad = journey.campaigns.ad_for(bad, "lib", "zh", sign_click=journey._sign_click)
    phone = app.test_client()
    for link in (str(ad["click"]) if ad and ad["click"] else "/portal/ad/click/bad", "/portal/ad/click/bad"):
        resp = phone.get(link, headers={"Accept-Language": "en"})
        assert resp.status_code < 500 and "Location" not in resp.headers, (link, resp.status_code)


@pytest.mark.parametrize("query", ["page=x", "venue_id=mall", "_method=POST", "_anchor=frag", "_external=1",
                                   "_scheme=javascript", "version=&live=1&page=ad"])
def test_preview_links_carry_only_their_own_parameters(app: Flask, redis_client: Any, query: str) -> None:
    client = alice(app, redis_client)
    resp = client.get(f"/venue/lib/pages/login/preview?{query}")
    assert resp.status_code == 200, resp.status_code
    html = resp.get_data(as_text=True)
    for leaked in ("frag", "_external", "http://localhost", "javascript", "venue_id", "_method", "page=x"):
        assert leaked not in html, leaked


@pytest.mark.parametrize("entry", ["*", "*.example.cn", "bad:99999", "lib.example.cn/path", ".", "a..b",
                                   "-lib.example.cn", "lib example.cn", "lib.example.cn\x00"])
def test_redirect_allow_list_entries_that_could_never_match_are_refused(entry: str) -> None:
    with pytest.raises(VenueSettingsError) as refused:
        update_venue(LIB, {"redirect_hosts": f"lib.example.cn,{entry}"}, operator_hosts=(), network=True)
    assert refused.value.field == "redirect_hosts"
    assert "host name" in refused.value.message_en and "主机名" in refused.value.message_zh
    assert "\x00" not in refused.value.message_zh


def test_redirect_allow_list_keeps_hosts_addresses_and_subdomain_entries_lowercased() -> None:
    venue = update_venue(LIB, {"redirect_hosts": "Lib.Example.cn, .shop.example.cn, 10.77.0.3"},
                         operator_hosts=(), network=True)
    assert venue.redirect_hosts == ("lib.example.cn", ".shop.example.cn", "10.77.0.3")
