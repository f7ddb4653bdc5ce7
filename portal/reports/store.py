"""Redis side of the report roll-ups: records in, first-seen phones, counters, stored days.

Records are read through a ``source(start_ms, end_ms)`` that yields real-name stream entries in
id order — in production :meth:`portal.legal.logexport.LogExporter.entries`, which takes archived days
from the sealed archive files and the rest from Redis, so the back-fill of days before reports
existed reads exactly what an export would.

Figures no stream holds come from counters that expire:

* SMS sent / delivered / failed and their cost, RADIUS refusals by reason: the quarter-hour
  counters by venue, AC and SSID that the SMS worker and the RADIUS workers write where the fact
  happens (portal/reports/counts.py, kept ``COUNTS_TTL``), so they split by scope like the
  rest. Days before those counters existed fall back to the per-minute counters of the live
  dashboard (portal/noc/livestats.py, kept ``MINUTE_TTL``), fleet-wide: the total only. Neither is
  in the archive (it holds the real-name, accounting and audit logs; no SMS and no
  Access-Reject is logged there), so a back-fill of older days has no SMS or refusal figures;
* ad impressions / completed views / clicks: the per-campaign day counters (portal/venues/campaign_store.py,
  kept ~400 days), per venue and in the total.

When a day is rolled up again after those counters are gone, the figures the earlier roll-up
took from them are kept as they were (never replaced by a partial count): a recompute gives the
same result.
"""

from __future__ import annotations

import datetime as dt
import json
from collections import defaultdict
from collections.abc import Callable, Iterable, Mapping
from typing import Any
from zoneinfo import ZoneInfo

from portal.legal.log_archive import as_text, day_bounds_ms, id_ms
from portal.noc.livestats import MINUTE_TTL
from portal.reports.counts import COUNTS_TTL, parse_field, quarters
from portal.reports.reader import read_rows
from portal.reports.rollup import (
    DIMS,
    UNKNOWN,
    Login,
    Session,
    add_docs,
    day_number,
    parse_entries,
    parse_rows,
)
from portal.state import keys
from portal.state import keys_reports as rk
from portal.state.scripts import queue_script

__all__ = ["COUNTER_PREFIXES", "ReportStore", "Source"]

Entry = tuple[str, dict[str, str]]
Source = Callable[[int, int], Iterable[Entry]]
Doc = dict[str, int]
Scope = tuple[str, str]

COUNTER_PREFIXES = ("sms_", "refused:", "ad:")
_AD_FIELDS = {"imp": "imp", "view": "view", "click": "click"}
AD_COUNTER_DAYS = 390          # campaign day counters live ~400 days (keys.campaign_stats)
_SMS_FIELDS = {"code:sent": "sms_sent", "code:delivered": "sms_delivered",
               "code:failed": "sms_failed", "code:undelivered": "sms_failed", "fen": "sms_fen"}


# KEYS[1] a first-seen bucket; ARGV[1] the day (YYYYMMDD), ARGV[2] phones, one per line (phones
# are digits), ARGV[3] the chunk size. Returns each phone's first day, one per line, after keeping
# the minimum. One HMGET and at most one HSET per chunk of phones: a command per phone cost more
# than the comparison (chunks keep unpack() within Lua's stack limit).
_FIRST_SEEN_LUA = """
local today = tonumber(ARGV[1])
local phones = {}
for phone in string.gmatch(ARGV[2], '[^\\n]+') do phones[#phones + 1] = phone end
local out = {}
local chunk = tonumber(ARGV[3])
for i = 1, #phones, chunk do
  local j = math.min(i + chunk - 1, #phones)
  local known = redis.call('HMGET', KEYS[1], unpack(phones, i, j))
  local set = {}
  for k = 1, #known do
    local v = known[k]
    if (not v) or tonumber(v) > today then
      set[#set + 1] = phones[i + k - 1]
      set[#set + 1] = ARGV[1]
      v = ARGV[1]
    end
    out[#out + 1] = v
  end
  if #set > 0 then redis.call('HSET', KEYS[1], unpack(set)) end
end
return table.concat(out, '\\n')
"""


class ReportStore:
    def __init__(self, redis: Any, timezone: str, source: Source, *, fast: bool = False) -> None:
        self.redis = redis
        self.tz = ZoneInfo(timezone)
        self.source = source
        self.fast = fast           # read the part still in Redis with portal/reports/reader.py
        self.first_seen_chunk = 2000   # phones per HMGET/HSET in the first-seen script

    def bounds(self, day: dt.date) -> tuple[int, int]:
        return day_bounds_ms(day, self.tz)

    def today(self, now: float) -> dt.date:
        return dt.datetime.fromtimestamp(now, self.tz).date()

    # --- inputs -----------------------------------------------------------------------------------

    def entries(self, start_ms: int, end_ms: int) -> Iterable[Entry]:
        return self.source(start_ms, end_ms)

    def records(self, start_ms: int, end_ms: int,
                login_window: tuple[int, int]) -> tuple[list[Login], list[Session]]:
        """Logins (inside ``login_window``) and sessions of the records with ids in
        ``[start_ms, end_ms)``: with the server-side reader when the archive job has moved
        none of them out (the nightly case), else from files and Redis."""
        if self.fast and self._archived_before(start_ms):
            found = parse_rows(read_rows(self.redis, start_ms, end_ms, *login_window))
            if self._archived_before(start_ms):     # the archive job did not pass us meanwhile
                return found
        return parse_entries(self.source(start_ms, end_ms), login_window)

    def _archived_before(self, start_ms: int) -> bool:
        raw = self.redis.hget(keys.archive_checkpoints(), "realname")
        return raw is None or id_ms(as_text(raw)) < start_ms

    def update_first_seen(self, phones: Iterable[str], day: dt.date) -> dict[str, int]:
        """Record ``day`` as the first day of each phone not seen earlier; return every phone's
        first day. Keeps the minimum, so rolling a day up again changes nothing. One script call
        per bucket with the phones in one argument: packing a million arguments one by one
        costs more than the work."""
        today = day_number(day)
        buckets: dict[int, list[str]] = defaultdict(list)
        for phone in phones:
            buckets[rk.first_seen_bucket(phone)].append(phone)
        script = self.redis.register_script(_FIRST_SEEN_LUA)
        order = sorted(buckets)
        pipe = self.redis.pipeline(transaction=False)
        for b in order:
            queue_script(pipe, script, [rk.first_seen(b)], [today, "\n".join(buckets[b]),
                                                             self.first_seen_chunk])
        out: dict[str, int] = {}
        for b, reply in zip(order, pipe.execute(), strict=True):
            out.update(zip(buckets[b], map(int, as_text(reply).split("\n")), strict=True))
        return out

    def counters(self, day: dt.date, now: float) -> dict[Scope, Doc] | None:
        """SMS and refusal figures of ``day`` per scope from the counters by place; for a day
        without any, the live per-minute counters' in the total. None when the counters may
        have expired (then the figures an earlier roll-up stored are kept)."""
        lo, hi = self.bounds(day)
        if now * 1000 > lo + (COUNTS_TTL - 86400) * 1000:
            return None
        pipe = self.redis.pipeline(transaction=False)
        for quarter in quarters(lo, hi):
            pipe.hgetall(rk.report_counts(quarter))
        docs: dict[Scope, Doc] = defaultdict(lambda: defaultdict(int))
        for raw in pipe.execute():
            for k, v in raw.items():
                found = parse_field(as_text(k))
                if found is None or not int(v):
                    continue
                figure, (venue, ac, ssid) = found
                for scope in (("t", ""), ("v", venue or UNKNOWN), ("a", ac or UNKNOWN),
                              ("s", ssid or UNKNOWN)):
                    docs[scope][figure] += int(v)
        if docs:
            return {scope: dict(doc) for scope, doc in docs.items()}
        return self._fleet_counters(lo, hi, now)

    def _fleet_counters(self, lo: int, hi: int, now: float) -> dict[Scope, Doc] | None:
        """The day's SMS and refusal figures from the live per-minute counters (fleet-wide)."""
        if now * 1000 > lo + (MINUTE_TTL - 600) * 1000:     # its first minute is about to go
            return None
        pipe = self.redis.pipeline(transaction=False)
        minutes = range(lo // 60_000, hi // 60_000)
        for minute in minutes:
            pipe.hgetall(keys.stats_minute(minute))
        doc: Doc = defaultdict(int)
        for raw in pipe.execute():
            for k, v in raw.items():
                name = as_text(k)
                if name in _SMS_FIELDS:
                    doc[_SMS_FIELDS[name]] += int(v)
                elif name.startswith("reject:"):
                    doc["refused:" + name[7:]] += int(v)
        return {("t", ""): dict(doc)} if doc else {}

    def ad_counters(self, day: dt.date, now: float) -> dict[Scope, Doc] | None:
        """Ad figures of ``day`` per venue and in the total (``ad:<campaign>:imp|view|click``);
        None when the campaigns' day counters may have expired."""
        if (self.today(now) - day).days > AD_COUNTER_DAYS:
            return None
        campaigns = sorted(as_text(c) for c in self.redis.hkeys(keys.campaign_defs()))
        pipe = self.redis.pipeline(transaction=False)
        for campaign in campaigns:
            pipe.hgetall(keys.campaign_stats(campaign, day.strftime("%Y%m%d")))
        out: dict[Scope, Doc] = defaultdict(lambda: defaultdict(int))
        for campaign, raw in zip(campaigns, pipe.execute(), strict=True):
            for k, v in raw.items():
                venue, _, what = as_text(k).rpartition("|")
                if what in _AD_FIELDS and int(v):
                    name = f"ad:{campaign}:{_AD_FIELDS[what]}"
                    out[("v", venue or UNKNOWN)][name] += int(v)
                    out[("t", "")][name] += int(v)
        return {scope: dict(doc) for scope, doc in out.items()}

    # --- stored days ------------------------------------------------------------------------------

    def write_day(self, day: dt.date, docs: Mapping[Scope, Doc], rolled_at: float,
                  final: bool, *, refresh: bool = True) -> None:
        """Replace the day's stored figures with ``docs`` (one MULTI: readers see the old day or
        the new one, never a mix) and mark it done. Its month's summary is rewritten now, or
        with ``refresh=False`` by ``refresh_stale_months`` (a back-fill writes many days of a
        month: summing the month once is enough)."""
        iso = day.isoformat()
        by_dim: dict[str, dict[str, str]] = defaultdict(dict)
        for (dim, name), doc in docs.items():
            by_dim[dim][name] = json.dumps(doc, separators=(",", ":"), sort_keys=True)
        pipe = self.redis.pipeline(transaction=True)
        for dim in DIMS:
            pipe.delete(rk.report_day(iso, dim))
            if by_dim.get(dim):
                pipe.hset(rk.report_day(iso, dim), mapping=by_dim[dim])
        pipe.execute()
        self.redis.sadd(rk.report_months_stale(), iso[:7])
        self.redis.hset(rk.report_days(), iso, f"{rolled_at:.0f} {int(final)}")
        if refresh:
            self.refresh_month(day)

    def refresh_stale_months(self) -> int:
        """Rewrite the summaries of the months marked stale; returns how many."""
        months = sorted(as_text(m) for m in self.redis.smembers(rk.report_months_stale()))
        for month in months:
            self.refresh_month(dt.date.fromisoformat(month + "-01"))
        return len(months)

    def refresh_month(self, day: dt.date) -> None:
        """Rewrite the summary of ``day``'s calendar month from the month's stored days."""
        first = day.replace(day=1)
        days = [first + dt.timedelta(days=i) for i in range(31)
                if (first + dt.timedelta(days=i)).month == first.month]
        month = first.strftime("%Y-%m")
        pipe = self.redis.pipeline(transaction=True)
        for dim in DIMS:
            combined: dict[str, list[Doc]] = defaultdict(list)
            for docs in self.load(days, dim):
                for name, doc in docs.items():
                    combined[name].append(doc)
            pipe.delete(rk.report_month(month, dim))
            if combined:
                pipe.hset(rk.report_month(month, dim), mapping={
                    name: json.dumps(add_docs(docs), separators=(",", ":"), sort_keys=True)
                    for name, docs in combined.items()})
        pipe.srem(rk.report_months_stale(), month)
        pipe.execute()

    def load_month(self, month: dt.date, dim: str) -> dict[str, Doc]:
        """The stored summary of ``month``'s calendar month: scope name → figures."""
        raw = self.redis.hgetall(rk.report_month(month.strftime("%Y-%m"), dim))
        return {as_text(k): json.loads(v) for k, v in raw.items()}

    def stored_counters(self, day: dt.date) -> dict[Scope, Doc]:
        """The counter figures (``COUNTER_PREFIXES``) of the day as stored now."""
        out: dict[Scope, Doc] = {}
        for (dim, name), doc in self.day_docs(day).items():
            kept = {k: v for k, v in doc.items() if k.startswith(COUNTER_PREFIXES)}
            if kept:
                out[(dim, name)] = kept
        return out

    def day_docs(self, day: dt.date, dims: Iterable[str] = DIMS) -> dict[Scope, Doc]:
        out: dict[Scope, Doc] = {}
        for dim in dims:
            for name, raw in self.redis.hgetall(rk.report_day(day.isoformat(), dim)).items():
                out[(dim, as_text(name))] = json.loads(raw)
        return out

    def done(self) -> dict[str, tuple[float, bool]]:
        """Days rolled up: ``YYYY-MM-DD`` → (when, final)."""
        out = {}
        for k, v in self.redis.hgetall(rk.report_days()).items():
            at, _, final = as_text(v).partition(" ")
            out[as_text(k)] = (float(at), final == "1")
        return out

    def forget(self, days: Iterable[str]) -> int:
        """Delete stored days (past retention)."""
        days = list(days)
        if not days:
            return 0
        pipe = self.redis.pipeline(transaction=False)
        for iso in days:
            pipe.delete(*(rk.report_day(iso, dim) for dim in DIMS))
        pipe.hdel(rk.report_days(), *days)
        pipe.execute()
        for month in sorted({iso[:7] for iso in days}):
            # Months with days left keep a summary of those; emptied months lose it.
            self.refresh_month(dt.date.fromisoformat(month + "-01"))
        return len(days)

    def load(self, days: list[dt.date], dim: str, names: list[str] | None = None,
             ) -> list[dict[str, Doc]]:
        """Per day (in order): scope name → figures of one dimension; only ``names`` when given.
        One pipelined round trip."""
        pipe = self.redis.pipeline(transaction=False)
        for day in days:
            key = rk.report_day(day.isoformat(), dim)
            if names is None:
                pipe.hgetall(key)
            else:
                pipe.hmget(key, names)
        out: list[dict[str, Doc]] = []
        for reply in pipe.execute():
            if names is None:
                out.append({as_text(k): json.loads(v) for k, v in reply.items()})
            else:
                out.append({n: json.loads(v) for n, v in zip(names, reply, strict=True)
                            if v is not None})
        return out
