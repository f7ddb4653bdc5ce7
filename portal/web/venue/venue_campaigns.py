"""Ad campaigns in the venue console (``/venue/campaigns``): list, create, edit, pause/resume,
delete, per-campaign statistics (chart + CSV).

Who sees what: admin and NOC accounts see and may target every venue (an empty venue list means
"every venue"). A venue operator sees only campaigns whose targeted venues are all theirs, and
may only save campaigns targeting at least one venue, all of them theirs — enforced here, on
the server, whatever the form sent. Another operator's campaign is a 404 (as for venues: no
hint that it exists).
"""

from __future__ import annotations

import csv
import hashlib
import io
from datetime import date, timedelta
from typing import Any

from flask import Blueprint, Response, abort, flash, redirect, render_template, request, url_for
from werkzeug.wrappers import Response as BaseResponse

from ad_pages.campaigns import (
    Campaign,
    CampaignInvalid,
    asset_venue,
    campaign_to_dict,
    format_hours,
    parse_campaign,
)
from ad_pages.sandbox import TemplateProblem
from portal.admin.accounts import Account
from portal.venues.campaign_store import (
    MAX_STATS_DAYS,
    CampaignStore,
    StatsRow,
    click_url_refusal,
    daily_totals,
)
from portal.web import services
from portal.web.console import audit, current_account, login_required, tr
from portal.web.venue import texts as T
from portal.web.venue.render_gate import RenderBusy, busy_response, render_slot
from portal.web.venue.venue_console import limit_content_writes

__all__ = ["bp", "campaign_visible", "check_targets"]

bp = Blueprint("venue_campaigns", __name__, url_prefix="/venue/campaigns")
bp.before_request(limit_content_writes)        # saves count against the account's write rate


def _store() -> CampaignStore:
    store: CampaignStore = services().journey.campaigns
    return store


def _account() -> Account:
    account = current_account()
    if account is None:      # login_required ran first; keeps mypy and a broken hook honest
        abort(403)
    return account


def campaign_visible(campaign: Campaign, account: Account) -> bool:
    """NOC/admin: every campaign. Venue operator: targets named, all of them theirs."""
    if account.is_noc:
        return True
    return bool(campaign.venues) and all(account.can_see_venue(v) for v in campaign.venues)


def check_targets(venues: tuple[str, ...], account: Account, known: set[str]) -> tuple[str, str] | None:
    """Why ``account`` may not target ``venues`` (zh, en), or None. Unknown and foreign venues
    get the same words, so an operator cannot probe which venue ids exist."""
    if account.is_noc:
        unknown = [v for v in venues if v not in known]
        if unknown:
            return T.no_such_venues(", ".join(unknown))
        return None
    if not venues:
        return T.CHOOSE_OWN_VENUE
    if any(v not in known or not account.can_see_venue(v) for v in venues):
        return T.OWN_VENUES_ONLY
    return None


def _campaign(campaign_id: str) -> Campaign:
    campaign = _store().get_or_none(campaign_id)
    if campaign is None or not campaign_visible(campaign, _account()):
        abort(404)
    return campaign


def _visible_venues(account: Account) -> list[Any]:
    venues = services().journey.venues.all()
    return [v for _id, v in sorted(venues.items()) if account.can_see_venue(v.id)]


def _audit_view(c: Campaign | None) -> dict[str, Any] | None:
    """The audit record of a campaign: everything but the HTML body (size + digest instead)."""
    if c is None:
        return None
    data = campaign_to_dict(c)
    html = data["creative"].pop("html")
    if html:
        data["creative"]["html_digest"] = {"size": len(html),
                                           "sha256": hashlib.sha256(html.encode()).hexdigest()[:16]}
    if data["creative"]["image"].startswith("data:"):
        data["creative"]["image"] = data["creative"]["image"][:40] + "…"
    data.pop("updated_at", None)
    return data


# --- list -----------------------------------------------------------------------------------------

@bp.get("")
@bp.get("/")
@login_required()
def index() -> str:
    account = _account()
    store = _store()
    now = store.now()
    rows = [(c, c.schedule.contains(now)) for c in store.all() if campaign_visible(c, account)]
    return render_template("venue/campaigns.html", rows=rows, format_hours=format_hours)


# --- create / edit --------------------------------------------------------------------------------

def _form_data(campaign_id: str, existing: Campaign | None) -> dict[str, Any]:
    f = request.form
    return {
        "id": campaign_id,
        "name": f.get("name", ""),
        "enabled": f.get("enabled") == "on",
        "creative": {"kind": f.get("kind", "image"), "image": f.get("image", ""),
                     "click_url": f.get("click_url", ""), "html": f.get("html", ""),
                     "title": f.get("title", ""), "text": f.get("text", "")},
        "schedule": {"start": f.get("start", ""), "end": f.get("end", ""), "hours": f.get("hours", "")},
        "venues": [v for v in f.getlist("venues") if v],
        "ssids": f.get("ssids", ""),
        "weight": f.get("weight", ""), "priority": f.get("priority", ""),
        "frequency_cap": f.get("frequency_cap", ""),
        "created_by": existing.created_by if existing else _account().username,
    }


def _validate(data: dict[str, Any]) -> tuple[Campaign | None, dict[str, tuple[str, str]]]:
    """Parse + the checks that need the world: targets the account may use, a click-through host
    allowed at every targeted venue, HTML that compiles."""
    errors: dict[str, tuple[str, str]] = {}
    campaign: Campaign | None = None
    try:
        campaign = parse_campaign(data)
    except CampaignInvalid as exc:
        errors.update(exc.errors)
    account = _account()
    venues = tuple(str(v).strip() for v in data.get("venues") or () if str(v).strip())
    known = services().journey.venues.all()
    problem = check_targets(venues, account, set(known))
    if problem:
        errors["venues"] = problem
    elif campaign is not None and "click_url" not in errors:
        refusal = click_url_refusal(campaign, known, services().settings.web.redirect_hosts)
        if refusal:
            errors["click_url"] = refusal
    owner = asset_venue(campaign.creative.image) if campaign is not None else None
    if owner is not None and not account.can_see_venue(owner):
        errors["image"] = T.OWN_ASSETS_ONLY
    if campaign is not None and campaign.creative.kind == "html":
        try:     # a trial render of venue HTML: gated like a preview (RenderBusy → 429)
            with render_slot(services().redis, account.username):
                services().renderer.check(campaign.creative.html,
                                          {"lang": "zh", "venue": {"id": "", "name": ""}})
        except TemplateProblem as exc:
            errors["html"] = T.html_does_not_render(exc.line, exc.reason)
    return (None if errors else campaign), errors


def _form_page(campaign: Campaign | None, errors: dict[str, tuple[str, str]], status: int) -> tuple[str, int]:
    account = _account()
    venues = _visible_venues(account)
    assets: list[str] = []
    for v in venues[:50]:
        assets.extend(services().assets.urls(v.id).values())
    shown = request.form if request.method == "POST" else None
    chosen = set(shown.getlist("venues")) if shown is not None else set(campaign.venues if campaign else ())
    return render_template(
        "venue/campaign_edit.html", campaign=campaign, form=shown,
        values=campaign_to_dict(campaign) if campaign else None, errors=errors, venues=venues,
        all_venues_allowed=account.is_noc, assets=sorted(assets)[:500],
        chosen=chosen,
    ), status


@bp.route("/new", methods=["GET", "POST"])
@login_required()
def create() -> BaseResponse | tuple[str, int]:
    if request.method == "POST":
        store = _store()
        try:
            campaign, errors = _validate(_form_data(store.new_id(), None))
        except RenderBusy as exc:
            return busy_response(exc)
        if campaign is not None:
            saved = store.create(campaign)
            audit("venue", "campaign.create", saved.id, None, _audit_view(saved))
            flash(tr(*T.CAMPAIGN_CREATED), "ok")
            return redirect(url_for("venue_campaigns.index"))
        return _form_page(None, errors, 400)
    return _form_page(None, {}, 200)


@bp.route("/<campaign_id>/edit", methods=["GET", "POST"])
@login_required()
def edit(campaign_id: str) -> BaseResponse | tuple[str, int]:
    existing = _campaign(campaign_id)
    if request.method == "POST":
        try:
            campaign, errors = _validate(_form_data(existing.id, existing))
        except RenderBusy as exc:
            return busy_response(exc)
        if campaign is not None:
            saved = _store().put(campaign)
            audit("venue", "campaign.update", saved.id, _audit_view(existing), _audit_view(saved))
            flash(tr(*T.CAMPAIGN_SAVED), "ok")
            return redirect(url_for("venue_campaigns.index"))
        return _form_page(existing, errors, 400)
    return _form_page(existing, {}, 200)


@bp.post("/<campaign_id>/enabled")
@login_required()
def set_enabled(campaign_id: str) -> BaseResponse:
    existing = _campaign(campaign_id)
    enabled = request.form.get("enabled") == "1"
    saved = _store().set_enabled(existing.id, enabled)
    audit("venue", "campaign.update", saved.id, _audit_view(existing), _audit_view(saved))
    flash(tr(*T.CAMPAIGN_RESUMED) if enabled else tr(*T.CAMPAIGN_PAUSED), "ok")
    return redirect(url_for("venue_campaigns.index"))


@bp.post("/<campaign_id>/delete")
@login_required()
def delete(campaign_id: str) -> BaseResponse:
    existing = _campaign(campaign_id)
    _store().delete(existing.id)
    audit("venue", "campaign.delete", existing.id, _audit_view(existing), None)
    flash(tr(*T.CAMPAIGN_DELETED), "ok")
    return redirect(url_for("venue_campaigns.index"))


# --- statistics -----------------------------------------------------------------------------------

def _range() -> tuple[date, date, str]:
    """The requested day range (default: the last 14 local days), and an error ("" = none)."""
    today = _store().today()
    try:
        end = date.fromisoformat(request.args.get("end") or today.isoformat())
        start = date.fromisoformat(request.args.get("start") or (end - timedelta(days=13)).isoformat())
    except ValueError:
        return today - timedelta(days=13), today, tr(*T.STATS_BAD_DATE)
    if end < start or (end - start).days >= MAX_STATS_DAYS:
        return today - timedelta(days=13), today, tr(*T.stats_range(MAX_STATS_DAYS))
    return start, end, ""


def _rows(campaign: Campaign, start: date, end: date) -> list[StatsRow]:
    account = _account()
    return [r for r in _store().stats(campaign.id, start, end) if account.can_see_venue(r.venue)]


@bp.get("/<campaign_id>/stats")
@login_required()
def stats(campaign_id: str) -> tuple[str, int]:
    campaign = _campaign(campaign_id)
    start, end, error = _range()
    rows = _rows(campaign, start, end)
    totals = daily_totals(rows, start, end)
    chart = {"labels": [d.day.isoformat() for d in totals],
             "series": [{"name": tr(*T.STATS_SERIES["impressions"]),
                         "values": [d.impressions for d in totals]},
                        {"name": tr(*T.STATS_SERIES["views"]), "values": [d.views for d in totals]},
                        {"name": tr(*T.STATS_SERIES["clicks"]), "values": [d.clicks for d in totals]}]}
    return render_template("venue/campaign_stats.html", campaign=campaign, rows=rows, totals=totals,
                           chart=chart, start=start, end=end, error=error), 400 if error else 200


@bp.get("/<campaign_id>/stats.csv")
@login_required()
def stats_csv(campaign_id: str) -> Response:
    campaign = _campaign(campaign_id)
    start, end, error = _range()
    if error:
        abort(400)
    out = io.StringIO()
    writer = csv.writer(out, lineterminator="\r\n")
    writer.writerow(T.STATS_CSV_HEADER)
    for r in _rows(campaign, start, end):
        writer.writerow([r.day.isoformat(), r.venue, r.impressions, r.views, r.clicks])
    # UTF-8 with a BOM: Excel (common on operators' desks) otherwise reads it as GBK.
    body = "\ufeff" + out.getvalue()
    name = f"campaign-{campaign.id}-{start:%Y%m%d}-{end:%Y%m%d}.csv"
    return Response(body.encode("utf-8"), mimetype="text/csv",
                    headers={"Content-Disposition": f'attachment; filename="{name}"'},
                    content_type="text/csv; charset=utf-8")

