"""Issue 15 item 6: the RADIUS proxy fields of an AC record (``radius_proxy``, ``radius_via``,
``dm_via_proxy``) in the NOC console and in /api/v1/acs: a round trip through the form, PATCH,
and every wrong combination refused with a message in both languages (400, never 500)."""

from __future__ import annotations

import re
from pathlib import Path
from typing import Any

import pytest
from flask import Flask

from portal.aaa.acs import AcRecord, AcRegistry
from portal.admin.audit import AuditLog
from tests.portal.web.api.apikit import assert_matches_openapi, auth, token
from tests.portal.web.consolekit import make_app
from tests.portal.web.noc.nockit import post, signed_in

FORM = {"vendor": "huawei-v2", "port": "2000", "coa_port": "3799", "enabled": "1", "rfc5176": "1",
        "strip_realm": "1"}


@pytest.fixture
def app(redis_client: Any, data_dir: Path) -> Flask:
    return make_app(redis_client, data_dir)


def test_console_round_trip_of_the_proxy_fields(app: Flask, redis_client: Any) -> None:
    registry = AcRegistry(redis_client)
    noc = signed_in(app, redis_client)
    page = noc.get("/noc/acs/new").get_data(as_text=True)
    assert 'name="radius_proxy"' in page and 'name="radius_via"' in page and 'name="dm_via_proxy"' in page
    assert post(noc, "/noc/acs/new", {**FORM, "name": "proxy1", "addresses": "192.0.2.10",
                                      "radius_proxy": "1"}).status_code == 201
    assert registry.get("proxy1").radius_proxy
    # The new AC's form offers the proxy; the AC behind it is saved with both fields.
    page = noc.get("/noc/acs/new").get_data(as_text=True)
    assert '<option value="proxy1">proxy1</option>' in page
    assert post(noc, "/noc/acs/new", {**FORM, "name": "ac-a", "addresses": "198.51.100.21",
                                      "radius_via": "proxy1", "dm_via_proxy": "1"}).status_code == 201
    record = registry.get("ac-a")
    assert (record.radius_proxy, record.radius_via, record.dm_via_proxy) == (False, "proxy1", True)
    edit = noc.get("/noc/acs/ac-a").get_data(as_text=True)
    assert '<option value="proxy1" selected>proxy1</option>' in edit
    assert re.search(r'name="dm_via_proxy" value="1" checked', edit)
    assert not re.search(r'name="radius_proxy" value="1" checked', edit)
    # The edit form round-trips them, and unticking the box really clears it.
    assert post(noc, "/noc/acs/ac-a", {**FORM, "addresses": "198.51.100.21",
                                       "radius_via": "proxy1"}).status_code == 302
    record = registry.get("ac-a")
    assert (record.radius_via, record.dm_via_proxy) == ("proxy1", False)
    listing = noc.get("/noc/acs").get_data(as_text=True)
    assert "radius-proxy" in listing and "radius-via" in listing
    assert AuditLog(redis_client).recent(1, area="noc")[0].action == "ac.update"


CONSOLE_ERRORS = [
    # (the AC edited, form changes, Chinese, English)
    ("ac-a", {"radius_via": "ac-b"}, "须为已登记为 RADIUS 代理的另一条记录", "must name another record"),
    ("ac-a", {"radius_via": "nope"}, "须为已登记为 RADIUS 代理的另一条记录", "nope is not one"),
    ("ac-a", {"radius_via": "", "dm_via_proxy": "1"}, "须先选择所经由的 RADIUS 代理", "needs radius_via"),
    ("ac-a", {"radius_via": "proxy1", "radius_proxy": "1"}, "代理本身不能再经由", "cannot itself sit"),
    ("proxy1", {"radius_proxy": ""}, "仍经由此代理", "must stay one: ac-a"),
]


@pytest.mark.parametrize(("ac", "change", "zh", "en"), CONSOLE_ERRORS)
def test_console_refuses_wrong_proxy_links_in_both_languages(app: Flask, redis_client: Any, ac: str,
                                                             change: dict[str, str], zh: str,
                                                             en: str) -> None:
    registry = AcRegistry(redis_client)
    registry.put(AcRecord(name="proxy1", addresses=("192.0.2.10",), secret="proxy-secret-1",
                          radius_proxy=True))
    registry.put(AcRecord(name="ac-a", addresses=("198.51.100.21",), secret="ac-a-secret-1",
                          radius_via="proxy1"))
    registry.put(AcRecord(name="ac-b", addresses=("198.51.100.22",), secret="ac-b-secret-1"))
    before = {r.name: r for r in registry.all()}
    addresses = {"proxy1": "192.0.2.10", "ac-a": "198.51.100.21"}[ac]
    form = {**FORM, "addresses": addresses, "radius_proxy": "1" if ac == "proxy1" else "",
            "radius_via": "proxy1" if ac == "ac-a" else "", **change}
    noc = signed_in(app, redis_client)
    resp = post(noc, f"/noc/acs/{ac}", form)
    assert resp.status_code == 400 and zh in resp.get_data(as_text=True)
    noc.set_cookie("cw_lang", "en")
    resp = post(noc, f"/noc/acs/{ac}", form)
    assert resp.status_code == 400 and en in resp.get_data(as_text=True)
    assert {r.name: r for r in registry.all()} == before          # nothing was saved


def test_api_patch_and_create_with_the_proxy_fields(app: Flask, redis_client: Any) -> None:
    registry = AcRegistry(redis_client)
    client = app.test_client()
    write = auth(token(redis_client, "write", "oss"))
    resp = client.post("/api/v1/acs", json={"name": "proxy1", "addresses": ["192.0.2.10"],
                                            "radius_proxy": True}, headers=write)
    assert resp.status_code == 201, resp.get_json()
    resp = client.post("/api/v1/acs", json={"name": "ac-a", "addresses": ["198.51.100.21"]}, headers=write)
    assert resp.status_code == 201
    resp = client.patch("/api/v1/acs/ac-a", json={"radius_via": "proxy1", "dm_via_proxy": True},
                        headers=write)
    assert resp.status_code == 200, resp.get_json()
    body = resp.get_json()
    assert (body["radius_proxy"], body["radius_via"], body["dm_via_proxy"]) == (False, "proxy1", True)
    assert_matches_openapi(app, "PATCH", "/acs/{ac_name}", resp)
    record = registry.get("ac-a")
    assert (record.radius_via, record.dm_via_proxy) == ("proxy1", True)
    resp = client.get("/api/v1/acs/proxy1", headers=write)
    assert resp.get_json()["radius_proxy"] is True
    assert_matches_openapi(app, "GET", "/acs/{ac_name}", resp)
    resp = client.patch("/api/v1/acs/ac-a", json={"radius_via": "", "dm_via_proxy": False}, headers=write)
    assert resp.status_code == 200 and registry.get("ac-a").radius_via == ""


@pytest.mark.parametrize(("path", "body", "words"), [
    ("/api/v1/acs/ac-a", {"radius_via": "nope"}, "nope is not one"),
    ("/api/v1/acs/ac-a", {"radius_via": "ac-b"}, "ac-b is not one"),
    ("/api/v1/acs/ac-a", {"radius_via": "ac-a"}, "must name another record"),
    ("/api/v1/acs/ac-a", {"radius_via": "bad name!"}, "radius_via"),
    ("/api/v1/acs/ac-a", {"radius_via": "", "dm_via_proxy": True}, "needs radius_via"),
    ("/api/v1/acs/ac-a", {"dm_via_proxy": "yes"}, "dm_via_proxy"),
    ("/api/v1/acs/ac-a", {"radius_proxy": True}, "cannot itself sit behind"),
    ("/api/v1/acs/proxy1", {"radius_proxy": False}, "must stay one: ac-a"),
    ("/api/v1/acs/proxy1", {"radius_via": "proxy1"}, "cannot itself sit behind"),
])
def test_api_wrong_proxy_links_are_400_with_a_message(app: Flask, redis_client: Any, path: str,
                                                      body: dict[str, Any], words: str) -> None:
    registry = AcRegistry(redis_client)
    registry.put(AcRecord(name="proxy1", addresses=("192.0.2.10",), secret="proxy-secret-1",
                          radius_proxy=True))
    registry.put(AcRecord(name="ac-a", addresses=("198.51.100.21",), secret="ac-a-secret-1",
                          radius_via="proxy1"))
    registry.put(AcRecord(name="ac-b", addresses=("198.51.100.22",), secret="ac-b-secret-1"))
    before = {r.name: r for r in registry.all()}
    resp = app.test_client().patch(path, json=body, headers=auth(token(redis_client, "write")))
    assert resp.status_code == 400, resp.get_json()
    error = resp.get_json()["error"]
    assert words in error["message"] and error["message_zh"], error
    assert_matches_openapi(app, "PATCH", "/acs/{ac_name}", resp)
    assert {r.name: r for r in registry.all()} == before
