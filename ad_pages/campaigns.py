"""Ad campaigns and their selection — pure (no Redis, no clock, no randomness of its own).

A campaign is a creative (an image of one of our assets plus a click-through URL, or an HTML
snippet rendered in the Jinja2 sandbox), a schedule (dates and daily hour windows in the
operator's timezone), targeting (venues, SSIDs; empty = all), a weight, a priority, a per-phone
daily frequency cap and an on/off switch.

:func:`select_campaign` picks what a phone sees: among the eligible campaigns the highest
priority wins, ties are broken by a weighted draw from the caller's ``rng``, campaigns whose
cap this phone already reached are skipped; with nothing eligible the caller's ``fallback``
(the operator's default ad, or None) is returned.

:func:`parse_campaign` turns submitted data (console form, API body, stored JSON) into a
:class:`Campaign`, collecting every problem per field in Chinese and English
(:class:`CampaignInvalid`), so the console can show each next to its field.
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import date, datetime
from random import Random
from typing import Any

from ad_pages.editor_texts import CAMPAIGN_ERRORS
from ad_pages.web_url import web_url_problem

__all__ = [
    "KINDS",
    "Campaign",
    "CampaignInvalid",
    "Creative",
    "Schedule",
    "asset_venue",
    "campaign_to_dict",
    "eligible",
    "format_hours",
    "parse_campaign",
    "parse_hours",
    "select_campaign",
    "valid_click_url",
    "valid_image",
]

KINDS = ("image", "html")
_ID = re.compile(r"^[A-Za-z0-9][A-Za-z0-9_\-]{0,47}$")
_HOURS = re.compile(r"^\s*(\d{1,2}):(\d{2})\s*-\s*(\d{1,2}):(\d{2})\s*$")
# Venue and file names start with a letter/digit/underscore: no "." or ".." segments.
_ASSET_PATH = re.compile(r"^/assets/(\w[\w.\-]{0,63})/\w[\w.\-]{0,127}(\?v=[0-9a-f]{1,64})?$", re.ASCII)
_DATA_IMAGE = re.compile(r"^data:image/(png|jpeg|gif|webp|svg\+xml)[;,]", re.IGNORECASE)
MAX_HTML = 20_000          # characters of an HTML creative's source
MAX_IMAGE = 200_000        # characters of an image reference (a data: URI may be inline)
MAX_URL = 2_000


@dataclass(frozen=True, slots=True)
class Creative:
    """What the phone sees. ``kind`` "image": ``image`` is a same-host path (``/assets/<venue>/
    <name>``) or a ``data:image/…`` URI, ``click_url`` an optional http(s) click-through target;
    ``kind`` "html": ``html`` is Jinja2 source rendered in the sandbox (shown in a sandboxed
    iframe, so it can neither script the portal page nor navigate it)."""

    kind: str = "image"
    image: str = ""
    click_url: str = ""
    html: str = ""
    title: str = ""          # heading / image alt text
    text: str = ""           # a line under the image


@dataclass(frozen=True, slots=True)
class Schedule:
    """When a campaign runs, in the operator's local time. ``start``/``end`` are inclusive
    dates (None = open); ``hours`` are minute-of-day windows ``[from, to)``, a window with
    ``from > to`` wraps midnight; no windows = all day."""

    start: date | None = None
    end: date | None = None
    hours: tuple[tuple[int, int], ...] = ()

    def contains(self, now: datetime) -> bool:
        """Whether local time ``now`` (a datetime in the operator's timezone) is inside."""
        today = now.date()
        if self.start is not None and today < self.start:
            return False
        if self.end is not None and today > self.end:
            return False
        if not self.hours:
            return True
        minute = now.hour * 60 + now.minute
        for lo, hi in self.hours:
            if lo < hi and lo <= minute < hi:
                return True
            if lo > hi and (minute >= lo or minute < hi):
                return True
        return False


@dataclass(frozen=True, slots=True)
class Campaign:
    """One ad campaign (see the module doc). ``venues``/``ssids`` empty = every venue/SSID;
    ``frequency_cap`` 0 = no cap (else impressions per phone per local day)."""

    id: str
    name: str
    creative: Creative = field(default_factory=Creative)
    schedule: Schedule = field(default_factory=Schedule)
    venues: tuple[str, ...] = ()
    ssids: tuple[str, ...] = ()
    weight: int = 1
    priority: int = 0
    frequency_cap: int = 0
    enabled: bool = True
    created_by: str = ""
    updated_at: float = 0.0

    def targets(self, venue: str, ssid: str) -> bool:
        return (not self.venues or venue in self.venues) and (not self.ssids or ssid in self.ssids)


def eligible(campaign: Campaign, *, venue: str, ssid: str, now: datetime,
             phone_impressions: Mapping[str, int]) -> bool:
    """Enabled, targeted at this venue/SSID, inside its schedule and under this phone's cap."""
    if not campaign.enabled or campaign.weight <= 0 or not campaign.targets(venue, ssid):
        return False
    if not campaign.schedule.contains(now):
        return False
    cap = campaign.frequency_cap
    return not (cap > 0 and int(phone_impressions.get(campaign.id, 0)) >= cap)


def select_campaign(campaigns: Iterable[Campaign], *, venue: str, ssid: str, now: datetime,
                    phone_impressions: Mapping[str, int], rng: Random,
                    fallback: Campaign | None = None) -> Campaign | None:
    """The campaign to show (module doc), or ``fallback`` when none is eligible. ``now`` is the
    local time in the operator's timezone; ``phone_impressions`` maps campaign id → what this
    phone was shown today; ``rng`` draws among the top priority by weight."""
    pool = [c for c in campaigns
            if eligible(c, venue=venue, ssid=ssid, now=now, phone_impressions=phone_impressions)]
    if not pool:
        return fallback
    top = max(c.priority for c in pool)
    # Sorted by id so a seeded rng gives the same answer whatever order storage returned.
    tier = sorted((c for c in pool if c.priority == top), key=lambda c: c.id)
    total = sum(c.weight for c in tier)
    point = rng.random() * total
    for c in tier:
        point -= c.weight
        if point < 0:
            return c
    return tier[-1]     # float rounding at the very top of the range


# --- parsing and validation ------------------------------------------------------------------

class CampaignInvalid(ValueError):
    """Submitted campaign data is wrong. ``errors`` maps a field name to ``(zh, en)``."""

    def __init__(self, errors: Mapping[str, tuple[str, str]]) -> None:
        self.errors = dict(errors)
        super().__init__("; ".join(f"{k}: {en}" for k, (_zh, en) in self.errors.items()))


def parse_hours(text: str | Sequence[str]) -> tuple[tuple[int, int], ...]:
    """``"09:00-12:00, 14:00-18:00"`` (or a list of such strings) → minute windows.
    Raises ValueError on a malformed or empty window. ``24:00`` means midnight at the end."""
    parts = text.replace(";", ",").replace("\n", ",").split(",") if isinstance(text, str) else list(text)
    out: list[tuple[int, int]] = []
    for part in parts:
        if not str(part).strip():
            continue
        m = _HOURS.match(str(part))
        if not m:
            raise ValueError(f"bad hours window {part!r}")
        h1, m1, h2, m2 = (int(g) for g in m.groups())
        if h1 > 23 or m1 > 59 or h2 > 24 or m2 > 59 or (h2 == 24 and m2):
            raise ValueError(f"bad hours window {part!r}")
        lo, hi = h1 * 60 + m1, (h2 * 60 + m2) % 1440
        if lo == hi:
            raise ValueError(f"empty hours window {part!r}")
        out.append((lo, hi))
    if len(out) > 12:
        raise ValueError("at most 12 hours windows")
    return tuple(out)


def format_hours(hours: Sequence[tuple[int, int]]) -> list[str]:
    """Minute windows → ``["09:00-12:00", …]`` (the inverse of :func:`parse_hours`)."""
    return [f"{lo // 60:02d}:{lo % 60:02d}-{hi // 60:02d}:{hi % 60:02d}" for lo, hi in hours]


def campaign_to_dict(c: Campaign) -> dict[str, Any]:
    """Plain JSON-able data (the stored form and the API's representation)."""
    return {
        "id": c.id, "name": c.name, "enabled": c.enabled,
        "creative": {"kind": c.creative.kind, "image": c.creative.image, "click_url": c.creative.click_url,
                     "html": c.creative.html, "title": c.creative.title, "text": c.creative.text},
        "schedule": {"start": c.schedule.start.isoformat() if c.schedule.start else None,
                     "end": c.schedule.end.isoformat() if c.schedule.end else None,
                     "hours": format_hours(c.schedule.hours)},
        "venues": list(c.venues), "ssids": list(c.ssids),
        "weight": c.weight, "priority": c.priority, "frequency_cap": c.frequency_cap,
        "created_by": c.created_by, "updated_at": c.updated_at,
    }


def _safe_url_chars(url: str) -> bool:
    return "\\" not in url and not any(ord(ch) <= 32 or ord(ch) == 127 for ch in url)


def asset_venue(ref: str) -> str | None:
    """The venue of an asset path ``/assets/<venue>/<name>[?v=…]``, or None for anything else."""
    m = _ASSET_PATH.match(ref)
    return m.group(1) if m else None


def valid_image(ref: str) -> bool:
    """One of our venue assets (``/assets/<venue>/<name>``, served from our own host) or an
    inline ``data:image/…`` URI — never another host, nor another path of ours."""
    if _DATA_IMAGE.match(ref):
        return len(ref) <= MAX_IMAGE and '"' not in ref and _safe_url_chars(ref.replace(" ", ""))
    return asset_venue(ref) is not None


def valid_click_url(url: str) -> bool:
    """A usable http(s) address (:func:`ad_pages.web_url.web_url_problem`) of at most MAX_URL."""
    return len(url) <= MAX_URL and web_url_problem(url) is None


def _error(key: str, **fields: object) -> tuple[str, str]:
    """A campaign-form message (ad_pages/editor_texts.py) with its named fields filled in."""
    zh, en = CAMPAIGN_ERRORS[key]
    return zh.format(**fields), en.format(**fields)


def _int(data: Mapping[str, Any], name: str, default: int, lo: int, hi: int,
         errors: dict[str, tuple[str, str]]) -> int:
    raw = data.get(name, default)
    if raw is None or raw == "":
        return default
    try:
        if isinstance(raw, bool) or (isinstance(raw, float) and not raw.is_integer()):
            raise ValueError
        value = int(str(raw).strip()) if isinstance(raw, str) else int(raw)
    except (TypeError, ValueError):
        errors[name] = _error("whole_number", lo=lo, hi=hi)
        return default
    if not lo <= value <= hi:
        errors[name] = _error("whole_number", lo=lo, hi=hi)
    return value


def _date(raw: Any, name: str, errors: dict[str, tuple[str, str]]) -> date | None:
    if raw is None or raw == "":
        return None
    if isinstance(raw, date):
        return raw
    try:
        return date.fromisoformat(str(raw).strip())
    except ValueError:
        errors[name] = CAMPAIGN_ERRORS["date"]
        return None


def _names(raw: Any, name: str, errors: dict[str, tuple[str, str]]) -> tuple[str, ...]:
    items = raw.replace("\n", ",").split(",") if isinstance(raw, str) else list(raw or ())
    out: list[str] = []
    for item in items:
        text = str(item).strip()
        if not text:
            continue
        if len(text) > 64 or any(ord(ch) < 32 for ch in text):
            errors[name] = CAMPAIGN_ERRORS["bad_name"]
            break
        if text not in out:
            out.append(text)
    if len(out) > 200:
        errors[name] = CAMPAIGN_ERRORS["too_many_names"]
    return tuple(out)


def parse_campaign(data: Mapping[str, Any]) -> Campaign:
    """A validated :class:`Campaign` from plain data shaped like :func:`campaign_to_dict`
    (numbers may also come as digit strings, hours as one comma-separated string, venues and
    SSIDs as comma-separated strings). Raises :class:`CampaignInvalid` listing every bad field."""
    errors: dict[str, tuple[str, str]] = {}
    cid = str(data.get("id") or "")
    if not _ID.match(cid):
        errors["id"] = CAMPAIGN_ERRORS["id"]
    name = str(data.get("name") or "").strip()
    if not name or len(name) > 100:
        errors["name"] = CAMPAIGN_ERRORS["name"]
    cr = data.get("creative") or {}
    if not isinstance(cr, Mapping):
        cr = {}
        errors["kind"] = CAMPAIGN_ERRORS["creative_shape"]
    kind = str(cr.get("kind") or "image")
    image, click, html = (str(cr.get(k) or "").strip() for k in ("image", "click_url", "html"))
    title, text = (str(cr.get(k) or "").strip() for k in ("title", "text"))
    if kind not in KINDS:
        errors["kind"] = CAMPAIGN_ERRORS["creative_kind"]
    elif kind == "image":
        if not image:
            errors["image"] = CAMPAIGN_ERRORS["image_missing"]
        elif not valid_image(image):
            errors["image"] = CAMPAIGN_ERRORS["image_host"]
        html = ""
    else:
        if not html.strip():
            errors["html"] = CAMPAIGN_ERRORS["html_missing"]
        elif len(html) > MAX_HTML:
            errors["html"] = _error("html_long", limit=MAX_HTML)
        image = ""
    if click and not valid_click_url(click):
        errors["click_url"] = CAMPAIGN_ERRORS["click_url"]
    if len(title) > 100 or len(text) > 300:
        errors["title"] = CAMPAIGN_ERRORS["title_long"]
    sched = data.get("schedule") or {}
    if not isinstance(sched, Mapping):
        sched = {}
    start = _date(sched.get("start"), "start", errors)
    end = _date(sched.get("end"), "end", errors)
    if start and end and end < start:
        errors["end"] = CAMPAIGN_ERRORS["end_before_start"]
    try:
        hours = parse_hours(sched.get("hours") or ())
    except ValueError:
        hours = ()
        errors["hours"] = CAMPAIGN_ERRORS["hours"]
    venues = _names(data.get("venues"), "venues", errors)
    ssids = _names(data.get("ssids"), "ssids", errors)
    weight = _int(data, "weight", 1, 1, 10_000, errors)
    priority = _int(data, "priority", 0, 0, 100, errors)
    cap = _int(data, "frequency_cap", 0, 0, 1_000, errors)
    enabled = data.get("enabled", True)
    if isinstance(enabled, str):
        enabled = enabled.lower() in ("1", "true", "on", "yes")
    if errors:
        raise CampaignInvalid(errors)
    try:
        updated_at = float(data.get("updated_at") or 0.0)
    except (TypeError, ValueError):
        updated_at = 0.0
    return Campaign(
        id=cid, name=name, creative=Creative(kind, image, click, html, title, text),
        schedule=Schedule(start, end, hours), venues=venues, ssids=ssids, weight=weight,
        priority=priority, frequency_cap=cap, enabled=bool(enabled),
        created_by=str(data.get("created_by") or ""), updated_at=updated_at,
    )
