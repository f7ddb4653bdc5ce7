"""Render a Grant (portal/grants.py) into Access-Accept attributes in the AC vendor's dialect.

Facts from docs/protocols/radius.md §2: rate-limit attributes differ by vendor in numbering AND units.

| dialect    | upload / download attributes                                   | unit      |
|------------|----------------------------------------------------------------|-----------|
| huawei     | 2011: Input-Average-Rate 2 (+ Peak 3) / Output-Average-Rate 5 (+ Peak 6) | bit/s |
| h3c        | 25506: Input-Average-Rate 2 (+ Peak 1) / Output-Average-Rate 5 (+ Peak 4) | bit/s |
| wispr      | 14122: Bandwidth-Max-Up 7 / Bandwidth-Max-Down 8; Session-Terminate-Time 9 | bit/s |
| chillispot | 14559: Bandwidth-Max-Up 4 / Bandwidth-Max-Down 5               | kbit/s    |
| mikrotik   | 14988: Rate-Limit 8 = "<up>k/<down>k" (rx = client upload)     | string    |
| zte        | 3902: Rate-Ctrl-SCR-Up 89 / Rate-Ctrl-SCR-Down 83              | bit/s     |

"Input" is user → NAS, i.e. the user's upload. Every dialect also gets the standard
Session-Timeout, Idle-Timeout, Acct-Interim-Interval and Class.
"""

from __future__ import annotations

from collections.abc import Callable
from datetime import datetime
from enum import IntEnum
from zoneinfo import ZoneInfo

from portal.acs import RADIUS_DIALECTS
from portal.grants import Grant
from radius.wire import Attr, integer, vsa

__all__ = ["DIALECTS", "PEAK_FACTOR", "Vendor", "render", "wispr_time"]

# Peak (burst ceiling) = PEAK_FACTOR × average. 1 = the plan's rate is a hard cap, which is
# what the user was sold; raise it per deployment if ACs shape too aggressively.
PEAK_FACTOR = 1
_CHINA = ZoneInfo("Asia/Shanghai")

Attrs = list[tuple[int, bytes]]


class Vendor(IntEnum):
    """SMI enterprise numbers (docs/protocols/radius.md §2.2)."""

    HUAWEI = 2011
    ZTE = 3902
    WISPR = 14122
    CHILLISPOT = 14559
    MIKROTIK = 14988
    H3C = 25506


def _bps(kbps: int) -> bytes:
    return integer(kbps * 1000)


def _huawei(g: Grant, out: Attrs, tz: ZoneInfo) -> None:
    if g.up_kbps is not None:
        out.append(vsa(Vendor.HUAWEI, 2, _bps(g.up_kbps)))                  # Input-Average-Rate
        out.append(vsa(Vendor.HUAWEI, 3, _bps(g.up_kbps * PEAK_FACTOR)))    # Input-Peak-Rate
    if g.down_kbps is not None:
        out.append(vsa(Vendor.HUAWEI, 5, _bps(g.down_kbps)))                # Output-Average-Rate
        out.append(vsa(Vendor.HUAWEI, 6, _bps(g.down_kbps * PEAK_FACTOR)))  # Output-Peak-Rate


def _h3c(g: Grant, out: Attrs, tz: ZoneInfo) -> None:
    # Numbering differs from Huawei: 1/4 are the peaks here (spec §2.2).
    if g.up_kbps is not None:
        out.append(vsa(Vendor.H3C, 2, _bps(g.up_kbps)))                     # Input-Average-Rate
        out.append(vsa(Vendor.H3C, 1, _bps(g.up_kbps * PEAK_FACTOR)))       # Input-Peak-Rate
    if g.down_kbps is not None:
        out.append(vsa(Vendor.H3C, 5, _bps(g.down_kbps)))                   # Output-Average-Rate
        out.append(vsa(Vendor.H3C, 4, _bps(g.down_kbps * PEAK_FACTOR)))     # Output-Peak-Rate


def wispr_time(epoch: float, tz: ZoneInfo = _CHINA) -> str:
    """ISO 8601 with an explicit offset (``YYYY-MM-DDThh:mm:ss+08:00``): without a TZD the NAS
    would assume its own local time (spec §2.2)."""
    return datetime.fromtimestamp(int(epoch), tz).isoformat(timespec="seconds")


def _wispr(g: Grant, out: Attrs, tz: ZoneInfo) -> None:
    if g.up_kbps is not None:
        out.append(vsa(Vendor.WISPR, 7, _bps(g.up_kbps)))                   # Bandwidth-Max-Up
    if g.down_kbps is not None:
        out.append(vsa(Vendor.WISPR, 8, _bps(g.down_kbps)))                 # Bandwidth-Max-Down
    if g.terminate_at is not None:
        out.append(vsa(Vendor.WISPR, 9, wispr_time(g.terminate_at, tz).encode()))


def _chillispot(g: Grant, out: Attrs, tz: ZoneInfo) -> None:
    if g.up_kbps is not None:
        out.append(vsa(Vendor.CHILLISPOT, 4, integer(g.up_kbps)))           # kbit/s
    if g.down_kbps is not None:
        out.append(vsa(Vendor.CHILLISPOT, 5, integer(g.down_kbps)))


def _mikrotik(g: Grant, out: Attrs, tz: ZoneInfo) -> None:
    if g.up_kbps is None and g.down_kbps is None:
        return
    # rx/tx from the router's view: rx = what it receives from the client = upload. 0 = no limit.
    rate = f"{g.up_kbps or 0}k/{g.down_kbps or 0}k"
    out.append(vsa(Vendor.MIKROTIK, 8, rate.encode()))


def _zte(g: Grant, out: Attrs, tz: ZoneInfo) -> None:
    if g.up_kbps is not None:
        out.append(vsa(Vendor.ZTE, 89, _bps(g.up_kbps)))                    # Rate-Ctrl-SCR-Up
    if g.down_kbps is not None:
        out.append(vsa(Vendor.ZTE, 83, _bps(g.down_kbps)))                  # Rate-Ctrl-SCR-Down


DIALECTS: dict[str, Callable[[Grant, Attrs, ZoneInfo], None]] = {
    "huawei": _huawei,
    "h3c": _h3c,
    "wispr": _wispr,
    "chillispot": _chillispot,
    "mikrotik": _mikrotik,
    "zte": _zte,
}
assert set(DIALECTS) == set(RADIUS_DIALECTS), "portal.acs.RADIUS_DIALECTS out of sync"


def render(grant: Grant, dialect: str, tz: ZoneInfo = _CHINA) -> tuple[tuple[int, bytes], ...]:
    """Access-Accept attributes for ``grant`` (Message-Authenticator is added by the encoder)."""
    out: Attrs = []
    if grant.session_timeout is not None:
        out.append((Attr.SESSION_TIMEOUT, integer(grant.session_timeout)))
    if dialect == "wispr":   # carries the per-user Session-Terminate-Time: not cacheable
        out.extend(_plan_attrs(grant))
        if grant.class_:
            out.append((Attr.CLASS, grant.class_[:253]))
        _wispr(grant, out, tz)
        return tuple(out)
    # Every other attribute but Session-Timeout and Class depends only on the plan (timeouts and
    # rates): encode those once per plan and dialect, not per Access-Request.
    key = (dialect, grant.up_kbps, grant.down_kbps, grant.idle_timeout, grant.interim_interval)
    cached = _PLAN_CACHE.get(key)
    if cached is None:
        try:
            renderer = DIALECTS[dialect]
        except KeyError:
            raise ValueError(f"unknown RADIUS dialect {dialect!r}") from None
        vendor: Attrs = []
        renderer(grant, vendor, tz)
        cached = (_plan_attrs(grant), tuple(vendor))
        if len(_PLAN_CACHE) > 4096:
            _PLAN_CACHE.clear()
        _PLAN_CACHE[key] = cached
    head, vendor_attrs = cached
    out.extend(head)
    if grant.class_:
        out.append((Attr.CLASS, grant.class_[:253]))
    out.extend(vendor_attrs)
    return tuple(out)


def _plan_attrs(grant: Grant) -> tuple[tuple[int, bytes], ...]:
    attrs: Attrs = []
    if grant.idle_timeout is not None:
        attrs.append((Attr.IDLE_TIMEOUT, integer(grant.idle_timeout)))
    attrs.append((Attr.ACCT_INTERIM_INTERVAL, integer(grant.interim_interval)))
    return tuple(attrs)


_PLAN_CACHE: dict[tuple[str, int | None, int | None, int | None, int],
                  tuple[tuple[tuple[int, bytes], ...], tuple[tuple[int, bytes], ...]]] = {}
