"""Put the venue, plan, SSID, MAC and IP session indexes right (``portal/aaa/session_index.py``).

Those indexes are written in the pipeline after the accounting script, so a crash or a Redis
blip between the two, or a Stop racing its own Start on another worker, can leave an entry
missing (a search would not find a live session) or stale (readers skip it, but counts are one
off). The repair makes two passes, each with bounded memory whatever the number of sessions:

1. every online session (the deadline index, a chunk at a time): its entries are added where
   missing (``HSETNX``: an entry written meanwhile is left alone);
2. every index hash (MAC / IP buckets a batch at a time, venue / SSID hashes by ``HSCAN``): an
   entry whose record is gone, or no longer says that venue / SSID / MAC / IP, is removed. The
   record is read after the entry, so a session that started during the repair keeps its
   entries.

It reads every session once and every entry once (≈ seconds at 100,000 sessions): it runs in
the maintenance process (``radius/reaper.py``), one process of the fleet per interval, never in
a process that answers requests.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable
from dataclasses import dataclass

from portal.aaa.session_index import BUCKETS, index_entries
from portal.aaa.sessions import SessionRegistry
from portal.state import keys

__all__ = ["RepairReport", "repair_indexes"]

_CHUNK = 1000
_BUCKET_BATCH = 256     # MAC / IP buckets read per round trip (≈ 25 entries each at 100k sessions)


@dataclass(frozen=True, slots=True)
class RepairReport:
    added: int
    removed: int
    sessions: int


def repair_indexes(registry: SessionRegistry, venues: Iterable[str],
                   should_stop: Callable[[], bool] = lambda: False) -> RepairReport:
    """Repair every venue, SSID, MAC and IP index; ``venues`` are the configured venue ids
    (their indexes are checked even when no live session names them). ``should_stop`` is
    asked between chunks (a stopping process leaves the rest to the next repair)."""
    redis = registry.redis
    added = sessions = 0
    live_venues: set[str] = set()
    live_ssids: set[str] = set()
    live_plans: set[str] = {""}
    for chunk in registry.scan(_CHUNK):
        if should_stop():
            return RepairReport(added, 0, sessions)
        pipe = redis.pipeline(transaction=False)
        for s in chunk:
            sessions += 1
            for key, field in index_entries(s):
                pipe.hsetnx(key, field, s.phone)
            if s.venue:
                live_venues.add(s.venue)
            if s.ssid:
                live_ssids.add(s.ssid)
            live_plans.add(s.plan or "")
        added += sum(1 for r in pipe.execute() if r)
    if live_ssids:
        redis.sadd(keys.ssid_index_names(), *live_ssids)
    known_ssids = {m.decode() for m in redis.smembers(keys.ssid_index_names())}
    removed = 0
    # Buckets are small by design: read a batch of them per round trip.
    buckets = [*(keys.mac_session_bucket(b) for b in range(BUCKETS)),
               *(keys.ip_session_bucket(b) for b in range(BUCKETS))]
    for start in range(0, len(buckets), _BUCKET_BATCH):
        if should_stop():
            return RepairReport(added, removed, sessions)
        batch = buckets[start:start + _BUCKET_BATCH]
        pipe = redis.pipeline(transaction=False)
        for key in batch:
            pipe.hgetall(key)
        removed += _remove_stale(registry, [(key, page) for key, page in
                                            zip(batch, pipe.execute(), strict=True) if page], True)
    # Plans the NOC defined or revised may hold stale entries though no live session names them.
    known_plans = {k.decode() for k in redis.hkeys(keys.plan_defs())}
    known_plans |= {k.decode() for k in redis.hkeys(keys.plan_revisions())}
    # Venue, plan and SSID hashes may be large: a chunk at a time.
    for key in [*(keys.venue_sessions(v) for v in sorted({*venues, *live_venues})),
                *(keys.plan_sessions(p) for p in sorted(known_plans | live_plans)),
                *(keys.ssid_sessions(s) for s in sorted(known_ssids | live_ssids)),
                keys.ssid_unknown_sessions()]:
        cursor = 0
        while not should_stop():
            cursor, page = redis.hscan(key, cursor, count=_CHUNK)
            if page:
                removed += _remove_stale(registry, [(key, page)], False)
            if not cursor:
                break
    empty = [s for s in known_ssids - live_ssids if not redis.exists(keys.ssid_sessions(s))]
    if empty:
        redis.srem(keys.ssid_index_names(), *empty)
    return RepairReport(added, removed, sessions)


def _remove_stale(registry: SessionRegistry, pages: list[tuple[str, dict[bytes, bytes]]],
                  bucket: bool) -> int:
    """Remove the entries of these index pages whose record is gone or no longer puts them
    there (MAC / IP ``bucket`` fields prefix the session's ``<ac>|<sid>`` with the value)."""
    refs: list[tuple[str, str, str]] = []
    for _key, page in pages:
        for raw_field, raw_phone in page.items():
            field = raw_field.decode()
            ac, sep, sid = (field.partition("|")[2] if bucket else field).partition("|")
            if sep:
                refs.append((raw_phone.decode(), ac, sid))
    belongs = {entry for s in registry.fetch(refs) for entry in index_entries(s)}
    pipe = registry.redis.pipeline(transaction=False)
    for key, page in pages:
        gone = [f for f in (raw.decode() for raw in page) if (key, f) not in belongs]
        if gone:
            pipe.hdel(key, *gone)
    return sum(int(n) for n in pipe.execute()) if len(pipe) else 0
