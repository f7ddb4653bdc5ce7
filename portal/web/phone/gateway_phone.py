"""Gateway kinds on the phone's side: the handoff of a grant, and the logout.

The handoff (:func:`handoff_page`): a 303 to the gateway's grant URL; for a CoovaChilli entry
that logs in through Chilli's JSON interface (``LoginSuccess.gateway_json``) a short page
whose script asks ``/json/status`` (already online → on; a challenge other than the redirect's
→ the login went stale, retry at the gateway's ``/prelogin``), then ``/json/logon`` (JSONP),
and reads ``clientState``: 1 → our welcome page; 0 → the gateway's ``message`` and a retry
link. Without script, or when the gateway does not answer, the browser follows the plain
``/logon`` URL as before (each logon spends the challenge once, so only one of them can
succeed).

The phone's logout on a gateway kind (openNDS, Chilli, MikroTik; Omada): only the gateway can end
the session, and only when the phone's own browser asks it to (openNDS 9.10 has no remote
deauth). ``POST /portal/logout`` (``portal/web/phone/phone_pages.py``) answers with a short page that sends
the browser to the gateway's deny URL (``/opennds_deny/``); openNDS deauthenticates the client
there, and our BinAuth hook's ``client_deauth`` event closes the session here
(``portal.aaa.gateway_sessions``). A page, not a 303: the status page may be a venue's, whose
``form-action`` would block a redirect of its form post to the gateway's address.
"""

from __future__ import annotations

import json
import secrets
from urllib.parse import parse_qsl, urlsplit

from flask import Response
from markupsafe import escape

from ac_adapters.gateways import adapter_for
from portal.phone.gateway_login import logout_url, no_portal_login
from portal.phone.login_types import LoginSuccess, PhoneContext
from portal.web import services
from portal.web.phone.texts import (
    GATEWAY_LOGIN_REFUSED,
    GATEWAY_LOGIN_RETRY,
    GATEWAY_LOGIN_STALE,
    GATEWAY_LOGIN_TAP,
    GATEWAY_LOGIN_TITLE,
    GATEWAY_LOGIN_WORKING,
    GATEWAY_LOGOUT_CANNOT,
    GATEWAY_LOGOUT_TITLE,
    GATEWAY_LOGOUT_WORKING,
)

__all__ = ["handoff_page", "logout_page"]

_POLICY = ("default-src 'none'; style-src 'unsafe-inline'; form-action 'none'; base-uri 'none'; "
           "frame-ancestors 'none'")
_LOGOUT_TITLE, _LOGIN_TITLE = " ".join(GATEWAY_LOGOUT_TITLE), " ".join(GATEWAY_LOGIN_TITLE)


def logout_page(ac: str, user_ip: str, lang: str) -> Response | None:
    """The page (in Chinese and English, ``lang``'s first) that sends the phone to
    its gateway's logout, or None when ``ac`` is not a redirect-grant gateway (the carrier Portal
    protocol logs out from here)."""
    journey = services().journey
    record = journey.acs.get_or_none(ac)
    if record is None or not no_portal_login(record):
        return None
    adapter = adapter_for(record.kind)
    if adapter is not None and adapter.grant_mode == "exchange" and adapter.can_logout:
        return None             # UniFi: the portal unauthorises the guest itself (PhoneJourney.logout)
    url = logout_url(journey, record, user_ip)
    if url is None:
        zh, en = GATEWAY_LOGOUT_CANNOT
        head = ""
    else:
        link = escape(url)
        head = f'<meta http-equiv="refresh" content="0;url={link}">'
        zh, en = (text.format(link=link) for text in GATEWAY_LOGOUT_WORKING)
    body = f"<p>{en}</p><p lang=zh>{zh}</p>" if lang == "en" else f"<p>{zh}</p><p lang=en>{en}</p>"
    html = (f'<!doctype html><html lang="{"en" if lang == "en" else "zh"}"><meta charset="utf-8">'
            f'<meta name="viewport" content="width=device-width">{head}<title>{_LOGOUT_TITLE}</title>'
            f"{body}</html>")
    response = Response(html, status=200, mimetype="text/html")
    response.headers["Content-Security-Policy"] = _POLICY
    return response


_JSON_SCRIPT = """(function () {
  var c = JSON.parse(document.getElementById("cw-chilli").textContent), done = false, timer = 0;
  function fallback() { if (!done) { done = true; location.replace(c.plain); } }
  function refused(text) {
    done = true; clearTimeout(timer);
    document.getElementById("working").hidden = true;
    document.getElementById("reason").textContent = text || "";
    document.getElementById("failed").hidden = false;
  }
  function ask(url, name, next) {
    window[name] = function (r) { clearTimeout(timer); if (!done) { next(r || {}); } };
    var s = document.createElement("script");
    s.src = url + (url.indexOf("?") < 0 ? "?" : "&") + "callback=" + name;
    s.onerror = fallback;
    timer = setTimeout(fallback, 20000);
    document.head.appendChild(s);
  }
  ask(c.status, "cwChilliStatus", function (r) {
    if (r.clientState === 1) { done = true; location.replace(c.landing); return; }
    if (typeof r.challenge === "string" && r.challenge.toLowerCase() !== c.challenge) {
      refused(c.stale); return;
    }
    ask(c.logon, "cwChilliLogon", function (r) {
      if (r.clientState === 1 || r.clientState === 3) { done = true; location.replace(c.landing); }
      else { refused(typeof r.message === "string" ? r.message : ""); }
    });
  });
})();"""


def handoff_page(ctx: PhoneContext, ok: LoginSuccess, lang: str) -> Response:
    """How the phone's browser carries a gateway grant: a 303 to the grant URL, or, for a
    CoovaChilli JSON login, the page that calls Chilli's JSON interface (module docstring)."""
    if not ok.gateway_json:
        return Response(status=303, headers={"Location": ok.redirect_url})
    state = json.loads(ctx.gateway or "{}")
    logon = urlsplit(ok.gateway_json)
    json_root = f"{logon.scheme}://{logon.netloc}{logon.path.rsplit('/', 1)[0]}/"
    config = {"status": json_root + "status", "logon": ok.gateway_json, "plain": ok.redirect_url,
              "landing": dict(parse_qsl(logon.query)).get("userurl", "/"),
              "challenge": str(state.get("challenge", "")).lower(),
              "stale": " / ".join(GATEWAY_LOGIN_STALE)}
    retry = escape(f"http://{state.get('uamip', '')}:{state.get('uamport', '')}/prelogin")
    plain = escape(ok.redirect_url)
    data = json.dumps(config).replace("<", "\\u003c").replace(">", "\\u003e").replace("&", "\\u0026")
    nonce = secrets.token_urlsafe(16)
    zh_working, en_working = GATEWAY_LOGIN_WORKING
    zh_fail, en_fail = GATEWAY_LOGIN_REFUSED
    zh_retry, en_retry = GATEWAY_LOGIN_RETRY
    zh_tap, en_tap = GATEWAY_LOGIN_TAP
    first, second = ("en", "zh") if lang == "en" else ("zh", "en")
    words = {"zh": (zh_working, zh_fail, zh_retry, zh_tap), "en": (en_working, en_fail, en_retry, en_tap)}
    working = "".join(f"<p lang={code}>{words[code][0]}</p>" for code in (first, second))
    failed = " / ".join(words[code][1] for code in (first, second))
    again = " / ".join(words[code][2] for code in (first, second))
    tap = " / ".join(words[code][3] for code in (first, second))
    html = (f'<!doctype html><html lang="{first}"><meta charset="utf-8">'
            f'<meta name="viewport" content="width=device-width"><title>{_LOGIN_TITLE}</title>'
            f'<noscript><meta http-equiv="refresh" content="0;url={plain}"></noscript>'
            f'<div id="working">{working}<p><a href="{plain}">{tap}</a></p></div>'
            f'<div id="failed" hidden><p>{failed}<span id="reason"></span></p>'
            f'<p><a id="retry" href="{retry}">{again}</a></p></div>'
            f'<script type="application/json" id="cw-chilli">{data}</script>'
            f'<script nonce="{nonce}">{_JSON_SCRIPT}</script></html>')
    response = Response(html, status=200, mimetype="text/html")
    response.headers["Cache-Control"] = "no-store"
    response.headers["Content-Security-Policy"] = (
        f"default-src 'none'; script-src 'nonce-{nonce}' {logon.scheme}://{logon.netloc}; "
        "style-src 'unsafe-inline'; form-action 'none'; base-uri 'none'; frame-ancestors 'none'")
    return response
