"""The small interface every non-Portal-protocol gateway adapter implements.

A gateway (openNDS, CoovaChilli, MikroTik, UniFi/Omada …) sends the phone to us with a redirect
of its own shape, and learns that the phone may go online either through an exchange between
us and the gateway (a controller API call), or by us sending the phone's browser to a URL on the
gateway (openNDS FAS, Chilli UAM, MikroTik). The phone journey only needs:

* :meth:`GatewayAdapter.parse_redirect`: the query → a :class:`GatewayRedirect` (client IP/MAC,
  first URL, and the adapter's own ``state`` that the grant will need — signed into the page by
  the portal, so a later form post cannot change it);
* :attr:`GatewayAdapter.grant_mode` and :meth:`GatewayAdapter.grant_url` (``"redirect"``);
* :attr:`GatewayAdapter.can_logout` and :attr:`GatewayAdapter.enforced_limits`: what the portal
  may promise (a NOC kick, a logout button) and which plan limits reach the gateway.

Adapters are pure: no sockets, no store. Everything in a redirect is hostile input; parsers raise
only :class:`GatewayRedirectError` (a :class:`ac_adapters.errors.RedirectError`).
"""

from __future__ import annotations

import ipaddress
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from typing import Literal, Protocol, runtime_checkable

from ac_adapters.errors import RedirectError
from ac_adapters.redirect import normalise_mac

__all__ = ["LIMIT_NAMES", "GatewayAdapter", "GatewayLimits", "GatewayRedirect", "GatewayRedirectError",
           "SignedRedirects", "client_address"]

# Every limit a plan can put on one session; adapters name the subset their gateway enforces.
LIMIT_NAMES = frozenset({"session_seconds", "up_kbps", "down_kbps", "up_kbytes", "down_kbytes"})


class GatewayRedirectError(RedirectError):
    """A gateway redirect we cannot use. ``code`` is one the phone pages know (portal/web/errors.py)."""

    def __init__(self, code: str, detail: str) -> None:
        super().__init__(detail)
        self.code = code
        self.detail = detail


@dataclass(frozen=True, slots=True)
class GatewayRedirect:
    """What a gateway's redirect says about the phone (claims, until the adapter vouches)."""

    gateway_name: str                  # the name the gateway gives itself (the registry's AC name)
    user_ip: str
    user_mac: str = ""                 # aa:bb:cc:dd:ee:ff, "" when not sent
    original_url: str = ""
    # Adapter-private values the grant needs (e.g. openNDS hid and gateway address): strings only,
    # signed into the page with the rest of the phone's context.
    state: Mapping[str, str] = field(default_factory=dict)
    # True when the gateway authenticated the redirect (encrypted/MACed with the shared key).
    vouched: bool = False


@dataclass(frozen=True, slots=True)
class GatewayLimits:
    """Limits for one session, in the units plans use. None = no limit."""

    session_seconds: int | None = None
    up_kbps: int | None = None
    down_kbps: int | None = None
    up_kbytes: int | None = None
    down_kbytes: int | None = None


class GatewayAdapter(Protocol):
    kind: str
    grant_mode: Literal["redirect", "exchange"]
    can_logout: bool                   # the portal can end a session on the gateway
    enforced_limits: frozenset[str]    # subset of LIMIT_NAMES the gateway applies

    def parse_redirect(self, query: Mapping[str, str]) -> GatewayRedirect:
        """The gateway's redirect query (first value per name) → the phone's context."""
        ...

    def grant_url(self, state: Mapping[str, str], secret: str, limits: GatewayLimits,
                  landing_url: str) -> str:
        """Where to send the phone's browser so the gateway lets it in ("redirect" mode)."""
        ...


@runtime_checkable
class SignedRedirects(Protocol):
    """An adapter whose gateway signs its redirect with the shared secret (CoovaChilli ``md``).
    The portal refuses a redirect that does not verify. Other optional attributes an adapter
    may have: ``radius_login`` (True: the gateway asks our RADIUS with a one-time login token
    that the portal puts in ``state`` as ``username``/``password`` before :meth:`grant_url`),
    ``default_dialect`` (the RADIUS reply dialect of the kind), ``marker`` (the query
    parameter that tells its redirect apart), ``source_checked`` (unsigned landings must come
    from the gateway's addresses or the client they name) and ``logout_url(state)`` (the
    gateway's own logout page, for the status page's logout button)."""

    def verify_redirect(self, items: Iterable[tuple[str, str]], secret: str,
                        base_urls: Iterable[str]) -> bool:
        """``items``: the query in the order received; ``base_urls``: the URLs the gateway may
        have addressed the phone to (its configured portal URL)."""
        ...


def client_address(query: Mapping[str, str], ip_field: str, mac_field: str, where: str, *,
                   ipv4_only: bool = False) -> tuple[str, str]:
    """(user IP, MAC) a redirect names for the phone, checked and normalised; ``where`` prefixes
    the error detail (``bad_user_ip`` / ``bad_mac``)."""
    claimed_ip = query.get(ip_field, "")
    try:
        parsed = ipaddress.IPv4Address(claimed_ip) if ipv4_only else ipaddress.ip_address(claimed_ip)
    except ValueError:
        raise GatewayRedirectError("bad_user_ip", f"{where}: {ip_field} {claimed_ip[:40]!r}") from None
    mac = normalise_mac(query.get(mac_field, ""))
    if mac is None:
        raise GatewayRedirectError("bad_mac", f"{where}: {mac_field} {query.get(mac_field, '')[:40]!r}")
    return str(parsed), mac
