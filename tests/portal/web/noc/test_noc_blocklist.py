"""NOC blocklist: console page and /api/v1/blocklist — phones and MACs with reason and expiry;
a blocked phone really gets no code (PhonePolicy/OTP read the same store)."""

from __future__ import annotations

import time
from pathlib import Path
from typing import Any

import pytest
from flask import Flask

from portal.aaa.blocklist import Blocklist
from portal.admin.accounts import Role
from portal.admin.audit import AuditLog
from tests.portal.web.api.apikit import assert_matches_openapi, auth, token
from tests.portal.web.consolekit import make_app
from tests.portal.web.noc.nockit import post, signed_in

XSS = '<script>alert("x")</script>'


@pytest.fixture
def app(redis_client: Any, data_dir: Path) -> Flask:
    return make_app(redis_client, data_dir)


def test_roles_and_csrf(app: Flask, redis_client: Any) -> None:
    assert app.test_client().get("/noc/blocklist").status_code == 302
    venue = signed_in(app, redis_client, Role.VENUE, "op1")
    assert venue.get("/noc/blocklist").status_code == 403
    noc = signed_in(app, redis_client)
    assert noc.get("/noc/blocklist").status_code == 200
    resp = noc.post("/noc/blocklist/add", data={"kind": "phone", "value": "13800138000", "reason": "x"})
    assert resp.status_code == 400 and not Blocklist(redis_client).is_blocked_phone("13800138000")


def test_block_phone_and_mac_with_expiry_then_unblock(app: Flask, redis_client: Any) -> None:
    noc = signed_in(app, redis_client)
    resp = post(noc, "/noc/blocklist/add", {"kind": "phone", "value": "+86 138-0013-8000",
                                            "reason": "SMS abuse", "duration": "2", "unit": "hours"})
    assert resp.status_code == 302
    assert post(noc, "/noc/blocklist/add", {"kind": "mac", "value": "AA-BB-CC-DD-EE-FF",
                                            "reason": "stolen", "duration": ""}).status_code == 302
    store = Blocklist(redis_client)
    phone = store.get("phone", "13800138000")
    assert phone is not None and phone.reason == "SMS abuse" and phone.by == "user:noc1"
    assert 7000 < phone.expires - time.time() <= 7200
    mac = store.get("mac", "aa:bb:cc:dd:ee:ff")
    assert mac is not None and mac.expires == 0
    html = noc.get("/noc/blocklist").get_data(as_text=True)
    assert "13800138000" in html and "aa:bb:cc:dd:ee:ff" in html and "SMS abuse" in html
    resp = post(noc, "/noc/blocklist/remove", {"kind": "mac", "value": "aa:bb:cc:dd:ee:ff"})
    assert resp.status_code == 302
    assert not store.is_blocked_mac("aabb.ccdd.eeff")
    actions = [(e.action, e.target) for e in AuditLog(redis_client).recent(3, area="noc")]
    assert actions == [("blocklist.remove", "mac:aa:bb:cc:dd:ee:ff"),
                       ("blocklist.add", "mac:aa:bb:cc:dd:ee:ff"), ("blocklist.add", "phone:13800138000")]


BLOCK_ERRORS = [
    ({"kind": "phone", "value": "call me", "reason": "x"}, "not a phone number"),
    ({"kind": "mac", "value": "aa:bb", "reason": "x"}, "not a MAC address"),
    ({"kind": "phone", "value": "13800138000", "reason": ""}, "Reason is required"),
    ({"kind": "phone", "value": "13800138000", "reason": "x", "duration": "-1"}, "greater than 0"),
    ({"kind": "phone", "value": "13800138000", "reason": "x", "duration": "99999"}, "too long"),
    ({"kind": "imei", "value": "1", "reason": "x"}, "Choose phone or MAC"),
]


def test_validation(app: Flask, redis_client: Any) -> None:
    noc = signed_in(app, redis_client)
    noc.set_cookie("cw_lang", "en")
    for data, en in BLOCK_ERRORS:
        resp = post(noc, "/noc/blocklist/add", data)
        assert resp.status_code == 400 and en in resp.get_data(as_text=True), en
        assert not Blocklist(redis_client).entries("phone") and not Blocklist(redis_client).entries("mac")


def test_script_injection_is_escaped(app: Flask, redis_client: Any) -> None:
    noc = signed_in(app, redis_client)
    resp = post(noc, "/noc/blocklist/add", {"kind": "phone", "value": "13800138000", "reason": XSS})
    assert resp.status_code == 302
    html = noc.get("/noc/blocklist").get_data(as_text=True)
    assert XSS not in html and "&lt;script&gt;" in html
    resp = post(noc, "/noc/blocklist/add", {"kind": "phone", "value": XSS[:32], "reason": "x"})
    main = resp.get_data(as_text=True).split("<main>")[1].split("</main>")[0]
    assert resp.status_code == 400 and "<script>" not in main and "&lt;script&gt;" in main


def test_api(app: Flask, redis_client: Any) -> None:
    client = app.test_client()
    read, write = auth(token(redis_client, "read")), auth(token(redis_client, "write", "oss"))
    resp = client.get("/api/v1/blocklist")
    assert resp.status_code == 401
    assert_matches_openapi(app, "GET", "/blocklist", resp)
    resp = client.post("/api/v1/blocklist", json={"kind": "phone", "value": "13800138000", "reason": "x"},
                       headers=read)
    assert resp.status_code == 403
    assert_matches_openapi(app, "POST", "/blocklist", resp)
    resp = client.post("/api/v1/blocklist", json={"kind": "mac", "value": "AABBCCDDEEFF", "reason": "fraud",
                                                  "ttl_seconds": 3600}, headers=write)
    assert resp.status_code == 201 and resp.get_json()["value"] == "aa:bb:cc:dd:ee:ff"
    assert resp.get_json()["by"].startswith("token:") and resp.get_json()["expires"] > time.time() + 3500
    assert_matches_openapi(app, "POST", "/blocklist", resp)
    assert Blocklist(redis_client).is_blocked_mac("aa:bb:cc:dd:ee:ff")
    resp = client.get("/api/v1/blocklist?kind=mac", headers=read)
    assert [e["value"] for e in resp.get_json()["entries"]] == ["aa:bb:cc:dd:ee:ff"]
    assert_matches_openapi(app, "GET", "/blocklist", resp)
    assert client.get("/api/v1/blocklist?kind=phone", headers=read).get_json()["entries"] == []
    resp = client.delete("/api/v1/blocklist/mac/aa-bb-cc-dd-ee-ff", headers=read)
    assert resp.status_code == 403
    resp = client.delete("/api/v1/blocklist/mac/aa-bb-cc-dd-ee-ff", headers=write)
    assert resp.status_code == 200 and not Blocklist(redis_client).is_blocked_mac("aa:bb:cc:dd:ee:ff")
    assert_matches_openapi(app, "DELETE", "/blocklist/{kind}/{value}", resp)
    resp = client.delete("/api/v1/blocklist/mac/aa-bb-cc-dd-ee-ff", headers=write)
    assert resp.status_code == 404
    assert_matches_openapi(app, "DELETE", "/blocklist/{kind}/{value}", resp)
    actions = [e.action for e in AuditLog(redis_client).recent(5, area="api")]
    assert actions == ["blocklist.remove", "blocklist.add"]


@pytest.mark.parametrize(("method", "path", "body"), [
    ("POST", "/api/v1/blocklist", {"kind": "phone", "value": "abc", "reason": "x"}),
    ("POST", "/api/v1/blocklist", {"kind": "mac", "value": "zz", "reason": "x"}),
    ("POST", "/api/v1/blocklist", {"kind": "phone", "value": "13800138000", "reason": "  "}),
    ("POST", "/api/v1/blocklist", {"kind": "phone", "value": "13800138000"}),
    ("POST", "/api/v1/blocklist", {"kind": "phone", "value": "13800138000", "reason": "x", "ttl_seconds": 0}),
    ("POST", "/api/v1/blocklist", {"kind": "ip", "value": "1.2.3.4", "reason": "x"}),
    ("GET", "/api/v1/blocklist?kind=ip", None),
    ("DELETE", "/api/v1/blocklist/ip/1.2.3.4", None),
    ("DELETE", "/api/v1/blocklist/mac/zz", None),
])
def test_api_bad_input(app: Flask, redis_client: Any, method: str, path: str, body: Any) -> None:
    resp = app.test_client().open(path, method=method, json=body, headers=auth(token(redis_client, "write")))
    assert 400 <= resp.status_code < 500
    error = resp.get_json()["error"]
    assert error["message"] and error["message_zh"]
    template = "/blocklist/{kind}/{value}" if method == "DELETE" else "/blocklist"
    assert_matches_openapi(app, method, template, resp)
