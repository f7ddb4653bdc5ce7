"""Venues: the physical places (library, station, mall) whose pages and rules phones meet.

A venue is found from what the AC's redirect says: AC name, SSID and, when the AC sends them,
the AP's MAC and the AC's AP group (Huawei ``ap-group-name``). Resolution, most specific first
(``VenueStore.resolve``):

1. a venue listing the AP MAC (and, if it lists ACs, this AC);
2. a venue listing the AP group (and, if it lists ACs, this AC): an AC's AP group names one
   building or floor, and new APs join it without anyone editing the venue;
3. a venue listing both this AC and this SSID;
4. a venue listing this SSID and no ACs (a brand that spans ACs);
5. a venue listing this AC and no SSIDs, AP MACs or AP groups (or listing this AC at all, when
   the SSID is unknown, as in a MAC-trigger query);
6. the venue marked ``default``; else the built-in :data:`FALLBACK` (no pages, no ads).

Only the redirect carries the AP group: RADIUS accounting (Called-Station-Id) knows AP MAC and
SSID, so a venue matched by AP group alone is counted per venue from its logins, while the
per-venue index of online sessions falls back to the AC/SSID tiers.

Post-login URLs are chosen server-side from the venue record, and only if their host is on
the allow-list (the venue's ``redirect_hosts`` plus the operator's); nothing a phone sends
becomes a redirect target, so there is no open redirect.
"""

from __future__ import annotations

import dataclasses
import json
import re
import threading
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import Any
from urllib.parse import urlsplit

from ad_pages.web_url import web_url_problem
from portal.aaa.blocklist import normalise_mac
from portal.errors import NotFound, ValidationError
from portal.state import keys
from portal.texts import fill
from portal.venues import texts

__all__ = [
    "FALLBACK", "NETWORK_FIELDS", "OPERATOR_FIELDS", "Venue", "VenueResolver", "VenueSettingsError",
    "VenueStore", "allowed_redirect", "assign_plan_rule", "update_venue",
]

_ID = re.compile(r"^[A-Za-z0-9_.\-]{1,64}$")
# Fixed path segments right under /venue/ (portal/web/venue/venue_console.py, venue_campaigns.py): a venue
# with such an id would have its console at /venue/<id> shadowed by, or shadowing, that page. "."
# and ".." are removed from URLs by browsers. Compared case-insensitively to avoid look-alikes.
RESERVED_IDS = frozenset({"new", "campaigns", "tokens", ".", ".."})
# A redirect allow-list entry: a host name (RFC 1123 labels) or an IPv4 address, optionally with
# a leading "." for "this domain's subdomains". allowed_redirect compares hosts only, so an entry
# with a port, a path or a wildcard could never match: it is refused instead of stored unused.
_LABEL = r"[a-z0-9](?:[a-z0-9-]{0,61}[a-z0-9])?"
_HOST_ENTRY = re.compile(rf"^\.?(?:{_LABEL}\.)*{_LABEL}$")
_PAGES = ("login", "success", "ad", "status", "error")


@dataclass(frozen=True, slots=True)
class Venue:
    """One venue. Empty tuples mean "any" for matching purposes (see module doc)."""

    id: str
    name_zh: str = ""
    name_en: str = ""
    acs: tuple[str, ...] = ()              # AC names whose phones belong here
    ssids: tuple[str, ...] = ()
    ap_macs: tuple[str, ...] = ()          # normalised AP MACs
    ap_groups: tuple[str, ...] = ()        # AP group names as the AC sends them (exact match)
    default: bool = False                  # used when nothing more specific matches
    default_plan: str = ""                 # plan rule ``venue:<id>`` (PlanStore)
    redirect_url: str = ""                 # post-login page; "" = the operator's
    redirect_hosts: tuple[str, ...] = ()   # extra hosts allowed as post-login targets
    redirect_delay: int = 3                # seconds the success page shows before redirecting
    ad_seconds: int = 10                   # returning phones: ad countdown before auto login
    silent_mac_login: bool = False         # MAC-trigger ACs may log bound devices in silently
    languages: tuple[str, ...] = ("zh", "en")
    templates: Mapping[str, str] = field(default_factory=dict)   # page → Jinja2 source (sandboxed)
    ads: tuple[Mapping[str, Any], ...] = ()  # inline ads when no campaign runs (ad_pages.select_ad)
    ads_on_success: bool = False           # also show a campaign on the success page
    # NOC-only: the venue's own inline scripts run on its phone pages (a per-response nonce,
    # ad_pages/script_nonce.py, portal/web/phone/venue_csp.py). Off: venue pages run no script.
    scripts_allowed: bool = False

    def __post_init__(self) -> None:
        if not isinstance(self.id, str) or not _ID.match(self.id):
            raise ValidationError(f"venue id {self.id!r}: 1-64 letters, digits, '_', '.' or '-'")
        if self.id.lower() in RESERVED_IDS:
            raise ValidationError(texts.VENUE_ID_CONSOLE.format(id=self.id, path=self.id.lower()))
        for mac in self.ap_macs:
            normalise_mac(mac)
        for group in self.ap_groups:
            if (not isinstance(group, str) or not 0 < len(group) <= 64 or "," in group
                    or group != group.strip() or any(ord(ch) < 32 or ord(ch) == 127 for ch in group)):
                raise ValidationError(texts.AP_GROUP_INVALID.format(venue=self.id, group=str(group)[:70]))
        for page in self.templates:
            if page not in _PAGES:
                raise ValidationError(f"venue {self.id}: unknown page {page!r} ({', '.join(_PAGES)})")
        if self.redirect_url and urlsplit(self.redirect_url).scheme not in ("http", "https"):
            raise ValidationError(f"venue {self.id}: redirect_url must be http(s)")
        if not 0 <= self.ad_seconds <= 120 or not 0 <= self.redirect_delay <= 60:
            raise ValidationError(f"venue {self.id}: ad_seconds 0-120, redirect_delay 0-60")
        for lang in self.languages:
            if lang not in ("zh", "en"):
                raise ValidationError(f"venue {self.id}: languages are zh and en")

    def name(self, lang: str) -> str:
        if lang == "en":
            return self.name_en or self.name_zh
        return self.name_zh or self.name_en

    def to_json(self) -> str:
        data = dataclasses.asdict(self)
        data["templates"] = dict(self.templates)
        data["ads"] = [dict(a) for a in self.ads]
        return json.dumps(data, ensure_ascii=False, sort_keys=True)

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> Venue:
        known = {f.name for f in dataclasses.fields(cls)}
        unknown = set(data) - known
        if unknown:
            raise ValidationError(f"unknown venue field(s): {', '.join(sorted(unknown))}")
        values = dict(data)
        for name in ("acs", "ssids", "ap_groups", "redirect_hosts", "languages", "ads"):
            if name in values:
                values[name] = tuple(values[name])
        if "ap_macs" in values:
            values["ap_macs"] = tuple(normalise_mac(m) for m in values["ap_macs"])
        if "templates" in values:
            values["templates"] = dict(values["templates"])
        return cls(**values)

    @classmethod
    def from_json(cls, raw: str | bytes) -> Venue:
        return cls.from_dict(json.loads(raw))


FALLBACK = Venue(id="none")
"""The venue of a phone no venue claims: default pages, operator redirect, no silent login."""


def _host(url: str) -> str:
    try:
        return (urlsplit(url).hostname or "").lower()
    except ValueError:
        return ""


def allowed_redirect(url: str, allowed_hosts: tuple[str, ...]) -> bool:
    """True when ``url`` is http(s) and its host is one of ``allowed_hosts`` (exact, or a
    subdomain of an entry written ``.example.cn``)."""
    if web_url_problem(url) is not None:        # ad_pages.web_url: every parser must agree on it
        return False
    host = _host(url)
    if not host:
        return False
    for entry in allowed_hosts:
        entry = entry.lower().strip()
        if not entry:
            continue
        if host == entry.lstrip(".") or (entry.startswith(".") and host.endswith(entry)):
            return True
    return False


class VenueStore:
    """Venue records in Redis (one hash in the ``{venues}`` slot), cached ``cache_ttl`` seconds."""

    def __init__(self, redis: Any, *, cache_ttl: float = 5.0,
                 clock: Callable[[], float] = time.monotonic) -> None:
        self.redis = redis
        self.cache_ttl = cache_ttl
        self._clock = clock
        self._lock = threading.Lock()
        self._cached: dict[str, Venue] | None = None
        self._cached_at = 0.0

    def put(self, venue: Venue) -> None:
        """Store a venue; its ``default_plan`` becomes the plan rule ``venue:<id>`` that RADIUS
        applies (an unknown plan name is refused with NotFound before anything is written)."""
        from portal.aaa.plans import PlanStore

        if venue.id.lower() == FALLBACK.id:
            # FALLBACK's id: phones no venue claims, counted in their own per-venue index.
            raise ValidationError(texts.VENUE_ID_FALLBACK.format(id=venue.id))
        plans = PlanStore(self.redis)
        if venue.default_plan:
            plans.assign("venue", venue.id, venue.default_plan)
        else:
            plans.unassign("venue", venue.id)
        self.redis.hset(keys.venue_defs(), venue.id, venue.to_json())
        self.invalidate()

    def set_default_plan(self, venue_id: str, plan_name: str) -> bool:
        """Make ``plan_name`` ("" = none) the venue's default plan: the record and its rule
        ``venue:<id>`` change together (through :meth:`put`). False when there is no such venue."""
        venue = self.get_or_none(venue_id)
        if venue is None:
            return False
        self.put(dataclasses.replace(venue, default_plan=plan_name))
        return True

    def get_or_none(self, venue_id: str) -> Venue | None:
        raw = self.redis.hget(keys.venue_defs(), venue_id)
        return None if raw is None else Venue.from_json(raw)

    def get(self, venue_id: str) -> Venue:
        venue = self.get_or_none(venue_id)
        if venue is None:
            raise NotFound(f"no venue {venue_id!r}")
        return venue

    def delete(self, venue_id: str) -> None:
        self.redis.hdel(keys.venue_defs(), venue_id)
        self.invalidate()

    def invalidate(self) -> None:
        with self._lock:
            self._cached = None

    def all(self) -> dict[str, Venue]:
        """Every venue by id (cached). Broken records are skipped, not fatal."""
        now = self._clock()
        with self._lock:
            if self._cached is not None and now - self._cached_at < self.cache_ttl:
                return self._cached
        out: dict[str, Venue] = {}
        for raw in self.redis.hgetall(keys.venue_defs()).values():
            try:
                venue = Venue.from_json(raw)
            except (ValidationError, ValueError, TypeError):
                continue
            out[venue.id] = venue
        with self._lock:
            self._cached, self._cached_at = out, now
        return out

    def resolve(self, ac_name: str, ssid: str | None, ap_mac: str | None = None,
                ap_group: str | None = None) -> Venue:
        """The venue of a phone behind ``ac_name`` on ``ssid`` (AP ``ap_mac``, in the AC's AP
        group ``ap_group``)."""
        venues = sorted(self.all().values(), key=lambda v: v.id)
        ap = None
        if ap_mac:
            try:
                ap = normalise_mac(ap_mac)
            except ValidationError:
                ap = None
        tiers: list[list[Venue]] = [[], [], [], [], [], []]
        for v in venues:
            ac_ok = ac_name in v.acs
            ssid_ok = ssid is not None and ssid in v.ssids
            if ap is not None and ap in v.ap_macs and (not v.acs or ac_ok):
                tiers[0].append(v)
            elif ap_group and ap_group in v.ap_groups and (not v.acs or ac_ok):
                tiers[1].append(v)
            elif v.acs and v.ssids and ac_ok and ssid_ok:
                tiers[2].append(v)
            elif not v.acs and v.ssids and ssid_ok:
                tiers[3].append(v)
            elif v.acs and ac_ok and (not v.ssids or ssid is None) and not v.ap_macs and not v.ap_groups:
                # An AC-only venue, or any venue of this AC when the SSID is unknown (MAC-trigger).
                tiers[4].append(v)
            elif v.default:
                tiers[5].append(v)
        for tier in tiers:
            if tier:
                return tier[0]
        return FALLBACK


class VenueResolver:
    """``VenueStore.resolve(...).id`` remembered per (AC, SSID, AP MAC) for as long as the store's
    cached venue set stays the same: resolution walks every venue, its answer only changes when
    the set is refreshed, and hot paths (RADIUS auth and accounting) ask per request."""

    def __init__(self, store: VenueStore, max_entries: int = 10_000) -> None:
        self.store = store
        self.max_entries = max_entries
        self._memo: dict[tuple[str, str | None, str | None], str] = {}
        self._of: object = None

    def venue_id(self, ac_name: str, ssid: str | None, ap_mac: str | None = None) -> str:
        """The venue id (``FALLBACK.id`` when no venue claims the phone)."""
        current = self.store.all()
        if current is not self._of or len(self._memo) > self.max_entries:
            self._memo.clear()
            self._of = current
        key = (ac_name, ssid, ap_mac)
        found = self._memo.get(key)
        if found is None:
            found = self._memo[key] = self.store.resolve(ac_name, ssid, ap_mac).id
        return found


# --- console/API edits -------------------------------------------------------------------------

def assign_plan_rule(redis: Any, scope: str, key: str, plan_name: str | None) -> None:
    """Set a plan rule (``None`` removes it) — what the NOC plans page and ``/api/v1/plan-rules``
    do. A ``venue:<id>`` rule of an existing venue IS that venue's ``default_plan``: it is changed
    on the venue record (which writes the rule), so the venue page shows it and a later save of
    the venue keeps it instead of writing the old plan back. Rules for venues not (yet) defined,
    SSIDs, ACs and the default go straight to the PlanStore."""
    from portal.aaa.plans import PlanStore

    if scope == "venue" and VenueStore(redis, cache_ttl=0.0).set_default_plan(key, plan_name or ""):
        return
    plans = PlanStore(redis)
    if plan_name is None:
        plans.unassign(scope, key)
    else:
        plans.assign(scope, key, plan_name)


OPERATOR_FIELDS = ("name_zh", "name_en", "redirect_url", "redirect_delay", "ad_seconds", "silent_mac_login",
                   "languages", "ads_on_success")
"""What a venue operator may change on their own venue."""

NETWORK_FIELDS = ("acs", "ssids", "ap_macs", "ap_groups", "default_plan", "redirect_hosts", "default",
                  "scripts_allowed")
"""NOC-only fields: which phones belong to a venue (an operator claiming another venue's AC or
SSID would capture its phones), the plan they get, the venue's own redirect allow-list
(an operator adding hosts to it would make the allow-list meaningless), and whether the
venue's scripts run on phones (a venue turning it on itself would make the policy its own)."""


class VenueSettingsError(ValidationError):
    """A venue edit refused; ``field`` names the form field, messages in zh and en."""

    def __init__(self, field_name: str, zh: str, en: str) -> None:
        super().__init__(f"{field_name}: {en}")
        self.field = field_name
        self.message_zh = zh
        self.message_en = en

    def message(self, lang: str) -> str:
        return self.message_en if lang == "en" else self.message_zh


def update_venue(venue: Venue, changes: Mapping[str, Any], *, operator_hosts: tuple[str, ...],
                 network: bool) -> Venue:
    """``venue`` with ``changes`` applied and checked. ``network`` False (a venue operator):
    NETWORK_FIELDS are refused. A non-empty ``redirect_url`` must be on the allow-list (the
    venue's ``redirect_hosts`` plus ``operator_hosts``, the operator's ``web.redirect_hosts``)."""
    allowed = OPERATOR_FIELDS + (NETWORK_FIELDS if network else ())
    for name in changes:
        if name not in allowed:
            if name in NETWORK_FIELDS:
                raise VenueSettingsError(name, *texts.SETTINGS_ERRORS["noc_only"])
            raise VenueSettingsError(name, *texts.SETTINGS_ERRORS["unknown_field"])
    data = json.loads(venue.to_json())
    for name, value in changes.items():
        if name in ("name_zh", "name_en", "redirect_url", "default_plan"):
            text = str(value or "").strip()
            if len(text) > (500 if name == "redirect_url" else 80):
                raise VenueSettingsError(name, *texts.SETTINGS_ERRORS["too_long"])
            if any(ord(ch) < 32 for ch in text):
                raise VenueSettingsError(name, *texts.SETTINGS_ERRORS["control_chars"])
            data[name] = text
        elif name in ("redirect_delay", "ad_seconds"):
            try:
                data[name] = int(value)
            except (TypeError, ValueError):
                raise VenueSettingsError(name, *texts.SETTINGS_ERRORS["whole_number"]) from None
        elif name in ("silent_mac_login", "default", "ads_on_success", "scripts_allowed"):
            data[name] = bool(value)
        else:                                           # lists
            items = value.split(",") if isinstance(value, str) else list(value or ())
            items = [str(i).strip() for i in items if str(i).strip()]
            if len(items) > 500 or any(len(i) > 253 for i in items):
                raise VenueSettingsError(name, *texts.SETTINGS_ERRORS["list_too_long"])
            if name == "redirect_hosts":
                items = [i.lower() for i in items]
                bad = next((i for i in items if not _HOST_ENTRY.match(i)), None)
                if bad is not None:
                    bad = bad[:60].encode("unicode_escape").decode("ascii")
                    raise VenueSettingsError(name, *fill(texts.SETTINGS_ERRORS["bad_host"], bad=bad))
            data[name] = items
    url = data.get("redirect_url", "")
    if url and not allowed_redirect(url, (*data.get("redirect_hosts", ()), *operator_hosts)):
        raise VenueSettingsError("redirect_url", *texts.SETTINGS_ERRORS["redirect_not_allowed"])
    if "languages" in changes and not data["languages"]:
        raise VenueSettingsError("languages", *texts.SETTINGS_ERRORS["no_language"])
    try:
        return Venue.from_dict(data)
    except ValidationError as exc:
        field_name = next((n for n in changes if n in str(exc)), "venue")
        raise VenueSettingsError(field_name, *fill(texts.SETTINGS_ERRORS["invalid"], error=exc)) from None
