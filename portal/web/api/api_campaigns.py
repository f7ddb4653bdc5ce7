"""API: ad campaigns (list, get, create, update, delete) and their daily figures.

Same rules as the console (``/venue/campaigns``): :func:`ad_pages.campaigns.parse_campaign`
validates, targeted venues must exist, HTML creatives must render in the sandbox. Tokens are
NOC tools, so they see every campaign.
"""

from __future__ import annotations

from datetime import date, timedelta
from typing import Any

from flask import request

from ad_pages.campaigns import Campaign, CampaignInvalid, campaign_to_dict, parse_campaign
from ad_pages.sandbox import TemplateProblem
from portal.errors import ValidationError
from portal.venues.campaign_store import MAX_STATS_DAYS, CampaignStore, click_url_refusal
from portal.web import services
from portal.web.api.api_base import ApiError, api_audit, api_token, json_body, operation, query
from portal.web.api.api_venues import REFUSALS
from portal.web.api.texts import (
    BAD_STATS_RANGE,
    CAMPAIGN_EXISTS,
    HTML_NOT_RENDERING,
    NO_CAMPAIGN,
    UNKNOWN_VENUES,
    en_zh,
    field_problems,
    fill,
)
from portal.web.venue.render_gate import BUSY_EN, BUSY_ZH, RenderBusy, render_slot

__all__: list[str] = []

_STR = {"type": "string"}
_NAMES = {"type": "array", "items": {"type": "string", "maxLength": 64}, "maxItems": 200}
CREATIVE: dict[str, Any] = {
    "type": "object", "additionalProperties": False,
    "properties": {"kind": {"enum": ["image", "html"]}, "image": _STR, "click_url": _STR, "html": _STR,
                   "title": _STR, "text": _STR},
}
SCHEDULE: dict[str, Any] = {
    "type": "object", "additionalProperties": False,
    "properties": {"start": {"type": ["string", "null"], "format": "date"},
                   "end": {"type": ["string", "null"], "format": "date"},
                   "hours": {"type": "array", "items": {"type": "string"}, "maxItems": 12}},
}
CAMPAIGN_SCHEMA: dict[str, Any] = {
    "type": "object",
    "required": ["id", "name", "enabled", "creative", "schedule", "venues", "ssids", "weight", "priority",
                 "frequency_cap"],
    "properties": {"id": _STR, "name": _STR, "enabled": {"type": "boolean"}, "creative": CREATIVE,
                   "schedule": SCHEDULE, "venues": _NAMES, "ssids": _NAMES, "weight": {"type": "integer"},
                   "priority": {"type": "integer"}, "frequency_cap": {"type": "integer"},
                   "created_by": _STR, "updated_at": {"type": "number"}},
}
_BODY_PROPS: dict[str, Any] = {
    "name": {"type": "string", "maxLength": 100}, "enabled": {"type": "boolean"}, "creative": CREATIVE,
    "schedule": SCHEDULE, "venues": _NAMES, "ssids": _NAMES,
    "weight": {"type": "integer", "minimum": 1, "maximum": 10_000},
    "priority": {"type": "integer", "minimum": 0, "maximum": 100},
    "frequency_cap": {"type": "integer", "minimum": 0, "maximum": 1_000},
}
CREATE_BODY: dict[str, Any] = {
    "type": "object", "additionalProperties": False, "required": ["name", "creative"],
    "properties": {"id": {"type": "string", "maxLength": 48}, **_BODY_PROPS},
}
PATCH_BODY: dict[str, Any] = {"type": "object", "additionalProperties": False, "minProperties": 1,
                              "properties": _BODY_PROPS}
STATS_ROW: dict[str, Any] = {
    "type": "object", "required": ["day", "venue", "impressions", "views", "clicks"],
    "properties": {"day": {"type": "string", "format": "date"}, "venue": _STR,
                   "impressions": {"type": "integer"}, "views": {"type": "integer"},
                   "clicks": {"type": "integer"}},
}


def _store() -> CampaignStore:
    store: CampaignStore = services().journey.campaigns
    return store


def _get(campaign_id: str) -> Campaign:
    campaign = _store().get_or_none(campaign_id)
    if campaign is None:
        raise ApiError(404, "not_found", *en_zh(NO_CAMPAIGN, campaign_id=campaign_id))
    return campaign


def _checked(data: dict[str, Any]) -> Campaign:
    """parse_campaign + existing venues + a click-through host allowed at every targeted venue +
    HTML that renders; 400 listing every bad field."""
    errors: dict[str, tuple[str, str]] = {}
    campaign: Campaign | None = None
    try:
        campaign = parse_campaign(data)
    except CampaignInvalid as exc:
        errors.update(exc.errors)
    known = services().journey.venues.all()
    unknown = [v for v in data.get("venues") or () if v not in known]
    if unknown:
        errors["venues"] = fill(UNKNOWN_VENUES, venues=", ".join(unknown))
    refusal = campaign and click_url_refusal(campaign, known, services().settings.web.redirect_hosts)
    if refusal:
        errors["click_url"] = refusal
    if campaign is not None and campaign.creative.kind == "html":
        try:     # a trial render of venue HTML: gated like a preview
            with render_slot(services().redis, api_token().actor):
                services().renderer.check(campaign.creative.html,
                                          {"lang": "zh", "venue": {"id": "", "name": ""}})
        except TemplateProblem as exc:
            errors["html"] = fill(HTML_NOT_RENDERING, exc=exc)
        except RenderBusy:
            raise ApiError(429, "rate_limited", BUSY_EN, BUSY_ZH) from None
    if errors or campaign is None:
        zh, en = field_problems(errors)
        raise ApiError(400, "invalid", en, zh)
    return campaign


def _audit_view(c: Campaign) -> dict[str, Any]:
    data = campaign_to_dict(c)
    data["creative"]["html"] = f"({len(c.creative.html)} characters)" if c.creative.html else ""
    data.pop("updated_at", None)
    return data


@operation("/campaigns", "GET", scope="read", tag="campaigns", summary="Every ad campaign",
           parameters=[query("venue", "string", "only campaigns that can run at this venue")],
           response={"type": "object", "required": ["campaigns"],
                     "properties": {"campaigns": {"type": "array", "items": CAMPAIGN_SCHEMA}}})
def list_campaigns() -> Any:
    venue = request.args.get("venue", "")
    found = _store().for_venue(venue) if venue else _store().all()
    return {"campaigns": [campaign_to_dict(c) for c in found]}


@operation("/campaigns/{campaign_id}", "GET", scope="read", tag="campaigns", summary="One ad campaign",
           response=CAMPAIGN_SCHEMA, errors=(404,))
def get_campaign(campaign_id: str) -> Any:
    return campaign_to_dict(_get(campaign_id))


@operation("/campaigns", "POST", scope="write", tag="campaigns", summary="Create an ad campaign",
           description="Image creatives use our own assets (/assets/<venue>/<name>) or data:image URIs; "
                       "hours are local 'HH:MM-HH:MM' windows in the operator's timezone; empty venues/"
                       "ssids = every venue/SSID; frequency_cap 0 = no cap.",
           request=CREATE_BODY, response=CAMPAIGN_SCHEMA, status=201, errors=REFUSALS, content_write=True)
def create_campaign() -> Any:
    body = json_body(CREATE_BODY)
    store = _store()
    data = {"enabled": True, **body, "id": body.get("id") or store.new_id(),
            "created_by": api_token().actor}
    campaign = _checked(data)
    try:
        # Counts against the account that created the token (its quota, not the token's).
        saved = store.create(campaign, owner=api_token().created_by.removeprefix("user:"))
    except ValidationError:
        raise ApiError(409, "exists", *en_zh(CAMPAIGN_EXISTS, campaign_id=campaign.id)) from None
    api_audit("campaign.create", saved.id, None, _audit_view(saved))
    return campaign_to_dict(saved), 201


@operation("/campaigns/{campaign_id}", "PATCH", scope="write", tag="campaigns",
           summary="Change an ad campaign (creative and schedule objects merge field by field)",
           request=PATCH_BODY, response=CAMPAIGN_SCHEMA, errors=(404, *REFUSALS), content_write=True)
def patch_campaign(campaign_id: str) -> Any:
    existing = _get(campaign_id)
    body = json_body(PATCH_BODY)
    data = campaign_to_dict(existing)
    for key, value in body.items():
        data[key] = {**data[key], **value} if key in ("creative", "schedule") else value
    saved = _store().put(_checked(data))
    api_audit("campaign.update", saved.id, _audit_view(existing), _audit_view(saved))
    return campaign_to_dict(saved)


@operation("/campaigns/{campaign_id}", "DELETE", scope="write", tag="campaigns",
           summary="Delete an ad campaign (its daily figures expire on their own)",
           response={"type": "object", "required": ["deleted"], "properties": {"deleted": _STR}},
           errors=(404,))
def delete_campaign(campaign_id: str) -> Any:
    existing = _get(campaign_id)
    _store().delete(existing.id)
    api_audit("campaign.delete", existing.id, _audit_view(existing), None)
    return {"deleted": existing.id}


@operation("/campaigns/{campaign_id}/stats", "GET", scope="read", tag="campaigns",
           summary="Impressions, completed views and clicks per local day and venue",
           parameters=[query("start", "string", "first day, YYYY-MM-DD (default: 13 days before end)"),
                       query("end", "string", "last day, YYYY-MM-DD (default: today)")],
           response={"type": "object", "required": ["campaign", "start", "end", "rows"],
                     "properties": {"campaign": _STR, "start": _STR, "end": _STR,
                                    "rows": {"type": "array", "items": STATS_ROW}}},
           errors=(404,))
def campaign_stats(campaign_id: str) -> Any:
    campaign = _get(campaign_id)
    store = _store()
    try:
        end = date.fromisoformat(request.args.get("end") or store.today().isoformat())
        start = date.fromisoformat(request.args.get("start") or (end - timedelta(days=13)).isoformat())
        rows = store.stats(campaign.id, start, end)
    except (ValueError, ValidationError):
        raise ApiError(400, "invalid", *en_zh(BAD_STATS_RANGE, days=MAX_STATS_DAYS)) from None
    return {"campaign": campaign.id, "start": start.isoformat(), "end": end.isoformat(),
            "rows": [{"day": r.day.isoformat(), "venue": r.venue, "impressions": r.impressions,
                      "views": r.views, "clicks": r.clicks} for r in rows]}
