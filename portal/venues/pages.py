"""Venue pages: drafts, published versions, history and rollback (Redis), and the context every
page template gets.

For each venue and page (login, success, ad, status, error) Redis holds (``{vp:<venue>}`` slot):

* ``page_meta`` — the draft (source, author, time), the published version number and a copy of
  its source (so a phone view needs one HGET, and that at most once per ``cache_seconds`` per
  process: :meth:`PageStore.published_source`);
* ``page_versions`` — version number → JSON {source, author, at, note}; versions are never
  edited. A rollback publishes a copy of the old version as a new one, so history reads as
  what phones saw, in order. Kept versions are bounded by count per page (``pages.max_versions``)
  and by bytes per venue and per venue operator (``[content]``, oldest pruned to fit; the
  publish script checks and writes in one step), and new content is refused near the Redis
  memory limit (:mod:`portal.venues.content_quotas`).

Publishing is checked: the source must compile, a trial render with sample data (both
languages) must finish inside the sandbox limits (:class:`ad_pages.PageRenderer.check`), and
the login and ad pages must keep the forms phones need (:mod:`ad_pages.forms`); a refusal names
the line and Jinja2's reason, or the missing form (:class:`PageError`, zh + en).

``Venue.templates`` (the TOML/JSON seed) stays the fallback: a page with nothing published
uses the venue's seeded source, else the shipped default page (:meth:`PageStore.source_for`).
"""

from __future__ import annotations

import json
import secrets
import threading
import time
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass
from typing import Any

from ad_pages import PAGES, PageRenderer, TemplateProblem, select_ad, texts
from ad_pages.forms import describe_missing, missing_forms
from ad_pages.loader import shipped_source
from portal.errors import NotFound, ValidationError
from portal.runtime.settings import ContentSettings
from portal.state import keys
from portal.texts import fill
from portal.venues.content_quotas import MemoryWatermark, QuotaExceeded, venue_usage
from portal.venues.texts import (
    EMPTY_TEMPLATE,
    PAGE_KINDS,
    PAGE_LINE,
    PAGE_REFUSED,
    QUOTAS,
    SAMPLE_ERROR,
    SAMPLE_PLAN,
)
from portal.venues.venue_store import Venue

__all__ = [
    "PAGES",
    "PHONE_URLS",
    "PageError",
    "PageState",
    "PageStore",
    "PageVersion",
    "build_context",
    "default_source",
    "sample_context",
    "sample_values",
]

PHONE_URLS: dict[str, str] = {"code": "/portal/code", "login": "/portal/login", "next": "/portal/continue",
                              "logout": "/portal/logout"}
"""Where page forms post (the phone blueprint's routes; the phone views pass ``url_for`` ones)."""


class PageError(ValidationError):
    """A template refused at publish time; ``line`` (or None) and ``reason`` say why."""

    code = "page_refused"

    def __init__(self, kind: str, reason: str, line: int | None = None, reason_zh: str | None = None) -> None:
        where_zh, where_en = fill(PAGE_LINE, line=line) if line else ("", "")
        zh_kind, en_kind = PAGE_KINDS.get(kind, (kind, kind))
        self.kind = kind
        self.line = line
        self.reason = reason
        self.message_en = PAGE_REFUSED[1].format(kind=en_kind, where=where_en, reason=reason)
        self.message_zh = PAGE_REFUSED[0].format(where=where_zh, kind=zh_kind, reason=reason_zh or reason)
        super().__init__(self.message_en)

    def message(self, lang: str) -> str:
        return self.message_en if lang == "en" else self.message_zh


@dataclass(frozen=True, slots=True)
class PageVersion:
    """One published version (immutable)."""

    venue: str
    page: str
    version: int
    source: str
    author: str
    at: float
    note: str = ""

    def summary(self) -> dict[str, Any]:
        """JSON-able, without the source (history lists, audit entries)."""
        return {"version": self.version, "author": self.author, "at": self.at, "note": self.note,
                "size": len(self.source)}


@dataclass(frozen=True, slots=True)
class PageState:
    """A page's editing state: the saved draft (None = none saved) and the published version."""

    venue: str
    page: str
    draft: str | None
    draft_author: str
    draft_at: float
    published: int | None


def _check_page(page: str) -> None:
    if page not in PAGES:
        raise NotFound(f"no page {page!r} (pages: {', '.join(PAGES)})")


def default_source(page: str) -> str:
    """The shipped default template of ``page`` (a starting point for a venue's own page)."""
    _check_page(page)
    return shipped_source(f"default/{page}.html")


def build_context(venue: Venue, lang: str, *, urls: Mapping[str, str] | None = None, lang_url: str = "",
                  digits: int = 6, assets: Mapping[str, str] | None = None, **values: Any) -> dict[str, Any]:
    """The variables a page template gets (docs/templates.md): the common ones, then ``values``.

    The phone views and the console preview both build contexts here, so a preview is what a
    phone sees. Everything must be plain data (the renderer refuses anything else).
    """
    context: dict[str, Any] = {
        "lang": lang, "t": texts(lang),
        "venue": {"id": venue.id, "name": venue.name(lang), "name_zh": venue.name_zh,
                  "name_en": venue.name_en},
        "languages": list(venue.languages), "asset_base": f"/assets/{venue.id}/",
        "assets": dict(assets or {}),
        "error": "", "error_code": "", "notice": "", "urls": dict(urls or PHONE_URLS), "lang_url": lang_url,
        "c": "", "phone": "", "code_sent": False, "resend_in": 0, "digits": digits, "wispr": None,
        "csp_nonce": "",     # set per response where the venue may run scripts (ad_pages/script_nonce.py)
    }
    context.update(values)
    return context


def _phone_like_token() -> str:
    """A random value in the shape of a signed phone context / ticket / status token."""
    return secrets.token_urlsafe(48) + "." + secrets.token_urlsafe(24)


def sample_values(page: str, venue: Venue, lang: str) -> dict[str, Any]:
    """Page-specific sample values, as a phone would get them (preview and publish check)."""
    _check_page(page)
    # Tokens are fresh random values shaped like a phone's, never a marker such as "preview": a
    # template must not be able to tell the publish check from a real phone and behave only there.
    c, ticket, s = _phone_like_token(), _phone_like_token(), _phone_like_token()
    if page == "login":
        return {"c": c, "wispr": {"location_id": "ac=AC-1,ssid=CityWiFi",
                                  "location_name": venue.name("en") or venue.id,
                                  "login_url": f"/portal/wispr?c={c}", "abort_url": "/portal"}}
    if page == "ad":
        # The operator's default ad in the very shape a phone's ``ad`` has (select_ad), so the
        # preview and the publish check see every key a live page gets (click, html, campaign).
        return {"c": c, "ticket": ticket, "seconds": venue.ad_seconds,
                "ad": select_ad([], 0, lang)}
    if page == "success":
        from urllib.parse import urlsplit

        url = venue.redirect_url
        return {"redirect_url": url, "delay": venue.redirect_delay,
                "ad": select_ad([], 0, lang) if venue.ads_on_success else None,   # as the phone view
                "redirect_host": (urlsplit(url).hostname or "") if url else "",
                "status_url": f"/portal/status?s={s}",
                "plan": SAMPLE_PLAN[0] if lang == "zh" else SAMPLE_PLAN[1]}
    if page == "status":
        return {"online": True, "s": s, "phone": "138****0000",
                "plan": SAMPLE_PLAN[0] if lang == "zh" else SAMPLE_PLAN[1], "time_left": "3:59:00",
                "data_left": "1.2 GB", "rate": "↓ 8 Mbit/s ↑ 2 Mbit/s", "devices": 1, "max_devices": 3}
    return {"error": SAMPLE_ERROR[0] if lang == "zh" else SAMPLE_ERROR[1],
            "error_code": "bad_code", "retry_url": "/portal"}


def sample_context(page: str, venue: Venue, lang: str) -> dict[str, Any]:
    """A complete sample context for ``page`` (publish-time trial render, console preview)."""
    return build_context(venue, lang, **sample_values(page, venue, lang))


class PageStore:
    """Page drafts, versions and the published pointer of every venue page."""

    # KEYS[1], KEYS[2]: this page's meta and versions; KEYS[3..]: (meta, versions) of every page of
    # the venue (same slot). ARGV: record, source, versions kept per page, byte budget of all the
    # venue's versions (0 = none). Versions beyond the budget are pruned oldest first, this
    # page's before the others', never a page's published one; if even that cannot make room,
    # nothing is written and {-1, bytes} says so. Version numbers are per page, so this page's
    # own history goes first and the others follow by age within each page.
    _PUBLISH = """
local n = tonumber(redis.call('HGET', KEYS[1], 'last_version') or '0') + 1
local keep, budget = tonumber(ARGV[3]), tonumber(ARGV[4])
local doomed = {}
if n > keep then table.insert(doomed, {KEYS[2], tostring(n - keep)}) end
if budget > 0 then
  local total = string.len(ARGV[1])
  local mine, others = {}, {}
  for i = 3, #KEYS, 2 do
    local published = redis.call('HGET', KEYS[i], 'published')
    for _, f in ipairs(redis.call('HKEYS', KEYS[i + 1])) do
      local size = redis.call('HSTRLEN', KEYS[i + 1], f)
      local gone = KEYS[i + 1] == KEYS[2] and n > keep and tonumber(f) == n - keep
      if not gone then
        total = total + size
        if KEYS[i + 1] == KEYS[2] then
          table.insert(mine, {KEYS[i + 1], f, size})
        elseif f ~= published then
          table.insert(others, {KEYS[i + 1], f, size})
        end
      end
    end
  end
  local by_age = function(a, b) return tonumber(a[2]) < tonumber(b[2]) end
  table.sort(mine, by_age)
  table.sort(others, by_age)
  for _, list in ipairs({mine, others}) do
    for _, v in ipairs(list) do
      if total <= budget then break end
      table.insert(doomed, v)
      total = total - v[3]
    end
  end
  if total > budget then return {-1, total} end
end
redis.call('HSET', KEYS[1], 'last_version', n)
redis.call('HSET', KEYS[2], n, ARGV[1])
redis.call('HSET', KEYS[1], 'published', n, 'published_source', ARGV[2])
for _, v in ipairs(doomed) do redis.call('HDEL', v[1], v[2]) end
return {n, 0}
"""

    def __init__(self, redis: Any, *, renderer: PageRenderer | None = None, cache_seconds: float = 2.0,
                 max_versions: int = 50, clock: Callable[[], float] = time.time,
                 monotonic: Callable[[], float] = time.monotonic,
                 content: ContentSettings | None = None) -> None:
        self.redis = redis
        self.content = content or ContentSettings()
        self.watermark = MemoryWatermark(redis, self.content, monotonic=monotonic)
        self.renderer = renderer or PageRenderer()
        self.cache_seconds = cache_seconds
        self.max_versions = max(1, max_versions)
        self._clock = clock
        self._monotonic = monotonic
        self._lock = threading.Lock()
        self._cache: dict[tuple[str, str], tuple[float, str | None]] = {}
        self._publish = redis.register_script(self._PUBLISH)

    # -- reading ------------------------------------------------------------------------------
    def state(self, venue_id: str, page: str) -> PageState:
        _check_page(page)
        raw = {_s(k): v for k, v in self.redis.hgetall(keys.page_meta(venue_id, page)).items()}
        published = raw.get("published")
        return PageState(venue_id, page, _s(raw["draft"]) if "draft" in raw else None,
                         _s(raw.get("draft_author", b"")), float(raw.get("draft_at") or 0),
                         int(published) if published is not None else None)

    def draft(self, venue: Venue, page: str) -> str:
        """What the editor opens: the saved draft, else the published source, else the
        venue's seed, else the shipped default page."""
        state = self.state(venue.id, page)
        if state.draft is not None:
            return state.draft
        return self.source_for(venue, page, cached=False) or default_source(page)

    def history(self, venue_id: str, page: str) -> list[PageVersion]:
        """Every kept version, newest first."""
        _check_page(page)
        out = [self._version(venue_id, page, int(n), raw)
               for n, raw in self.redis.hgetall(keys.page_versions(venue_id, page)).items()]
        return sorted(out, key=lambda v: v.version, reverse=True)

    def version(self, venue_id: str, page: str, version: int) -> PageVersion:
        _check_page(page)
        raw = self.redis.hget(keys.page_versions(venue_id, page), str(int(version)))
        if raw is None:
            raise NotFound(f"venue {venue_id} page {page}: no version {version}")
        return self._version(venue_id, page, int(version), raw)

    def published_source(self, venue_id: str, page: str) -> str | None:
        """The published source of a venue page (None = nothing published). Cached per process
        for ``cache_seconds``; this process's own publish/rollback is seen at once."""
        key = (venue_id, page)
        now = self._monotonic()
        with self._lock:
            hit = self._cache.get(key)
        if hit is not None and now - hit[0] < self.cache_seconds:
            return hit[1]
        raw = self.redis.hget(keys.page_meta(venue_id, page), "published_source")
        source = None if raw is None else _s(raw)
        with self._lock:
            if len(self._cache) > 4096:
                self._cache.clear()
            self._cache[key] = (now, source)
        return source

    def source_for(self, venue: Venue, page: str, *, cached: bool = True) -> str | None:
        """The venue source phones get: published, else the venue's seeded template, else None
        (= the default page)."""
        if cached:
            source = self.published_source(venue.id, page)
        else:
            raw = self.redis.hget(keys.page_meta(venue.id, page), "published_source")
            source = None if raw is None else _s(raw)
        return source if source is not None else venue.templates.get(page)

    # -- writing ------------------------------------------------------------------------------
    def save_draft(self, venue_id: str, page: str, source: str, author: str) -> None:
        """Keep ``source`` as the page's draft (not checked: drafts may be broken)."""
        _check_page(page)
        limit = self.renderer.limits.max_source
        if len(source) > limit:
            raise PageError("limit", f"template source longer than {limit} characters")
        self.watermark.check()
        self.redis.hset(keys.page_meta(venue_id, page),
                        mapping={"draft": source, "draft_author": author, "draft_at": repr(self._clock())})

    def check(self, venue: Venue, page: str, source: str) -> None:
        """Raise :class:`PageError` unless ``source`` compiles and renders (both languages,
        sample data) inside the sandbox limits, keeping the forms phones need
        (:func:`ad_pages.forms.missing_forms`: the login page's code and login forms, the ad
        page's continue form)."""
        _check_page(page)
        if not source.strip():
            raise PageError("empty", EMPTY_TEMPLATE)
        for lang in ("zh", "en"):
            context = sample_context(page, venue, lang)
            try:
                html = self.renderer.check(source, context)
            except TemplateProblem as exc:
                raise PageError(exc.kind, exc.reason, exc.line) from None
            missing = missing_forms(page, html, context)
            if missing:     # phones at the venue could not log in or continue
                zh, en = describe_missing(page, missing, context["urls"])
                raise PageError("incomplete", en, reason_zh=zh)

    def publish(self, venue: Venue, page: str, author: str, note: str = "",
                source: str | None = None, *, account_venues: Iterable[str] | None = None) -> PageVersion:
        """Check and publish ``source`` (default: the saved draft) as a new version.
        ``account_venues``: the venues of the venue operator publishing (their versions together
        stay within ``content.page_bytes_per_account``; None: not a venue operator)."""
        if source is None:
            source = self.draft(venue, page)
        self.check(venue, page, source)
        return self._store(venue.id, page, source, author, note[:200], account_venues)

    def rollback(self, venue: Venue, page: str, version: int, author: str, *,
                 account_venues: Iterable[str] | None = None) -> PageVersion:
        """Publish a copy of ``version`` as a new version (history stays append-only), after the
        same check as a publish: a version kept from before a rule existed (the sandbox's limits,
        the forms phones need) must meet today's rules to go live again."""
        old = self.version(venue.id, page, version)
        self.check(venue, page, old.source)
        return self._store(venue.id, page, old.source, author, f"rollback to v{old.version}", account_venues)

    def unpublish(self, venue_id: str, page: str) -> None:
        """Phones get the seed/default page again (history is kept)."""
        _check_page(page)
        self.redis.hdel(keys.page_meta(venue_id, page), "published", "published_source")
        self._forget(venue_id, page)

    def restore_default(self, venue_id: str, page: str) -> int | None:
        """Phones get the default page again — the venue's seed if the NOC gave it one, else the
        shipped default — and the editor opens on that source (the draft is dropped with the
        published source: a draft left behind would reopen the page the operator just undid).
        The history is kept, so a rollback can bring any version back. Returns the version
        that was live (None: the default already was)."""
        _check_page(page)
        meta = keys.page_meta(venue_id, page)
        pipe = self.redis.pipeline(transaction=True)
        pipe.hget(meta, "published")
        pipe.hdel(meta, "published", "published_source", "draft", "draft_author", "draft_at")
        before, _ = pipe.execute()
        self._forget(venue_id, page)
        return None if before is None else int(before)

    def delete_venue(self, venue_id: str) -> None:
        """Drop every page, draft and version of a deleted venue."""
        # Same hash tag: one multi-key DEL is cluster-safe.
        self.redis.delete(*(k for p in PAGES
                            for k in (keys.page_meta(venue_id, p), keys.page_versions(venue_id, p))))
        for page in PAGES:
            self._forget(venue_id, page)

    # -- render-time fallbacks ----------------------------------------------------------------
    def record_fallback(self, venue_id: str, page: str, reason: str) -> None:
        """Count a render-time failure of a venue page (phones got the default page)."""
        pipe = self.redis.pipeline(transaction=False)
        pipe.hincrby(keys.venue_stats(venue_id), f"page_fallbacks:{page}", 1)
        pipe.hset(keys.venue_stats(venue_id), f"page_fallback_last:{page}",
                  json.dumps({"at": self._clock(), "reason": reason[:300]}))
        pipe.execute()

    def fallbacks(self, venue_id: str) -> dict[str, dict[str, Any]]:
        """Per page: ``count`` of render-time fallbacks and the ``last`` {at, reason}."""
        raw = {_s(k): _s(v) for k, v in self.redis.hgetall(keys.venue_stats(venue_id)).items()}
        out: dict[str, dict[str, Any]] = {}
        for page in PAGES:
            count = int(raw.get(f"page_fallbacks:{page}", 0))
            if count:
                last = raw.get(f"page_fallback_last:{page}")
                out[page] = {"count": count, "last": json.loads(last) if last else None}
        return out

    # -- internals ----------------------------------------------------------------------------
    def _store(self, venue_id: str, page: str, source: str, author: str, note: str,
               account_venues: Iterable[str] | None = None) -> PageVersion:
        self.watermark.check()
        budget = self.content.page_bytes_per_venue
        if account_venues is not None:       # what the operator's other venues leave of their quota
            others = venue_usage(self.redis, [v for v in account_venues if v != venue_id])
            budget = min(budget, self.content.page_bytes_per_account
                         - sum(u.version_bytes for u in others.values()))
        at = self._clock()
        record = json.dumps({"source": source, "author": author, "at": at, "note": note}, ensure_ascii=False)
        every_page = [k for p in PAGES
                      for k in (keys.page_meta(venue_id, p), keys.page_versions(venue_id, p))]
        n, _size = (int(x) for x in self._publish(
            keys=[keys.page_meta(venue_id, page), keys.page_versions(venue_id, page), *every_page],
            args=[record, source, self.max_versions, max(1, budget)]))
        if n < 0:
            raise QuotaExceeded(*QUOTAS["page_history"])
        self._forget(venue_id, page)
        return PageVersion(venue_id, page, n, source, author, at, note)

    def _forget(self, venue_id: str, page: str) -> None:
        with self._lock:
            self._cache.pop((venue_id, page), None)

    @staticmethod
    def _version(venue_id: str, page: str, n: int, raw: bytes | str) -> PageVersion:
        data = json.loads(raw)
        return PageVersion(venue_id, page, n, str(data.get("source", "")), str(data.get("author", "")),
                           float(data.get("at", 0)), str(data.get("note", "")))


def _s(value: bytes | str) -> str:
    return value.decode("utf-8") if isinstance(value, bytes) else value
