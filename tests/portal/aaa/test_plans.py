"""Plan validation, storage, assignment rules and resolution order."""

from __future__ import annotations

import json
from typing import Any

import pytest

from portal.aaa.plans import Plan, PlanStore
from portal.errors import NotFound, ValidationError


def _store(redis_client: Any, **kw: Any) -> PlanStore:
    return PlanStore(redis_client, cache_ttl=0.0, **kw)


def test_plan_round_trip_and_validation() -> None:
    plan = Plan("gold", title_zh="金卡", up_kbps=2048, down_kbps=8192, session_timeout=7200,
                idle_timeout=600, daily_time=14400, total_time=360000, daily_volume=10**9,
                total_volume=10**11, validity_days=30, valid_until=2e9, max_sessions=3,
                interim_interval=300, mac_binding_days=7)
    assert Plan.from_json(plan.to_json()) == plan
    assert "金卡" in plan.to_json()  # stored readable, not \\u-escaped
    with pytest.raises(ValidationError):
        Plan("bad name")
    with pytest.raises(ValidationError):
        Plan("p", daily_time=0)
    with pytest.raises(ValidationError):
        Plan("p", max_sessions=-1)
    with pytest.raises(ValidationError):
        Plan("p", up_kbps=True)
    with pytest.raises(ValidationError, match="interim"):
        Plan("p", interim_interval=30)  # RFC 2869: at least 60
    with pytest.raises(ValidationError, match="unknown"):
        Plan.from_dict({"name": "p", "speed": 1})


def test_put_get_all_retire(redis_client: Any) -> None:
    store = _store(redis_client)
    store.put(Plan("a", daily_time=60))
    store.put(Plan("b"))
    assert store.get("a").daily_time == 60
    assert [p.name for p in store.all()] == ["a", "b"]
    with pytest.raises(NotFound):
        store.get("zzz")
    assert store.retire("a").retired is True
    assert store.get("a").retired is True


def test_resolution_order(redis_client: Any) -> None:
    store = _store(redis_client)
    for name in ("glob", "acp", "ssidp", "venuep", "userp"):
        store.put(Plan(name))
    store.assign("default", "", "glob")
    assert store.resolve("1380", "ac1", "CityWiFi").name == "glob"
    store.assign("ac", "ac1", "acp")
    assert store.resolve("1380", "ac1", "CityWiFi").name == "acp"
    assert store.resolve("1380", "ac2", "CityWiFi").name == "glob"
    store.assign("ssid", "CityWiFi", "ssidp")
    assert store.resolve("1380", "ac1", "CityWiFi").name == "ssidp"
    assert store.resolve("1380", "ac1", "Other").name == "acp"
    store.assign("venue", "mall-7", "venuep")
    assert store.resolve("1380", "ac1", "CityWiFi", venue="mall-7").name == "venuep"
    assert store.resolve("1380", "ac1", "CityWiFi").name == "ssidp"
    store.assign_user("1380", "userp")
    assert store.user_plan("1380") == "userp"
    assert store.resolve("1380", "ac1", "CityWiFi", venue="mall-7").name == "userp"
    assert store.resolve("1390", "ac1", "CityWiFi", venue="mall-7").name == "venuep"
    store.assign_user("1380", None)
    assert store.resolve("1380", "ac1", "CityWiFi", venue="mall-7").name == "venuep"
    assert store.rules()["*"] == "glob"


def test_retired_and_unknown_plans_fall_through(redis_client: Any) -> None:
    store = _store(redis_client)
    store.put(Plan("old"))
    store.put(Plan("new"))
    store.assign("default", "", "new")
    store.assign("ac", "ac1", "old")
    store.assign_user("1380", "old")
    store.retire("old")
    assert store.resolve("1380", "ac1", None).name == "new"
    # a rule naming a deleted plan (edited behind our back) is skipped too
    redis_client.hset("cw:{plans}:rules", "ac:ac1", "ghost")
    store.invalidate()
    assert store.resolve("1380", "ac1", None).name == "new"


def test_settings_default_plan_and_no_plan(redis_client: Any) -> None:
    store = _store(redis_client)
    with pytest.raises(NotFound):
        store.resolve("1380", "ac1", None)
    store.put(Plan("fallback"))
    assert _store(redis_client, default_plan="fallback").resolve("1380", "ac1", None).name == "fallback"


def test_assign_unknown_plan_and_scope_are_refused(redis_client: Any) -> None:
    store = _store(redis_client)
    with pytest.raises(NotFound):
        store.assign("ac", "ac1", "nope")
    store.put(Plan("p"))
    with pytest.raises(ValidationError):
        store.assign("building", "x", "p")
    with pytest.raises(ValidationError):
        store.assign("ssid", "", "p")
    with pytest.raises(NotFound):
        store.assign_user("1380", "nope")


def test_cache_serves_stale_until_ttl_then_refreshes(redis_client: Any) -> None:
    clock = [100.0]
    store = PlanStore(redis_client, cache_ttl=5.0, clock=lambda: clock[0])
    writer = PlanStore(redis_client, cache_ttl=0.0)
    writer.put(Plan("one"))
    writer.assign("default", "", "one")
    assert store.resolve("1", "ac", None).name == "one"
    writer.put(Plan("two"))
    writer.assign("default", "", "two")  # another process edits
    assert store.resolve("1", "ac", None).name == "one"  # cached
    clock[0] += 5.1
    assert store.resolve("1", "ac", None).name == "two"


def test_broken_definition_is_skipped_not_fatal(redis_client: Any) -> None:
    store = _store(redis_client)
    store.put(Plan("good"))
    store.assign("default", "", "good")
    redis_client.hset("cw:{plans}:defs", "bad", json.dumps({"name": "bad", "daily_time": -5}))
    assert store.resolve("1", "ac", None).name == "good"


def test_every_limit_of_a_plan_is_declared_once_with_its_label_and_units() -> None:
    """portal/aaa/plan_limits.py is the one table of limits: Plan, PlanSeed, the NOC form and the
    API schema all follow it, so a limit added to one and not the table is caught here."""
    import dataclasses

    from portal.aaa.plan_limits import ENFORCED_FIELDS, LIMIT_NAMES, PLAN_LIMITS
    from portal.aaa.texts import PLAN_LIMIT_LABELS
    from portal.runtime.settings_seeds import PlanSeed
    from portal.web.api.api_plans import NEW_PLAN
    from portal.web.noc.noc_plans import FIELDS

    not_limits = {"name", "title_zh", "title_en", "valid_until", "retired"}
    plan_fields = {f.name for f in dataclasses.fields(Plan)} - not_limits
    assert plan_fields == set(LIMIT_NAMES)
    assert {f.name for f in dataclasses.fields(PlanSeed)} - not_limits == set(LIMIT_NAMES)
    assert set(PLAN_LIMIT_LABELS) == set(LIMIT_NAMES)
    assert all(zh and en for zh, en in PLAN_LIMIT_LABELS.values())
    assert [field[0] for field in FIELDS] == list(LIMIT_NAMES)
    assert set(LIMIT_NAMES) <= set(NEW_PLAN["properties"])
    assert "max_sessions" not in ENFORCED_FIELDS and "valid_until" in ENFORCED_FIELDS
    assert len(PLAN_LIMITS) == len(set(LIMIT_NAMES))


def test_a_positive_limit_is_required_for_every_declared_limit() -> None:
    from portal.aaa.plan_limits import LIMIT_NAMES

    for name in LIMIT_NAMES:
        with pytest.raises(ValidationError, match=name):
            Plan(name="p", **{name: 0})
