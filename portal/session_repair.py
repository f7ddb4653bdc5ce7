"""Put the venue, SSID, MAC and IP session indexes right (``portal/session_index.py``).

Those indexes are written in the pipeline after the accounting script, so a crash or a Redis
blip between the two, or a Stop racing its own Start on another worker, can leave an entry
missing (a search would not find a live session) or stale (readers skip it, but counts are one
off). The repair makes two passes, each with bounded memory whatever the number of sessions:

1. every online session (the deadline index, a chunk at a time): its entries are added where
   missing (``HSETNX``: an entry written meanwhile is left alone);
2. every index hash (``HSCAN``, a chunk at a time): an entry whose record is gone, or no longer
   says that venue / SSID / MAC / IP, is removed. The record is read after the entry, so a
   session that started during the repair keeps its entries.

It reads every session once and every entry once (≈ seconds at 100,000 sessions): it runs in
the maintenance process (``radius/reaper.py``), one process of the fleet per interval, never in
a process that answers requests.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass

from portal.session_index import BUCKETS, index_entries
from portal.sessions import SessionRegistry
from portal.state import keys

__all__ = ["RepairReport", "repair_indexes"]

_CHUNK = 1000


@dataclass(frozen=True, slots=True)
class RepairReport:
    added: int
    removed: int
    sessions: int


def repair_indexes(registry: SessionRegistry, venues: Iterable[str]) -> RepairReport:
    """Repair every venue, SSID, MAC and IP index; ``venues`` are the configured venue ids
    (their indexes are checked even when no live session names them)."""
    redis = registry.redis
    added = sessions = 0
    live_venues: set[str] = set()
    live_ssids: set[str] = set()
    for chunk in registry.scan(_CHUNK):
        pipe = redis.pipeline(transaction=False)
        for s in chunk:
            sessions += 1
            for key, field in index_entries(s):
                pipe.hsetnx(key, field, s.phone)
            if s.venue:
                live_venues.add(s.venue)
            if s.ssid:
                live_ssids.add(s.ssid)
        added += sum(1 for r in pipe.execute() if r)
    if live_ssids:
        redis.sadd(keys.ssid_index_names(), *live_ssids)
    known_ssids = {m.decode() for m in redis.smembers(keys.ssid_index_names())}
    index_keys = [
        *(keys.venue_sessions(v) for v in sorted({*venues, *live_venues})),
        *(keys.ssid_sessions(s) for s in sorted(known_ssids | live_ssids)),
        keys.ssid_unknown_sessions(),
        *(keys.mac_session_bucket(b) for b in range(BUCKETS)),
        *(keys.ip_session_bucket(b) for b in range(BUCKETS)),
    ]
    removed = 0
    for key in index_keys:
        removed += _remove_stale(registry, key)
    empty = [s for s in known_ssids - live_ssids if not redis.exists(keys.ssid_sessions(s))]
    if empty:
        redis.srem(keys.ssid_index_names(), *empty)
    return RepairReport(added, removed, sessions)


def _remove_stale(registry: SessionRegistry, key: str) -> int:
    """Remove the entries of ``key`` whose record is gone or no longer puts it there."""
    redis = registry.redis
    removed, cursor = 0, 0
    while True:
        cursor, page = redis.hscan(key, cursor, count=_CHUNK)
        if page:
            removed += _check(registry, key, page)
        if not cursor:
            return removed


def _check(registry: SessionRegistry, key: str, page: dict[bytes, bytes]) -> int:
    bucket = key.startswith((f"{keys.PREFIX}:{{smac:", f"{keys.PREFIX}:{{sip:"))
    refs: dict[str, tuple[str, str, str]] = {}
    for raw_field, raw_phone in page.items():
        field = raw_field.decode()
        # MAC / IP buckets prefix the session's "<ac>|<sid>" with the value.
        session_field = field.partition("|")[2] if bucket else field
        ac, sep, sid = session_field.partition("|")
        if sep:
            refs[field] = (raw_phone.decode(), ac, sid)
    belongs = {entry_field for s in registry.fetch(refs.values())
               for entry_key, entry_field in index_entries(s) if entry_key == key}
    gone = [field for field in (f.decode() for f in page) if field not in belongs]
    return int(registry.redis.hdel(key, *gone)) if gone else 0
