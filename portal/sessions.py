"""The online-session registry: who is online where, read by the NOC and the concurrency limit.

Storage (reasoning in ``portal/state/keys.py``, "Sessions"):

* ``keys.phone_sessions(phone)`` — one hash per phone, field ``<ac>|<acct-session-id>`` → compact
  JSON with one-letter keys (``RECORD_FIELDS``). Lives in the phone's slot with its usage.
* ``keys.ac_sessions(ac)`` — acct-session-id → phone (Accounting-On/Off, Class-less accounting).
* ``keys.venue_sessions(venue)`` — ``<ac>|<acct-session-id>`` → phone, for the venue the session
  started in (its record says which, with the SSID): per-venue online counts and the NOC's
  venue filter.
* ``keys.session_deadlines()`` — ``<phone>|<ac>|<sid>`` scored by the silence deadline (reaper).

Budget: ≤ 1 KB of Redis memory per online session at 100k sessions (measured by tests/bench/radius_auth.py).
The indexes are secondary: readers re-check the record and drop dangling index entries.
"""

from __future__ import annotations

import json
import time
from collections import defaultdict
from collections.abc import Iterable
from dataclasses import dataclass, replace
from typing import Any

from portal.reallog import session_logout_fields
from portal.state import keys

__all__ = [
    "CLOSE_SESSION_LUA",
    "OnlineSession",
    "SessionRegistry",
    "deadline_member",
    "decode_record",
    "decode_records",
    "encode_record",
    "normalise_mac_or_none",
]

# One-letter keys of the JSON record. Lua scripts in radius/accounting.py use the same names.
RECORD_FIELDS = {
    "m": "mac", "ip": "ip", "s": "started", "u": "updated", "ii": "interim", "pl": "plan",
    "t": "session_time", "i": "input_octets", "o": "output_octets", "un": "user_name",
}


def normalise_mac_or_none(mac: str | None) -> str | None:
    """Normalised MAC, or None when absent or unparseable (never fails: NAS input)."""
    if not mac:
        return None
    from portal.blocklist import normalise_mac
    from portal.errors import ValidationError

    try:
        return normalise_mac(mac)
    except ValidationError:
        return None


@dataclass(frozen=True, slots=True)
class OnlineSession:
    """One online session as accounting knows it. Counters are cumulative for the session
    (octets with gigawords folded in)."""

    ac: str
    session_id: str
    phone: str
    mac: str | None = None
    ip: str | None = None
    started: int = 0          # epoch seconds
    updated: int = 0          # last accounting record, epoch seconds
    interim: int = 300        # Acct-Interim-Interval the session runs with
    plan: str = ""
    session_time: int = 0
    input_octets: int = 0
    output_octets: int = 0
    user_name: str = ""       # User-Name the NAS uses (DM/CoA must repeat it); "" = phone
    ssid: str = ""            # from Called-Station-Id at the start; "" = unknown
    venue: str = ""           # venue the session started in (portal.venues); "" = not recorded

    @property
    def field(self) -> str:
        return f"{self.ac}|{self.session_id}"

    @property
    def nas_user_name(self) -> str:
        """User-Name to repeat in DM/CoA: what the NAS used, else the phone."""
        return self.user_name or self.phone

    @property
    def octets(self) -> int:
        return self.input_octets + self.output_octets

    def deadline(self, grace: float) -> float:
        """After this epoch the session counts as silent (2 × interim + grace without update)."""
        return self.updated + 2 * self.interim + grace


def encode_record(session: OnlineSession) -> str:
    rec: dict[str, Any] = {
        "s": int(session.started), "u": int(session.updated), "ii": int(session.interim),
        "t": int(session.session_time), "i": int(session.input_octets),
        "o": int(session.output_octets),
    }
    if session.mac:
        rec["m"] = session.mac
    if session.ip:
        rec["ip"] = session.ip
    if session.plan:
        rec["pl"] = session.plan
    if session.user_name:
        rec["un"] = session.user_name
    if session.ssid:
        rec["ss"] = session.ssid
    if session.venue:
        rec["v"] = session.venue
    return json.dumps(rec, separators=(",", ":"))


def decode_record(phone: str, field: str | bytes, raw: str | bytes) -> OnlineSession | None:
    """Decode one record; None for garbage (a broken record must not break readers)."""
    if isinstance(field, bytes):
        field = field.decode()
    ac, sep, sid = field.partition("|")
    if not sep:
        return None
    try:
        rec = json.loads(raw)
        return OnlineSession(
            ac=ac, session_id=sid, phone=phone, mac=rec.get("m"), ip=rec.get("ip"),
            started=int(rec.get("s", 0)), updated=int(rec.get("u", 0)),
            interim=int(rec.get("ii", 300)), plan=rec.get("pl", ""),
            session_time=int(rec.get("t", 0)), input_octets=int(rec.get("i", 0)),
            output_octets=int(rec.get("o", 0)), user_name=rec.get("un", ""),
            ssid=str(rec.get("ss", "")), venue=str(rec.get("v", "")),
        )
    except (ValueError, TypeError, AttributeError):
        return None


def decode_records(phone: str, raw: dict[bytes, bytes]) -> list[OnlineSession]:
    """Decode an HGETALL of ``keys.phone_sessions(phone)``."""
    out = []
    for field, value in raw.items():
        session = decode_record(phone, field, value)
        if session is not None:
            out.append(session)
    out.sort(key=lambda s: (s.started, s.field))
    return out


def deadline_member(phone: str, ac: str, session_id: str) -> str:
    return f"{phone}|{ac}|{session_id}"


def _split_member(member: bytes | str) -> tuple[str, str, str] | None:
    text = member.decode() if isinstance(member, bytes) else member
    parts = text.split("|", 2)
    return (parts[0], parts[1], parts[2]) if len(parts) == 3 else None


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

# Set absolute counters of an existing session. KEYS: phone_sessions. ARGV: field, now, t, i, o, ip.
_UPDATE_LUA = """
local raw = redis.call('HGET', KEYS[1], ARGV[1])
if not raw then return false end
local rec = cjson.decode(raw)
rec['u'] = tonumber(ARGV[2])
rec['t'] = tonumber(ARGV[3])
rec['i'] = tonumber(ARGV[4])
rec['o'] = tonumber(ARGV[5])
if ARGV[6] ~= '' then rec['ip'] = ARGV[6] end
local out = cjson.encode(rec)
redis.call('HSET', KEYS[1], ARGV[1], out)
return out
"""

_SET_PLAN_LUA = """
local raw = redis.call('HGET', KEYS[1], ARGV[1])
if not raw then return 0 end
local rec = cjson.decode(raw)
rec['pl'] = ARGV[2]
redis.call('HSET', KEYS[1], ARGV[1], cjson.encode(rec))
return 1
"""


class SessionRegistry:
    """CRUD and queries over online sessions. ``grace`` is the reaper grace (seconds)."""

    def __init__(self, redis: Any, *, grace: float = 60.0, tombstone_ttl: int = 21600) -> None:
        self.redis = redis
        self.grace = grace
        self.tombstone_ttl = tombstone_ttl
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
        if session.venue:
            self.venue_index_in(pipe, session.venue, session.phone, session.field)

    def index_in(self, pipe: Any, phone: str, ac: str, session_id: str, deadline: float) -> None:
        """Queue the secondary-index writes for a live session (the venue index apart: see
        :meth:`venue_index_in`, written once the record says which venue)."""
        pipe.hset(keys.ac_sessions(ac), session_id, phone)
        pipe.zadd(keys.session_deadlines(), {deadline_member(phone, ac, session_id): deadline})

    def unindex_in(self, pipe: Any, phone: str, ac: str, session_id: str, venue: str = "") -> None:
        pipe.hdel(keys.ac_sessions(ac), session_id)
        pipe.zrem(keys.session_deadlines(), deadline_member(phone, ac, session_id))
        if venue:
            pipe.hdel(keys.venue_sessions(venue), f"{ac}|{session_id}")

    @staticmethod
    def venue_index_in(pipe: Any, venue: str, phone: str, field: str) -> None:
        pipe.hset(keys.venue_sessions(venue), field, phone)

    def update(
        self, ac: str, session_id: str, phone: str, *, now: float, session_time: int,
        input_octets: int, output_octets: int, ip: str | None = None,
    ) -> OnlineSession | None:
        """Set a session's cumulative counters (no usage booking: accounting does that)."""
        field = f"{ac}|{session_id}"
        raw = self._update(
            keys=[keys.phone_sessions(phone)],
            args=[field, int(now), int(session_time), int(input_octets), int(output_octets), ip or ""],
        )
        if raw is None:
            return None
        session = decode_record(phone, field, raw)
        if session is not None:
            self.redis.zadd(
                keys.session_deadlines(),
                {deadline_member(phone, ac, session_id): session.deadline(self.grace)},
            )
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
            self.unindex_in(pipe, phone, ac, session_id, session.venue if session is not None else "")
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
        return self._fetch((v.decode(), ac, k.decode()) for k, v in raw.items())

    def by_venue(self, venue: str) -> list[OnlineSession]:
        """Sessions that started in ``venue`` (from its index, re-checked against the records;
        dangling entries — a record gone without its index entry — are dropped and removed)."""
        raw = self.redis.hgetall(keys.venue_sessions(venue))
        refs = []
        for field, phone in raw.items():
            ac, sep, sid = field.decode().partition("|")
            if sep:
                refs.append((phone.decode(), ac, sid))
        found = [s for s in self._fetch(refs) if s.venue == venue]
        if len(found) < len(refs):
            live = {s.field for s in found}
            gone = [f"{ac}|{sid}" for _, ac, sid in refs if f"{ac}|{sid}" not in live]
            self.redis.hdel(keys.venue_sessions(venue), *gone)
        return found

    def repair_venue_index(self, venues: Iterable[str]) -> tuple[int, int]:
        """Make the per-venue indexes match the records: add every live session to its venue's
        index, remove entries whose session is gone or started elsewhere. The index is written
        after the accounting script (the record says which venue), so a crash, a Redis blip or
        a Stop racing its own Start on another worker can leave it one entry off; this puts it
        right. Reads every session (chunked): run it rarely. Returns (added, removed)."""
        added = removed = 0
        live: dict[str, set[str]] = defaultdict(set)
        for chunk in self.scan():
            pipe = self.redis.pipeline(transaction=False)
            for s in chunk:
                if s.venue:
                    live[s.venue].add(s.field)
                    pipe.hsetnx(keys.venue_sessions(s.venue), s.field, s.phone)
            added += sum(1 for r in pipe.execute() if r)
        for venue in {*venues, *live}:
            index = keys.venue_sessions(venue)
            stale = [f for f in (k.decode() for k in self.redis.hkeys(index)) if f not in live[venue]]
            # Re-check each candidate against its record: it may have started since the scan.
            gone = []
            for field in stale:
                phone = self.redis.hget(index, field)
                record = phone and self.redis.hget(keys.phone_sessions(phone.decode()), field)
                session = record and decode_record(phone.decode(), field, record)
                if not session or session.venue != venue:
                    gone.append(field)
            if gone:
                removed += int(self.redis.hdel(index, *gone))
        return added, removed

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
        return self._fetch(m for m in map(_split_member, members) if m is not None)

    def recent(self, offset: int = 0, count: int = 50) -> list[OnlineSession]:
        """One page of online sessions, most recently reported first (deadline index read
        backwards): what the NOC list shows when no filter narrows it (no full scan)."""
        if count <= 0:
            return []
        members = self.redis.zrevrange(keys.session_deadlines(), max(offset, 0),
                                       max(offset, 0) + count - 1)
        sessions = self._fetch(m for m in map(_split_member, members) if m is not None)
        sessions.sort(key=lambda s: (-s.updated, s.field))
        return sessions

    def scan(self, chunk: int = 2000) -> Iterable[list[OnlineSession]]:
        """Every online session, ``chunk`` index entries at a time (NOC searches by MAC/IP:
        memory stays bounded by the chunk, not by the number online)."""
        start = 0
        while True:
            members = self.redis.zrange(keys.session_deadlines(), start, start + chunk - 1)
            if not members:
                return
            yield self._fetch(m for m in map(_split_member, members) if m is not None)
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
        sessions = self._fetch(m for m in map(_split_member, members) if m is not None)
        return [s for s in sessions if s.deadline(self.grace) <= now]

    def _fetch(self, refs: Iterable[tuple[str, str, str]]) -> list[OnlineSession]:
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
        """Record that a session now runs under another plan (after a CoA). Only the plan field
        changes, atomically, so a concurrent Interim-Update's counters are kept."""
        self._set_plan(keys=[keys.phone_sessions(session.phone)], args=[session.field, plan])
        return replace(session, plan=plan)
