"""The phone's logout on a gateway kind (openNDS, Chilli, MikroTik; Omada): only the gateway can end
the session, and only when the phone's own browser asks it to (openNDS 9.10 has no remote
deauth). ``POST /portal/logout`` (``portal/web/phone.py``) answers with a short page that sends
the browser to the gateway's deny URL (``/opennds_deny/``); openNDS deauthenticates the client
there, and our BinAuth hook's ``client_deauth`` event closes the session here
(``portal.gateway_sessions``). A page, not a 303: the status page may be a venue's, whose
``form-action`` would block a redirect of its form post to the gateway's address.
"""

from __future__ import annotations

from flask import Response
from markupsafe import escape

from ac_adapters.gateways import adapter_for
from portal.gateway_login import logout_url, no_portal_login
from portal.web import services

__all__ = ["logout_page"]

_POLICY = ("default-src 'none'; style-src 'unsafe-inline'; form-action 'none'; base-uri 'none'; "
           "frame-ancestors 'none'")


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
        zh = "该 Wi-Fi 网关无法从门户下线：会话将在登录时设定的时长或流量用完时结束。"
        en = ("This Wi-Fi gateway cannot be logged out from the portal: the session ends when the "
              "time or data given at login runs out.")
        head = ""
    else:
        link = escape(url)
        head = f'<meta http-equiv="refresh" content="0;url={link}">'
        zh = f'正在 Wi-Fi 网关上下线……如未自动跳转，请<a href="{link}">点此完成下线</a>。'
        en = f'Logging out at the Wi-Fi gateway… If nothing happens, <a href="{link}">tap here to finish</a>.'
    body = f"<p>{en}</p><p lang=zh>{zh}</p>" if lang == "en" else f"<p>{zh}</p><p lang=en>{en}</p>"
    html = (f'<!doctype html><html lang="{"en" if lang == "en" else "zh"}"><meta charset="utf-8">'
            f'<meta name="viewport" content="width=device-width">{head}<title>下线 Log out</title>'
            f"{body}</html>")
    response = Response(html, status=200, mimetype="text/html")
    response.headers["Content-Security-Policy"] = _POLICY
    return response
