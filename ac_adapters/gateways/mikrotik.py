"""MikroTik RouterOS Hotspot with an external login page.

Facts from MikroTik's RouterOS Hotspot documentation ("HotSpot customisation": servlet pages
and variables; "HotSpot external login page"):

* The router serves its ``login.html`` to an unauthenticated client. For an external portal that
  page is a trampoline that submits the router's variables to the portal (``deploy/mikrotik/
  login.html``): ``$(link-login-only)`` (the router's login servlet, e.g.
  ``http://10.5.50.1/login``), ``$(link-orig)`` (the page first asked for), ``$(mac)``,
  ``$(ip)``, ``$(chap-id)``, ``$(chap-challenge)``, ``$(error)`` and ``$(identity)`` (the
  router's name, the registry's name for it).
* ``$(chap-id)`` and ``$(chap-challenge)`` are rendered as octal escapes (``\\357\\221…``), meant
  for a JavaScript string literal: the value is the bytes those escapes name.
* The portal logs the client in by sending its browser to ``link-login-only`` with
  ``username``, ``password = hex(MD5(chap-id + password + chap-challenge))`` and ``dst`` (where
  to go after the login); the router (``login-by=http-chap``, ``use-radius=yes``) sends
  ``CHAP-Password`` = chap-id ‖ digest and ``CHAP-Challenge`` to RADIUS. A refused login shows
  ``login.html`` again with ``$(error)`` set, a fresh challenge.
* Disconnect/CoA: ``/radius incoming set accept=yes`` (port 3799).

Nothing in these values is signed: every one is the phone's claim. The portal therefore checks
where the landing came from (the router's ``addresses``, or the client IP it names), never puts
a host name the claim chose into a grant without the ``/login`` servlet path, and the CHAP
digest binds the grant to the router's challenge (a logon with another challenge fails at
RADIUS). See docs/integration/mikrotik.md for what remains trusted.
"""

from __future__ import annotations

import hashlib
import ipaddress
import re
from collections.abc import Mapping
from typing import Literal
from urllib.parse import quote, urlencode, urlsplit

from ac_adapters.gateways.base import GatewayLimits, GatewayRedirect, GatewayRedirectError, client_address

__all__ = ["MIKROTIK", "MikrotikAdapter", "chap_password", "decode_octal", "encode_octal",
           "login_url", "parse_login_form"]

_OCTAL = re.compile(r"\\([0-7]{3})")
_ESCAPED = re.compile(r"^(?:\\[0-7]{3})+$")
_HEX = re.compile(r"^[0-9a-f]*$")
_IDENTITY = re.compile(r"^[A-Za-z0-9_.-]{1,64}$")


def decode_octal(text: str) -> bytes:
    """RouterOS's ``\\ooo`` escapes → bytes. Only escapes: anything else is not the router's."""
    if not _ESCAPED.match(text) or any(int(m, 8) > 255 for m in _OCTAL.findall(text)):
        raise GatewayRedirectError("bad_redirect", f"mikrotik: {text[:20]!r} is not octal-escaped bytes")
    return bytes(int(m, 8) for m in _OCTAL.findall(text))


def encode_octal(data: bytes) -> str:
    """Bytes → RouterOS's rendering (fakes and tests)."""
    return "".join(f"\\{b:03o}" for b in data)


def chap_password(chap_id: bytes, password: str, challenge: bytes) -> str:
    """``hex(MD5(chap-id + password + chap-challenge))``: the ``password`` of a CHAP login."""
    return hashlib.md5(chap_id + password.encode("utf-8") + challenge).hexdigest()


def _login_servlet(url: str) -> str:
    """``link-login-only``: http(s)://<IP literal>[:port]/login and nothing else. A host name is
    refused: the claim could name any site, which would then receive the phone's number (the
    username) — so the hotspot's ``dns-name`` must stay out of this link."""
    parts = urlsplit(url)
    try:
        ipaddress.ip_address(parts.hostname or "")
        port_ok = parts.port is None or 0 < parts.port < 65536
    except ValueError:
        port_ok = False
    if (parts.scheme not in ("http", "https") or not port_ok or parts.query or parts.fragment
            or parts.username or parts.password or parts.path != "/login"):
        raise GatewayRedirectError("bad_redirect", f"mikrotik: link-login-only {url[:80]!r}")
    return f"{parts.scheme}://{parts.netloc}{parts.path}"


def parse_login_form(query: Mapping[str, str]) -> GatewayRedirect:
    """The trampoline's fields → the phone's context; ``state`` keeps the login servlet and
    the CHAP id and challenge (hex) for :func:`login_url`."""
    chap_id = decode_octal(query.get("chap-id", ""))
    challenge = decode_octal(query.get("chap-challenge", ""))
    if len(chap_id) != 1 or not 1 <= len(challenge) <= 64:
        raise GatewayRedirectError("bad_redirect", "mikrotik: chap-id is one byte, chap-challenge 1-64")
    user_ip, mac = client_address(query, "ip", "mac", "mikrotik")
    name = query.get("identity", "").strip()
    if not _IDENTITY.match(name):
        raise GatewayRedirectError("unknown_ac", "mikrotik: no router identity ($(identity) in the form)")
    state = {"login": _login_servlet(query.get("link-login-only", "")), "chap_id": chap_id.hex(),
             "challenge": challenge.hex()}
    return GatewayRedirect(gateway_name=name, user_ip=user_ip, user_mac=mac,
                           original_url=query.get("link-orig", "")[:2000], state=state)


def login_url(state: Mapping[str, str], username: str, password: str, landing_url: str) -> str:
    """``<link-login-only>?username=…&password=<CHAP hex>&dst=…&popup=true``."""
    chap_id, challenge = state.get("chap_id", ""), state.get("challenge", "")
    if not (_HEX.match(chap_id) and len(chap_id) == 2 and _HEX.match(challenge) and challenge):
        raise ValueError("a MikroTik login needs the router's chap-id and chap-challenge")
    if not username or not password:
        raise ValueError("a MikroTik login needs the username and the one-time password")
    digest = chap_password(bytes.fromhex(chap_id), password, bytes.fromhex(challenge))
    query = urlencode([("username", username), ("password", digest), ("dst", landing_url),
                       ("popup", "true")], quote_via=quote)
    return f"{_login_servlet(state.get('login', ''))}?{query}"


class MikrotikAdapter:
    """RouterOS Hotspot (external login page) as a ``GatewayAdapter``: the router asks our
    RADIUS with the one-time token (CHAP); rates and session time in the Access-Accept
    (dialect ``mikrotik``), quotas by accounting and Disconnect, the NOC kick by Disconnect."""

    kind: str = "mikrotik"
    grant_mode: Literal["redirect", "exchange"] = "redirect"
    can_logout: bool = True
    enforced_limits: frozenset[str] = frozenset(
        {"session_seconds", "up_kbps", "down_kbps", "up_kbytes", "down_kbytes"})
    radius_login: bool = True
    default_dialect: str = "mikrotik"
    marker: str = "link-login-only"
    # Unsigned: the landing must come from the router (its addresses) or the client it names.
    source_checked: bool = True

    def parse_redirect(self, query: Mapping[str, str]) -> GatewayRedirect:
        return parse_login_form(query)

    def logout_url(self, state: Mapping[str, str]) -> str:
        """The router's ``/logout`` servlet, beside its ``/login``."""
        return _login_servlet(state.get("login", ""))[: -len("login")] + "logout"

    def grant_url(self, state: Mapping[str, str], secret: str, limits: GatewayLimits,
                  landing_url: str) -> str:
        # The secret is unused: RouterOS's login servlet checks CHAP against RADIUS only.
        return login_url(state, state.get("username", ""), state.get("password", ""), landing_url)


MIKROTIK = MikrotikAdapter()
