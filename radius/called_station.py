"""Called-Station-Id (RFC 3580 §3.20: ``<AP MAC>:<SSID>``): where a phone is, for the auth
policy (venue and plan rules by SSID) and for accounting (the venue a session started in).
Pure functions over text."""

from __future__ import annotations

from portal.aaa.blocklist import normalise_mac
from portal.errors import ValidationError

__all__ = ["is_mac", "parse_ssid", "split_called_station_id"]


def is_mac(value: str) -> bool:
    try:
        normalise_mac(value)
    except ValidationError:
        return False
    return True


def split_called_station_id(called_station_id: str | None) -> tuple[str | None, str | None]:
    """(AP MAC, SSID) from Called-Station-Id ``<AP MAC>:<SSID>`` (RFC 3580 §3.20); either is
    None when absent."""
    if not called_station_id:
        return None, None
    value = called_station_id.strip()
    # The MAC may itself contain ':' (aa:bb:…), so try the known MAC lengths first.
    for mac_len in (17, 14, 12):
        if len(value) > mac_len and value[mac_len] == ":" and is_mac(value[:mac_len]):
            return value[:mac_len], value[mac_len + 1 :] or None
    if is_mac(value):
        return value, None
    _, sep, tail = value.rpartition(":")
    return None, (tail or None if sep else None)


def parse_ssid(called_station_id: str | None) -> str | None:
    """SSID from Called-Station-Id ``<AP MAC>:<SSID>`` (RFC 3580 §3.20); None if absent."""
    return split_called_station_id(called_station_id)[1]
