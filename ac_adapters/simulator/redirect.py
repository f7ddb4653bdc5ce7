"""The HTTP redirect a real AC gives an unauthenticated phone, per flavour (spec §3).

A browser pointed at this URL starts the portal flow exactly as a phone behind the AC would.
Parameter names are the ones the spec confirms with ≥ 2 sources for each family.
"""

from __future__ import annotations

from urllib.parse import urlencode, urlsplit, urlunsplit

__all__ = ["STYLES", "build_redirect_url", "style_for"]

# flavour → parameter style
STYLES = {
    "huawei-v2": "huawei",
    "huawei-v1": "huawei",
    "h3c": "h3c",
    "cmcc": "cmcc",
    "ruijie": "cmcc",
    "autelan": "cmcc",
    "hanming": "hanming",
}


def style_for(flavour: str) -> str:
    return STYLES.get(flavour, "cmcc")


def _digits(mac: str) -> str:
    return "".join(ch for ch in mac if ch not in ":-. ").lower()


def _colon(mac: str) -> str:
    d = _digits(mac)
    return ":".join(d[i : i + 2] for i in range(0, 12, 2))


def _dash_upper(mac: str) -> str:
    d = _digits(mac).upper()
    return "-".join(d[i : i + 2] for i in range(0, 12, 2))


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
    ap_group: str = "",
) -> str:
    """``portal_url`` with the query an AC of ``flavour`` appends (existing query kept); a
    Huawei AC also names the AP's group (``ap-group-name``) when ``ap_group`` is set."""
    style = style_for(flavour)
    params: list[tuple[str, str]]
    if style == "huawei":
        # Huawei url-template/url-parameter with the admin-chosen keys of the doc example (§3).
        params = [
            ("ac-ip", ac_ip), ("ac-name", ac_name), ("user-ipaddress", user_ip),
            ("user-mac", _colon(user_mac)), ("ap-mac", _colon(ap_mac)), ("ssid", ssid),
            ("redirect-url", first_url),
        ]
        if ap_group:
            params.append(("ap-group-name", ap_group))
    elif style == "h3c":
        # Comware 7 url-parameter doc example names (userip, userurl) + common siblings.
        params = [
            ("userip", user_ip), ("usermac", _colon(user_mac)), ("nasip", ac_ip), ("nasid", ac_name),
            ("ssid", ssid), ("apmac", _colon(ap_mac)), ("userurl", first_url),
        ]
    else:
        # CMCC style (EAG, Ruijie cmcc formats): wlanapmac = 12 upper-hex digits (EAG).
        params = [
            ("wlanuserip", user_ip), ("wlanacname", ac_name), ("wlanacip", ac_ip), ("ssid", ssid),
            ("wlanusermac", _dash_upper(user_mac)), ("wlanapmac", _digits(ap_mac).upper()),
        ]
        if style == "hanming":
            params.append(("wlanstamac", _dash_upper(user_mac)))
        params.append(("wlanuserfirsturl", first_url))
    parts = urlsplit(portal_url)
    query = urlencode(params)
    if parts.query:
        query = f"{parts.query}&{query}"
    return urlunsplit((parts.scheme, parts.netloc, parts.path or "/", query, parts.fragment))
