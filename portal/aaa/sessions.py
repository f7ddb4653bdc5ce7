"""The online-session registry: who is online where, read by the NOC and the concurrency limit.

Storage (reasoning in ``portal/state/keys_sessions.py``, "Sessions"):

* ``keys.phone_sessions(phone)`` — one hash per phone, field ``<ac>|<acct-session-id>`` → compact
  JSON with one-letter keys (``RECORD_FIELDS``). Lives in the phone's slot with its usage.
* ``keys.ac_sessions(ac)`` — acct-session-id → phone (Accounting-On/Off, Class-less accounting).
* ``keys.plan_sessions(plan)`` — ``<ac>|<acct-session-id>`` → phone, per plan the record names
  ("" when none is known): a plan the NOC changes reaches its online sessions without a scan
  (``portal/noc/kick.py``); written and repaired with the other indexes (``portal/aaa/session_index.py``).
* ``keys.session_deadlines()`` — ``<phone>|<ac>|<sid>`` scored by the silence deadline (reaper).
* by venue, SSID, MAC and IP (``portal/aaa/session_index.py``): what the record says, for per-venue
  online counts and the NOC's searches without a scan.

Budget: ≤ 1 KB of Redis memory per online session at 100k sessions (measured by tests/bench/radius_auth.py).
The indexes are secondary: readers re-check the record and drop dangling index entries.

The session value and its JSON record are in ``portal/aaa/sessions_record.py`` (re-exported here).
"""

from __future__ import annotations

import time
from collections import defaultdict
from collections.abc import Callable, Iterable
from dataclasses import replace
from typing import Any

from portal.aaa.session_index import Ref, SessionIndex, ip_bucket, mac_bucket
from portal.aaa.sessions_record import (
    OnlineSession,
    deadline_member,
    decode_record,
    decode_records,
    encode_nas_ids,
    encode_record,
    normalise_mac_or_none,
    split_member,
)
from portal.legal.reallog import session_logout_fields
from portal.state import keys

__all__ = [
    "CLOSE_SESSION_LUA",
    "OnlineSession",
    "SessionRegistry",
    "deadline_member",
    "decode_record",
    "decode_records",
    "encode_nas_ids",
    "encode_record",
    "normalise_mac_or_none",
]

# Close one session if it exists: delete the record, leave a tombstone with its final counters
# (so a late Stop / replayed Interim is recognised), return the record. ARGV[3] > 0 means "only
# if silent": the record is kept when its own deadline (updated + 2 × interim + grace) is later
# than ARGV[3] — the reaper read a stale index entry and an Interim refreshed the session since.
# KEYS: phone_sessions, tombstone.  ARGV: field, tombstone_ttl, silent_before, grace.
CLOSE_SESSION_LUA = """
local raw = redis.call('HGET', KEYS[1], ARGV[1])
if not raw then return false end
local rec = cjson.decode(raw)
local before = tonumber(ARGV[3])
if before > 0 and (rec['u'] + 2 * rec['ii'] + tonumber(ARGV[4])) > before then
  return {'alive', raw}
end
redis.call('HDEL', KEYS[1], ARGV[1])
redis.call('SET', KEYS[2], string.format('%.0f,%.0f,%.0f', rec['t'], rec['i'], rec['o']),
           'EX', tonumber(ARGV[2]))
return {'closed', raw}
"""

# Set absolute counters of an existing session; returns the record and its IP before.
# KEYS: phone_sessions. ARGV: field, now, t, i, o, ip.
_UPDATE_LUA = """
local raw = redis.call('HGET', KEYS[1], ARGV[1])
if not raw then return false end
local rec = cjson.decode(raw)
local old_ip = rec['ip'] or ''
rec['u'] = tonumber(ARGV[2])
rec['t'] = tonumber(ARGV[3])
rec['i'] = tonumber(ARGV[4])
rec['o'] = tonumber(ARGV[5])
if ARGV[6] ~= '' then rec['ip'] = ARGV[6] end
if tonumber(ARGV[7]) > 0 then rec['s'] = tonumber(ARGV[7]) end
local out = cjson.encode(rec)
redis.call('HSET', KEYS[1], ARGV[1], out)
return {out, old_ip}
"""

# Set a session's plan; returns the plan it had ("" = none) or false when it is not online.
_SET_PLAN_LUA = """
local raw = redis.call('HGET', KEYS[1], ARGV[1])
if not raw then return false end
local rec = cjson.decode(raw)
local before = rec['pl'] or ''
rec['pl'] = ARGV[2]
redis.call('HSET', KEYS[1], ARGV[1], cjson.encode(rec))
return before
"""


class SessionRegistry:
    """CRUD and queries over online sessions. ``grace`` is the reaper grace (seconds)."""

    def __init__(self, redis: Any, *, grace: float = 60.0, tombstone_ttl: int = 21600) -> None:
        self.redis = redis
        self.grace = grace
        self.tombstone_ttl = tombstone_ttl
        self.index = SessionIndex(redis)
        self._close = redis.register_script(CLOSE_SESSION_LUA)
        self._update = redis.register_script(_UPDATE_LUA)
        self._set_plan = redis.register_script(_SET_PLAN_LUA)

    # --- writes -------------------------------------------------------------------------------

    def open(self, session: OnlineSession) -> None:
        """Create (or replace) a session and its index entries, in one round trip."""
        pipe = self.redis.pipeline(transaction=False)
        self.open_in(pipe, session)
        pipe.execute()

    def open_in(self, pipe: Any, session: OnlineSession) -> None:
        """Queue ``open`` on someone's pipeline (bulk loads, benchmarks)."""
        pipe.hset(keys.phone_sessions(session.phone), session.field, encode_record(session))
        self.index_in(pipe, session.phone, session.ac, session.session_id, session.deadline(self.grace))
        self.attributes_index_in(pipe, session)

    def index_in(self, pipe: Any, phone: str, ac: str, session_id: str, deadline: float) -> None:
        """Queue the per-AC and deadline index writes for a live session (those by venue, SSID,
        MAC and IP apart: :meth:`attributes_index_in`, once the record says what they are)."""
        pipe.hset(keys.ac_sessions(ac), session_id, phone)
        pipe.zadd(keys.session_deadlines(), {deadline_member(phone, ac, session_id): deadline})

    def attributes_index_in(self, pipe: Any, session: OnlineSession) -> None:
        """Queue the venue, plan, SSID, MAC and IP index entries of a session as its record says."""
        self.index.add_in(pipe, session)

    def unindex_in(self, pipe: Any, phone: str, ac: str, session_id: str,
                   session: OnlineSession | None = None) -> None:
        """Queue the removal of a closed session from every index (from the venue, SSID, MAC and
        IP ones only when its last ``session`` record is known)."""
        pipe.hdel(keys.ac_sessions(ac), session_id)
        pipe.zrem(keys.session_deadlines(), deadline_member(phone, ac, session_id))
        if session is not None:
            self.index.remove_in(pipe, session)

    def update(
        self, ac: str, session_id: str, phone: str, *, now: float, session_time: int,
        input_octets: int, output_octets: int, ip: str | None = None, started: int = 0,
    ) -> OnlineSession | None:
        """Set a session's cumulative counters (no usage booking: accounting does that), and its
        start when ``started`` is given (a gateway's own clock corrects ours)."""
        field = f"{ac}|{session_id}"
        raw = self._update(
            keys=[keys.phone_sessions(phone)],
            args=[field, int(now), int(session_time), int(input_octets), int(output_octets), ip or "",
                  int(started)],
        )
        if raw is None:
            return None
        session = decode_record(phone, field, raw[0])
        if session is not None:
            pipe = self.redis.pipeline(transaction=False)
            pipe.zadd(keys.session_deadlines(),
                      {deadline_member(phone, ac, session_id): session.deadline(self.grace)})
            old_ip = raw[1].decode()
            if old_ip != (session.ip or ""):
                self.index.moved_ip_in(pipe, session, old_ip)
            pipe.execute()
        return session

    def close(
        self, ac: str, session_id: str, phone: str | None = None, *, silent_before: float = 0.0,
        logout_cause: str = "",
    ) -> OnlineSession | None:
        """Close a session (tombstone kept); returns the closed session or None if it was not
        online. With ``silent_before`` it is closed only if silent since that epoch. A real-name
        logout record is written with the close: cause ``logout_cause``, else "reaped" (stop =
        last accounting seen) with ``silent_before``, else "disconnect" (stop = now)."""
        if phone is None:
            phone = self.locate(ac, session_id)
            if phone is None:
                return None
        field = f"{ac}|{session_id}"
        res = self._close(
            keys=[keys.phone_sessions(phone), keys.session_tombstone(phone, ac, session_id)],
            args=[field, self.tombstone_ttl, silent_before, self.grace],
        )
        if not res:
            self._unindex(phone, ac, session_id)  # dangling index entry
            return None
        verdict, raw = res[0].decode(), res[1]
        session = decode_record(phone, field, raw)
        if verdict == "closed":
            pipe = self.redis.pipeline(transaction=False)
            self.unindex_in(pipe, phone, ac, session_id, session)
            if session is not None:
                reaped = silent_before > 0
                pipe.xadd(keys.real_name_log(), session_logout_fields(
                    session, session.updated if reaped else time.time(),
                    logout_cause or ("reaped" if reaped else "disconnect")))
            pipe.execute()
            return session
        if session is not None:  # alive: repair its deadline
            self.redis.zadd(
                keys.session_deadlines(),
                {deadline_member(phone, ac, session_id): session.deadline(self.grace)},
            )
        return None

    def _unindex(self, phone: str, ac: str, session_id: str) -> None:
        pipe = self.redis.pipeline(transaction=False)
        self.unindex_in(pipe, phone, ac, session_id)
        pipe.execute()

    # --- reads --------------------------------------------------------------------------------

    def locate(self, ac: str, session_id: str) -> str | None:
        """The phone that owns an AC's session id, from the per-AC index."""
        raw = self.redis.hget(keys.ac_sessions(ac), session_id)
        return None if raw is None else raw.decode()

    def get(self, ac: str, session_id: str, phone: str | None = None) -> OnlineSession | None:
        if phone is None:
            phone = self.locate(ac, session_id)
            if phone is None:
                return None
        raw = self.redis.hget(keys.phone_sessions(phone), f"{ac}|{session_id}")
        return None if raw is None else decode_record(phone, f"{ac}|{session_id}", raw)

    def by_phone(self, phone: str) -> list[OnlineSession]:
        return decode_records(phone, self.redis.hgetall(keys.phone_sessions(phone)))

    def count_for_phone(
        self, phone: str, *, now: float | None = None, exclude_mac: str | None = None
    ) -> int:
        """Online sessions of a phone, not counting silent ones (when ``now`` is given) nor the
        device ``exclude_mac`` (a re-login from the same device)."""
        mac = normalise_mac_or_none(exclude_mac)
        return sum(
            1 for s in self.by_phone(phone)
            if (now is None or s.deadline(self.grace) > now) and not (mac and s.mac == mac)
        )

    def by_ac(self, ac: str) -> list[OnlineSession]:
        raw = self.redis.hgetall(keys.ac_sessions(ac))
        return self.fetch((v.decode(), ac, k.decode()) for k, v in raw.items())

    def by_venue(self, venue: str) -> list[OnlineSession]:
        """Sessions that started in ``venue`` (from its index, re-checked against the records)."""
        key = keys.venue_sessions(venue)
        return self._resolve(key, self.index.refs(key), lambda s: s.venue == venue)

    def by_plan(self, plan: str) -> list[OnlineSession]:
        """Sessions whose record names ``plan`` (from its index, re-checked against the records;
        dangling entries are dropped and removed, like :meth:`by_venue`)."""
        index = keys.plan_sessions(plan)
        refs = []
        for field, phone in self.redis.hgetall(index).items():
            ac, sep, sid = field.decode().partition("|")
            if sep:
                refs.append((phone.decode(), ac, sid))
        found = [s for s in self.fetch(refs) if s.plan == plan]
        if len(found) < len(refs):
            live = {s.field for s in found}
            gone = [f"{ac}|{sid}" for _, ac, sid in refs if f"{ac}|{sid}" not in live]
            self.redis.hdel(index, *gone)
        return found

    def count_by_plan(self, plans: Iterable[str]) -> dict[str, int]:
        """Index sizes per plan name (one pipeline)."""
        names = list(plans)
        pipe = self.redis.pipeline(transaction=False)
        for name in names:
            pipe.hlen(keys.plan_sessions(name))
        return {name: int(n) for name, n in zip(names, pipe.execute(), strict=True)}

    def by_ssid(self, ssid: str) -> list[OnlineSession]:
        """Sessions whose record names ``ssid`` (from its index, re-checked)."""
        key = keys.ssid_sessions(ssid)
        return self._resolve(key, self.index.refs(key), lambda s: s.ssid == ssid)

    def without_ssid(self) -> list[OnlineSession]:
        """Sessions whose record names no SSID (their login record may)."""
        key = keys.ssid_unknown_sessions()
        return self._resolve(key, self.index.refs(key), lambda s: not s.ssid)

    def by_mac(self, mac: str) -> list[OnlineSession]:
        """Sessions of a (normalised) MAC, from the MAC index (re-checked)."""
        key = mac_bucket(mac)
        return self._resolve(key, self.index.value_refs(key, mac), lambda s: s.mac == mac)

    def by_ip(self, ip: str) -> list[OnlineSession]:
        """Sessions with user IP ``ip``, from the IP index (re-checked)."""
        key = ip_bucket(ip)
        return self._resolve(key, self.index.value_refs(key, ip), lambda s: s.ip == ip)

    def _resolve(self, key: str, refs: dict[str, Ref],
                 belongs: Callable[[OnlineSession], bool]) -> list[OnlineSession]:
        """The sessions index ``key`` points at (field → ref) that still ``belong`` there; the
        entries of sessions gone or changed since (a crash between the record and its index
        write) are removed."""
        found = {s.field: s for s in self.fetch(refs.values()) if belongs(s)}
        gone = [field for field, (_, ac, sid) in refs.items() if f"{ac}|{sid}" not in found]
        if gone:
            self.redis.hdel(key, *gone)
        return list(found.values())

    def _prune(self, index: str, live: set[str], belongs: Any) -> int:
        """Remove the entries of ``index`` not in ``live`` whose record (re-read: it may have
        started since the scan) is gone or does not ``belong``."""
        stale = [f for f in (k.decode() for k in self.redis.hkeys(index)) if f not in live]
        gone = []
        for field in stale:
            phone = self.redis.hget(index, field)
            record = phone and self.redis.hget(keys.phone_sessions(phone.decode()), field)
            session = record and decode_record(phone.decode(), field, record)
            if not session or not belongs(session):
                gone.append(field)
        return int(self.redis.hdel(index, *gone)) if gone else 0

    def count_by_venue(self, venues: Iterable[str]) -> dict[str, int]:
        """Online sessions per venue (index sizes: one pipeline)."""
        names = list(venues)
        pipe = self.redis.pipeline(transaction=False)
        for name in names:
            pipe.hlen(keys.venue_sessions(name))
        return {name: int(n) for name, n in zip(names, pipe.execute(), strict=True)}

    def all(self, limit: int | None = None) -> list[OnlineSession]:
        """Every online session (oldest deadline first); ``limit`` caps the number read."""
        end = -1 if limit is None else max(limit - 1, 0)
        members = self.redis.zrange(keys.session_deadlines(), 0, end)
        return self.fetch(m for m in map(split_member, members) if m is not None)

    def recent(self, offset: int = 0, count: int = 50) -> list[OnlineSession]:
        """One page of online sessions, most recently reported first (deadline index read
        backwards): what the NOC list shows when no filter narrows it (no full scan)."""
        if count <= 0:
            return []
        members = self.redis.zrevrange(keys.session_deadlines(), max(offset, 0),
                                       max(offset, 0) + count - 1)
        sessions = self.fetch(m for m in map(split_member, members) if m is not None)
        sessions.sort(key=lambda s: (-s.updated, s.field))
        return sessions

    def walk_recent(self, belongs: Callable[[OnlineSession], bool], offset: int, count: int,
                    share: float = 1.0) -> list[OnlineSession]:
        """One page (``offset``, ``count``) of the sessions that ``belong``, in the order of
        :meth:`recent`: the deadline index is read backwards a chunk at a time until the page is
        full. Reads ≈ (offset + count) / ``share`` entries (the expected share of sessions that
        belong sizes the chunks), so for filters that match a large share of all sessions (one
        SSID, one big venue) it beats reading every match."""
        matched: list[OnlineSession] = []
        seen: set[str] = set()
        start, want = 0, max(offset, 0) + count
        chunk = min(2000, int(want / max(share, 0.001) * 1.2) + 20)
        while len(matched) < want:
            members = self.redis.zrevrange(keys.session_deadlines(), start, start + chunk - 1)
            rank = {(m.decode() if isinstance(m, bytes) else m): i for i, m in enumerate(members)}
            fetched = self.fetch(m for m in map(split_member, members) if m is not None)
            fetched.sort(key=lambda s: rank.get(f"{s.phone}|{s.field}", 0))     # index order
            for s in fetched:
                key = s.phone + "|" + s.field
                if key not in seen and belongs(s):     # a session re-ranked mid-walk comes twice
                    seen.add(key)
                    matched.append(s)
            if len(members) < chunk:
                break
            start += chunk
        page = matched[max(offset, 0):want]
        page.sort(key=lambda s: (-s.updated, s.field))
        return page

    def scan(self, chunk: int = 2000) -> Iterable[list[OnlineSession]]:
        """Every online session, ``chunk`` index entries at a time (NOC searches by MAC/IP:
        memory stays bounded by the chunk, not by the number online)."""
        start = 0
        while True:
            members = self.redis.zrange(keys.session_deadlines(), start, start + chunk - 1)
            if not members:
                return
            yield self.fetch(m for m in map(split_member, members) if m is not None)
            if len(members) < chunk:
                return
            start += chunk

    def count(self) -> int:
        """Online sessions (size of the deadline index; may briefly include dangling entries)."""
        return int(self.redis.zcard(keys.session_deadlines()))

    def stale(self, now: float, limit: int = 1000) -> list[OnlineSession]:
        """Sessions whose silence deadline has passed (re-checked against their records)."""
        members = self.redis.zrangebyscore(
            keys.session_deadlines(), "-inf", now, start=0, num=limit
        )
        sessions = self.fetch(m for m in map(split_member, members) if m is not None)
        return [s for s in sessions if s.deadline(self.grace) <= now]

    def fetch(self, refs: Iterable[tuple[str, str, str]]) -> list[OnlineSession]:
        """The records of (phone, ac, sid) refs that exist (one pipeline per 500 phones)."""
        by_phone: dict[str, list[tuple[str, str]]] = defaultdict(list)
        for phone, ac, sid in refs:
            by_phone[phone].append((ac, sid))
        if not by_phone:
            return []
        phones = list(by_phone)
        out: list[OnlineSession] = []
        for start in range(0, len(phones), 500):
            chunk = phones[start:start + 500]
            pipe = self.redis.pipeline(transaction=False)
            for phone in chunk:
                pipe.hmget(keys.phone_sessions(phone), [f"{ac}|{sid}" for ac, sid in by_phone[phone]])
            for phone, values in zip(chunk, pipe.execute(), strict=True):
                for (ac, sid), raw in zip(by_phone[phone], values, strict=True):
                    if raw is not None and (s := decode_record(phone, f"{ac}|{sid}", raw)):
                        out.append(s)
        return out

    def with_plan(self, session: OnlineSession, plan: str) -> OnlineSession:
        """Record that a session now runs under another plan (after a CoA, or pinned to the
        revision its AC still enforces). Only the plan field changes, atomically, so a
        concurrent Interim-Update's counters are kept; the plan index follows."""
        before = self._set_plan(keys=[keys.phone_sessions(session.phone)], args=[session.field, plan])
        if before is not None:
            old = before.decode() if isinstance(before, bytes) else str(before)
            pipe = self.redis.pipeline(transaction=False)
            if old != plan:
                pipe.hdel(keys.plan_sessions(old), session.field)
            pipe.hset(keys.plan_sessions(plan), session.field, session.phone)
            pipe.execute()
        return replace(session, plan=plan)
