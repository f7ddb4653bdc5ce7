"""Captive-portal detection done right (docs/protocols/captive-clients.md §2.2, §2.6).

* ``/api/captive`` — the RFC 8908 API: ``application/captive+json``, ``captive`` from the
  portal's live view of the login, ``seconds-remaining`` / ``bytes-remaining`` from live quota,
  ``user-portal-url`` and ``venue-info-url``. A client is identified by a per-client token
  (``?s=``, handed out after login, RFC 8910 §2 "per-client URI") or by its source address.
* OS probe URLs — answered exactly as each OS expects once the client is online, and
  redirected to the portal (302, ``no-store``) while it is not.
"""

from __future__ import annotations

import json

from flask import Blueprint, Response, redirect, request, url_for
from werkzeug.wrappers import Response as BaseResponse

from portal.login import LoginError, StatusView
from portal.web import public_base_url, services
from portal.web.client_address import client_address

__all__ = ["PROBES", "bp"]

bp = Blueprint("captive", __name__)

# path → (status, content type, body) of the "you are online" answer.
PROBES: dict[str, tuple[int, str, str]] = {
    "/generate_204": (204, "text/plain", ""),                      # Android, MIUI, HarmonyOS, vivo…
    "/gen_204": (204, "text/plain", ""),
    "/hotspot-detect.html": (200, "text/html",                     # Apple CNA
                             "<HTML><HEAD><TITLE>Success</TITLE></HEAD><BODY>Success</BODY></HTML>"),
    "/library/test/success.html": (200, "text/html",
                                   "<HTML><HEAD><TITLE>Success</TITLE></HEAD><BODY>Success</BODY></HTML>"),
    "/connecttest.txt": (200, "text/plain", "Microsoft Connect Test"),   # Windows NCSI
    "/ncsi.txt": (200, "text/plain", "Microsoft NCSI"),
    "/success.txt": (200, "text/plain", "success\n"),               # Firefox
    "/canonical.html": (200, "text/html", '<meta http-equiv="refresh" '
                        'content="0;url=https://support.mozilla.org/kb/captive-portal"/>'),
    "/check_network_status.txt": (200, "text/plain", "NetworkManager is online\n"),   # GNOME
}


def _view() -> tuple[StatusView, str]:
    """The caller's login view and its per-client token ("" when identified by address)."""
    journey = services().journey
    token = request.args.get("s", "")
    if token:
        try:
            ac, ip, phone = journey.open_session_token(token)
        except LoginError:
            return StatusView(False), ""
        return journey.status(ac, ip, phone), token
    ip = client_address()
    ac = journey.ac_for_ip(ip)
    return (journey.status(ac, ip) if ac else StatusView(False)), ""


def _portal_url() -> str:
    return public_base_url() + url_for("phone.landing")


@bp.get("/api/captive")
def captive_api() -> Response:
    view, token = _view()
    body: dict[str, object] = {"captive": not view.online, "user-portal-url": _portal_url()}
    if view.online:
        journey = services().journey
        venue_url = journey.redirect_target(journey.venue(view.venue))
        if venue_url:
            body["venue-info-url"] = venue_url
        body["can-extend-session"] = False
        if view.seconds_remaining is not None:
            body["seconds-remaining"] = int(view.seconds_remaining)
        if view.bytes_remaining is not None:
            body["bytes-remaining"] = int(view.bytes_remaining)
        if token:
            body["user-portal-url"] = _portal_url().replace("/portal", "/portal/status") + f"?s={token}"
    return Response(json.dumps(body), mimetype="application/captive+json",
                    headers={"Cache-Control": "private, no-store"})


def _probe() -> BaseResponse:
    status, ctype, body = PROBES[request.path]
    view, _ = _view()
    if not view.online:
        return redirect(_portal_url(), 302)
    return Response(body, status=status, mimetype=ctype)


for _path in PROBES:
    bp.add_url_rule(_path, endpoint="probe" + _path.replace("/", "_").replace(".", "_"), view_func=_probe)
