"""TP-Link Omada external portal server (Omada SDN Controller 5.x).

Facts from TP-Link's "API and Code Sample for External Portal Server (Omada Controller 5.0.15 or
above)" (FAQ 3231 / document 13080):

* The controller sends the phone to the portal with ``?clientMac=…&apMac=…&ssidName=…&t=…
  &radioId=…&site=…&redirectUrl=…`` (an EAP), or ``?clientMac=…&gatewayMac=…&vid=…&t=…&site=…
  &redirectUrl=…`` (a gateway's wired portal). MACs are written ``AA-BB-CC-DD-EE-FF``.
* The portal logs in as a hotspot operator: ``POST /<omadacId>/api/v2/hotspot/login``
  ``{"name", "password"}`` → ``{"errorCode": 0, "result": {"token": …}}`` and a
  ``TPOMADA_SESSIONID`` cookie; then authorises the client with ``POST /<omadacId>/api/v2/
  hotspot/extPortal/auth`` (header ``Csrf-Token: <token>``) and ``{"clientMac", "apMac",
  "ssidName", "radioId", "site", "time", "authType": 4}`` (``gatewayMac`` and ``vid`` instead of
  the AP fields for a gateway), ``time`` being how long the authorisation lasts, in
  microseconds. ``errorCode`` 0 is success.
* That API sets no rate or data limit and has no call to end an authorisation: rates come from
  the portal's own settings on the controller, and a session ends when ``time`` runs out.

Nothing in the redirect is signed and it names no client IP (see ``unifi.mac_link_local``).
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from typing import Any, Literal
from urllib.parse import urlsplit

from ac_adapters.gateways.base import GatewayLimits, GatewayRedirect, GatewayRedirectError
from ac_adapters.gateways.unifi import DEFAULT_MINUTES, SITE, mac_link_local
from ac_adapters.redirect import normalise_mac

__all__ = ["OMADA", "OmadaAdapter", "auth_payload", "omada_url_problem", "parse_portal_redirect"]

_ID = re.compile(r"^[A-Za-z0-9_-]{1,64}$")
_SMALL = re.compile(r"^[0-9]{1,4}$")


def omada_url_problem(url: str) -> str:
    """"" when ``url`` is https://<operator>@<controller>:8043/<omadacId>, else what is wrong."""
    parts = urlsplit(url)
    if parts.scheme not in ("http", "https") or not parts.hostname:
        return "must be an http(s) URL (https://operator@controller:8043/<omadacId>)"
    if not parts.username or parts.password is not None:
        return "names the hotspot operator (https://operator@host) and no password (that is the secret)"
    if parts.query or parts.fragment or not _ID.match(parts.path.strip("/")):
        return "ends with the controller id: https://operator@controller:8043/<omadacId>"
    return ""


def _mac(value: str, name: str) -> tuple[str, str]:
    mac = normalise_mac(value)
    if mac is None:
        raise GatewayRedirectError("bad_mac" if name == "clientMac" else "bad_redirect",
                                   f"omada: {name} {value[:40]!r}")
    return mac, mac.upper().replace(":", "-")       # ours, and Omada's spelling for its API


def parse_portal_redirect(query: Mapping[str, str]) -> GatewayRedirect:
    """Omada's redirect → the phone's context; ``state`` keeps what ``extPortal/auth`` needs."""
    site = query.get("site", "")
    if not SITE.match(site):
        raise GatewayRedirectError("unknown_ac", f"omada: site {site[:40]!r}")
    mac, client = _mac(query.get("clientMac", ""), "clientMac")
    state = {"site": site, "clientMac": client}
    if query.get("apMac"):
        state["apMac"] = _mac(query["apMac"], "apMac")[1]
        radio = query.get("radioId", "")
        if not _SMALL.match(radio):
            raise GatewayRedirectError("bad_redirect", f"omada: radioId {radio[:10]!r}")
        state.update(radioId=radio, ssidName=query.get("ssidName", "")[:64])
    elif query.get("gatewayMac"):
        state["gatewayMac"] = _mac(query["gatewayMac"], "gatewayMac")[1]
        vid = query.get("vid", "")
        if not _SMALL.match(vid):
            raise GatewayRedirectError("bad_redirect", f"omada: vid {vid[:10]!r}")
        state["vid"] = vid
    else:
        raise GatewayRedirectError("bad_redirect", "omada: neither apMac nor gatewayMac")
    return GatewayRedirect(gateway_name=site, user_ip=mac_link_local(mac), user_mac=mac,
                           original_url=query.get("redirectUrl", "")[:2000], state=state)


def auth_payload(state: Mapping[str, str], limits: GatewayLimits) -> dict[str, Any]:
    """``extPortal/auth`` for this session: ``time`` in microseconds, ``authType`` 4."""
    seconds = limits.session_seconds or DEFAULT_MINUTES * 60
    body: dict[str, Any] = {"clientMac": state.get("clientMac", ""), "site": state.get("site", ""),
                            "time": int(seconds) * 1_000_000, "authType": 4}
    if not body["clientMac"] or not body["site"]:
        raise ValueError("an Omada authorisation needs the client MAC and the site")
    if "apMac" in state:
        body.update(apMac=state["apMac"], ssidName=state.get("ssidName", ""),
                    radioId=int(state.get("radioId", "0")))
    else:
        body.update(gatewayMac=state.get("gatewayMac", ""), vid=int(state.get("vid", "0")))
    return body


class OmadaAdapter:
    """Omada's external portal as a ``GatewayAdapter`` ("exchange", ``omada_api``)."""

    kind: str = "omada"
    grant_mode: Literal["redirect", "exchange"] = "exchange"
    can_logout: bool = False            # the external-portal API cannot end an authorisation
    enforced_limits: frozenset[str] = frozenset({"session_seconds"})
    marker: str = "clientMac"

    def parse_redirect(self, query: Mapping[str, str]) -> GatewayRedirect:
        return parse_portal_redirect(query)

    def grant_url(self, state: Mapping[str, str], secret: str, limits: GatewayLimits,
                  landing_url: str) -> str:
        raise ValueError("an Omada client is authorised through the controller, not by a URL")


OMADA = OmadaAdapter()
