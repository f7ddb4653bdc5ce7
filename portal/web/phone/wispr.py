"""WISPr 1.0 for smart clients (carrier dialers, old CNA versions): the redirect block on the
login page and the login POST (``UserName`` = phone, ``Password`` = SMS code; reply 120 with
ResponseCode 50 ok / 100 failed / 255 gateway error). Part of the phone blueprint."""

from __future__ import annotations

from urllib.parse import urlencode

from flask import Response, request, url_for

from portal.phone.login import LoginError, PhoneContext
from portal.venues.venue_store import Venue
from portal.web import public_base_url, services
from portal.web.phone.phone_pages import PHONE_INPUT_MAX, _checked_context, bp, log, observed_address

__all__ = ["redirect_block", "wispr"]


def redirect_block(c: str, venue: Venue, ctx: PhoneContext) -> dict[str, str]:
    """The values of the login page's WISPr 100 redirect block."""
    base = public_base_url()
    return {"location_id": f"ac={ctx.ac},ssid={ctx.ssid}", "location_name": venue.name("en") or venue.id,
            "login_url": f"{base}{url_for('phone.wispr')}?{urlencode({'c': c})}",
            "abort_url": f"{base}{url_for('phone.landing')}"}


_WISPR_REPLY = """<?xml version="1.0" encoding="UTF-8"?>
<WISPAccessGatewayParam xmlns:xsi="http://www.w3.org/2001/XMLSchema-instance">
<AuthenticationReply>
<MessageType>120</MessageType>
<ResponseCode>{code}</ResponseCode>{extra}
</AuthenticationReply>
</WISPAccessGatewayParam>
"""


@bp.post("/portal/wispr")
def wispr() -> Response:
    """WISPr 1.0 login: UserName = phone, Password = SMS code (120 reply: 50 ok / 100 failed)."""
    from xml.sax.saxutils import escape

    journey = services().journey
    try:
        ctx, c = _checked_context()
        ok = journey.login_with_code(ctx, request.form.get("UserName", "")[:PHONE_INPUT_MAX],
                                     request.form.get("Password", "")[:12], page=c,
                                     observed=observed_address())
    except LoginError as exc:
        log.info("WISPr login refused: %s", exc.code)
        code = 255 if exc.code in ("ac_timeout", "busy", "state_unavailable") else 100
        body = _WISPR_REPLY.format(code=code, extra=f"\n<ReplyMessage>{escape(exc.code)}</ReplyMessage>")
        return Response(body, mimetype="text/xml")
    logoff = public_base_url() + url_for("phone.status", s=ok.session_token)
    extra = f"\n<LogoffURL>{escape(logoff)}</LogoffURL>"
    if ok.redirect_url:
        extra += f"\n<RedirectionURL>{escape(ok.redirect_url)}</RedirectionURL>"
    return Response(_WISPR_REPLY.format(code=50, extra=extra), mimetype="text/xml")
