"""NOC plans: console pages (roles, CSRF, validation zh+en, escaping, audit) and /api/v1/plans,
/api/v1/plan-rules (auth, scopes, bad input, OpenAPI) on real Redis."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
from flask import Flask

from portal.aaa.plans import Plan, PlanStore
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
    assert app.test_client().get("/noc/plans").status_code == 302          # not signed in
    venue = signed_in(app, redis_client, Role.VENUE, "op1")
    assert venue.get("/noc/plans").status_code == 403
    assert venue.get("/noc/plans/new").status_code == 403
    noc = signed_in(app, redis_client)
    assert noc.get("/noc/plans").status_code == 200
    refused = noc.post("/noc/plans/new", data={"name": "x"})                # no CSRF token
    assert refused.status_code == 400 and PlanStore(redis_client).get_or_none("x") is None


def test_create_edit_retire_restore_and_audit(app: Flask, redis_client: Any) -> None:
    noc = signed_in(app, redis_client)
    resp = post(noc, "/noc/plans/new", {"name": "day", "title_zh": "日卡", "title_en": "Day pass",
                                        "up_kbps": "2000", "down_kbps": "8000", "daily_time": "120",
                                        "daily_volume": "1.5", "interim_interval": "300"})
    assert resp.status_code == 302
    plan = PlanStore(redis_client).get("day")
    # 1.5 MB typed is 1,500,000 octets (decimal units everywhere, portal/units.py)
    assert (plan.up_kbps, plan.down_kbps, plan.daily_time, plan.daily_volume) == (2000, 8000, 7200, 1_500_000)
    page = noc.get("/noc/plans/day").get_data(as_text=True)
    assert 'value="1.5"' in page and 'value="120"' in page
    resp = post(noc, "/noc/plans/day", {"title_zh": "日卡", "up_kbps": "", "down_kbps": "4000"})
    assert resp.status_code == 302
    plan = PlanStore(redis_client).get("day")
    assert plan.up_kbps is None and plan.down_kbps == 4000 and plan.daily_time is None
    assert post(noc, "/noc/plans/day/retire", {}).status_code == 302
    assert PlanStore(redis_client).get("day").retired
    assert "已停用" in noc.get("/noc/plans").get_data(as_text=True)
    assert post(noc, "/noc/plans/day/restore", {}).status_code == 302
    assert not PlanStore(redis_client).get("day").retired
    # (the job applying the edit to online sessions audits "plan.apply.done" when it finishes)
    entries = [e for e in AuditLog(redis_client).recent(10, area="noc") if not e.action.endswith(".done")]
    assert [e.action for e in entries][:4] == ["plan.restore", "plan.retire", "plan.update", "plan.create"]
    entry = entries[2]
    assert entry.actor == "user:noc1" and entry.before["up_kbps"] == 2000 and entry.after["up_kbps"] is None


PLAN_ERRORS = [
    ("up_kbps", "-5", "greater than 0"), ("down_kbps", "fast", "must be a number"),
    ("interim_interval", "30", "at least 60"), ("daily_volume", "0", "greater than 0"),
    ("valid_until", "2025-13-40", "not a valid date"),
]


def test_validation_messages_in_both_languages(app: Flask, redis_client: Any) -> None:
    noc = signed_in(app, redis_client)
    for field, value, en in PLAN_ERRORS:
        noc.set_cookie("cw_lang", "zh")
        resp = post(noc, "/noc/plans/new", {"name": "bad", field: value})
        assert resp.status_code == 400 and PlanStore(redis_client).get_or_none("bad") is None
        assert "flash error" in resp.get_data(as_text=True) and en not in resp.get_data(as_text=True)
        noc.set_cookie("cw_lang", "en")
        resp = post(noc, "/noc/plans/new", {"name": "bad", field: value})
        assert resp.status_code == 400 and en in resp.get_data(as_text=True), field
        # what was typed is shown again
        assert f'value="{value}"' in resp.get_data(as_text=True)


def test_bad_name_duplicate_and_missing(app: Flask, redis_client: Any) -> None:
    PlanStore(redis_client).put(Plan("basic"))
    noc = signed_in(app, redis_client)
    assert post(noc, "/noc/plans/new", {"name": "a b"}).status_code == 400
    resp = post(noc, "/noc/plans/new", {"name": "basic"})
    assert resp.status_code == 400 and "已存在" in resp.get_data(as_text=True)
    assert noc.get("/noc/plans/ghost").status_code == 404


def test_script_injection_is_escaped(app: Flask, redis_client: Any) -> None:
    noc = signed_in(app, redis_client)
    assert post(noc, "/noc/plans/new", {"name": "x", "title_zh": XSS, "title_en": XSS}).status_code == 302
    assert post(noc, "/noc/plans/rules", {"scope": "venue", "key": XSS, "plan": "x"}).status_code == 302
    for path in ("/noc/plans", "/noc/plans/x"):
        html = noc.get(path).get_data(as_text=True)
        assert XSS not in html and "&lt;script&gt;" in html
    resp = post(noc, "/noc/plans/new", {"name": "y", "up_kbps": XSS})
    assert resp.status_code == 400 and XSS not in resp.get_data(as_text=True)


def test_rules_assign_resolve_and_retired_not_assignable(app: Flask, redis_client: Any) -> None:
    store = PlanStore(redis_client, cache_ttl=0.0)
    store.put(Plan("basic"))
    store.put(Plan("vip"))
    store.put(Plan("old", retired=True))
    noc = signed_in(app, redis_client)
    assert post(noc, "/noc/plans/rules", {"scope": "default", "key": "", "plan": "basic"}).status_code == 302
    assert post(noc, "/noc/plans/rules", {"scope": "venue", "key": "mall", "plan": "vip"}).status_code == 302
    assert store.rules() == {"*": "basic", "venue:mall": "vip"}
    assert store.resolve("13800138000", "ac1", None, "mall").name == "vip"
    assert store.resolve("13800138000", "ac1", None, "other").name == "basic"
    noc.set_cookie("cw_lang", "en")
    resp = post(noc, "/noc/plans/rules", {"scope": "ac", "key": "ac1", "plan": "old"})
    assert "retired and cannot be assigned" in noc.get(resp.headers["Location"]).get_data(as_text=True)
    resp = post(noc, "/noc/plans/rules", {"scope": "ac", "key": "", "plan": "basic"})
    assert "Enter the venue" in noc.get(resp.headers["Location"]).get_data(as_text=True)
    assert "ac:ac1" not in store.rules() and "ac:" not in store.rules()
    assert post(noc, "/noc/plans/rules/remove", {"field": "venue:mall"}).status_code == 302
    assert store.rules() == {"*": "basic"}
    actions = [e.action for e in AuditLog(redis_client).recent(5, area="noc")]
    assert actions[:3] == ["plan.rule.remove", "plan.rule.assign", "plan.rule.assign"]


# -- API -------------------------------------------------------------------------------------------

def test_api_auth_and_scopes(app: Flask, redis_client: Any) -> None:
    client = app.test_client()
    resp = client.get("/api/v1/plans")
    assert resp.status_code == 401
    assert_matches_openapi(app, "GET", "/plans", resp)
    read = auth(token(redis_client, "read"))
    resp = client.post("/api/v1/plans", json={"name": "p"}, headers=read)
    assert resp.status_code == 403
    assert_matches_openapi(app, "POST", "/plans", resp)
    for method, path in (("PATCH", "/api/v1/plans/p"), ("PUT", "/api/v1/plan-rules/default"),
                         ("DELETE", "/api/v1/plan-rules/default")):
        assert client.open(path, method=method, json={"plan": "p"}, headers=read).status_code == 403


def test_api_plan_lifecycle(app: Flask, redis_client: Any) -> None:
    client = app.test_client()
    read, write = auth(token(redis_client, "read")), auth(token(redis_client, "write", "oss"))
    resp = client.post("/api/v1/plans", json={"name": "day", "up_kbps": 1000, "daily_volume": 10**9},
                       headers=write)
    assert resp.status_code == 201 and resp.get_json()["up_kbps"] == 1000
    assert_matches_openapi(app, "POST", "/plans", resp)
    resp = client.post("/api/v1/plans", json={"name": "day"}, headers=write)
    assert resp.status_code == 409
    assert_matches_openapi(app, "POST", "/plans", resp)
    resp = client.get("/api/v1/plans", headers=read)
    assert [p["name"] for p in resp.get_json()["plans"]] == ["day"]
    assert_matches_openapi(app, "GET", "/plans", resp)
    resp = client.get("/api/v1/plans/day", headers=read)
    assert_matches_openapi(app, "GET", "/plans/{plan_name}", resp)
    resp = client.get("/api/v1/plans/none", headers=read)
    assert resp.status_code == 404
    assert_matches_openapi(app, "GET", "/plans/{plan_name}", resp)
    resp = client.patch("/api/v1/plans/day", json={"retired": True, "up_kbps": None}, headers=write)
    assert resp.status_code == 200 and resp.get_json()["retired"] and resp.get_json()["up_kbps"] is None
    assert_matches_openapi(app, "PATCH", "/plans/{plan_name}", resp)
    assert resp.get_json()["applying"]["kind"] == "plan_apply"          # up_kbps changed
    entry = next(e for e in AuditLog(redis_client).recent(5, area="api") if not e.action.endswith(".done"))
    assert (entry.actor_name.split(" ")[0], entry.action, entry.target) == ("oss", "plan.retire", "day")
    resp = client.put("/api/v1/plan-rules/ssid:CityWiFi", json={"plan": "day"}, headers=write)
    assert resp.status_code == 400 and resp.get_json()["error"]["code"] == "retired"
    assert_matches_openapi(app, "PUT", "/plan-rules/{rule}", resp)
    client.patch("/api/v1/plans/day", json={"retired": False}, headers=write)
    resp = client.put("/api/v1/plan-rules/ssid:CityWiFi", json={"plan": "day"}, headers=write)
    assert resp.status_code == 200
    assert_matches_openapi(app, "PUT", "/plan-rules/{rule}", resp)
    resp = client.get("/api/v1/plan-rules", headers=read)
    assert resp.get_json()["rules"] == {"ssid:CityWiFi": "day"}
    assert_matches_openapi(app, "GET", "/plan-rules", resp)
    resp = client.delete("/api/v1/plan-rules/ssid:CityWiFi", headers=write)
    assert resp.status_code == 200 and PlanStore(redis_client).rules() == {}
    assert_matches_openapi(app, "DELETE", "/plan-rules/{rule}", resp)
    resp = client.delete("/api/v1/plan-rules/ssid:CityWiFi", headers=write)
    assert resp.status_code == 404
    assert_matches_openapi(app, "DELETE", "/plan-rules/{rule}", resp)


@pytest.mark.parametrize(("method", "path", "body"), [
    ("POST", "/api/v1/plans", {"name": "x", "up_kbps": -1}),
    ("POST", "/api/v1/plans", {"name": "x", "up_kbps": "fast"}),
    ("POST", "/api/v1/plans", {"name": "a b"}),
    ("POST", "/api/v1/plans", {"name": "x", "interim_interval": 10}),
    ("POST", "/api/v1/plans", {"name": "x", "colour": "red"}),
    ("POST", "/api/v1/plans", []),
    ("PATCH", "/api/v1/plans/basic", {}),
    ("PATCH", "/api/v1/plans/basic", {"name": "other"}),
    ("PUT", "/api/v1/plan-rules/planet:x", {"plan": "basic"}),
    ("PUT", "/api/v1/plan-rules/default", {}),
])
def test_api_bad_input_is_4xx_with_message(app: Flask, redis_client: Any, method: str, path: str,
                                           body: Any) -> None:
    PlanStore(redis_client).put(Plan("basic"))
    resp = app.test_client().open(path, method=method, json=body, headers=auth(token(redis_client, "write")))
    assert 400 <= resp.status_code < 500
    error = resp.get_json()["error"]
    assert error["message"] and error["message_zh"]
    template = path.replace("/api/v1", "").replace("/basic", "/{plan_name}")
    template = "/plan-rules/{rule}" if template.startswith("/plan-rules/") else template
    assert_matches_openapi(app, method, template, resp)


def test_venue_rule_and_venue_default_plan_are_one_truth(app: Flask, redis_client: Any) -> None:
    """A ``venue:<id>`` rule set on the plans page or through /plan-rules is the venue's
    default_plan: the venue record shows it, and a later save of the venue keeps it."""
    from portal.venues.venue_store import Venue, VenueStore

    store = PlanStore(redis_client, cache_ttl=0.0)
    for name in ("basic", "vip", "gold"):
        store.put(Plan(name))
    venues = VenueStore(redis_client, cache_ttl=0.0)
    venues.put(Venue("mall", name_zh="商场", acs=("ac1",), default_plan="basic"))
    assert store.rules() == {"venue:mall": "basic"}
    noc = signed_in(app, redis_client)
    assert post(noc, "/noc/plans/rules", {"scope": "venue", "key": "mall", "plan": "vip"}).status_code == 302
    assert venues.get("mall").default_plan == "vip" and store.rules() == {"venue:mall": "vip"}
    write = auth(token(redis_client, "write"))
    client = app.test_client()
    resp = client.patch("/api/v1/venues/mall", json={"name_en": "Mall"}, headers=write)   # save again
    assert resp.status_code == 200 and resp.get_json()["default_plan"] == "vip"
    assert store.rules() == {"venue:mall": "vip"}
    assert store.resolve("13800138000", "ac1", None, "mall").name == "vip"
    resp = client.put("/api/v1/plan-rules/venue:mall", json={"plan": "gold"}, headers=write)
    assert resp.status_code == 200 and venues.get("mall").default_plan == "gold"
    assert client.delete("/api/v1/plan-rules/venue:mall", headers=write).status_code == 200
    assert venues.get("mall").default_plan == "" and store.rules() == {}
    assert post(noc, "/noc/plans/rules", {"scope": "venue", "key": "mall", "plan": "vip"}).status_code == 302
    assert post(noc, "/noc/plans/rules/remove", {"field": "venue:mall"}).status_code == 302
    assert venues.get("mall").default_plan == "" and store.rules() == {}
    assert client.patch("/api/v1/venues/mall", json={"name_en": "Mall 2"}, headers=write).status_code == 200
    assert store.rules() == {}
    # A rule for a venue not (yet) defined is still just a rule.
    resp = post(noc, "/noc/plans/rules", {"scope": "venue", "key": "new-mall", "plan": "vip"})
    assert resp.status_code == 302
    assert store.rules() == {"venue:new-mall": "vip"} and venues.get_or_none("new-mall") is None
