"""``GET /assets/<venue>/<name>``: venue images, CSS and fonts from the portal host itself
(inside the AC walled garden). Long browser cache + ETag; every response carries
:data:`portal.venues.venue_assets.ASSET_CSP` and ``nosniff`` (SVG scripts never run)."""

from __future__ import annotations

from flask import Blueprint, Response, abort, request

from portal.errors import NotFound
from portal.venues.venue_assets import ASSET_CSP, KINDS, is_stored_name
from portal.web import services

__all__ = ["bp"]

bp = Blueprint("assets", __name__)


@bp.get("/assets/<venue_id>/<name>")
def asset(venue_id: str, name: str) -> Response:
    # Names are Redis keys here, never paths; anything an upload could not have been stored
    # under is refused before it reaches Redis.
    if not is_stored_name(name) or name.rsplit(".", 1)[1] not in KINDS:
        abort(404)
    try:
        meta, data = services().assets.get(venue_id, name)
    except NotFound:
        abort(404)
    headers = {
        "ETag": f'"{meta.etag}"',
        "Content-Security-Policy": ASSET_CSP,
        "X-Content-Type-Options": "nosniff",
        # Venue pages run in an opaque origin (CSP sandbox), so their image, CSS and font loads
        # are cross-origin: allow them (assets are public, no credentials involved).
        "Cross-Origin-Resource-Policy": "cross-origin",
        "Access-Control-Allow-Origin": "*",
        # A URL carrying the content version never changes; a bare name may be replaced.
        "Cache-Control": ("public, max-age=31536000, immutable" if request.args.get("v") == meta.sha256[:12]
                          else "public, max-age=300"),
    }
    if meta.content_type == "image/svg+xml":
        headers["Content-Disposition"] = "inline"
    if request.if_none_match.contains(meta.etag):
        return Response(status=304, headers=headers)
    return Response(data, status=200, mimetype=meta.content_type.split(";")[0],
                    content_type=meta.content_type, headers=headers)
