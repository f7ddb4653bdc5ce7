"""API: venues (settings), their pages (draft, publish, history, rollback) and assets.

For NOC programs (bearer tokens see every venue and may change the network fields); venue
operators use the console. Same stores and checks as the console: publish compiles and
trial-renders, redirect URLs must be allow-listed, uploads are checked by name, magic and size.
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import json
from typing import Any

from flask import request

from ad_pages import PAGES
from portal.errors import NotFound
from portal.venues.pages import PageError
from portal.venues.venue_assets import AssetError
from portal.venues.venue_store import NETWORK_FIELDS, OPERATOR_FIELDS, Venue, VenueSettingsError, update_venue
from portal.web import services
from portal.web.api.api_base import ApiError, api_audit, api_token, json_body, operation
from portal.web.api.texts import (
    NO_ASSET,
    NO_DEFAULT_PLAN,
    NO_PAGE,
    NO_VENUE,
    NO_VERSION,
    NOT_BASE64,
    VENUE_EXISTS,
    en_zh,
    field_problems,
)
from portal.web.venue.render_gate import BUSY_EN, BUSY_ZH, RenderBusy, render_slot

__all__: list[str] = []

_LIST = {"type": "array", "items": {"type": "string"}}
_AP_GROUPS = {**_LIST, "description": "AP group names as the AC sends them in its redirect (Huawei "
                                      "ap-group-name): phones in these groups belong to the venue"}
_SCRIPTS = {"type": "boolean", "description": "NOC only: the venue's own inline scripts run on its "
                                             "phone pages (per-response nonce); default false"}
REFUSALS = (409, 507)
"""A quota (409 ``quota_exceeded``) or the storage watermark (507 ``storage_full``):
portal/venues/content_quotas.py."""
VENUE_SCHEMA: dict[str, Any] = {
    "type": "object", "required": ["id", "name_zh", "name_en", "acs", "ssids", "redirect_url", "languages"],
    "properties": {
        "id": {"type": "string"}, "name_zh": {"type": "string"}, "name_en": {"type": "string"},
        "acs": _LIST, "ssids": _LIST, "ap_macs": _LIST, "ap_groups": _AP_GROUPS,
        "default": {"type": "boolean"},
        "default_plan": {"type": "string"}, "redirect_url": {"type": "string"}, "redirect_hosts": _LIST,
        "redirect_delay": {"type": "integer"}, "ad_seconds": {"type": "integer"},
        "silent_mac_login": {"type": "boolean"}, "languages": _LIST, "ads_on_success": {"type": "boolean"},
        "scripts_allowed": _SCRIPTS,
    },
}
VENUE_PATCH: dict[str, Any] = {
    "type": "object", "additionalProperties": False, "minProperties": 1,
    "properties": {
        "name_zh": {"type": "string", "maxLength": 80}, "name_en": {"type": "string", "maxLength": 80},
        "redirect_url": {"type": "string", "maxLength": 500},
        "redirect_delay": {"type": "integer", "minimum": 0, "maximum": 60},
        "ad_seconds": {"type": "integer", "minimum": 0, "maximum": 120},
        "silent_mac_login": {"type": "boolean"}, "ads_on_success": {"type": "boolean"},
        "languages": {"type": "array", "items": {"enum": ["zh", "en"]}, "minItems": 1, "uniqueItems": True},
        "acs": _LIST, "ssids": _LIST, "ap_macs": _LIST, "ap_groups": _AP_GROUPS, "redirect_hosts": _LIST,
        "default_plan": {"type": "string", "maxLength": 64}, "default": {"type": "boolean"},
        "scripts_allowed": _SCRIPTS,
    },
}
VERSION_SCHEMA: dict[str, Any] = {
    "type": "object", "required": ["version", "author", "at", "note"],
    "properties": {"version": {"type": "integer"}, "author": {"type": "string"}, "at": {"type": "number"},
                   "note": {"type": "string"}, "size": {"type": "integer"}, "source": {"type": "string"}},
}
PAGE_SCHEMA: dict[str, Any] = {
    "type": "object", "required": ["venue", "page", "draft", "published", "published_source"],
    "properties": {"venue": {"type": "string"}, "page": {"enum": list(PAGES)},
                   "draft": {"type": ["string", "null"]}, "draft_author": {"type": "string"},
                   "draft_at": {"type": "number"}, "published": {"type": ["integer", "null"]},
                   "published_source": {"type": ["string", "null"]}},
}
ASSET_SCHEMA: dict[str, Any] = {
    "type": "object", "required": ["name", "content_type", "size", "sha256", "url"],
    "properties": {"venue": {"type": "string"}, "name": {"type": "string"}, "category": {"type": "string"},
                   "content_type": {"type": "string"}, "size": {"type": "integer"},
                   "sha256": {"type": "string"}, "author": {"type": "string"}, "at": {"type": "number"},
                   "url": {"type": "string"}},
}
DRAFT_BODY: dict[str, Any] = {"type": "object", "required": ["source"], "additionalProperties": False,
                              "properties": {"source": {"type": "string", "maxLength": 40_000}}}
PUBLISH_BODY: dict[str, Any] = {
    "type": "object", "additionalProperties": False,
    "properties": {"source": {"type": "string", "maxLength": 40_000},
                   "note": {"type": "string", "maxLength": 200}},
}
ROLLBACK_BODY: dict[str, Any] = {"type": "object", "required": ["version"], "additionalProperties": False,
                                 "properties": {"version": {"type": "integer", "minimum": 1}}}
UPLOAD_BODY: dict[str, Any] = {
    "type": "object", "required": ["name", "content_base64"], "additionalProperties": False,
    "properties": {"name": {"type": "string", "maxLength": 128}, "content_base64": {"type": "string"}},
}


def _public(venue: Venue) -> dict[str, Any]:
    data = dict(json.loads(venue.to_json()))
    data.pop("templates", None)
    data.pop("ads", None)
    return data


def _venue(venue_id: str) -> Venue:
    venue = services().journey.venues.get_or_none(venue_id)
    if venue is None:
        raise ApiError(404, "not_found", *en_zh(NO_VENUE, venue_id=venue_id))
    return venue


def _page(page: str) -> str:
    if page not in PAGES:
        raise ApiError(404, "not_found", *en_zh(NO_PAGE, page=page, pages=", ".join(PAGES)))
    return page


def _digest(text: str) -> dict[str, Any]:
    return {"size": len(text), "sha256": hashlib.sha256(text.encode()).hexdigest()[:16]}


def _author() -> str:
    return api_token().actor


def _page_view(venue: Venue, page: str) -> dict[str, Any]:
    pages = services().pages
    state = pages.state(venue.id, page)
    return {"venue": venue.id, "page": page, "draft": state.draft, "draft_author": state.draft_author,
            "draft_at": state.draft_at, "published": state.published,
            "published_source": pages.source_for(venue, page, cached=False)}


# --- venues ---------------------------------------------------------------------------------------

@operation("/venues", "GET", scope="read", tag="venues", summary="Every venue",
           response={"type": "object", "required": ["venues"],
                     "properties": {"venues": {"type": "array", "items": VENUE_SCHEMA}}})
def list_venues() -> Any:
    venues = services().journey.venues
    venues.invalidate()
    return {"venues": [_public(v) for v in sorted(venues.all().values(), key=lambda v: v.id)]}


@operation("/venues/{venue_id}", "GET", scope="read", tag="venues", summary="One venue",
           response=VENUE_SCHEMA, errors=(404,))
def get_venue(venue_id: str) -> Any:
    return _public(_venue(venue_id))


NEW_VENUE: dict[str, Any] = {
    "type": "object", "required": ["id"], "additionalProperties": False,
    "properties": {"id": {"type": "string", "maxLength": 64}, **VENUE_PATCH["properties"]},
}


@operation("/venues", "POST", scope="write", tag="venues",
           summary="Create a venue (id: 1-64 letters, digits, '_', '.', '-'; other fields as PATCH)",
           request=NEW_VENUE, response=VENUE_SCHEMA, status=201, errors=(409,), content_write=True)
def create_venue() -> Any:
    body = json_body(NEW_VENUE)
    svc = services()
    store = svc.journey.venues
    venue_id = body.pop("id")
    if store.get_or_none(venue_id) is not None:
        raise ApiError(409, "exists", *en_zh(VENUE_EXISTS, venue_id=venue_id))
    try:
        venue = Venue(id=venue_id)
        if body:
            venue = update_venue(venue, body, operator_hosts=svc.settings.web.redirect_hosts, network=True)
        store.put(venue)
    except VenueSettingsError as exc:
        zh, en = field_problems({exc.field: (exc.message_zh, exc.message_en)})
        raise ApiError(400, "invalid", en, zh) from None
    except NotFound as exc:
        raise ApiError(400, "invalid", *en_zh(NO_DEFAULT_PLAN, exc=exc)) from None
    api_audit("venue.create", venue.id, None, _public(venue))
    return _public(venue), 201


@operation("/venues/{venue_id}", "PATCH", scope="write", tag="venues",
           summary="Change a venue's settings (the post-login URL must be on the allow-list)",
           description=f"Operator fields: {', '.join(OPERATOR_FIELDS)}; network fields: "
                       f"{', '.join(NETWORK_FIELDS)}.",
           request=VENUE_PATCH, response=VENUE_SCHEMA, errors=(404,), content_write=True)
def patch_venue(venue_id: str) -> Any:
    body = json_body(VENUE_PATCH)
    venue = _venue(venue_id)
    svc = services()
    try:
        updated = update_venue(venue, body, operator_hosts=svc.settings.web.redirect_hosts, network=True)
        svc.journey.venues.put(updated)
    except VenueSettingsError as exc:
        zh, en = field_problems({exc.field: (exc.message_zh, exc.message_en)})
        raise ApiError(400, "invalid", en, zh) from None
    except NotFound as exc:
        raise ApiError(400, "invalid", *en_zh(NO_DEFAULT_PLAN, exc=exc)) from None
    api_audit("venue.update", venue.id, _public(venue), _public(updated))
    return _public(updated)


# --- pages ----------------------------------------------------------------------------------------

@operation("/venues/{venue_id}/pages/{page}", "GET", scope="read", tag="venues",
           summary="A venue page: draft and published version", response=PAGE_SCHEMA, errors=(404,))
def get_page(venue_id: str, page: str) -> Any:
    return _page_view(_venue(venue_id), _page(page))


@operation("/venues/{venue_id}/pages/{page}/draft", "PUT", scope="write", tag="venues",
           summary="Save a page draft (not checked, not live)", request=DRAFT_BODY, response=PAGE_SCHEMA,
           errors=(404, *REFUSALS), content_write=True)
def put_draft(venue_id: str, page: str) -> Any:
    body = json_body(DRAFT_BODY)
    venue, page = _venue(venue_id), _page(page)
    pages = services().pages
    try:
        pages.save_draft(venue.id, page, body["source"], _author())
    except PageError as exc:           # longer than the source limit
        raise ApiError(400, "page_refused", exc.message_en, exc.message_zh) from None
    # Not audited, as in the console (portal/web/venue/venue_console.py, DRAFT_NOT_AUDITED): only
    # what phones can get — publish, rollback — is; the draft keeps its author and time.
    return _page_view(venue, page)


@operation("/venues/{venue_id}/pages/{page}/publish", "POST", scope="write", tag="venues",
           summary="Publish the draft (or the given source) after a compile and trial-render check",
           description="Refused with 400 `page_refused` naming the line and the reason.",
           request=PUBLISH_BODY, response=VERSION_SCHEMA, status=201, errors=(404, 429, *REFUSALS),
           content_write=True)
def publish_page(venue_id: str, page: str) -> Any:
    body = json_body(PUBLISH_BODY)
    venue, page = _venue(venue_id), _page(page)
    pages = services().pages
    before = pages.state(venue.id, page).published
    try:
        with render_slot(services().redis, _author()):     # trial renders share the phones' CPU
            version = pages.publish(venue, page, _author(), note=body.get("note", ""),
                                    source=body.get("source"))
    except RenderBusy:
        raise ApiError(429, "rate_limited", BUSY_EN, BUSY_ZH) from None
    except PageError as exc:
        raise ApiError(400, "page_refused", exc.message_en, exc.message_zh) from None
    api_audit("page.publish", f"{venue.id}/{page}", {"version": before}, version.summary())
    return version.summary(), 201


@operation("/venues/{venue_id}/pages/{page}/history", "GET", scope="read", tag="venues",
           summary="Published versions, newest first (with sources)",
           response={"type": "object", "required": ["versions"],
                     "properties": {"versions": {"type": "array", "items": VERSION_SCHEMA}}}, errors=(404,))
def page_history(venue_id: str, page: str) -> Any:
    venue, page = _venue(venue_id), _page(page)
    versions = services().pages.history(venue.id, page)
    return {"versions": [{**v.summary(), "source": v.source} for v in versions]}


@operation("/venues/{venue_id}/pages/{page}/rollback", "POST", scope="write", tag="venues",
           summary="Publish a copy of an earlier version (checked like a publish)", request=ROLLBACK_BODY,
           response=VERSION_SCHEMA, status=201, errors=(400, 404, *REFUSALS), content_write=True)
def rollback_page(venue_id: str, page: str) -> Any:
    body = json_body(ROLLBACK_BODY)
    venue, page = _venue(venue_id), _page(page)
    pages = services().pages
    before = pages.state(venue.id, page).published
    try:
        version = pages.rollback(venue, page, body["version"], _author())
    except NotFound:
        raise ApiError(404, "not_found", *en_zh(NO_VERSION, version=body["version"])) from None
    except PageError as exc:           # an old version that today's rules refuse
        raise ApiError(400, "page_refused", exc.message_en, exc.message_zh) from None
    api_audit("page.rollback", f"{venue.id}/{page}", {"version": before},
              {**version.summary(), "from_version": body["version"]})
    return version.summary(), 201


@operation("/venues/{venue_id}/pages/{page}/restore-default", "POST", scope="write", tag="venues",
           summary="Make the page the default page again (drops the published source and the draft)",
           description="Phones get the default page at once (the venue's seed from the NOC if it has "
                       "one, else the shipped default); the history is kept, so a rollback can bring "
                       "any version back. Answers the page as `GET` does (`published` null).",
           response=PAGE_SCHEMA, errors=(404,))
def restore_default_page(venue_id: str, page: str) -> Any:
    venue, page = _venue(venue_id), _page(page)
    pages = services().pages
    had_draft = pages.state(venue.id, page).draft is not None
    before = pages.restore_default(venue.id, page)
    api_audit("page.restore_default", f"{venue.id}/{page}", {"version": before, "draft": had_draft},
              {"version": None, "draft": False})
    return _page_view(venue, page)


# --- assets ---------------------------------------------------------------------------------------

@operation("/venues/{venue_id}/assets", "GET", scope="read", tag="venues", summary="A venue's assets",
           response={"type": "object", "required": ["assets"],
                     "properties": {"assets": {"type": "array", "items": ASSET_SCHEMA}}}, errors=(404,))
def list_assets(venue_id: str) -> Any:
    venue = _venue(venue_id)
    return {"assets": [a.to_dict() for a in services().assets.all(venue.id)]}


@operation("/venues/{venue_id}/assets", "POST", scope="write", tag="venues",
           summary="Upload an asset (png, jpeg, gif, webp, svg, css, woff2, woff, ttf, otf) as base64",
           request=UPLOAD_BODY, response=ASSET_SCHEMA, status=201, errors=(404, 413, *REFUSALS),
           content_write=True)
def upload_asset(venue_id: str) -> Any:
    body = json_body(UPLOAD_BODY)
    venue = _venue(venue_id)
    try:
        data = base64.b64decode(body["content_base64"], validate=True)
    except (binascii.Error, ValueError):
        raise ApiError(400, "invalid", *en_zh(NOT_BASE64)) from None
    try:
        asset = services().assets.put(venue.id, body["name"], data, _author())
    except AssetError as exc:
        raise ApiError(400, "asset_refused", exc.message_en, exc.message_zh) from None
    api_audit("asset.upload", f"{venue.id}/{asset.name}", None,
              {k: v for k, v in asset.to_dict().items() if k != "url"})
    return asset.to_dict(), 201


@operation("/venues/{venue_id}/assets/{name}", "DELETE", scope="write", tag="venues",
           summary="Delete an asset",
           response={"type": "object", "required": ["deleted"],
                     "properties": {"deleted": {"type": "string"}}},
           errors=(404,))
def delete_asset(venue_id: str, name: str) -> Any:
    venue = _venue(venue_id)
    try:
        asset = services().assets.delete(venue.id, name)
    except NotFound:
        raise ApiError(404, "not_found", *en_zh(NO_ASSET, name=name)) from None
    api_audit("asset.delete", f"{venue.id}/{name}",
              {k: v for k, v in asset.to_dict().items() if k != "url"}, None)
    return {"deleted": name}


def body_limit() -> None:
    """Uploads (base64, +33 %) and page sources need more than the app-wide 64 KB body limit."""
    if request.endpoint == "api.venues_upload_asset":
        limits = services().settings.pages
        request.max_content_length = (max(limits.max_image_bytes, limits.max_css_bytes,
                                          limits.max_font_bytes) * 4 // 3) + 64 * 1024
    elif request.endpoint in ("api.venues_put_draft", "api.venues_publish_page"):
        request.max_content_length = 512 * 1024


# Registered with the API blueprint's other hooks (this module is imported before the blueprint
# is registered on any app, see portal.web.api.init_api).
from portal.web.api.api_base import bp as _api_bp  # noqa: E402

_api_bp.before_request(body_limit)
