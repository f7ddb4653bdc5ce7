"""NOC console: plans (``/noc/plans``) — create, edit, retire/restore, and the assignment rules.

Changing a plan's limits applies at once to the online sessions under it, raised or lowered
alike (``portal/noc/kick.py``, run as a background job whose page the NOC is sent to): a CoA with
the new limits, a Disconnect for a session already past them, and where an AC takes no CoA the
session keeps — and every view shows — the limits it was granted until it ends. Titles,
concurrency and device binding apply at the next login.

Retiring (decided here, implemented by ``PlanStore.resolve_with``): a retired plan is never
handed out again — rules and per-phone overrides pointing at it fall through to the next rule
at the next login — but sessions already online keep it until they end (their grant was made
at login) and the definition stays so their accounting and the logs still resolve. A retired
plan cannot be chosen for a rule here or in the API; restoring it makes its rules apply again.

Form units (converted to the store's units): rates kbit/s, times in minutes, volumes in decimal
MB (1 MB = 1,000,000 octets, the one convention of ``portal/units.py``), validity/binding in
days, interim interval in seconds; empty = no limit. The JSON API (``portal/web/api/api_plans.py``)
uses the store's units directly.
"""

from __future__ import annotations

import dataclasses
import datetime as dt
from typing import Any
from zoneinfo import ZoneInfo

from flask import Blueprint, flash, redirect, render_template, request, url_for
from werkzeug.wrappers import Response as BaseResponse

from portal.aaa.plan_limits import PLAN_LIMITS
from portal.aaa.plans import RULE_SCOPES, Plan, PlanStore
from portal.aaa.texts import PLAN_LIMIT_LABELS
from portal.admin.accounts import Role
from portal.errors import NotFound, ValidationError
from portal.noc.jobs import JobBusy
from portal.units import MB, format_octets
from portal.venues.venue_store import assign_plan_rule
from portal.web.console import audit, client_ip, login_required, tr
from portal.web.noc import texts as T
from portal.web.noc.noc_forms import (
    FormError,
    end_of_day,
    flash_error,
    form_date,
    form_number,
    form_text,
)
from portal.web.wiring import services

__all__ = ["FIELDS", "bp", "plan_store", "rule_field_of"]

bp = Blueprint("noc_plans", __name__, url_prefix="/noc/plans")

# (field, zh, en, unit, scale from the form's unit to the store's, minimum in the form's unit):
# the plan's limits as the form shows them (portal/aaa/plan_limits.py, named in portal/aaa/texts.py)
FIELDS: tuple[tuple[str, str, str, str, int, float], ...] = tuple(
    (limit.name, *PLAN_LIMIT_LABELS[limit.name], limit.form_unit, limit.form_scale, limit.form_minimum)
    for limit in PLAN_LIMITS)
_INTEGER = {limit.name for limit in PLAN_LIMITS if limit.whole}


def plan_store() -> PlanStore:
    """A store without the per-process cache: the console must read what it just wrote."""
    return services().plans


def _tz() -> str:
    return str(services().settings.quota.timezone)


def rule_field_of(scope: str, key: str) -> tuple[str, str]:
    """Validate a rule's scope and key for a form (zh+en errors)."""
    if scope not in RULE_SCOPES:
        raise FormError(*T.CHOOSE_RULE_SCOPE)
    key = key.strip()
    if scope == "default":
        return scope, ""
    if not key:
        raise FormError(*T.RULE_KEY_MISSING)
    if len(key) > 64 or any(ord(c) < 32 for c in key):
        raise FormError(*T.RULE_KEY_TOO_LONG)
    return scope, key


def _plan_from_form(form: Any, name: str, retired: bool = False) -> Plan:
    values: dict[str, Any] = {"name": name, "retired": retired,
                              "title_zh": form_text(form, "title_zh", T.PLAN_LABELS["title_zh"], max_len=100),
                              "title_en": form_text(form, "title_en", T.PLAN_LABELS["title_en"], max_len=100)}
    for fname, zh, en, _unit, scale, minimum in FIELDS:
        values[fname] = form_number(form, fname, (zh, en), scale=scale, minimum=minimum,
                                    integer=fname in _INTEGER)
    until = form_date(form.get("valid_until", ""), T.PLAN_LABELS["valid_until"])
    values["valid_until"] = end_of_day(until, _tz()) if until else None
    return Plan(**values)


def _form_values(plan: Plan | None) -> dict[str, str]:
    """What the edit form shows for ``plan`` (in the form's units)."""
    if plan is None:
        return {}
    out = {"name": plan.name, "title_zh": plan.title_zh, "title_en": plan.title_en}
    for fname, *_rest, scale, _minimum in FIELDS:
        value = getattr(plan, fname)
        out[fname] = "" if value is None else f"{value / scale:.12g}"
    if plan.valid_until:
        last = dt.datetime.fromtimestamp(plan.valid_until - 1, ZoneInfo(_tz())).date()
        out["valid_until"] = last.isoformat()
    return out


def describe(plan: Plan) -> list[str]:
    """Short human summary of a plan's limits for the list."""
    parts = []
    for fname, zh, en, unit, scale, _minimum in FIELDS:
        value = getattr(plan, fname)
        if value is None:
            continue
        if scale == MB:     # volumes: the same figure the phone's status page shows
            parts.append(f"{tr(zh, en)} {format_octets(value)}")
        else:
            parts.append(f"{tr(zh, en)} {value / scale:.6g}{(' ' + unit) if unit else ''}")
    return parts


def _render_form(plan: Plan | None, values: dict[str, str], status: int = 200) -> tuple[str, int]:
    return render_template("noc/plan_edit.html", plan=plan, values=values, fields=FIELDS), status


# -- views -------------------------------------------------------------------------------------

@bp.route("", strict_slashes=False)
@login_required(Role.ADMIN, Role.NOC)
def index() -> str:
    store = plan_store()
    plans = store.all()
    rules = store.rules()
    by_name = {p.name: p for p in plans}
    rows = []
    for field, plan_name in sorted(rules.items()):
        scope, _, key = field.partition(":")
        scope = "default" if field == "*" else scope
        target = by_name.get(plan_name)
        rows.append({"field": field, "scope": scope, "key": key, "plan": plan_name,
                     "state": "missing" if target is None else ("retired" if target.retired else "ok")})
    used = {p: sum(1 for r in rules.values() if r == p) for p in by_name}
    return render_template("noc/plans.html", plans=plans, rules=rows, used=used, describe=describe,
                           scopes=T.SCOPE_LABELS, default_plan=services().settings.quota.default_plan)


@bp.route("/new", methods=["GET", "POST"])
@login_required(Role.ADMIN, Role.NOC)
def create() -> str | tuple[str, int] | BaseResponse:
    if request.method == "GET":
        return _render_form(None, {})
    store = plan_store()
    values = {k: str(v) for k, v in request.form.items() if k != "csrf_token"}
    try:
        name = form_text(request.form, "name", T.PLAN_LABELS["name"], required=True, max_len=64)
        if store.get_or_none(name) is not None:
            raise FormError(*T.plan_exists(name))
        plan = _plan_from_form(request.form, name)
    except (FormError, ValidationError) as exc:
        flash_error(exc)
        return _render_form(None, values, 400)
    store.put(plan)
    audit("noc", "plan.create", plan.name, None, dataclasses.asdict(plan))
    flash(tr(*T.plan_created(plan.name)), "ok")
    return redirect(url_for("noc_plans.index"))


@bp.route("/<name>", methods=["GET", "POST"])
@login_required(Role.ADMIN, Role.NOC)
def edit(name: str) -> str | tuple[str, int] | BaseResponse:
    store = plan_store()
    plan = store.get_or_none(name)
    if plan is None:
        return render_template("console/error.html", status=404,
                               message=tr(*T.NO_SUCH_PLAN)), 404
    if request.method == "GET":
        return _render_form(plan, _form_values(plan))
    values = {k: str(v) for k, v in request.form.items() if k != "csrf_token"}
    values["name"] = name
    try:
        new = _plan_from_form(request.form, name, plan.retired)
    except (FormError, ValidationError) as exc:
        flash_error(exc)
        return _render_form(plan, values, 400)
    applies = plan.enforced_differs(new)
    if applies and _jobs_full():
        flash(tr(*T.PLAN_JOBS_FULL), "error")
        return _render_form(plan, values, 503)
    store.put(new)
    audit("noc", "plan.update", name, dataclasses.asdict(plan), dataclasses.asdict(new))
    if not applies:
        flash(tr(*T.plan_saved_for_next_login(name)), "ok")
        return redirect(url_for("noc_plans.index"))
    return _apply_to_online(plan, new)


def _jobs_full() -> bool:
    from portal.web.noc.noc_jobs import job_runner

    return job_runner().full()


def _apply_to_online(before: Plan, after: Plan) -> BaseResponse:
    """Start the job that sends the changed limits to the plan's online sessions."""
    from portal.web.noc.noc_jobs import start_plan_change
    from portal.web.noc.noc_sessions import actor, noc_actions

    actions = noc_actions()
    online = actions.online_under(after.name)
    try:
        job = start_plan_change(actions, before, after, actor=actor(), area="noc", ip=client_ip())
    except JobBusy:
        flash(tr(*T.plan_saved_not_applied(after.name)), "error")
        return redirect(url_for("noc_plans.index"))
    flash(tr(*T.plan_saved_applying(after.name, online)), "ok")
    return redirect(url_for("noc_jobs.job", job_id=job.id, back=url_for("noc_plans.index")))


@bp.post("/<name>/retire")
@login_required(Role.ADMIN, Role.NOC)
def retire(name: str) -> BaseResponse:
    return _set_retired(name, True)


@bp.post("/<name>/restore")
@login_required(Role.ADMIN, Role.NOC)
def restore(name: str) -> BaseResponse:
    return _set_retired(name, False)


def _set_retired(name: str, retired: bool) -> BaseResponse:
    store = plan_store()
    try:
        plan = store.get(name)
    except NotFound:
        flash(tr(*T.NO_SUCH_PLAN), "error")
        return redirect(url_for("noc_plans.index"))
    new = dataclasses.replace(plan, retired=retired)
    store.put(new)
    audit("noc", "plan.retire" if retired else "plan.restore", name, {"retired": plan.retired},
          {"retired": retired})
    if retired:
        flash(tr(*T.plan_retired(name)), "ok")
    else:
        flash(tr(*T.plan_restored(name)), "ok")
    return redirect(url_for("noc_plans.index"))


@bp.post("/rules")
@login_required(Role.ADMIN, Role.NOC)
def assign_rule() -> BaseResponse:
    store = plan_store()
    try:
        scope, key = rule_field_of(request.form.get("scope", ""), request.form.get("key", ""))
        plan_name = request.form.get("plan", "")
        plan = store.get_or_none(plan_name)
        if plan is None:
            raise FormError(*T.CHOOSE_EXISTING_PLAN)
        if plan.retired:
            raise FormError(*T.plan_retired_not_assignable(plan_name))
    except FormError as exc:
        flash_error(exc)
        return redirect(url_for("noc_plans.index"))
    field = "*" if scope == "default" else f"{scope}:{key}"
    before = store.rules().get(field)
    assign_plan_rule(store.redis, scope, key, plan_name)
    audit("noc", "plan.rule.assign", field, {"plan": before}, {"plan": plan_name})
    flash(tr(*T.rule_saved(field, plan_name)), "ok")
    return redirect(url_for("noc_plans.index"))


@bp.post("/rules/remove")
@login_required(Role.ADMIN, Role.NOC)
def remove_rule() -> BaseResponse:
    store = plan_store()
    field = request.form.get("field", "")
    rules = store.rules()
    if field not in rules:
        flash(tr(*T.NO_SUCH_RULE), "error")
        return redirect(url_for("noc_plans.index"))
    scope, _, key = field.partition(":")
    assign_plan_rule(store.redis, "default" if field == "*" else scope, key, None)
    audit("noc", "plan.rule.remove", field, {"plan": rules[field]}, None)
    flash(tr(*T.rule_removed(field)), "ok")
    return redirect(url_for("noc_plans.index"))
