"""API: plans and their assignment rules (units as stored: kbit/s, seconds, octets, days;
people see volumes in decimal MB, 1 MB = 1,000,000 octets).

Retiring is ``PATCH /plans/{plan_name}`` with ``{"retired": true}`` (see portal/web/noc/noc_plans.py
for what retiring means). A rule is named like the store names it: ``default`` (the global
default), ``venue:<id>``, ``ssid:<ssid>``, ``ac:<name>``.
"""

from __future__ import annotations

import dataclasses
from typing import Any

from portal.aaa.plan_limits import PLAN_LIMITS
from portal.aaa.plans import Plan
from portal.errors import NotFound
from portal.noc.jobs import JobBusy
from portal.venues.venue_store import assign_plan_rule
from portal.web.api.api_base import ApiError, api_actor, api_audit, body_error, json_body, operation
from portal.web.api.api_jobs import JOB_SCHEMA, busy, job_body
from portal.web.api.texts import BAD_RULE, PLAN_EXISTS, PLAN_RETIRED, PLAN_SAVED_JOBS_FULL, en_zh
from portal.web.client_address import client_address
from portal.web.noc.noc_jobs import job_runner, start_plan_change
from portal.web.noc.noc_plans import plan_store
from portal.web.noc.noc_sessions import noc_actions

__all__: list[str] = []

_LIMIT = {"type": ["integer", "null"], "minimum": 1}
# What each limit counts in (null = no limit), from portal/aaa/plan_limits.py. Volumes are
# octets; where a person reads them (console, phone) they are shown in decimal MB/GB.
_LIMIT_UNITS = {limit.name: limit.counts for limit in PLAN_LIMITS}
_LIMIT_FIELDS = tuple(_LIMIT_UNITS)
_PLAN_PROPS: dict[str, Any] = {
    "name": {"type": "string", "pattern": "^[A-Za-z0-9_.\\-]{1,64}$"},
    "title_zh": {"type": "string", "maxLength": 100}, "title_en": {"type": "string", "maxLength": 100},
    **{f: {**_LIMIT, "description": f"{unit}; null = no limit"} for f, unit in _LIMIT_UNITS.items()},
    "valid_until": {"type": ["number", "null"], "exclusiveMinimum": 0},
    "retired": {"type": "boolean"},
}
PLAN_SCHEMA: dict[str, Any] = {"type": "object", "required": ["name", "retired"],
                               "properties": _PLAN_PROPS}
NEW_PLAN: dict[str, Any] = {"type": "object", "required": ["name"], "additionalProperties": False,
                            "properties": _PLAN_PROPS}
PATCHED_SCHEMA: dict[str, Any] = {
    "type": "object", "required": [*PLAN_SCHEMA["required"], "applying"],
    "properties": {**_PLAN_PROPS, "applying": {
        "oneOf": [{"type": "null"}, JOB_SCHEMA],
        "description": "the job applying changed limits to online sessions; null when no limit "
                       "an online session runs with changed"}},
}
PLAN_PATCH: dict[str, Any] = {"type": "object", "additionalProperties": False, "minProperties": 1,
                              "properties": {k: v for k, v in _PLAN_PROPS.items() if k != "name"}}
RULES_SCHEMA: dict[str, Any] = {
    "type": "object", "required": ["rules", "default_plan"],
    "properties": {"rules": {"type": "object", "additionalProperties": {"type": "string"}},
                   "default_plan": {"type": "string"}},
}
RULE_BODY: dict[str, Any] = {"type": "object", "required": ["plan"], "additionalProperties": False,
                             "properties": {"plan": {"type": "string", "maxLength": 64}}}
RULE_SCHEMA: dict[str, Any] = {"type": "object", "required": ["rule", "plan"],
                               "properties": {"rule": {"type": "string"},
                                              "plan": {"type": ["string", "null"]}}}


def _plan(plan: Plan) -> dict[str, Any]:
    return dataclasses.asdict(plan)


def _rule(rule: str) -> tuple[str, str, str]:
    """``default``/``*`` or ``scope:key`` → (scope, key, the store's field)."""
    if rule in ("default", "*"):
        return "default", "", "*"
    scope, sep, key = rule.partition(":")
    if not sep or scope not in ("venue", "ssid", "ac") or not key or len(key) > 64:
        raise body_error(*en_zh(BAD_RULE), "bad_rule")
    return scope, key, rule


@operation("/plans", "GET", scope="read", tag="plans", summary="Every plan, retired ones included",
           response={"type": "object", "required": ["plans"],
                     "properties": {"plans": {"type": "array", "items": PLAN_SCHEMA}}})
def list_plans() -> Any:
    return {"plans": [_plan(p) for p in plan_store().all()]}


@operation("/plans", "POST", scope="write", tag="plans", summary="Create a plan",
           request=NEW_PLAN, response=PLAN_SCHEMA, status=201, errors=(409,))
def create_plan() -> Any:
    body = json_body(NEW_PLAN)
    store = plan_store()
    if store.get_or_none(body["name"]) is not None:
        raise ApiError(409, "exists", *en_zh(PLAN_EXISTS, name=body["name"]))
    plan = Plan.from_dict(body)
    store.put(plan)
    api_audit("plan.create", plan.name, None, _plan(plan))
    return _plan(plan), 201


@operation("/plans/{plan_name}", "GET", scope="read", tag="plans", summary="One plan",
           response=PLAN_SCHEMA, errors=(404,))
def get_plan(plan_name: str) -> Any:
    return _plan(plan_store().get(plan_name))


@operation("/plans/{plan_name}", "PATCH", scope="write", tag="plans",
           summary="Change a plan's limits or titles, retire it (retired: true) or restore it",
           description="Changed limits (rates, times, volumes, validity, interim interval) apply "
                       "at once to the plan's online sessions, raised or lowered alike: a "
                       "background job ('applying', poll its status_url) sends each a CoA with "
                       "the new limits, or a Disconnect when it is already past them; a session "
                       "whose AC takes no CoA keeps its previous limits until it ends (its plan "
                       "then reads '<plan>@<revision>'). Titles, max_sessions, "
                       "mac_binding_days and retiring apply at the next login. 503 'busy' (and "
                       "nothing changed) when too many jobs are waiting.",
           request=PLAN_PATCH, response=PATCHED_SCHEMA, errors=(404, 503))
def patch_plan(plan_name: str) -> Any:
    body = json_body(PLAN_PATCH)
    store = plan_store()
    before = store.get(plan_name)
    after = Plan.from_dict({**_plan(before), **body})
    applies = before.enforced_differs(after)
    if applies and job_runner().full():
        raise busy(JobBusy("queue full"))
    store.put(after)
    action = ("plan.retire" if body.get("retired") is True and not before.retired else
              "plan.restore" if body.get("retired") is False and before.retired else "plan.update")
    api_audit(action, plan_name, _plan(before), _plan(after))
    applying = None
    if applies:
        try:
            job = start_plan_change(noc_actions(), before, after, actor=api_actor()[0],
                                    actor_name=api_actor()[1], area="api", ip=client_address())
        except JobBusy as exc:
            raise ApiError(503, "busy", *en_zh(PLAN_SAVED_JOBS_FULL)) from exc
        applying = job_body(job)
    return {**_plan(after), "applying": applying}


@operation("/plan-rules", "GET", scope="read", tag="plans", summary="Plan assignment rules",
           description="Rule names: 'default', 'venue:<id>', 'ssid:<ssid>', 'ac:<name>'; "
                       "'default_plan' is the configured fallback.",
           response=RULES_SCHEMA)
def list_rules() -> Any:
    store = plan_store()
    rules = {("default" if k == "*" else k): v for k, v in store.rules().items()}
    return {"rules": rules, "default_plan": store.default_plan}


@operation("/plan-rules/{rule}", "PUT", scope="write", tag="plans",
           summary="Assign a plan to a venue, SSID, AC or as the global default",
           request=RULE_BODY, response=RULE_SCHEMA, errors=(404,))
def put_rule(rule: str) -> Any:
    scope, key, field = _rule(rule)
    body = json_body(RULE_BODY)
    store = plan_store()
    plan = store.get_or_none(body["plan"])
    if plan is None:
        raise NotFound(f"no plan named {body['plan']!r}")
    if plan.retired:
        raise ApiError(400, "retired", *en_zh(PLAN_RETIRED, name=plan.name))
    before = store.rules().get(field)
    assign_plan_rule(store.redis, scope, key, plan.name)
    api_audit("plan.rule.assign", field, {"plan": before}, {"plan": plan.name})
    return {"rule": rule, "plan": plan.name}


@operation("/plan-rules/{rule}", "DELETE", scope="write", tag="plans", summary="Remove a rule",
           response=RULE_SCHEMA, errors=(404,))
def delete_rule(rule: str) -> Any:
    scope, key, field = _rule(rule)
    store = plan_store()
    before = store.rules().get(field)
    if before is None:
        raise NotFound(f"no rule {rule!r}")
    assign_plan_rule(store.redis, scope, key, None)
    api_audit("plan.rule.remove", field, {"plan": before}, None)
    return {"rule": rule, "plan": None}

