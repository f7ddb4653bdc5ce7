"""Render a Grant (portal/aaa/grants.py) into Access-Accept attributes in the AC vendor's dialect.

Which attributes, numbers and units each dialect uses is data: ``ac_adapters.radius_dialects``
(facts from docs/protocols/radius.md §2.2). Rate-limit attributes differ by vendor in numbering
AND units:

| dialect    | upload / download attributes                                   | unit      |
|------------|----------------------------------------------------------------|-----------|
| huawei     | 2011: Input-Average-Rate 2 (+ Peak 3) / Output-Average-Rate 5 (+ Peak 6) | bit/s |
| h3c        | 25506: Input-Average-Rate 2 (+ Peak 1) / Output-Average-Rate 5 (+ Peak 4) | bit/s |
| wispr      | 14122: Bandwidth-Max-Up 7 / Bandwidth-Max-Down 8; Session-Terminate-Time 9 | bit/s |
| chillispot | 14559: Bandwidth-Max-Up 4 / Bandwidth-Max-Down 5               | kbit/s    |
| mikrotik   | 14988: Rate-Limit 8 = "<up>k/<down>k" (rx = client upload)     | string    |
| zte        | 3902: Rate-Ctrl-SCR-Up 89 / Rate-Ctrl-SCR-Down 83              | bit/s     |
| ruijie     | WISPr 7 / 8 (no public Ruijie attribute list)                  | bit/s     |
| cisco      | Airespace 14179: Average 13 (+ Burst 15) / Average 7 (+ Burst 9) | kbit/s  |
| aruba      | 14823: Aruba-User-Role 1 = plan name (the role holds the rates) | role     |
| ruckus     | WISPr 7 / 8                                                    | bit/s     |

"Input" is user → NAS, i.e. the user's upload. Every dialect also gets the standard
Session-Timeout, Idle-Timeout, Acct-Interim-Interval and Class.
"""

from __future__ import annotations

from datetime import datetime
from zoneinfo import ZoneInfo

from ac_adapters.radius_dialects import DIALECTS, RadiusDialect, RateFormat
from portal.aaa.grants import Grant
from radius.wire import Attr, integer, vsa

__all__ = ["DIALECTS", "PEAK_FACTOR", "render", "wispr_time"]

# Peak (burst ceiling) = PEAK_FACTOR × average. 1 = the plan's rate is a hard cap, which is
# what the user was sold; raise it per deployment if ACs shape too aggressively.
PEAK_FACTOR = 1
_CHINA = ZoneInfo("Asia/Shanghai")

Attrs = list[tuple[int, bytes]]
_SESSION_TIMEOUT, _CLASS = Attr.SESSION_TIMEOUT, Attr.CLASS   # globals: cheaper than Attr.X per Accept


def wispr_time(epoch: float, tz: ZoneInfo = _CHINA) -> str:
    """ISO 8601 with an explicit offset (``YYYY-MM-DDThh:mm:ss+08:00``): without a TZD the NAS
    would assume its own local time (spec §2.2)."""
    return datetime.fromtimestamp(int(epoch), tz).isoformat(timespec="seconds")


def _rate(fmt: RateFormat, kbps: int) -> bytes:
    return integer(kbps) if fmt is RateFormat.KBPS else integer(kbps * 1000)


def _vendor_attrs(d: RadiusDialect, g: Grant) -> Attrs:
    """The plan-dependent vendor attributes (cacheable per plan and dialect)."""
    out: Attrs = []
    if d.combined is not None and (g.up_kbps is not None or g.down_kbps is not None):
        # rx/tx from the router's view: rx = what it receives from the client = upload. 0 = no limit.
        rate = f"{g.up_kbps or 0}k/{g.down_kbps or 0}k"
        out.append(vsa(d.combined.vendor, d.combined.number, rate.encode()))
    for attrs, kbps in ((d.up, g.up_kbps), (d.down, g.down_kbps)):
        if kbps is None:
            continue
        for i, attr in enumerate(attrs):     # first: average; the rest: peak/burst ceilings
            value = kbps if i == 0 else kbps * PEAK_FACTOR
            out.append(vsa(attr.vendor, attr.number, _rate(d.rate_format, value)))
    if d.role is not None and g.plan_name:
        out.append(vsa(d.role.vendor, d.role.number, g.plan_name.encode()[:247]))
    return out


def render(grant: Grant, dialect: str, tz: ZoneInfo = _CHINA) -> tuple[tuple[int, bytes], ...]:
    """Access-Accept attributes for ``grant`` (Message-Authenticator is added by the encoder)."""
    try:
        d = DIALECTS[dialect]
    except KeyError:
        raise ValueError(f"unknown RADIUS dialect {dialect!r}") from None
    out: Attrs = []
    if grant.session_timeout is not None:
        out.append((_SESSION_TIMEOUT, integer(grant.session_timeout)))
    # Every attribute but Session-Timeout, Class and a per-user Session-Terminate-Time depends
    # only on the plan (timeouts, rates, its name): encode those once per plan and dialect.
    key = (dialect, grant.plan_name if d.role is not None else "", grant.up_kbps, grant.down_kbps,
           grant.idle_timeout, grant.interim_interval)
    cached = _PLAN_CACHE.get(key)
    if cached is None:
        cached = (_plan_attrs(grant), tuple(_vendor_attrs(d, grant)))
        if len(_PLAN_CACHE) > 4096:
            _PLAN_CACHE.clear()
        _PLAN_CACHE[key] = cached
    head, vendor_attrs = cached
    out.extend(head)
    if grant.class_:
        out.append((_CLASS, grant.class_[:253]))
    out.extend(vendor_attrs)
    if d.terminate_time is not None and grant.terminate_at is not None:
        out.append(vsa(d.terminate_time.vendor, d.terminate_time.number,
                       wispr_time(grant.terminate_at, tz).encode()))
    return tuple(out)


def _plan_attrs(grant: Grant) -> tuple[tuple[int, bytes], ...]:
    attrs: Attrs = []
    if grant.idle_timeout is not None:
        attrs.append((Attr.IDLE_TIMEOUT, integer(grant.idle_timeout)))
    attrs.append((Attr.ACCT_INTERIM_INTERVAL, integer(grant.interim_interval)))
    return tuple(attrs)


_PLAN_CACHE: dict[tuple[str, str, int | None, int | None, int | None, int],
                  tuple[tuple[tuple[int, bytes], ...], tuple[tuple[int, bytes], ...]]] = {}
