"""Captive-portal detection done right (RFC 8908, RFC 8910; docs/protocols/captive-clients.md
§2.2, §2.6; docs/captive-portal-api.md).

* ``/api/captive`` — the RFC 8908 API: ``application/captive+json``, ``captive`` from the
  portal's live view of the login, ``seconds-remaining`` / ``bytes-remaining`` from live quota,
  ``user-portal-url`` and ``venue-info-url``. A client is identified by a per-client token
  (``?s=``, handed out after login, RFC 8910 §2 "per-client URI"), else as
  ``portal.web.phone.phone_lookup`` allows: its observed address where the AC checks addresses, or
  the remembered redirect of its browser.
* OS probe URLs — answered exactly as each OS expects once the client is online, and
  redirected (302, ``no-store``) to ``/portal`` while it is not; ``/portal`` replays the
  phone's remembered AC redirect, so the probe lands on the working login page.

Both URLs phones are given (``user-portal-url``, probe redirects) are built from
``web.public_url``: RFC 8908 requires it to be https (the shipped nginx serves the portal over
TLS too).
"""

from __future__ import annotations

import json

from flask import Blueprint, Response, redirect, request, url_for
from werkzeug.wrappers import Response as BaseResponse

from portal.phone.login import LoginError, StatusView
from portal.web import public_base_url, services
from portal.web.phone import phone_lookup

__all__ = ["PROBES", "PROBE_HOSTS", "bp", "probe_for_host"]

bp = Blueprint("captive", __name__)

_SUCCESS_HTML = "<HTML><HEAD><TITLE>Success</TITLE></HEAD><BODY>Success</BODY></HTML>"

# path → (status, content type, body) of the "you are online" answer.
PROBES: dict[str, tuple[int, str, str]] = {
    "/generate_204": (204, "text/plain", ""),                      # Android, MIUI, HarmonyOS, vivo…
    "/gen_204": (204, "text/plain", ""),
    "/hotspot-detect.html": (200, "text/html", _SUCCESS_HTML),     # Apple CNA
    "/library/test/success.html": (200, "text/html", _SUCCESS_HTML),
    "/connecttest.txt": (200, "text/plain", "Microsoft Connect Test"),   # Windows NCSI
    "/ncsi.txt": (200, "text/plain", "Microsoft NCSI"),
    "/success.txt": (200, "text/plain", "success\n"),               # Firefox
    "/canonical.html": (200, "text/html", '<meta http-equiv="refresh" '
                        'content="0;url=https://support.mozilla.org/kb/captive-portal"/>'),
    "/check_network_status.txt": (200, "text/plain", "NetworkManager is online\n"),   # GNOME
}

# Probe hosts whose check URL is the site root, which on the portal is the landing page:
# host → the "you are online" answer. Ubuntu's NetworkManager asks http://connectivity-check.ubuntu.com./
# and takes a 204 (or the X-NetworkManager-Status header) as online.
PROBE_HOSTS: dict[str, tuple[int, str, str]] = {
    "connectivity-check.ubuntu.com": (204, "text/plain", ""),
}


def _view() -> tuple[StatusView, str]:
    """The caller's login view and its per-client token ("" when identified otherwise).

    Quota figures only for the caller's own login (``phone_lookup.own_login``: the token, the
    browser's session cookie or the checked address); a browser known only by its remembered
    redirect learns just whether it is online (that redirect is a claim the browser brought,
    not proof of whose device it is)."""
    token = request.args.get("s", "")
    try:
        found = phone_lookup.own_login(token)
    except LoginError:
        return StatusView(False), ""
    if found is not None:
        return found[2], token
    return StatusView(not token and phone_lookup.remembered_online()), ""


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
        # Online: the page to show the user is the status page (with its token when asked with one).
        body["user-portal-url"] = public_base_url() + url_for("phone.status", s=token or None)
    return Response(json.dumps(body), mimetype="application/captive+json",
                    headers={"Cache-Control": "private, no-store"})


def _answer(online_answer: tuple[int, str, str]) -> BaseResponse:
    status, ctype, body = online_answer
    view, _ = _view()
    if not view.online:
        return redirect(_portal_url(), 302)
    response = Response(body, status=status, mimetype=ctype)
    response.headers["X-NetworkManager-Status"] = "online"
    return response


def _probe() -> BaseResponse:
    return _answer(PROBES[request.path])


for _path in PROBES:
    bp.add_url_rule(_path, endpoint="probe" + _path.replace("/", "_").replace(".", "_"), view_func=_probe)


@bp.get("/redirect")
def windows_redirect() -> BaseResponse:
    """``www.msftconnecttest.com/redirect``: the page Windows opens in the browser once NCSI saw a
    portal. Captive: to the portal, like a probe; online: to the status page."""
    view, token = _view()
    if not view.online:
        return redirect(_portal_url(), 302)
    return redirect(public_base_url() + url_for("phone.status", s=token or None), 302)


def probe_for_host() -> BaseResponse | None:
    """The probe answer when a request for the site root names a :data:`PROBE_HOSTS` host (the
    probe's DNS leads to the portal), else None (the landing page goes on)."""
    host = (request.host or "").rsplit(":", 1)[0].rstrip(".").lower()
    answer = PROBE_HOSTS.get(host)
    return None if answer is None else _answer(answer)
