"""openNDS Forwarding Authentication Service (FAS), security level 1 (openNDS 9.x).

openNDS answers a client's first HTTP request with a redirect to our FAS URL with
``?fas=<base64>``; the decoded text is ``name=value`` items separated by ``", "``, values
URL-encoded (``hid=…, clientip=…, clientmac=…, gatewayname=…, gatewayaddress=ip:port,
originurl=…, …``). ``hid`` is ``sha256hex(token)`` of the client's fresh random token; the FAS
proves it knows the shared ``faskey`` by answering ``rhid = sha256hex(hid + faskey)``, sending the
client's browser to ``http://<gatewayaddress>/<authdir>/?tok=<rhid>&redir=<url>&custom=<text>``.
openNDS compares ``tok`` with its own value for that client, lets the client in and replies
307 to ``redir``. (openNDS 9.10 crashes on ``/opennds_auth/`` without ``tok``: :func:`grant_url`
never builds one.)

At level 1 the ``fas`` query is plain base64: it is the phone's claim, not the gateway's word.
Per-client limits cannot go in the grant URL; they travel in ``custom`` and the BinAuth script
we ship (``deploy/opennds/binauth.sh``) turns them into openNDS limits. Because ``custom`` passes
through the phone's browser, it is signed with the faskey and bound to the client's ``hid``
(:func:`signed_limits`): the script refuses a client whose ``custom`` does not verify.
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import hmac
import ipaddress
import re
from collections.abc import Mapping
from typing import Literal
from urllib.parse import quote, unquote, urlencode

from ac_adapters.gateways.base import GatewayLimits, GatewayRedirect, GatewayRedirectError, client_address

__all__ = ["CUSTOM_VERSION", "MAX_FAS_LENGTH", "OPENNDS", "OpenNdsAdapter", "decode_fas", "fas_items",
           "faskey_ok", "grant_url", "logout_url", "parse_fas_query", "redirect_from_items", "rhid",
           "signed_limits", "verify_limits"]

MAX_FAS_LENGTH = 4096             # a real fas query is ~400 characters; more is not from openNDS
CUSTOM_VERSION = "cw1"
_HID = re.compile(r"^[0-9a-f]{64}$")
_AUTHDIR = re.compile(r"^[A-Za-z0-9_-]{1,32}$")
_FASKEY = re.compile(r"^[A-Za-z0-9]{8,128}$")


def faskey_ok(key: str) -> bool:
    """openNDS passes the faskey through a shell ``printf``: letters and digits only, 8-128."""
    return bool(_FASKEY.match(key))


def rhid(hid: str, faskey: str) -> str:
    """The FAS's answer to ``hid``: ``sha256hex(hid + faskey)`` (lower-case hex)."""
    return hashlib.sha256((hid + faskey).encode()).hexdigest()


def decode_fas(value: str) -> dict[str, str]:
    """The ``fas`` query value → its items, values URL-decoded. Items without ``=`` (openNDS
    appends ``(null)(null)…`` when no custom parameters are configured) are skipped."""
    if not value or len(value) > MAX_FAS_LENGTH:
        raise GatewayRedirectError("bad_redirect", f"fas parameter of {len(value)} characters")
    # openNDS puts the base64 into the URL as it is: a query parser has turned its '+' into ' '.
    value = value.replace(" ", "+")
    try:
        raw = base64.b64decode(value + "=" * (-len(value) % 4), validate=True).decode("utf-8")
    except (binascii.Error, ValueError) as exc:
        raise GatewayRedirectError("bad_redirect", f"fas parameter is not base64 text: {exc}") from None
    return fas_items(raw)


def fas_items(raw: str) -> dict[str, str]:
    """``name=value, name=value…`` (values URL-encoded) → the items; the first of a name wins."""
    items: dict[str, str] = {}
    for item in raw.split(", "):
        name, sep, text = item.partition("=")
        if sep and name and name not in items:
            items[name.strip()] = unquote(text)
    return items


def _gateway_address(text: str) -> str:
    """``ip:port`` of the gateway's captive-portal listener; an IP literal only, so the grant
    URL can never point at a host name the phone chose."""
    host, sep, port = text.rpartition(":")
    try:
        ip = ipaddress.ip_address(host.strip("[]"))
    except ValueError:
        raise GatewayRedirectError("bad_redirect", f"gatewayaddress {text[:60]!r} is not ip:port") from None
    if not sep or not port.isdigit() or not 1 <= int(port) <= 65535:
        raise GatewayRedirectError("bad_redirect", f"gatewayaddress {text[:60]!r} is not ip:port")
    return f"[{ip}]:{int(port)}" if ip.version == 6 else f"{ip}:{int(port)}"


def parse_fas_query(query: Mapping[str, str]) -> GatewayRedirect:
    """An openNDS level-1 redirect (``fas=…``) → the phone's context. ``state`` keeps ``hid``,
    ``gatewayaddress`` and ``authdir`` for :func:`grant_url`. (Level 3, ``fas`` + ``iv``:
    ``ac_adapters/gateways/opennds_l3.py``, which needs the gateway's faskey first.)"""
    if "iv" in query:
        raise GatewayRedirectError("bad_redirect", "encrypted fas query: decrypt it with the faskey first")
    return redirect_from_items(decode_fas(query.get("fas", "")))


def redirect_from_items(items: Mapping[str, str], *, vouched: bool = False) -> GatewayRedirect:
    """The decoded ``fas`` items (level 1: plain; level 3: decrypted, ``vouched``) → the
    phone's context."""
    hid = items.get("hid", "").lower()
    if not _HID.match(hid):
        raise GatewayRedirectError("bad_redirect", "fas: hid is not 64 hex digits")
    user_ip, mac = client_address(items, "clientip", "clientmac", "fas")
    name = items.get("gatewayname", "").strip()
    if not name:
        raise GatewayRedirectError("unknown_ac", "fas: no gatewayname")
    authdir = items.get("authdir", "opennds_auth")
    if not _AUTHDIR.match(authdir):
        raise GatewayRedirectError("bad_redirect", f"fas: authdir {authdir[:40]!r}")
    state = {"hid": hid, "gatewayaddress": _gateway_address(items.get("gatewayaddress", "")),
             "authdir": authdir}
    return GatewayRedirect(gateway_name=name[:64], user_ip=user_ip, user_mac=mac,
                           original_url=items.get("originurl", "")[:2000], state=state, vouched=vouched)


def _kbit(value: int | None) -> int:
    return 0 if value is None else max(1, int(value))     # openNDS: 0 = unlimited


def _limit_fields(limits: GatewayLimits) -> tuple[int, int, int, int, int]:
    """BinAuth's order and units: seconds, kbit/s up, kbit/s down, kB up, kB down (0 = none)."""
    return (_kbit(limits.session_seconds), _kbit(limits.up_kbps), _kbit(limits.down_kbps),
            _kbit(limits.up_kbytes), _kbit(limits.down_kbytes))


def _signature(body: str, hid: str, faskey: str) -> str:
    # Nested keyed SHA-256 (HMAC's shape): the BinAuth script recomputes it with sha256sum, which
    # OpenWrt's busybox has; a plain sha256(key + msg) would allow length extension.
    inner = hashlib.sha256(f"{faskey}:{body}:{hid}".encode()).hexdigest()
    return hashlib.sha256(f"{faskey}:{inner}".encode()).hexdigest()


def signed_limits(limits: GatewayLimits, hid: str, faskey: str) -> str:
    """``custom`` for the grant URL: ``cw1.<seconds>.<up>.<down>.<upkB>.<downkB>.<sig>``.
    Only digits, letters and dots: it survives openNDS's URL handling and a POSIX shell."""
    body = ".".join([CUSTOM_VERSION, *map(str, _limit_fields(limits))])
    return f"{body}.{_signature(body, hid, faskey)}"


def verify_limits(custom: str, hid: str, faskey: str) -> tuple[int, int, int, int, int] | None:
    """The limits in a ``custom`` value if its signature verifies for ``hid`` (the Python twin
    of the BinAuth script's check; used by tests and tools)."""
    body, _, sig = custom.rpartition(".")
    parts = body.split(".")
    if len(parts) != 6 or parts[0] != CUSTOM_VERSION or not all(p.isdigit() for p in parts[1:]):
        return None
    if not hmac.compare_digest(sig, _signature(body, hid, faskey)):
        return None
    s, up, down, upq, downq = (int(p) for p in parts[1:])
    return s, up, down, upq, downq


def grant_url(state: Mapping[str, str], faskey: str, limits: GatewayLimits, landing_url: str) -> str:
    """``http://<gatewayaddress>/<authdir>/?tok=<rhid>&redir=<landing>&custom=<signed limits>``."""
    hid = state.get("hid", "")
    if not _HID.match(hid) or not faskey:
        # Never a grant URL without a valid tok: openNDS 9.10 crashes on one.
        raise ValueError("openNDS grant needs the client's hid and the faskey")
    address = _gateway_address(state.get("gatewayaddress", ""))
    authdir = state.get("authdir", "opennds_auth")
    if not _AUTHDIR.match(authdir):
        raise ValueError(f"bad authdir {authdir!r}")
    query = urlencode({"tok": rhid(hid, faskey), "redir": landing_url,
                       "custom": signed_limits(limits, hid, faskey)}, quote_via=quote)
    return f"http://{address}/{authdir}/?{query}"


def logout_url(state: Mapping[str, str]) -> str:
    """``http://<gatewayaddress>/opennds_deny/``: an authenticated client that opens it is
    deauthenticated by openNDS itself (BinAuth ``client_deauth``), then sent to the gateway's
    own address. The client's browser must open it: nothing outside the gateway can (9.10)."""
    return f"http://{_gateway_address(state.get('gatewayaddress', ''))}/opennds_deny/"


class OpenNdsAdapter:
    """openNDS FAS level 1 as a :class:`ac_adapters.gateways.base.GatewayAdapter` (stateless)."""

    kind: str = "opennds"
    grant_mode: Literal["redirect", "exchange"] = "redirect"
    can_logout: bool = False          # openNDS 9.10 has no remote deauth for a FAS
    enforced_limits: frozenset[str] = frozenset(
        {"session_seconds", "up_kbps", "down_kbps", "up_kbytes", "down_kbytes"})

    def parse_redirect(self, query: Mapping[str, str]) -> GatewayRedirect:
        return parse_fas_query(query)

    def grant_url(self, state: Mapping[str, str], secret: str, limits: GatewayLimits,
                  landing_url: str) -> str:
        return grant_url(state, secret, limits, landing_url)

    def logout_url(self, state: Mapping[str, str]) -> str:
        return logout_url(state)


OPENNDS = OpenNdsAdapter()
