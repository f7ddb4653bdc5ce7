"""CoovaChilli Universal Access Method (UAM): the external captive portal of a Chilli gateway.

Facts from CoovaChilli's documentation and its shipped example portal (``doc/hotspotlogin.cgi``,
``chilli.conf(5)``; the protocol goes back to ChilliSpot):

* An unauthenticated client's HTTP request is answered with a 302 to the configured
  ``uamserver`` URL with ``?res=notyet&uamip=…&uamport=…&challenge=<32 hex>&called=<NAS MAC>
  &mac=<client MAC>&ip=<client IP>&nasid=<radiusnasid>&sessionid=…&userurl=…&md=<32 HEX>``.
  The same shape, with ``res=success|failed|logoff|already``, tells the portal how a logon
  ended (``reply=`` carries the RADIUS Reply-Message on ``failed``).
* ``md`` is ``MD5(url + uamsecret)`` in upper-case hex, where ``url`` is the whole redirect URL
  up to (not including) ``&md=`` — the ``uamserver`` prefix and ``?`` included. Chilli encodes
  each value by keeping ``A-Z a-z 0-9 - _ . ! ~ *`` and writing every other byte as ``%xx``
  (lower-case hex); the values it writes raw (addresses, port, challenge) contain only those
  characters, so :func:`signed_text` rebuilds the exact text from the parsed query, in order.
* The portal logs the client in by sending its browser to
  ``http://<uamip>:<uamport>/logon?username=…&password=…`` (PAP) or ``…&response=…`` (CHAP).
  With a uamsecret, the challenge is first hashed: ``newchal = MD5(bytes(challenge) +
  uamsecret)``. PAP: ``password = hex(plain XOR newchal)`` (newchal repeated for longer
  passwords). CHAP: ``response = hex(MD5(0x00 + plain + newchal))``; Chilli then sends
  ``CHAP-Challenge = newchal`` and ``CHAP-Password = 0x00 + response`` to RADIUS.
* Chilli then asks RADIUS (our server, dialect ``chillispot``) and answers the browser with a
  302 to ``uamserver?res=success…`` or ``res=failed…``; it accepts RFC 5176 Disconnect/CoA on
  ``coaport``.
* JSON interface (built with ``--enable-json``; ``www/ChilliLibrary.js`` is Chilli's own client):
  the same paths under ``json/`` (``/json/status``, ``/json/logon?username&password|response``)
  answer 200 with one JSON object instead of a 302, wrapped as ``<callback>(…)`` (JSONP) when
  the query has ``callback=``. Fields: ``version`` "1.0"; ``clientState`` 0 not authenticated,
  1 authenticated, 3 authenticated but splash pending (2 is the client library's own "pending");
  ``nasid``; ``message`` (the RADIUS Reply-Message, on a failed logon); ``challenge`` (32 hex:
  the client's current challenge, on a not-authenticated status, a logoff and a failed logon,
  which draws a fresh one); ``location.name``; ``redir`` (``originalURL``, ``redirectionURL``,
  ``logoutURL``, ``ipAddress``, ``macAddress``); ``session`` and ``accounting`` once
  authenticated. There is no ``res`` field: ``res`` names the outcome only in the 302 form.
  A status does not spend the challenge; a logon does.
* With ``uamuissl`` Chilli serves the same paths over HTTPS on ``uamuiport`` and its redirect
  names that listener as ``ssl=https://<host>:<uamuiport>/`` (signed by ``md`` like the rest):
  the only JSON address an https portal page may load a script from (an ``http://`` one is
  blocked as mixed content).

``md`` makes the redirect the gateway's word (client MAC/IP, challenge): a redirect whose ``md``
does not verify is refused, never trusted.
"""

from __future__ import annotations

import hashlib
import hmac
import ipaddress
import re
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from typing import Literal
from urllib.parse import quote, urlencode, urlsplit

from ac_adapters.gateways.base import GatewayLimits, GatewayRedirect, GatewayRedirectError, client_address

__all__ = ["CHILLI", "RESULTS", "ChilliAdapter", "ChilliResult", "chap_response", "chilli_quote",
           "json_base", "logon_url", "new_challenge", "pap_password", "parse_result", "parse_uam_query",
           "redirect_md", "signed_text", "verify_md"]

RESULTS = ("notyet", "success", "failed", "logoff", "already")
_HEX32 = re.compile(r"^[0-9a-fA-F]{32}$")
_SAFE = frozenset(b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_.!~*")
MAX_QUERY_ITEMS = 40          # a real redirect has ~15; more is not from Chilli


def chilli_quote(value: str) -> str:
    """Chilli's ``redir_urlencode``: unreserved bytes kept, every other byte ``%xx`` (lower-case)."""
    return "".join(chr(b) if b in _SAFE else f"%{b:02x}" for b in value.encode("utf-8"))


def signed_text(base_url: str, items: Iterable[tuple[str, str]]) -> str:
    """The text Chilli's ``md`` covers: ``base_url`` + ``?`` (or ``&``) + the items before ``md``."""
    parts = []
    for name, value in items:
        if name == "md":
            break
        parts.append(f"{name}={chilli_quote(value)}")
    return base_url + ("&" if "?" in base_url else "?") + "&".join(parts)


def redirect_md(text: str, uamsecret: str) -> str:
    """``MD5(text + uamsecret)`` as Chilli writes it (upper-case hex)."""
    return hashlib.md5((text + uamsecret).encode("utf-8")).hexdigest().upper()


def verify_md(items: Iterable[tuple[str, str]], uamsecret: str, base_urls: Iterable[str]) -> bool:
    """Whether ``md`` verifies for one of the URLs the redirect may have been addressed to.
    Without a secret or an ``md`` nothing verifies: an unsigned redirect is never trusted."""
    ordered = list(items)
    md = next((v for n, v in ordered if n == "md"), "")
    if not uamsecret or not _HEX32.match(md):
        return False
    return any(hmac.compare_digest(redirect_md(signed_text(base, ordered), uamsecret), md.upper())
               for base in base_urls if base)


def _newchal(challenge: str, uamsecret: str) -> bytes:
    if not _HEX32.match(challenge):
        raise ValueError("the Chilli challenge is 32 hex digits")
    raw = bytes.fromhex(challenge)
    return hashlib.md5(raw + uamsecret.encode("utf-8")).digest() if uamsecret else raw


def pap_password(plain: str, challenge: str, uamsecret: str) -> str:
    """The ``password=`` of a PAP logon: ``hex(plain XOR newchal)``, newchal repeated."""
    key = _newchal(challenge, uamsecret)
    data = plain.encode("utf-8")
    if not 0 < len(data) <= 128:                  # Chilli's RADIUS_PWSIZE
        raise ValueError("a PAP password is 1-128 bytes")
    return bytes(b ^ key[i % len(key)] for i, b in enumerate(data)).hex()


def chap_response(plain: str, challenge: str, uamsecret: str, ident: int = 0) -> str:
    """The ``response=`` of a CHAP logon: ``hex(MD5(ident + plain + newchal))`` (ident 0)."""
    return hashlib.md5(bytes([ident]) + plain.encode("utf-8") + _newchal(challenge, uamsecret)).hexdigest()


def new_challenge(seed: bytes) -> str:
    """A 32-hex challenge (fakes and tests; Chilli draws 16 random bytes)."""
    return hashlib.md5(seed).hexdigest()


def _uam_address(uamip: str, uamport: str) -> tuple[str, int]:
    """Chilli's own listener: an IPv4 literal (``inet_ntoa``) and a port, so the logon URL can
    never point at a host name the phone chose."""
    try:
        ip = ipaddress.IPv4Address(uamip)
    except ValueError:
        raise GatewayRedirectError("bad_redirect", f"uamip {uamip[:40]!r} is not an IPv4 address") from None
    if not uamport.isdigit() or not 1 <= int(uamport) <= 65535:
        raise GatewayRedirectError("bad_redirect", f"uamport {uamport[:10]!r}")
    return str(ip), int(uamport)


def _ssl_base(value: str) -> str:
    """The redirect's ``ssl=`` (Chilli's HTTPS listener) checked: ``https://host[:port]/``, or ""."""
    try:
        parts = urlsplit(value)
        port = parts.port
    except ValueError:
        return ""
    if parts.scheme != "https" or not parts.hostname or parts.path not in ("", "/") \
            or parts.query or parts.fragment or parts.username or parts.password:
        return ""
    return f"https://{parts.hostname}{f':{port}' if port else ''}/"


def json_base(state: Mapping[str, str]) -> str:
    """Where the phone's browser reaches Chilli's JSON interface: its HTTPS listener when the
    redirect named one (``ssl=``), else ``http://uamip:uamport/``; ``json/`` appended."""
    base = _ssl_base(state.get("ssl", ""))
    if not base:
        uamip, uamport = _uam_address(state.get("uamip", ""), state.get("uamport", ""))
        base = f"http://{uamip}:{uamport}/"
    return base + "json/"


@dataclass(frozen=True, slots=True)
class ChilliResult:
    """A ``res=`` redirect other than ``notyet``: how a logon or logoff ended."""

    res: str
    gateway_name: str
    user_ip: str
    user_mac: str
    uamip: str
    uamport: int
    reply: str = ""
    userurl: str = ""


def _common(query: Mapping[str, str]) -> tuple[str, str, str, str, int]:
    if len(query) > MAX_QUERY_ITEMS:
        raise GatewayRedirectError("bad_redirect", f"{len(query)} query items")
    uamip, uamport = _uam_address(query.get("uamip", ""), query.get("uamport", ""))
    user_ip, mac = client_address(query, "ip", "mac", "chilli", ipv4_only=True)
    name = query.get("nasid", "").strip()
    if not name:
        raise GatewayRedirectError("unknown_ac", "chilli: no nasid (set radiusnasid on the gateway)")
    return name[:64], user_ip, mac, uamip, uamport


def parse_uam_query(query: Mapping[str, str]) -> GatewayRedirect:
    """A ``res=notyet`` redirect → the phone's context; ``state`` keeps ``uamip``, ``uamport``
    and ``challenge`` for :func:`logon_url`. Claims only, until :func:`verify_md` vouches
    (the portal checks it with the registry's secret)."""
    res = query.get("res", "")
    if res != "notyet":
        raise GatewayRedirectError("bad_redirect", f"chilli: res={res[:20]!r} is not a login redirect")
    name, user_ip, mac, uamip, uamport = _common(query)
    challenge = query.get("challenge", "")
    if not _HEX32.match(challenge):
        raise GatewayRedirectError("bad_redirect", "chilli: challenge is not 32 hex digits")
    state = {"uamip": uamip, "uamport": str(uamport), "challenge": challenge.lower()}
    if _ssl_base(query.get("ssl", "")):
        state["ssl"] = _ssl_base(query["ssl"])
    return GatewayRedirect(gateway_name=name, user_ip=user_ip, user_mac=mac,
                           original_url=query.get("userurl", "")[:2000], state=state)


def parse_result(query: Mapping[str, str]) -> ChilliResult | None:
    """A ``res=success|logoff|already|failed`` landing → what it says; None for ``notyet``."""
    res = query.get("res", "")
    if res not in RESULTS:
        raise GatewayRedirectError("bad_redirect", f"chilli: res={res[:20]!r}")
    if res == "notyet":
        return None
    name, user_ip, mac, uamip, uamport = _common(query)
    return ChilliResult(res=res, gateway_name=name, user_ip=user_ip, user_mac=mac, uamip=uamip,
                        uamport=uamport, reply=query.get("reply", "")[:200],
                        userurl=query.get("userurl", "")[:2000])


def logon_url(state: Mapping[str, str], uamsecret: str, username: str, password: str,
              landing_url: str, *, method: Literal["pap", "chap"] = "pap", json: bool = False) -> str:
    """``http://<uamip>:<uamport>/logon?username=…&password=…&userurl=…`` (or ``response=``);
    ``json``: the same logon on the JSON interface (:func:`json_base`), whose answer the page
    reads (add ``&callback=``) instead of following a 302."""
    uamip, uamport = _uam_address(state.get("uamip", ""), state.get("uamport", ""))
    challenge = state.get("challenge", "")
    if not username or not password:
        raise ValueError("a Chilli logon needs the username and the one-time password")
    secret_field = ("password", pap_password(password, challenge, uamsecret)) if method == "pap" else \
        ("response", chap_response(password, challenge, uamsecret))
    query = urlencode([("username", username), secret_field, ("userurl", landing_url)], quote_via=quote)
    base = json_base(state) if json else f"http://{uamip}:{uamport}/"
    return f"{base}logon?{query}"


class ChilliAdapter:
    """CoovaChilli UAM as a :class:`ac_adapters.gateways.base.GatewayAdapter`.

    Chilli asks our RADIUS with the one-time login token the logon URL carries
    (``radius_login``); session time, idle time and rates reach it in the Access-Accept
    (dialect ``chillispot``), quotas are enforced by accounting and an RFC 5176 Disconnect,
    which is also how the NOC kicks (``can_logout``)."""

    kind: str = "chilli"
    grant_mode: Literal["redirect", "exchange"] = "redirect"
    can_logout: bool = True
    enforced_limits: frozenset[str] = frozenset(
        {"session_seconds", "up_kbps", "down_kbps", "up_kbytes", "down_kbytes"})
    radius_login: bool = True
    default_dialect: str = "chillispot"
    marker: str = "uamip"

    def parse_redirect(self, query: Mapping[str, str]) -> GatewayRedirect:
        return parse_uam_query(query)

    def verify_redirect(self, items: Iterable[tuple[str, str]], secret: str,
                        base_urls: Iterable[str]) -> bool:
        return verify_md(items, secret, base_urls)

    def logout_url(self, state: Mapping[str, str]) -> str:
        """Chilli's own logoff page (it ends the session and lands on ``res=logoff``)."""
        uamip, uamport = _uam_address(state.get("uamip", ""), state.get("uamport", ""))
        return f"http://{uamip}:{uamport}/logoff"

    def grant_url(self, state: Mapping[str, str], secret: str, limits: GatewayLimits,
                  landing_url: str) -> str:
        # Limits travel in the Access-Accept, not in the URL (Chilli ignores them there).
        return logon_url(state, secret, state.get("username", ""), state.get("password", ""),
                         landing_url, method="chap" if state.get("method") == "chap" else "pap")

    def json_logon_url(self, state: Mapping[str, str], secret: str, landing_url: str) -> str:
        """The grant on Chilli's JSON interface (the page adds ``callback=``)."""
        return logon_url(state, secret, state.get("username", ""), state.get("password", ""),
                         landing_url, method="chap" if state.get("method") == "chap" else "pap", json=True)


CHILLI = ChilliAdapter()
