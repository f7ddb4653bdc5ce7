"""Storage limits for venue content: quotas per venue and per account, and the memory watermark.

A venue operator once filled Redis with campaigns (975 × 20,000 characters) until every write
failed: phones got no codes, and the administrator could not even sign in to clean up. Two
defences, both in the stores so every path (console, API, seeds) meets them:

* **Quotas** (``[content]`` and ``[pages]`` settings): campaigns per venue and per account (and
  their bytes per account), page-version bytes per venue and per venue operator, assets per
  venue (count, bytes) and per venue operator. Each store checks and writes in one Lua script,
  so parallel requests cannot slip past a quota together. Per-account totals over several
  venues cross Redis Cluster slots: they are read first, then the venue's own script enforces
  what is left (two racing uploads to two venues can overrun an account by at most one file).
* **Watermark**: above ``memory_watermark`` of Redis's ``maxmemory`` (or of
  ``memory_limit_bytes``, else half the machine's memory) new venue content is refused
  (:class:`StorageFull`) while Redis still has room for what must keep working — phone codes
  and logins, console sign-ins, deletions. ``INFO memory`` is read at most once per
  ``memory_check_seconds`` per store.

* **Write rate** (``writes_per_minute``, ``writes_per_hour``): saves of venue content by one
  account (its API tokens count for it) — drafts, publishes, rollbacks, campaigns, uploads,
  venue settings. Quotas bound what is kept; each save may also add an audit entry (kept 7 days
  in Redis, then archived), so without a rate one account could grow the audit log at will
  (2,820 draft saves in 15 s once added 504 KB). Refused (429) before anything is stored;
  deletions are never limited (:class:`WriteRate`).

Refusals carry their message in Chinese and English (:meth:`ContentRefused.message`).
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from typing import Any

from ad_pages import PAGES
from portal.errors import CitywifiError
from portal.runtime.settings import ContentSettings
from portal.state import keys
from portal.state.scripts import queue_script
from portal.texts import fill
from portal.venues.texts import PER_HOUR, PER_MINUTE, QUOTAS

__all__ = ["ContentRefused", "MemoryWatermark", "QuotaExceeded", "StorageFull", "VenueUsage",
           "WriteRate", "WriteRateLimited", "mib", "venue_usage"]



def mib(n: int) -> str:
    return f"{n / (1024 * 1024):.1f} MiB"


class ContentRefused(CitywifiError):
    """Venue content not stored; ``status`` is the HTTP status the API answers with."""

    code = "content_refused"
    status = 409
    retry_after = 0        # seconds, for a refusal that passes (the write rate); 0: none

    def __init__(self, zh: str, en: str) -> None:
        super().__init__(en)
        self.message_zh, self.message_en = zh, en

    def message(self, lang: str) -> str:
        return self.message_en if lang == "en" else self.message_zh


class QuotaExceeded(ContentRefused):
    code = "quota_exceeded"
    status = 409


class StorageFull(ContentRefused):
    code = "storage_full"
    status = 507       # Insufficient Storage (RFC 4918 §11.5)

    def __init__(self, used: int, limit: int) -> None:
        super().__init__(*fill(QUOTAS["storage_full"], used=mib(used), limit=mib(limit)))
        self.used, self.limit = used, limit


class MemoryWatermark:
    """Refuses new venue content when Redis is near its memory limit (see module doc)."""

    def __init__(self, redis: Any, content: ContentSettings | None = None, *,
                 monotonic: Callable[[], float] = time.monotonic) -> None:
        self.redis = redis
        self.content = content or ContentSettings()
        self._monotonic = monotonic
        self._lock = threading.Lock()
        self._reading: tuple[float, int, int] | None = None

    def reading(self) -> tuple[int, int]:
        """(used bytes, limit bytes; 0 = no limit known) of the fullest node, cached."""
        now = self._monotonic()
        with self._lock:
            hit = self._reading
        if hit is not None and now - hit[0] < self.content.memory_check_seconds:
            return hit[1], hit[2]
        info = self.redis.info("memory")
        nodes = [info] if "used_memory" in info else [v for v in info.values() if isinstance(v, dict)]
        used, limit, fullest = 0, 0, -1.0
        for node in nodes:      # a cluster answers per node: the fullest one decides
            node_used = int(node.get("used_memory", 0))
            # A Redis with no maxmemory (the embedded one of `citywifi up`) is limited by the
            # machine: then half its memory, so venue content cannot take the whole box.
            node_limit = (int(node.get("maxmemory", 0)) or self.content.memory_limit_bytes
                          or int(node.get("total_system_memory", 0)) // 2)
            share = node_used / node_limit if node_limit else -0.5     # unknown limit ranks last
            if share > fullest:
                used, limit, fullest = node_used, node_limit, share
        with self._lock:
            self._reading = (now, used, limit)
        return used, limit

    def check(self) -> None:
        """Raise :class:`StorageFull` above the watermark."""
        used, limit = self.reading()
        if limit and used >= limit * self.content.memory_watermark:
            raise StorageFull(used, limit)


class WriteRateLimited(ContentRefused):
    code = "rate_limited"
    status = 429

    def __init__(self, limit: int, per: str, retry_after: int) -> None:
        zh_per, en_per = PER_MINUTE if per == "m" else PER_HOUR
        zh, en = QUOTAS["rate_limited"]
        super().__init__(zh.format(per=zh_per, limit=limit, retry_after=retry_after),
                         en.format(per=en_per, limit=limit, retry_after=retry_after))
        self.retry_after = retry_after


# KEYS: minute counter, hour counter; ARGV: their limits (0 = none), then their TTLs. Counts
# only a write that every window allows: a refused one changes (and creates) nothing.
_TAKE = """
for i = 1, #KEYS do
  local limit = tonumber(ARGV[i])
  if limit > 0 and tonumber(redis.call('GET', KEYS[i]) or '0') >= limit then return i end
end
for i = 1, #KEYS do
  if tonumber(ARGV[i]) > 0 then
    redis.call('INCR', KEYS[i])
    redis.call('EXPIRE', KEYS[i], ARGV[#KEYS + i])
  end
end
return 0
"""


class WriteRate:
    """Fixed-window limits on one account's venue content saves, across every web process."""

    def __init__(self, redis: Any, content: ContentSettings | None = None, *,
                 clock: Callable[[], float] = time.time) -> None:
        self.content = content or ContentSettings()
        self.clock = clock
        self._take = redis.register_script(_TAKE)

    def take(self, account: str) -> None:
        """Count one save by ``account``, or raise :class:`WriteRateLimited` (nothing counted)."""
        c = self.content
        if not c.writes_per_minute and not c.writes_per_hour:
            return
        now = self.clock()
        minute, hour = int(now // 60), int(now // 3600)
        refused = int(self._take(
            keys=[keys.content_writes(account, "m", minute), keys.content_writes(account, "h", hour)],
            args=[c.writes_per_minute, c.writes_per_hour, 120, 3660]))
        if refused == 1:
            raise WriteRateLimited(c.writes_per_minute, "m", max(1, int((minute + 1) * 60 - now + 0.999)))
        if refused == 2:
            raise WriteRateLimited(c.writes_per_hour, "h", max(1, int((hour + 1) * 3600 - now + 0.999)))


@dataclass(frozen=True, slots=True)
class VenueUsage:
    asset_bytes: int = 0
    asset_count: int = 0
    version_bytes: int = 0


_USAGE = """
local asset_bytes, asset_count = 0, 0
for _, v in ipairs(redis.call('HVALS', KEYS[1])) do
  local ok, meta = pcall(cjson.decode, v)
  if ok and type(meta) == 'table' and tonumber(meta.size) then
    asset_bytes = asset_bytes + tonumber(meta.size)
  end
  asset_count = asset_count + 1
end
local version_bytes = 0
for i = 2, #KEYS do
  for _, f in ipairs(redis.call('HKEYS', KEYS[i])) do
    version_bytes = version_bytes + redis.call('HSTRLEN', KEYS[i], f)
  end
end
return {asset_bytes, asset_count, version_bytes}
"""


def venue_usage(redis: Any, venues: Iterable[str]) -> dict[str, VenueUsage]:
    """Stored asset bytes/count and page-version bytes of each venue (one script per venue,
    pipelined; each reads only its venue's slot)."""
    names = list(dict.fromkeys(venues))
    if not names:
        return {}
    script = redis.register_script(_USAGE)
    pipe = redis.pipeline(transaction=False)
    for venue in names:
        queue_script(pipe, script, [keys.venue_assets(venue),
                                    *(keys.page_versions(venue, p) for p in PAGES)], [])
    replies = pipe.execute()
    return {venue: VenueUsage(*(int(x) for x in reply)) for venue, reply in zip(names, replies, strict=True)}
