"""The NOC's view of online sessions: search, and per session what it has used and has left.

Sessions (``portal.aaa.sessions.SessionRegistry``) know phone, AC, MAC, IP, plan and counters, and
— recorded by accounting from the Accounting-Start — the SSID and venue they started in. The AP
and the login kind come from the session's real-name login record (``portal.legal.reallog``): the
newest login of the same phone on the same AC from the same MAC or IP that is not later than the
session's start; so do SSID and venue of sessions recorded before accounting wrote them. Only the
part of the stream since the oldest candidate session started is read, at most
:data:`CONTEXT_SCAN_LIMIT` entries; a session whose login is not found there shows no AP.

Search paths (no filter reads every session; ``portal/aaa/session_index.py``): phone (the phone's
own hash), MAC and IP (their indexes: a handful of entries), otherwise the smallest of the AC,
venue (once every online session is in a venue index) and SSID indexes. A single large filter
(one SSID or venue holding a large share of all sessions) is paged like the unfiltered list,
from the deadline index newest first, keeping the sessions that match until the page is full:
it reads about (offset + limit) / share sessions instead of every match, and the total is the
index's size. Without any filter the page is read straight from the deadline index.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from typing import Any

from portal.aaa.credentials import normalise_phone
from portal.aaa.grants import remaining_time
from portal.aaa.plans import Plan, PlanStore
from portal.aaa.sessions import OnlineSession, SessionRegistry, normalise_mac_or_none
from portal.aaa.usage import Usage, UsageBook
from portal.errors import ValidationError
from portal.legal.reallog import LOGOUT
from portal.state import keys
from portal.venues.venue_store import FALLBACK, VenueStore

__all__ = [
    "CONTEXT_SCAN_LIMIT",
    "LoginContext",
    "SessionFilter",
    "SessionPage",
    "SessionQuery",
    "SessionView",
    "data_left",
    "time_left",
]

CONTEXT_SCAN_LIMIT = 500_000    # real-name entries read at most to find many sessions' SSID/venue
_LOGIN_SLACK = 30.0             # a login record may be this much later than the session start …
_LOGIN_BEFORE = 120.0           # … or this much earlier (portal login → AC → Accounting-Start)
_NEAR_COUNT = 100               # entries read first, newest-first from just after the start
_WINDOWED_MAX = 200             # up to this many sessions: one short XRANGE window per session
_WINDOW_COUNT = 5000            # entries read at most per window (logins at peak rate)
_GROUP_GAP = 5.0                # sessions starting this close share one read (_grouped_contexts)
MAX_PAGE = 500


@dataclass(frozen=True, slots=True)
class LoginContext:
    """Where a session logged in, from its real-name login record."""

    ssid: str = ""
    venue: str = ""
    ap: str = ""
    kind: str = ""
    at: float = 0.0


@dataclass(frozen=True, slots=True)
class SessionFilter:
    """Every given field must match (exact; phone and MAC normalised). Empty = any."""

    phone: str = ""
    mac: str = ""
    ip: str = ""
    ac: str = ""
    venue: str = ""
    ssid: str = ""

    @classmethod
    def parse(cls, args: Any) -> SessionFilter:
        """From query arguments (a mapping); raises ValidationError on a malformed phone/MAC."""
        def get(name: str) -> str:
            value = args.get(name) or ""
            if len(value) > 128:
                raise ValidationError(f"{name}: at most 128 characters")
            return str(value).strip()

        phone, mac = get("phone"), get("mac")
        if phone:
            phone = normalise_phone(phone)
        if mac:
            norm = normalise_mac_or_none(mac)
            if norm is None:
                raise ValidationError(f"mac: {mac!r} is not a MAC address")
            mac = norm
        return cls(phone=phone, mac=mac, ip=get("ip"), ac=get("ac"), venue=get("venue"),
                   ssid=get("ssid"))

    @property
    def empty(self) -> bool:
        return not (self.phone or self.mac or self.ip or self.ac or self.venue or self.ssid)

    def as_dict(self) -> dict[str, str]:
        return {k: getattr(self, k) for k in ("phone", "mac", "ip", "ac", "venue", "ssid")}


def time_left(plan: Plan | None, usage: Usage, session: OnlineSession, now: float,
              tz: Any) -> int | None:
    """Seconds this session may still run under its plan (None = no limit): the plan's
    remaining time for the phone, capped by what is left of the per-session cap."""
    if plan is None:
        return None
    left = remaining_time(plan, usage, now, tz)
    if plan.session_timeout is not None:
        cap = max(0, plan.session_timeout - session.session_time)
        left = cap if left is None else min(left, cap)
    return None if left is None else max(0, left)


def data_left(plan: Plan | None, usage: Usage) -> int | None:
    """Octets the phone may still use today under ``plan`` (None = no volume limit)."""
    if plan is None:
        return None
    limits = []
    if plan.daily_volume is not None:
        limits.append(plan.daily_volume - usage.daily_volume)
    if plan.total_volume is not None:
        limits.append(plan.total_volume - usage.total_volume)
    return max(0, min(limits)) if limits else None


@dataclass(frozen=True, slots=True)
class SessionView:
    """One session as the NOC sees it."""

    session: OnlineSession
    context: LoginContext
    venue: str
    usage: Usage
    time_left: int | None
    data_left: int | None
    plan_known: bool

    @property
    def ssid(self) -> str:
        """From the session record; from its login record for sessions recorded before."""
        return self.session.ssid or self.context.ssid

    def as_dict(self) -> dict[str, Any]:
        s = self.session
        return {
            "ac": s.ac, "session_id": s.session_id, "phone": s.phone, "mac": s.mac or "",
            "ip": s.ip or "", "ssid": self.ssid, "venue": self.venue, "ap": self.context.ap,
            "login_kind": self.context.kind, "started": s.started, "updated": s.updated,
            "plan": s.plan, "session_time": s.session_time, "input_octets": s.input_octets,
            "output_octets": s.output_octets, "octets": s.octets,
            "time_left": self.time_left, "data_left": self.data_left,
            "used_today": {"time": self.usage.daily_time, "octets": self.usage.daily_volume},
            "used_total": {"time": self.usage.total_time, "octets": self.usage.total_volume},
        }


@dataclass(frozen=True, slots=True)
class SessionPage:
    total: int
    offset: int
    limit: int
    items: list[SessionView] = field(default_factory=list)

    def as_dict(self) -> dict[str, Any]:
        return {"total": self.total, "offset": self.offset, "limit": self.limit,
                "sessions": [v.as_dict() for v in self.items]}


class SessionQuery:
    """Search online sessions and enrich them for display (read-only)."""

    def __init__(self, redis: Any, *, plans: PlanStore, usage: UsageBook,
                 venues: VenueStore | None = None, grace: float = 60.0,
                 clock: Callable[[], float] = time.time) -> None:
        self.redis = redis
        self.plans = plans
        self.usage = usage
        self.venues = venues or VenueStore(redis)
        self.registry = SessionRegistry(redis, grace=grace)
        self.clock = clock

    # --- search -------------------------------------------------------------------------------

    def search(self, flt: SessionFilter, offset: int = 0, limit: int = 50) -> SessionPage:
        offset, limit = max(0, offset), max(1, min(limit, MAX_PAGE))
        if flt.empty:
            page = self.registry.recent(offset, limit)
            return SessionPage(self.registry.count(), offset, limit, self.enrich(page))
        sources = self._sources(flt)
        walk = self._walk(flt, sources, offset + limit)
        if walk is not None:
            total, share, belongs = walk
            page = self.registry.walk_recent(belongs, offset, limit, share)
            return SessionPage(total, offset, limit, self.enrich(page))
        matched = [s for s in self._candidates(flt, sources) if self._basic_match(s, flt)]
        contexts: dict[str, LoginContext] = {}
        if flt.venue or flt.ssid:
            # Only sessions whose record lacks SSID/venue (recorded before accounting wrote
            # them) need their login record to be matched.
            contexts = self.contexts([s for s in matched if not (s.ssid and s.venue)])
            empty = LoginContext()
            matched = [s for s in matched
                       if (not flt.ssid or (s.ssid or contexts.get(s.field, empty).ssid) == flt.ssid)
                       and (not flt.venue
                            or self._venue_of(s, contexts.get(s.field, empty)) == flt.venue)]
        matched.sort(key=lambda s: (-s.updated, s.field))
        window = matched[offset:offset + limit]
        return SessionPage(len(matched), offset, limit, self.enrich(window, contexts or None))

    def one(self, ac: str, session_id: str) -> SessionView | None:
        session = self.registry.get(ac, session_id)
        return None if session is None else self.enrich([session])[0]

    def _sources(self, flt: SessionFilter) -> dict[str, int]:
        """Size of each index that could answer ``flt`` on its own ("ac", "venue", "ssid"); SSID
        counts the sessions of unknown SSID too (they are matched by their login record)."""
        names = [n for n in ("ac", "venue", "ssid") if getattr(flt, n)]
        if flt.phone or flt.mac or flt.ip or not names:
            return {}
        if "venue" in names and not self._venues_indexed():
            names.remove("venue")
        pipe = self.redis.pipeline(transaction=False)
        for name in names:
            if name == "ac":
                pipe.hlen(keys.ac_sessions(flt.ac))
            elif name == "venue":
                pipe.hlen(keys.venue_sessions(flt.venue))
            else:
                pipe.hlen(keys.ssid_sessions(flt.ssid))
                pipe.hlen(keys.ssid_unknown_sessions())
        counts = iter(pipe.execute())
        sizes = {}
        for name in names:
            sizes[name] = int(next(counts))
            if name == "ssid":
                unknown = int(next(counts))
                sizes["ssid"] += unknown
                sizes["ssid_unknown"] = unknown
        return sizes

    def _walk(self, flt: SessionFilter, sources: dict[str, int],
              want: int) -> tuple[int, float, Callable[[OnlineSession], bool]] | None:
        """(total, share of all sessions, predicate) when one filter alone matches so large a
        share of all sessions that walking the newest sessions fills the page sooner than
        reading every match (≈ want / share sessions read instead of total)."""
        active = [n for n in ("phone", "mac", "ip", "ac", "venue", "ssid") if getattr(flt, n)]
        if len(active) != 1 or active[0] not in sources or sources.get("ssid_unknown"):
            return None
        name = active[0]
        size, everyone = sources[name], self.registry.count()
        if size == 0 or want * everyone >= size * size:
            return None
        value, share = getattr(flt, name), size / max(size, everyone)
        if name == "ac":
            return size, share, lambda s: s.ac == value
        if name == "venue":
            return size, share, lambda s: s.venue == value
        return size, share, lambda s: s.ssid == value

    def _candidates(self, flt: SessionFilter, sources: dict[str, int]) -> Iterable[OnlineSession]:
        if flt.phone:
            return self.registry.by_phone(flt.phone)
        if flt.mac:
            return self.registry.by_mac(flt.mac)
        if flt.ip:
            return self.registry.by_ip(flt.ip)
        sizes = {n: v for n, v in sources.items() if n in ("ac", "venue", "ssid")}
        smallest = min(sizes, key=lambda n: sizes[n]) if sizes else None
        if smallest == "ac":
            return self.registry.by_ac(flt.ac)
        if smallest == "venue":
            return self.registry.by_venue(flt.venue)
        if smallest == "ssid":
            return [*self.registry.by_ssid(flt.ssid), *self.registry.without_ssid()]
        return self._all()

    def _all(self) -> Iterable[OnlineSession]:
        seen: set[tuple[str, str]] = set()
        for chunk in self.registry.scan():
            for s in chunk:
                if (s.phone, s.field) not in seen:   # a session re-ranked mid-scan comes twice
                    seen.add((s.phone, s.field))
                    yield s

    @staticmethod
    def _basic_match(s: OnlineSession, flt: SessionFilter) -> bool:
        return ((not flt.phone or s.phone == flt.phone) and (not flt.ac or s.ac == flt.ac)
                and (not flt.mac or s.mac == flt.mac) and (not flt.ip or s.ip == flt.ip))

    def _venues_indexed(self) -> bool:
        """Whether every online session is in a per-venue index (true once the sessions
        recorded before accounting wrote venues have ended): then a venue filter reads its
        index instead of scanning."""
        ids = [*self.venues.all(), FALLBACK.id]
        indexed = sum(self.registry.count_by_venue(ids).values())
        return indexed >= self.registry.count()

    def _venue_of(self, session: OnlineSession, ctx: LoginContext) -> str:
        return session.venue or ctx.venue or self.venues.resolve(session.ac, ctx.ssid or None).id

    # --- enrichment ---------------------------------------------------------------------------

    def enrich(self, sessions: list[OnlineSession],
               contexts: dict[str, LoginContext] | None = None) -> list[SessionView]:
        """Views of ``sessions``: login context, usage, time and data left (one pipeline for
        the usage of every phone on the page)."""
        if not sessions:
            return []
        now = self.clock()
        contexts = contexts if contexts is not None else self.contexts(sessions)
        phones = sorted({s.phone for s in sessions})
        pipe = self.redis.pipeline(transaction=False)
        for phone in phones:
            pipe.hgetall(keys.usage(phone))
        usage = {p: self.usage.from_raw(raw, now) for p, raw in zip(phones, pipe.execute(), strict=True)}
        out = []
        for s in sessions:
            plan = self.plans.plan_named(s.plan) if s.plan else None
            ctx = contexts.get(s.field, LoginContext())
            u = usage[s.phone]
            out.append(SessionView(s, ctx, self._venue_of(s, ctx), u,
                                   time_left(plan, u, s, now, self.usage.tz), data_left(plan, u),
                                   plan is not None))
        return out

    def contexts(self, sessions: list[OnlineSession]) -> dict[str, LoginContext]:
        """Login context per session field (see module doc); missing ones are empty. A page of
        sessions reads a short window of the stream around each start (one pipeline); a large
        set (SSID/venue filters) reads the stream once, newest first, back to the oldest."""
        if not sessions:
            return {}
        if len(sessions) <= _WINDOWED_MAX:
            return self._windowed_contexts(sessions)
        wanted: dict[tuple[str, str], list[OnlineSession]] = {}
        for s in sessions:
            wanted.setdefault((s.phone, s.ac), []).append(s)
        oldest = min(s.started for s in sessions) - _LOGIN_BEFORE
        found: dict[str, LoginContext] = {}
        pending = {s.field + "|" + s.phone for s in sessions}
        upper: Any = "+"
        lower = f"{max(0, int(oldest * 1000))}-0"
        read = 0
        while pending and read < CONTEXT_SCAN_LIMIT:
            page = self.redis.xrevrange(keys.real_name_log(), max=upper, min=lower, count=1000)
            if not page:
                break
            read += len(page)
            for _entry_id, raw in page:
                key = (raw.get(b"phone", b"").decode(), raw.get(b"ac", b"").decode())
                for s in wanted.get(key, ()):
                    tag = s.field + "|" + s.phone
                    if tag in pending and (ctx := _match(s, raw)) is not None:
                        found[s.field] = ctx
                        pending.discard(tag)
            if len(page) < 1000:
                break
            last = page[-1][0]
            upper = "(" + (last.decode() if isinstance(last, bytes) else str(last))
        return found

    def _windowed_contexts(self, sessions: list[OnlineSession]) -> dict[str, LoginContext]:
        # The login is written moments before the AC's Accounting-Start: read newest-first from
        # just after the start (few entries at any login rate); only misses read the whole window.
        # A page's sessions mostly started close together, and their near windows overlap: one
        # shared read per cluster of starts finds most of them (_grouped_contexts) with the same
        # answer a window of their own gives; the rest read their own windows.
        found = self._grouped_contexts(sessions)
        for count, wide in ((_NEAR_COUNT, False), (_WINDOW_COUNT, True)):
            todo = [s for s in sessions if s.field not in found]
            if not todo:
                break
            pipe = self.redis.pipeline(transaction=False)
            for s in todo:
                top = s.started + (_LOGIN_SLACK if wide else 2.0)
                pipe.xrevrange(keys.real_name_log(), max=f"{int(top * 1000)}-0",
                               min=f"{max(0, int((s.started - _LOGIN_BEFORE) * 1000))}-0", count=count)
            for s, page in zip(todo, pipe.execute(), strict=True):
                for _entry_id, raw in page:
                    ctx = _match(s, raw)
                    if ctx is not None:
                        found[s.field] = ctx
                        break
        return found


    def _grouped_contexts(self, sessions: list[OnlineSession]) -> dict[str, LoginContext]:
        """Contexts found by one XREVRANGE per cluster of session starts (starts less than
        _GROUP_GAP apart), from just after the cluster's newest start. For a session it accepts
        only what its own near read (``_NEAR_COUNT`` entries newest-first from its start + 2 s,
        back to start − _LOGIN_BEFORE) would have returned first, so the answer is the same;
        sessions it cannot decide that way are left to their own windows. Measured
        (tests/bench/noc_sessions.py, 100k sessions, ≈ 28 logins/s): a page of 50 read 5,000
        entries (100 each) before, ≈ 200 now."""
        ordered = sorted(sessions, key=lambda x: -x.started)
        groups: list[list[OnlineSession]] = []
        for s in ordered:
            if groups and groups[-1][-1].started - s.started <= _GROUP_GAP:
                groups[-1].append(s)
            else:
                groups.append([s])
        groups = [g for g in groups if len(g) > 1]   # a lone session reads its own window
        if not groups:
            return {}
        pipe = self.redis.pipeline(transaction=False)
        for g in groups:
            pipe.xrevrange(keys.real_name_log(), max=f"{_ms(g[0].started + 2.0)}-0",
                           min=f"{_ms(g[-1].started - _LOGIN_BEFORE)}-0",
                           count=_NEAR_COUNT + 2 * len(g))
        found: dict[str, LoginContext] = {}
        for g, page in zip(groups, pipe.execute(), strict=True):
            stamps = [_id_of(entry_id) for entry_id, _ in page]
            by_key: dict[tuple[str, str], list[OnlineSession]] = {}
            for s in g:
                by_key.setdefault((s.phone, s.ac), []).append(s)
            # Where each session's own near read would begin in this page (ids descend).
            # (A read with max "<ms>-0" includes no later entry of the same millisecond.)
            first = {s.field: next((i for i, at in enumerate(stamps) if at <= (_ms(s.started + 2.0), 0)),
                                   len(stamps)) for s in g}
            for i, (_entry_id, raw) in enumerate(page):
                key = (raw.get(b"phone", b"").decode(), raw.get(b"ac", b"").decode())
                for s in by_key.get(key, ()):
                    if s.field in found or i < first[s.field] or i - first[s.field] >= _NEAR_COUNT:
                        continue
                    if stamps[i][0] < _ms(s.started - _LOGIN_BEFORE):
                        continue
                    ctx = _match(s, raw)
                    if ctx is not None:
                        found[s.field] = ctx
        return found


def _ms(epoch: float) -> int:
    return max(0, int(epoch * 1000))


def _id_of(entry_id: Any) -> tuple[int, int]:
    """A stream entry id as (milliseconds, sequence)."""
    text = entry_id.decode() if isinstance(entry_id, bytes) else str(entry_id)
    ms, _, seq = text.partition("-")
    return int(ms), int(seq or 0)


def _match(s: OnlineSession, raw: dict[bytes, bytes]) -> LoginContext | None:
    """The login context if stream entry ``raw`` is the login of session ``s``."""
    if raw.get(b"kind", b"").decode() == LOGOUT:
        return None
    if raw.get(b"phone", b"").decode() != s.phone or raw.get(b"ac", b"").decode() != s.ac:
        return None
    try:
        at = float(raw.get(b"at", b"0"))
    except ValueError:
        return None
    mac = normalise_mac_or_none(raw.get(b"mac", b"").decode())
    ip = raw.get(b"ip", b"").decode()
    if not ((mac is not None and mac == s.mac) or (ip and ip == s.ip)) or at > s.started + _LOGIN_SLACK:
        return None
    return LoginContext(ssid=raw.get(b"ssid", b"").decode(), venue=raw.get(b"venue", b"").decode(),
                        ap=raw.get(b"ap", b"").decode(), kind=raw.get(b"kind", b"").decode(), at=at)
