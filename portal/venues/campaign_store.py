"""Ad campaigns in Redis: definitions, per-phone daily caps, per campaign × venue × day counters.

* Definitions: one hash (``keys.campaign_defs()``), campaign id → JSON; read whole and cached a
  few seconds per process (a phone's ad page needs them all; there are tens, not thousands).
* Frequency cap: ``keys.campaign_phone_day(phone, day)`` counts what one phone saw today, in the
  phone's slot, expiring at the end of the local day.
* Counters: ``keys.campaign_stats(campaign, day)`` hashes with ``<venue>|imp``, ``|view`` and
  ``|click`` fields — impressions (an ad page showed it), completed views (the countdown ran out
  and the phone reached ``ad_continue`` legitimately) and clicks (our counting redirect).

Days are local days in the operator's timezone (``quota.timezone``), like the daily quotas.
:meth:`CampaignStore.choose` wraps the pure :func:`ad_pages.campaigns.select_campaign`.
"""

from __future__ import annotations

import json
import logging
import random
import secrets
import threading
import time
from collections.abc import Callable, Iterator, Mapping
from dataclasses import dataclass, replace
from datetime import date, datetime, timedelta
from typing import Any
from zoneinfo import ZoneInfo

from ad_pages.ads import campaign_ad
from ad_pages.campaigns import Campaign, CampaignInvalid, campaign_to_dict, parse_campaign, select_campaign
from ad_pages.sandbox import PageRenderer, TemplateProblem
from portal.errors import NotFound, ValidationError
from portal.runtime.settings import ContentSettings
from portal.state import keys
from portal.texts import fill
from portal.venues.content_quotas import MemoryWatermark, QuotaExceeded, mib
from portal.venues.texts import CLICK_URL_ALL_VENUES, CLICK_URL_VENUES, QUOTAS
from portal.venues.venue_store import Venue, allowed_redirect

__all__ = ["CLICK_PATH", "EVENTS", "CampaignStore", "StatsRow", "click_allowed_at", "click_url_refusal",
           "daily_totals", "day_range"]

CLICK_PATH = "/portal/ad/click/"
"""The counting click-through redirect: ``CLICK_PATH + <campaign id>?t=<signed token>``."""

EVENTS = ("imp", "view", "click")
log = logging.getLogger("citywifi.campaigns")
_RENDERER: PageRenderer | None = None


def _campaigns(n: int) -> str:
    """"1 campaign" / "3 campaigns" for the English quota refusals."""
    return f"{n} campaign" if n == 1 else f"{n} campaigns"


def _renderer() -> PageRenderer:
    """One sandbox for HTML creatives per process (same limits as venue pages)."""
    global _RENDERER
    if _RENDERER is None:
        _RENDERER = PageRenderer()
    return _RENDERER


def click_allowed_at(url: str, venue: Venue | None, operator_hosts: tuple[str, ...]) -> bool:
    """Whether a click-through may lead to ``url`` at ``venue``: the same allow-list as the
    post-login redirect (the venue's ``redirect_hosts`` plus the operator's ``web.redirect_hosts``;
    ``None`` = a venue that no longer exists, so only the operator's)."""
    hosts = venue.redirect_hosts if venue is not None else ()
    return allowed_redirect(url, (*hosts, *operator_hosts))


def click_url_refusal(campaign: Campaign, venues: Mapping[str, Venue],
                      operator_hosts: tuple[str, ...]) -> tuple[str, str] | None:
    """Why ``campaign``'s click-through URL may not be stored (zh, en), or None. It must be
    allowed at every venue the campaign can run at; a campaign for every venue (no targets)
    also runs at venues created later, so only the operator's own list can allow it."""
    url = campaign.creative.click_url
    if not url:
        return None
    if not campaign.venues:
        if click_allowed_at(url, None, operator_hosts):
            return None
        listed = ", ".join(operator_hosts) or "—"
        return fill(CLICK_URL_ALL_VENUES, listed=listed)
    refused = [v for v in campaign.venues if not click_allowed_at(url, venues.get(v), operator_hosts)]
    if not refused:
        return None
    hosts = sorted({h for v in refused for h in (venues[v].redirect_hosts if v in venues else ())}
                   | set(operator_hosts))
    listed = ", ".join(hosts) or "—"
    return fill(CLICK_URL_VENUES, venues=", ".join(refused), listed=listed)


_STATS_TTL = 400 * 86400      # a year of daily figures plus the month being compared
MAX_STATS_DAYS = 400


@dataclass(frozen=True, slots=True)
class StatsRow:
    """One campaign's figures at one venue on one local day."""

    day: date
    venue: str
    impressions: int = 0
    views: int = 0
    clicks: int = 0


def day_range(start: date, end: date) -> Iterator[date]:
    """Every date from ``start`` to ``end`` inclusive."""
    d = start
    while d <= end:
        yield d
        d += timedelta(days=1)


def daily_totals(rows: list[StatsRow], start: date, end: date) -> list[StatsRow]:
    """One row per day (all venues summed, venue ""), zero-filled — for charts and CSV."""
    sums: dict[date, list[int]] = {d: [0, 0, 0] for d in day_range(start, end)}
    for r in rows:
        if r.day in sums:
            s = sums[r.day]
            s[0] += r.impressions
            s[1] += r.views
            s[2] += r.clicks
    return [StatsRow(d, "", *v) for d, v in sums.items()]


# Quotas and the write in one step (a check before a separate write lets parallel requests all
# pass). The owner index (``keys.campaign_owners``: id → {o: owner, v: venues, b: bytes}) keeps
# the script from decoding every campaign; it is rebuilt from the definitions when the two
# disagree (campaigns stored before it existed). KEYS: defs, index. ARGV: id, JSON, owner,
# venues JSON, "create"|"put", max per account, max bytes per account, max per venue.
# An edit is refused only for what it adds (a venue, bytes), so pausing or trimming a campaign
# always works, even over lowered quotas.
_SAVE = """
local id, doc, mode = ARGV[1], ARGV[2], ARGV[5]
local exists = redis.call('HEXISTS', KEYS[1], id) == 1
if mode == 'create' and exists then return {'exists'} end
if redis.call('HLEN', KEYS[1]) ~= redis.call('HLEN', KEYS[2]) then
  redis.call('DEL', KEYS[2])
  local defs = redis.call('HGETALL', KEYS[1])
  for i = 1, #defs, 2 do
    local ok, c = pcall(cjson.decode, defs[i + 1])
    local owner, venues = '', {}
    if ok and type(c) == 'table' then
      owner = tostring(c.created_by or '')
      if type(c.venues) == 'table' then venues = c.venues end
    end
    redis.call('HSET', KEYS[2], defs[i], cjson.encode({o = owner, v = venues, b = string.len(defs[i + 1])}))
  end
end
local owner, old = ARGV[3], nil
local old_raw = redis.call('HGET', KEYS[2], id)
if exists and old_raw then
  old = cjson.decode(old_raw)
  owner = old.o
end
local wanted = {}
local venues = cjson.decode(ARGV[4])
for _, v in ipairs(venues) do wanted[v] = 0 end
local n_owner, bytes_owner = 0, 0
local index = redis.call('HGETALL', KEYS[2])
for i = 1, #index, 2 do
  if index[i] ~= id then
    local e = cjson.decode(index[i + 1])
    if e.o == owner then
      n_owner = n_owner + 1
      bytes_owner = bytes_owner + (tonumber(e.b) or 0)
    end
    if type(e.v) == 'table' then
      for _, v in ipairs(e.v) do
        if wanted[v] ~= nil then wanted[v] = wanted[v] + 1 end
      end
    end
  end
end
if not exists and n_owner + 1 > tonumber(ARGV[6]) then return {'account_count', n_owner} end
local size = string.len(doc)
local old_size = (old and tonumber(old.b)) or 0
if size > old_size and bytes_owner + size > tonumber(ARGV[7]) then return {'account_bytes', bytes_owner} end
local had = {}
if old and type(old.v) == 'table' then for _, v in ipairs(old.v) do had[v] = true end end
for v, n in pairs(wanted) do
  if not had[v] and n + 1 > tonumber(ARGV[8]) then return {'venue_count', n, v} end
end
redis.call('HSET', KEYS[1], id, doc)
redis.call('HSET', KEYS[2], id, cjson.encode({o = owner, v = venues, b = size}))
return {'ok'}
"""


class CampaignStore:
    """Campaign records and counters. Thread-safe; build once per process.

    Writes meet the ``[content]`` quotas (campaigns and bytes per owning account, campaigns per
    targeted venue) and the Redis memory watermark (:mod:`portal.venues.content_quotas`). The owner is the
    console account that created a campaign (for an API token: the token's creator)."""

    def __init__(self, redis: Any, *, timezone: str = "Asia/Shanghai",
                 clock: Callable[[], float] = time.time, cache_ttl: float = 5.0,
                 rng: random.Random | None = None, content: ContentSettings | None = None) -> None:
        self.redis = redis
        self.content = content or ContentSettings()
        self.watermark = MemoryWatermark(redis, self.content)
        self._save = redis.register_script(_SAVE)
        self.tz = ZoneInfo(timezone)
        self.clock = clock
        self.cache_ttl = cache_ttl
        self._rng = rng or random.Random()
        self._lock = threading.Lock()
        self._cached: list[Campaign] | None = None
        self._cached_at = 0.0

    # --- time --------------------------------------------------------------------------------

    def now(self) -> datetime:
        """The local time in the operator's timezone."""
        return datetime.fromtimestamp(self.clock(), self.tz)

    def today(self) -> date:
        return self.now().date()

    def _day_end(self, now: datetime) -> int:
        tomorrow = datetime.combine(now.date() + timedelta(days=1), datetime.min.time(), self.tz)
        return int(tomorrow.timestamp())

    # --- definitions ---------------------------------------------------------------------------

    @staticmethod
    def new_id() -> str:
        return "c" + secrets.token_hex(5)

    def _write(self, campaign: Campaign, mode: str, owner: str | None) -> Campaign:
        self.watermark.check()
        stamped = replace(campaign, updated_at=self.clock())
        doc = json.dumps(campaign_to_dict(stamped), ensure_ascii=False, sort_keys=True)
        q = self.content
        outcome, *rest = self._save(
            keys=[keys.campaign_defs(), keys.campaign_owners()],
            args=[stamped.id, doc, owner if owner is not None else campaign.created_by,
                  json.dumps(list(stamped.venues), ensure_ascii=False), mode, q.campaigns_per_account,
                  q.campaign_bytes_per_account, q.campaigns_per_venue])
        outcome = outcome.decode() if isinstance(outcome, bytes) else str(outcome)
        if outcome == "exists":
            raise ValidationError(f"campaign {campaign.id!r} exists")
        if outcome == "account_count":
            raise QuotaExceeded(*fill(QUOTAS["account_count"], limit=q.campaigns_per_account,
                                      campaigns=_campaigns(q.campaigns_per_account)))
        if outcome == "account_bytes":
            raise QuotaExceeded(*fill(QUOTAS["account_bytes"], size=mib(q.campaign_bytes_per_account)))
        if outcome == "venue_count":
            venue = rest[1].decode() if isinstance(rest[1], bytes) else str(rest[1])
            raise QuotaExceeded(*fill(QUOTAS["venue_count"], venue=venue, limit=q.campaigns_per_venue,
                                      campaigns=_campaigns(q.campaigns_per_venue)))
        self.invalidate()
        return stamped

    def create(self, campaign: Campaign, *, owner: str | None = None) -> Campaign:
        """Store a new campaign; ValidationError if the id is taken, QuotaExceeded/StorageFull
        (portal.venues.content_quotas) over a quota or the watermark. ``owner``: the account it counts against
        (default ``campaign.created_by``)."""
        return self._write(campaign, "create", owner)

    def put(self, campaign: Campaign, *, owner: str | None = None) -> Campaign:
        """Create or replace (the stored copy carries ``updated_at`` = now). A replaced campaign
        keeps counting against the account that created it."""
        return self._write(campaign, "put", owner)

    def get_or_none(self, campaign_id: str) -> Campaign | None:
        raw = self.redis.hget(keys.campaign_defs(), campaign_id)
        if raw is None:
            return None
        try:
            return parse_campaign(json.loads(raw))
        except (CampaignInvalid, ValueError, TypeError):
            return None

    def get(self, campaign_id: str) -> Campaign:
        found = self.get_or_none(campaign_id)
        if found is None:
            raise NotFound(f"no campaign {campaign_id!r}")
        return found

    def set_enabled(self, campaign_id: str, enabled: bool) -> Campaign:
        return self._write(replace(self.get(campaign_id), enabled=enabled), "put", None)

    def delete(self, campaign_id: str) -> bool:
        """Remove the definition (its daily counters stay until they expire). Never refused:
        deleting is how room is made."""
        pipe = self.redis.pipeline(transaction=True)      # one slot: {campaigns}
        pipe.hdel(keys.campaign_defs(), campaign_id)
        pipe.hdel(keys.campaign_owners(), campaign_id)
        gone = bool(pipe.execute()[0])
        self.invalidate()
        return gone

    def invalidate(self) -> None:
        with self._lock:
            self._cached = None

    def all(self, *, cached: bool = False) -> list[Campaign]:
        """Every campaign, sorted by id (broken records skipped). ``cached``: allow a copy up to
        ``cache_ttl`` seconds old (the phone path)."""
        mono = time.monotonic()
        if cached:
            with self._lock:
                if self._cached is not None and mono - self._cached_at < self.cache_ttl:
                    return self._cached
        out: list[Campaign] = []
        for raw in self.redis.hgetall(keys.campaign_defs()).values():
            try:
                out.append(parse_campaign(json.loads(raw)))
            except (CampaignInvalid, ValueError, TypeError):
                continue
        out.sort(key=lambda c: c.id)
        with self._lock:
            self._cached, self._cached_at = out, mono
        return out

    def for_venue(self, venue_id: str) -> list[Campaign]:
        """Campaigns that can run at this venue (listing it, or listing no venues)."""
        return [c for c in self.all() if not c.venues or venue_id in c.venues]

    # --- serving -------------------------------------------------------------------------------

    def phone_impressions(self, phone: str, day: date | None = None) -> dict[str, int]:
        """Campaign id → impressions this phone had on ``day`` (default today)."""
        raw = self.redis.hgetall(keys.campaign_phone_day(phone, (day or self.today()).strftime("%Y%m%d")))
        return {k.decode() if isinstance(k, bytes) else k: int(v) for k, v in raw.items()}

    def choose(self, venue: str, ssid: str, phone: str, *,
               fallback: Campaign | None = None) -> Campaign | None:
        """The campaign a phone should see now at this venue/SSID (no counting)."""
        campaigns = self.all(cached=True)
        if not campaigns:
            return fallback
        seen = self.phone_impressions(phone) if phone else {}
        with self._lock:     # random.Random is not safe to share between threads unlocked
            rng = random.Random(self._rng.random())
        return select_campaign(campaigns, venue=venue, ssid=ssid, now=self.now(),
                               phone_impressions=seen, rng=rng, fallback=fallback)

    def serve(self, venue: str, ssid: str, phone: str, lang: str, *,
              sign_click: Callable[[dict[str, str]], str], venue_name: str = "") -> dict[str, str] | None:
        """Choose a campaign for this phone, count the impression and return the template's
        ``ad`` (see :mod:`ad_pages.ads`), or None (no campaign: the caller falls back to the
        venue's own ads / the operator default)."""
        campaign = self.choose(venue, ssid, phone)
        if campaign is None:
            return None
        ad = self.ad_for(campaign, venue, lang, sign_click=sign_click, venue_name=venue_name)
        if ad is not None:
            self.record_impression(campaign.id, venue, phone)
        return ad

    def ad_for(self, campaign: Campaign, venue: str, lang: str, *,
               sign_click: Callable[[dict[str, str]], str], venue_name: str = "") -> dict[str, str] | None:
        """The template's ``ad`` for ``campaign`` at ``venue`` (nothing counted). ``sign_click``
        signs ``{"c", "v"}`` into the click token, so the click endpoint counts for the right
        venue without trusting the query. An HTML creative that fails in the sandbox is logged
        and gives None."""
        html = ""
        if campaign.creative.kind == "html":
            try:
                html = _renderer().check(campaign.creative.html,
                                         {"lang": lang, "venue": {"id": venue, "name": venue_name}})
            except TemplateProblem as exc:
                log.warning("campaign %s: HTML creative not shown (%s)", campaign.id, exc)
                return None
        click = f"{CLICK_PATH}{campaign.id}?t={sign_click({'c': campaign.id, 'v': venue})}"
        return campaign_ad(campaign, click=click, html=html)

    def _count(self, campaign_id: str, venue: str, event: str, now: datetime) -> None:
        key = keys.campaign_stats(campaign_id, now.strftime("%Y%m%d"))
        pipe = self.redis.pipeline(transaction=False)
        pipe.hincrby(key, f"{venue}|{event}", 1)
        pipe.expire(key, _STATS_TTL)
        pipe.execute()

    def record_impression(self, campaign_id: str, venue: str, phone: str = "") -> None:
        """An ad page (or success page) showed the campaign to ``phone`` at ``venue``."""
        now = self.now()
        day = now.strftime("%Y%m%d")
        stats = keys.campaign_stats(campaign_id, day)
        pipe = self.redis.pipeline(transaction=False)     # one round trip (two slots on a cluster)
        pipe.hincrby(stats, f"{venue}|imp", 1)
        pipe.expire(stats, _STATS_TTL)
        if phone:
            seen = keys.campaign_phone_day(phone, day)
            pipe.hincrby(seen, campaign_id, 1)
            # Relative TTL from our clock (not EXPIREAT): a minute past the local day's end.
            pipe.expire(seen, max(60, self._day_end(now) - int(now.timestamp()) + 60))
        pipe.execute()

    def record_view(self, campaign_id: str, venue: str) -> None:
        """The countdown ran out and the phone continued (a legitimate ``ad_continue``)."""
        self._count(campaign_id, venue, "view", self.now())

    def record_click(self, campaign_id: str, venue: str) -> None:
        self._count(campaign_id, venue, "click", self.now())

    # --- reporting -----------------------------------------------------------------------------

    def stats(self, campaign_id: str, start_day: date, end_day: date) -> list[StatsRow]:
        """Rows per day × venue with any figure, oldest first then by venue. At most
        ``MAX_STATS_DAYS`` days (ValidationError beyond, or when end is before start)."""
        if end_day < start_day:
            raise ValidationError("end day before start day")
        days = list(day_range(start_day, end_day))
        if len(days) > MAX_STATS_DAYS:
            raise ValidationError(f"at most {MAX_STATS_DAYS} days")
        pipe = self.redis.pipeline(transaction=False)
        for d in days:
            pipe.hgetall(keys.campaign_stats(campaign_id, d.strftime("%Y%m%d")))
        rows: list[StatsRow] = []
        for d, raw in zip(days, pipe.execute(), strict=True):
            per: dict[str, dict[str, int]] = {}
            for k, v in raw.items():
                name = k.decode() if isinstance(k, bytes) else k
                venue, _, event = name.rpartition("|")
                if event in EVENTS:
                    per.setdefault(venue, {})[event] = int(v)
            for venue in sorted(per):
                e = per[venue]
                rows.append(StatsRow(d, venue, e.get("imp", 0), e.get("view", 0), e.get("click", 0)))
        return rows
