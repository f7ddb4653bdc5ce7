"""UniFi Network external portal: the redirect, and the guest authorisation it needs.

Facts from Ubiquiti's UniFi documentation (Hotspot / guest portal, "External portal server")
and the controller's web API as its clients use it:

* With an external portal server set, the controller answers a guest's first web request with a
  redirect to ``http://<portal>/guest/s/<site>/?ap=<AP MAC>&id=<client MAC>&t=<epoch>&url=<first
  URL>&ssid=<SSID>``; ``<site>`` is the site's short name ("default", or an 8-character id).
  The portal's route ``/guest/s/<site>/`` hands it to the landing with ``unifi_site=<site>``.
* The portal lets the guest in through the controller: ``POST /api/login`` with
  ``{"username", "password"}`` (a session cookie and, on current releases, a CSRF token to send
  back as ``X-Csrf-Token``), then ``POST /api/s/<site>/cmd/stamgr`` with ``{"cmd":
  "authorize-guest", "mac", "minutes", "up", "down" (kbit/s), "bytes" (a data cap in MB),
  "ap_mac"}``; ``{"cmd": "unauthorize-guest", "mac"}`` ends it. Answers are ``{"meta": {"rc":
  "ok"|"error", "msg": …}, "data": […]}``; an expired session answers 401
  ``api.err.LoginRequired``. UniFi OS consoles serve the same API under ``/proxy/network``
  and log in at ``/api/auth/login``.

Nothing in the redirect is signed and it carries no client IP: the MAC and AP are the phone's
claims (the controller only ever admits the MAC it is told, so a claim can only let that MAC
in), and the portal keys the login by the MAC's modified EUI-64 link-local address
(:func:`mac_link_local`), keeping the address the request came from in the real-name record.
"""

from __future__ import annotations

import ipaddress
import math
import re
from collections.abc import Mapping
from typing import Any, Literal
from urllib.parse import urlsplit

from ac_adapters.gateways.base import GatewayLimits, GatewayRedirect, GatewayRedirectError
from ac_adapters.redirect import normalise_mac

__all__ = ["DEFAULT_MINUTES", "UNIFI", "UnifiAdapter", "authorize_payload", "controller_url_problem",
           "mac_link_local", "parse_guest_redirect"]

SITE = re.compile(r"^[A-Za-z0-9_.-]{1,64}$")
DEFAULT_MINUTES = 24 * 60        # authorize-guest needs minutes: a plan without a session limit


def controller_url_problem(url: str) -> str:
    """"" when ``url`` is a usable controller address, else what is wrong with it."""
    if not url:
        return "is required for a UniFi gateway (https://user@controller:8443)"
    parts = urlsplit(url)
    if parts.scheme not in ("http", "https") or not parts.hostname:
        return "must be an http(s) URL"
    if not parts.username or parts.password is not None:
        return "names the API user (https://user@host) and no password (that is the secret)"
    if parts.query or parts.fragment or parts.path.rstrip("/") not in ("", "/proxy/network"):
        return "is the controller's base URL only (path empty, or /proxy/network on UniFi OS)"
    return ""


def mac_link_local(mac: str) -> str:
    """``fe80::<modified EUI-64>`` of a MAC (RFC 4291 appendix A): the stable per-device key a
    UniFi login is stored under, the redirect carrying no client IP."""
    octets = bytes.fromhex(mac.replace(":", ""))
    eui = bytes([octets[0] ^ 0x02, *octets[1:3], 0xFF, 0xFE, *octets[3:]])
    return str(ipaddress.IPv6Address(b"\xfe\x80" + bytes(6) + eui))


def parse_guest_redirect(query: Mapping[str, str]) -> GatewayRedirect:
    """``unifi_site`` + UniFi's redirect query → the phone's context; ``state`` keeps the site,
    the client MAC and the AP MAC for the authorisation."""
    site = query.get("unifi_site", "")
    if not SITE.match(site):
        raise GatewayRedirectError("unknown_ac", f"unifi: site {site[:40]!r}")
    mac = normalise_mac(query.get("id", ""))
    if mac is None:
        raise GatewayRedirectError("bad_mac", f"unifi: id {query.get('id', '')[:40]!r}")
    ap = query.get("ap", "")
    ap_mac = normalise_mac(ap) if ap else ""
    if ap_mac is None:
        raise GatewayRedirectError("bad_redirect", f"unifi: ap {ap[:40]!r}")
    state = {"site": site, "mac": mac, "ap": ap_mac}
    return GatewayRedirect(gateway_name=site, user_ip=mac_link_local(mac), user_mac=mac,
                           original_url=query.get("url", "")[:2000], state=state)


def authorize_payload(state: Mapping[str, str], limits: GatewayLimits) -> dict[str, Any]:
    """The ``authorize-guest`` command for these limits: minutes rounded up, rates in kbit/s,
    the data cap in MB (rounded down, at least 1: 0 would mean no cap)."""
    mac = normalise_mac(state.get("mac", ""))
    if mac is None:
        raise ValueError("a UniFi authorisation needs the client MAC")
    seconds = limits.session_seconds
    payload: dict[str, Any] = {"cmd": "authorize-guest", "mac": mac,
                               "minutes": max(1, math.ceil(seconds / 60)) if seconds else DEFAULT_MINUTES}
    if limits.up_kbps:
        payload["up"] = int(limits.up_kbps)
    if limits.down_kbps:
        payload["down"] = int(limits.down_kbps)
    kbytes = [k for k in (limits.up_kbytes, limits.down_kbytes) if k is not None]
    if kbytes:                           # plan_limits counts KiB; the controller decimal MB
        payload["bytes"] = max(1, min(kbytes) * 1024 // 1_000_000)
    if state.get("ap"):
        payload["ap_mac"] = state["ap"]
    return payload


class UnifiAdapter:
    """UniFi external portal as a ``GatewayAdapter`` ("exchange": the portal authorises the
    guest through the controller's API, ``ac_adapters.gateways.unifi_api``)."""

    kind: str = "unifi"
    grant_mode: Literal["redirect", "exchange"] = "exchange"
    can_logout: bool = True              # unauthorize-guest
    enforced_limits: frozenset[str] = frozenset(
        {"session_seconds", "up_kbps", "down_kbps", "up_kbytes", "down_kbytes"})
    marker: str = "unifi_site"

    def parse_redirect(self, query: Mapping[str, str]) -> GatewayRedirect:
        return parse_guest_redirect(query)

    def grant_url(self, state: Mapping[str, str], secret: str, limits: GatewayLimits,
                  landing_url: str) -> str:
        raise ValueError("a UniFi guest is authorised through the controller, not by a URL")


UNIFI = UnifiAdapter()
