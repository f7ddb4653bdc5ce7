"""The success page a redirect-grant gateway (openNDS level 1) sends its phone back to.

At level 1 the login's answer is a redirect of the phone's browser to the gateway's grant URL
(``portal.phone.gateway_login.handoff``); openNDS then sends the phone on to the ``redir`` URL it was
given. When the venue has a post-login page, going there straight would leave the phone without
our success page, and so without its status link (the status page cannot find a gateway phone
by address: the portal sees the gateway's NAT address). So ``redir`` is this page instead:
``GET /portal/welcome?s=<sealed session token>`` shows the usual success page — the status link,
the plan — and forwards to the venue's post-login page after the venue's delay. The target is
recomputed from the session's venue (its allow-listed post-login URL), never taken from the
request, so this is no open redirect. Part of the phone blueprint.
"""

from __future__ import annotations

from urllib.parse import urlsplit

from flask import Response, url_for

from portal.web import services
from portal.web.phone.phone_lookup import keep_session
from portal.web.phone.phone_pages import _lang, _online_status, _render, bp

__all__ = ["welcome"]


@bp.get("/portal/welcome")
def welcome() -> Response:
    journey = services().journey
    online = _online_status(_lang())
    if isinstance(online, Response):
        return online
    ac, ip, view = online
    venue = journey.venue(view.venue)
    lang = _lang(venue)
    target = journey.redirect_target(venue)
    token = journey.session_token(ac, ip, view.phone)
    return keep_session(_render(  # this browser finds its status without the link too (phone_lookup)
        "success", venue, lang, redirect_url=target, delay=venue.redirect_delay, ad=None,
        redirect_host=urlsplit(target).hostname or "" if target else "",
        status_url=url_for("phone.status", s=token, lang=lang), plan=view.plan_in(lang)), token)
