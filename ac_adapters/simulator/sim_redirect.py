"""The HTTP redirect a real AC gives an unauthenticated phone (``docs/protocols/portal-protocol.md`` §3).

Built from the same vendor profile the portal parses it with (``VendorProfile.redirect.emit``:
parameter names, order and MAC encodings), so every profile runs end to end. A browser pointed
at this URL starts the portal flow exactly as a phone behind the AC would. An unknown flavour is
an error, not a silent fallback to another vendor's parameters.
"""

from __future__ import annotations

from ac_adapters.profiles import get_profile
from ac_adapters.redirect import build_redirect_url as _build_from_params

__all__ = ["build_redirect_url"]


def build_redirect_url(
    portal_url: str,
    *,
    flavour: str,
    user_ip: str,
    user_mac: str,
    ac_ip: str,
    ac_name: str,
    ssid: str,
    ap_mac: str,
    first_url: str,
    vlan: str | None = None,
    des_key: str | bytes | None = None,
    ap_group: str = "",
) -> str:
    """``portal_url`` with the query an AC of ``flavour`` appends (existing query kept).

    ``des_key``: the AC's 8-character redirect key, for vendors that encrypt the user MAC
    (EAG ``wlanparameter``); without it those parameters are left out, as such an AC does when
    no key is configured. ``ap_group``: the AP's group, for profiles whose redirect names it
    (Huawei ``ap-group-name``). KeyError names the known flavours."""
    profile = get_profile(flavour)
    values = {
        "user_ip": user_ip, "user_mac": user_mac, "ac_ip": ac_ip, "ac_name": ac_name,
        "ssid": ssid, "ap_mac": ap_mac, "original_url": first_url, "vlan": vlan,
        "ap_group": ap_group or None,
    }
    return _build_from_params(portal_url, profile.redirect, values, des_key=des_key)
