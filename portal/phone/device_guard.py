"""Who may act for the device an AC redirect names.

The phone's first page comes from the AC's redirect, whose query (``wlanuserip``/``usermac``…)
travels through the phone: anyone can edit it and name another device. What the portal accepts
depends on what it can check, per AC (``PhoneJourney.device_check``):

* ``"address"`` — the AC's ``client_address_check`` (default): the portal sees phones' real
  addresses (the usual Layer-3 portal), so every phone request must come from the user IP its
  redirect names (:func:`same_address`; IPv4-mapped IPv6 counts as the IPv4 address). The MAC
  cannot be forged past login either: the RADIUS token is bound to the claimed MAC and the AC
  reports the real one of that IP.
* ``"vendor"`` — NAT hides addresses, but the AC vouched for the MAC by encrypting it with its
  redirect key (EAG ``wlanparameter``): the signed page context carries that MAC, nothing more
  to check.
* ``"cookie"`` — NAT and nothing vouched: the first redirect a browser brings is bound to that
  browser by a signed, short-lived cookie, and a later redirect naming another device in the same
  browser is refused until the binding expires. This stops one client from cycling through
  invented devices; a client that throws its cookies away is still held by the SMS caps on its
  observed address (``OtpService.request_code(source=…)``).

A second cookie proves which number this browser typed for this device (set by a successful
code request), so a reopened login page may offer that number back — masked — and nobody else
ever sees it (never show a number the requester has not proven to own).

Framework-free: the web layer passes cookie values in and sets the returned ones.
"""

from __future__ import annotations

import ipaddress
import time
from collections.abc import Callable
from typing import Any

from portal.phone.login_types import LoginError, PhoneContext, Signer

__all__ = ["BINDING_COOKIE", "MODES", "PROOF_COOKIE", "DeviceGuard", "same_address"]

BINDING_COOKIE = "cw_dev"
PROOF_COOKIE = "cw_num"
MODES = ("address", "vendor", "cookie")


def _canonical(address: str) -> ipaddress.IPv4Address | ipaddress.IPv6Address | None:
    try:
        ip = ipaddress.ip_address(address.strip().split("%", 1)[0])
    except ValueError:
        return None
    if isinstance(ip, ipaddress.IPv6Address) and ip.ipv4_mapped is not None:
        return ip.ipv4_mapped      # a dual-stack socket reports IPv4 peers as ::ffff:a.b.c.d
    return ip


def same_address(observed: str, claimed: str) -> bool:
    """Whether the request's peer ``observed`` is the user IP ``claimed`` by the redirect."""
    a, b = _canonical(observed), _canonical(claimed)
    return a is not None and a == b


def binding_key(ctx: PhoneContext) -> str:
    """The device a browser is bound to: its MAC (stable across re-DHCP and roaming between ACs),
    else the user IP on its AC."""
    return f"mac:{ctx.mac}" if ctx.mac else f"ip:{ctx.ac}|{ctx.user_ip}"


class DeviceGuard:
    """Checks and cookies for one process (thread-safe: no state besides the signer)."""

    def __init__(self, signer: Signer, *, binding_ttl: int, proof_ttl: int,
                 clock: Callable[[], float] = time.time) -> None:
        self.signer = signer
        self.binding_ttl = binding_ttl
        self.proof_ttl = proof_ttl
        self.clock = clock

    # --- every request ---------------------------------------------------------------------

    @staticmethod
    def check_address(mode: str, ctx_user_ip: str, observed: str) -> None:
        """In ``"address"`` mode, refuse a request that does not come from the device's IP."""
        if mode == "address" and not same_address(observed, ctx_user_ip):
            raise LoginError("address_mismatch",
                             detail=f"request from {observed[:64]!r}, redirect names {ctx_user_ip!r}")

    # --- the browser binding (cookie mode) ------------------------------------------------------

    def bind(self, ctx: PhoneContext, cookie: str | None) -> str | None:
        """At a landing in ``"cookie"`` mode: the cookie value to set (None = keep the current
        one), or ``device_mismatch`` when this browser is bound to another device."""
        data = self._open(cookie, "dev")
        if data is None:
            return self.signer.sign("dev", {"d": binding_key(ctx), "t": round(self.clock(), 3)},
                                    self.binding_ttl)
        if data.get("d") != binding_key(ctx):
            left = float(data.get("t", 0)) + self.binding_ttl - self.clock()
            raise LoginError("device_mismatch", retry_after=max(1, int(left + 0.999)),
                             detail=f"browser bound to {str(data.get('d'))[:40]}")
        return None

    # --- the number a browser proved -------------------------------------------------------------

    def proof(self, ctx: PhoneContext, phone: str) -> str:
        """Cookie value: this browser typed ``phone`` for ``ctx``'s device."""
        return self.signer.sign("num", {"p": phone, "d": ctx.device}, self.proof_ttl)

    def proven(self, ctx: PhoneContext, cookie: str | None) -> str:
        """The number this browser proved for ``ctx``'s device, or ""."""
        data = self._open(cookie, "num")
        if data is None or data.get("d") != ctx.device:
            return ""
        return str(data.get("p") or "")

    def _open(self, cookie: str | None, purpose: str) -> dict[str, Any] | None:
        if not cookie or len(cookie) > 1024:
            return None
        try:
            return self.signer.verify(purpose, cookie)
        except LoginError:          # forged, another purpose or expired: as if absent
            return None
