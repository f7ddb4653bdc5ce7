"""Accounting (RFC 2866, RFC 2869 interim updates): durable log, sessions, usage, quota checks.

``AccountingProcessor.process`` is what the server calls for every verified Accounting-Request
before it answers. It returns only after Redis accepted the writes (raises otherwise, and then
the server stays silent so the AC retransmits — RFC 5080 §2.2.1 has ACs retry accounting until
acknowledged). Durability: the embedded Redis runs AOF with ``appendfsync everysec``, so a crash
of the *machine* may lose up to one second of acknowledged records; a process crash loses
nothing. Where that second matters, run Redis with ``appendfsync always`` or set
``quota.acct_wait_replicas`` so we ``WAIT`` for replicas before acknowledging.

Idempotency (RFC 2866 §4.1: retransmissions may carry a new Identifier and Acct-Delay-Time, so
packet-level dedup is not enough): each session's hash record keeps its last-seen cumulative
counters; one Lua script compares the incoming counters with them and books only the positive
delta into the phone's usage, atomically. A replay books nothing; a Stop leaves a tombstone with
the final counters so a late/replayed Stop or Interim books nothing either.
"""

from __future__ import annotations

import concurrent.futures
import ipaddress
import logging
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass
from enum import IntEnum
from typing import TYPE_CHECKING, Any

import redis

from portal.grants import check_quota, parse_class
from portal.plans import PlanStore
from portal.reallog import logout_fields, session_logout_fields, stop_cause
from portal.sessions import (
    CLOSE_SESSION_LUA,
    OnlineSession,
    SessionRegistry,
    decode_record,
    normalise_mac_or_none,
)
from portal.settings import QuotaSettings
from portal.state import StateUnavailable, keys
from portal.state.scripts import queue_script
from portal.usage import ADD_USAGE_LUA, UsageBook
from portal.venues import VenueResolver, VenueStore
from radius.called_station import split_called_station_id

if TYPE_CHECKING:
    from portal.acs import AcRecord
    from radius.enforcement import Enforcer

__all__ = ["AccountingProcessor", "AcctRecord", "AcctStatus", "log_close"]

log = logging.getLogger(__name__)


class AcctStatus(IntEnum):
    """Acct-Status-Type values (RFC 2866 §5.1)."""

    START = 1
    STOP = 2
    INTERIM_UPDATE = 3
    ACCOUNTING_ON = 7
    ACCOUNTING_OFF = 8


# Attribute types read from an Accounting-Request (RFC 2865 §5, RFC 2866 §5, RFC 2869 §5).
_A = {
    "User-Name": 1, "NAS-IP-Address": 4, "Framed-IP-Address": 8, "Class": 25,
    "Called-Station-Id": 30, "Calling-Station-Id": 31, "NAS-Identifier": 32,
    "Acct-Status-Type": 40, "Acct-Delay-Time": 41, "Acct-Input-Octets": 42,
    "Acct-Output-Octets": 43, "Acct-Session-Id": 44, "Acct-Session-Time": 46,
    "Acct-Input-Packets": 47, "Acct-Output-Packets": 48, "Acct-Terminate-Cause": 49,
    "Acct-Input-Gigawords": 52, "Acct-Output-Gigawords": 53, "Event-Timestamp": 55,
}


def _int(v: bytes | None) -> int | None:
    return int.from_bytes(v, "big") if v is not None and len(v) == 4 else None


def _text(v: bytes | None) -> str | None:
    return None if v is None else v.decode("utf-8", "replace")


def _ip(v: bytes | None) -> str | None:
    return str(ipaddress.IPv4Address(v)) if v is not None and len(v) == 4 else None


@dataclass(frozen=True, slots=True)
class AcctRecord:
    """The fields of one Accounting-Request we use. Every field may be missing (NAS input)."""

    status: int | None
    session_id: str | None = None
    user_name: str | None = None
    calling_station_id: str | None = None
    called_station_id: str | None = None
    framed_ip: str | None = None
    nas_ip: str | None = None
    nas_identifier: str | None = None
    session_time: int | None = None
    input_octets: int | None = None
    output_octets: int | None = None
    input_gigawords: int | None = None
    output_gigawords: int | None = None
    input_packets: int | None = None
    output_packets: int | None = None
    terminate_cause: int | None = None
    class_: bytes | None = None
    event_timestamp: int | None = None
    delay_time: int | None = None

    @property
    def input_total(self) -> int:
        """Input octets with Acct-Input-Gigawords folded in (RFC 2869 §5.1)."""
        return ((self.input_gigawords or 0) << 32) + (self.input_octets or 0)

    @property
    def output_total(self) -> int:
        return ((self.output_gigawords or 0) << 32) + (self.output_octets or 0)

    def event_time(self, received_at: float) -> float:
        """When the event happened: receipt time minus Acct-Delay-Time (RFC 2866 §5.2)."""
        return received_at - (self.delay_time or 0)

    @classmethod
    def from_first(cls, first: Callable[[int], bytes | None]) -> AcctRecord:
        """Build from a "first value of attribute type N" accessor."""
        g = first
        return cls(
            status=_int(g(40)), session_id=_text(g(44)), user_name=_text(g(1)),
            calling_station_id=_text(g(31)), called_station_id=_text(g(30)),
            framed_ip=_ip(g(8)), nas_ip=_ip(g(4)), nas_identifier=_text(g(32)),
            session_time=_int(g(46)), input_octets=_int(g(42)), output_octets=_int(g(43)),
            input_gigawords=_int(g(52)), output_gigawords=_int(g(53)),
            input_packets=_int(g(47)), output_packets=_int(g(48)),
            terminate_cause=_int(g(49)), class_=g(25), event_timestamp=_int(g(55)),
            delay_time=_int(g(41)),
        )

    @classmethod
    def from_packet(cls, pkt: Any) -> AcctRecord:
        """From a pyrad ``AcctPacket`` (raw values by attribute code, codes looked up by name in
        the packet's dictionary when it has one) or from a ``radius.wire.Request``."""
        if hasattr(pkt, "first") and isinstance(pkt.first, dict):  # radius.wire.Request
            return cls.from_first(pkt.first.get)
        codes = {}
        dictionary = getattr(pkt, "dict", None)
        for name, code in _A.items():
            try:
                codes[code] = dictionary.attributes[name].code if dictionary is not None else code
            except (KeyError, AttributeError):
                codes[code] = code

        def first(code: int) -> bytes | None:
            values = pkt.get(codes.get(code, code))
            if not values:
                return None
            value = values[0]
            return value if isinstance(value, bytes) else None

        return cls.from_first(first)


# The accounting script. All keys in the phone's slot.
# KEYS: phone_sessions, usage, tombstone
# ARGV: 1 field, 2 kind (start|interim|stop), 3 now, 4 today, 5 t, 6 in, 7 out,
#       8 in has gigawords, 9 out has gigawords, 10 mac, 11 ip, 12 interim, 13 plan,
#       14 user name, 15 tombstone ttl, 16 started, 17 SSID, 18 venue (17/18 kept from the
#       record that creates the session: a session belongs to the venue it started in)
# Returns {verdict, record json or false, {d, dt, dv, tt, tv, f}}; verdict is one of
# new | updated | closed | dup.
_ACCT_LUA = ADD_USAGE_LUA + """
local TWO32 = 4294967296
local function unwrap(raw, base, has_gw, advanced)
  -- A NAS that sends no Gigawords wraps its 32-bit octet counters; when time moved on but the
  -- counter went down, assume whole wraps (less than 4 GiB per interim).
  if has_gw == 1 or raw >= base or not advanced then return raw end
  local v = raw + math.floor(base / TWO32) * TWO32
  if v < base then v = v + TWO32 end
  return v
end
local function usage_now()
  return redis.call('HMGET', KEYS[2], 'd', 'dt', 'dv', 'tt', 'tv', 'f')
end
local kind = ARGV[2]
local now = tonumber(ARGV[3])
local nt, ni, no = tonumber(ARGV[5]), tonumber(ARGV[6]), tonumber(ARGV[7])
local raw = redis.call('HGET', KEYS[1], ARGV[1])
local tomb = false
local rec
local bt, bi, bo = 0, 0, 0
if raw then
  if kind == 'start' then return {'dup', raw, usage_now()} end
  rec = cjson.decode(raw)
  bt, bi, bo = rec['t'], rec['i'], rec['o']
else
  tomb = redis.call('GET', KEYS[3])
  if tomb then
    -- closed recently: a Start is a replay; Interim/Stop count only beyond the final counters
    if kind == 'start' then return {'dup', false, usage_now()} end
    local a, b, c = string.match(tomb, '^(%d+),(%d+),(%d+)$')
    bt, bi, bo = tonumber(a) or 0, tonumber(b) or 0, tonumber(c) or 0
  end
  rec = {s = tonumber(ARGV[16]), ii = tonumber(ARGV[12])}
  if ARGV[10] ~= '' then rec['m'] = ARGV[10] end
  if ARGV[13] ~= '' then rec['pl'] = ARGV[13] end
  if ARGV[14] ~= '' then rec['un'] = ARGV[14] end
  if ARGV[17] ~= '' then rec['ss'] = ARGV[17] end
  if ARGV[18] ~= '' then rec['v'] = ARGV[18] end
end
local adv = nt > bt
ni = unwrap(ni, bi, tonumber(ARGV[8]), adv)
no = unwrap(no, bo, tonumber(ARGV[9]), adv)
local grew = nt > bt or ni > bi or no > bo
if not grew and (raw or tomb) and not (raw and kind == 'stop') then
  -- a replay or an older update arriving late: nothing to book, nothing to change
  return {'dup', raw or false, usage_now()}
end
local verdict = 'new'
if raw then verdict = 'updated' end
local dt = math.max(0, nt - bt)
local dv = math.max(0, ni - bi) + math.max(0, no - bo)
if dt > 0 or dv > 0 then add_usage(KEYS[2], ARGV[4], dt, dv) end
redis.call('HSETNX', KEYS[2], 'f', ARGV[3])
rec['t'] = math.max(nt, bt)
rec['i'] = math.max(ni, bi)
rec['o'] = math.max(no, bo)
rec['u'] = now
if ARGV[11] ~= '' then rec['ip'] = ARGV[11] end
local out = cjson.encode(rec)
if kind == 'stop' then
  redis.call('HDEL', KEYS[1], ARGV[1])
  redis.call('SET', KEYS[3], string.format('%.0f,%.0f,%.0f', rec['t'], rec['i'], rec['o']),
             'EX', tonumber(ARGV[15]))
  return {'closed', out, usage_now()}
end
redis.call('HSET', KEYS[1], ARGV[1], out)
return {verdict, out, usage_now()}
"""

_KIND = {AcctStatus.START: "start", AcctStatus.INTERIM_UPDATE: "interim", AcctStatus.STOP: "stop"}


def _log_fields(kind: str, ac: str, received_at: float, record: AcctRecord | None = None,
                phone: str | None = None, extra: dict[str, Any] | None = None) -> dict[str, str]:
    """Stream entry: short names, only present fields, all strings."""
    fields: dict[str, Any] = {"k": kind, "ac": ac, "at": f"{received_at:.3f}"}
    if phone:
        fields["ph"] = phone
    if record is not None:
        fields.update({
            "st": record.status, "sid": record.session_id, "un": record.user_name,
            "mac": record.calling_station_id, "called": record.called_station_id,
            "ip": record.framed_ip, "nas": record.nas_ip, "nasid": record.nas_identifier,
            "t": record.session_time, "ipk": record.input_packets, "opk": record.output_packets,
            "tc": record.terminate_cause, "ets": record.event_timestamp, "dly": record.delay_time,
            "cls": record.class_.hex() if record.class_ else None,
        })
        if record.input_octets is not None or record.input_gigawords is not None:
            fields["in"] = record.input_total
        if record.output_octets is not None or record.output_gigawords is not None:
            fields["out"] = record.output_total
    fields.update(extra or {})
    return {k: str(v) for k, v in fields.items() if v is not None and v != ""}


def log_close(pipe: Any, how: str, session: OnlineSession, at: float) -> None:
    """Queue a durable-log entry for a session we closed ourselves (reaper, NAS reboot)."""
    pipe.xadd(keys.acct_log(), _log_fields(how, session.ac, at, phone=session.phone, extra={
        "sid": session.session_id, "mac": session.mac, "ip": session.ip,
        "t": session.session_time, "in": session.input_octets, "out": session.output_octets,
    }))


_STATE_ERRORS = (StateUnavailable, redis.RedisError, ConnectionError, TimeoutError)


@dataclass(frozen=True, slots=True)
class _Queued:
    """A session record whose writes are queued on a pipeline; ``result`` indexes its script's
    reply in the pipeline's results."""

    ac: AcRecord
    phone: str
    sid: str
    kind: str
    received_at: float
    result: int


class AccountingProcessor:
    """Turns accounting records into log entries, session state, usage and enforcement."""

    def __init__(
        self,
        redis: Any,
        enforcer: Enforcer | None = None,
        clock: Callable[[], float] = time.time,
        *,
        settings: QuotaSettings | None = None,
        grace: float = 60.0,
        plans: PlanStore | None = None,
        enforce_async: bool = True,
        venues: VenueResolver | None = None,
    ) -> None:
        self.redis = redis
        self.enforcer = enforcer
        self.clock = clock
        self.settings = settings or QuotaSettings()
        self.grace = grace
        self.plans = plans or PlanStore(redis, default_plan=self.settings.default_plan,
                                        cache_ttl=self.settings.plan_cache_ttl)
        self.registry = SessionRegistry(redis, grace=grace,
                                        tombstone_ttl=self.settings.tombstone_ttl)
        self.usage = UsageBook(redis, self.settings.timezone)
        # Where a session starts: SSID and venue go into its record and the per-venue index.
        self.venues = venues or VenueResolver(VenueStore(redis, cache_ttl=self.settings.plan_cache_ttl))
        self._acct = redis.register_script(_ACCT_LUA)
        self._close = redis.register_script(CLOSE_SESSION_LUA)
        self.enforce_async = enforce_async
        self._pool: concurrent.futures.ThreadPoolExecutor | None = None
        self._futures: list[concurrent.futures.Future[Any]] = []
        self._lock = threading.Lock()
        self._kicked: dict[str, float] = {}

    # --- the server's AcctHandler protocol ----------------------------------------------------

    def handle_acct(self, req: Any, ac: AcRecord, secret: bytes, now: float) -> None:
        """``radius.server.AcctHandler``: a verified request → ``process``."""
        self.process(ac, AcctRecord.from_packet(req), now)

    def handle_acct_batch(self, items: list[tuple[Any, AcRecord, bytes]],
                          now: float) -> list[BaseException | None]:
        """``radius.server.BatchAcctHandler``: the session records (Start/Interim/Stop) of a
        drained batch go out as ONE pipeline, in arrival order; Accounting-On/Off and records
        without a session run one by one at their place in the order. Returns only when all of
        it is stored; Redis errors propagate (nothing of the batch is acknowledged)."""
        out: list[BaseException | None] = [None] * len(items)
        pipe: Any = None
        queued: list[_Queued] = []
        for i, (req, ac, _secret) in enumerate(items):
            try:
                record = AcctRecord.from_packet(req)
                if record.status in _KIND and record.session_id:
                    if pipe is None:
                        pipe = self.redis.pipeline(transaction=False)
                    queued.append(self._queue_session(pipe, ac, record, now))
                    continue
                if pipe is not None:   # what was queued before this record goes first
                    self._finish_sessions(pipe.execute(), queued)
                    pipe, queued = None, []
                self.process(ac, record, now)
            except _STATE_ERRORS:
                raise
            except Exception as exc:
                out[i] = exc
        if pipe is not None:
            self._finish_sessions(pipe.execute(), queued)
            self._wait_replicas()
        return out

    # --- processing ---------------------------------------------------------------------------

    def process(self, ac: AcRecord, record: AcctRecord, received_at: float) -> None:
        """Store one record durably and apply it. Raises on Redis failure (do not answer)."""
        status = record.status
        if status in (AcctStatus.ACCOUNTING_ON, AcctStatus.ACCOUNTING_OFF):
            self.redis.xadd(keys.acct_log(), _log_fields("acct", ac.name, received_at, record))
            self.close_ac(ac, record.event_time(received_at), received_at,
                          "nas-on" if status == AcctStatus.ACCOUNTING_ON else "nas-off")
        elif status in _KIND and record.session_id:
            self._session_record(ac, record, received_at)
        else:
            # Unknown status or no Acct-Session-Id: keep it in the log (it was sent and we
            # acknowledge it), but it cannot touch session state.
            self.redis.xadd(keys.acct_log(), _log_fields("other", ac.name, received_at, record))
        self._wait_replicas()

    def _phone_for(self, ac: AcRecord, record: AcctRecord) -> tuple[str, str]:
        """(phone, plan from Class or ""): Class we issued, else the per-AC index, else
        User-Name."""
        info = parse_class(record.class_)
        if info is not None:
            return info.phone, info.plan
        assert record.session_id is not None
        phone = self.registry.locate(ac.name, record.session_id)
        if phone is not None:
            return phone, ""
        return (record.user_name or "unknown").strip() or "unknown", ""

    def _session_record(self, ac: AcRecord, record: AcctRecord, received_at: float) -> None:
        pipe = self.redis.pipeline(transaction=False)
        queued = self._queue_session(pipe, ac, record, received_at)
        self._finish_sessions(pipe.execute(), [queued])

    def _queue_session(self, pipe: Any, ac: AcRecord, record: AcctRecord,
                       received_at: float) -> _Queued:
        """Queue one session record's writes on ``pipe``; _finish_sessions reads the outcome."""
        assert record.status is not None and record.session_id is not None
        kind = _KIND[AcctStatus(record.status)]
        phone, plan_name = self._phone_for(ac, record)
        sid = record.session_id
        plan = self.plans.plan_named(plan_name) if plan_name else None
        interim = (plan.interim_interval if plan and plan.interim_interval
                   else self.settings.default_interim)
        session_time = record.session_time or 0
        started = int(record.event_time(received_at) - session_time)
        pipe.xadd(keys.acct_log(), _log_fields("acct", ac.name, received_at, record, phone))
        mac = normalise_mac_or_none(record.calling_station_id)
        if kind == "stop":
            # Real-name logout record (portal/reallog.py) in the same round trip, before we answer.
            pipe.xadd(keys.real_name_log(), logout_fields(
                phone=phone, ac=ac.name, session_id=sid, start=started,
                stop=record.event_time(received_at), session_time=session_time,
                bytes_in=record.input_total, bytes_out=record.output_total,
                cause=stop_cause(record.terminate_cause), mac=mac, ip=record.framed_ip,
                plan=plan_name))
            self.registry.unindex_in(pipe, phone, ac.name, sid)   # venue, plan: _finish_sessions
        else:
            self.registry.index_in(pipe, phone, ac.name, sid, received_at + 2 * interim + self.grace)
        ap_mac, ssid = split_called_station_id(record.called_station_id)
        venue = self.venues.venue_id(ac.name, ssid, ap_mac)
        queue_script(
            pipe, self._acct,
            [keys.phone_sessions(phone), keys.usage(phone),
             keys.session_tombstone(phone, ac.name, sid)],
            [
                f"{ac.name}|{sid}", kind, int(received_at), self.usage.today(received_at),
                session_time, record.input_total, record.output_total,
                int(record.input_gigawords is not None), int(record.output_gigawords is not None),
                mac or "", record.framed_ip or "",
                interim, plan_name, record.user_name if record.user_name != phone else "",
                self.settings.tombstone_ttl, started, ssid or "", venue,
            ],
        )
        return _Queued(ac, phone, sid, kind, received_at, len(pipe) - 1)

    def _finish_sessions(self, results: list[Any], queued: list[_Queued]) -> None:
        """After the pipeline ran: the per-venue and per-plan indexes of sessions opened or
        closed (the record names both), then the quota check of each Interim-Update (maybe a
        disconnect)."""
        venue_pipe: Any = None
        checks: list[tuple[_Queued, OnlineSession, Any]] = []
        for q in queued:
            verdict_raw, rec_raw, usage_raw = results[q.result]
            verdict = verdict_raw.decode()
            if rec_raw is None or verdict == "dup":
                continue
            session = decode_record(q.phone, f"{q.ac.name}|{q.sid}", rec_raw)
            if session is None:
                continue
            if verdict in ("new", "closed"):
                if venue_pipe is None:
                    venue_pipe = self.redis.pipeline(transaction=False)
                if verdict == "new":
                    self.registry.side_index_in(venue_pipe, session)
                else:
                    self.registry.side_unindex_in(venue_pipe, session)
            if q.kind == "interim" and self.enforcer is not None:
                checks.append((q, session, usage_raw))
        if venue_pipe is not None:
            venue_pipe.execute()
        for q, session, usage_raw in checks:
            self._check_quota(q.ac, session, usage_raw, q.received_at)

    def _check_quota(self, ac: AcRecord, session: OnlineSession, usage_raw: list[Any],
                     now: float) -> None:
        """Interim-Update: if a quota ran out mid-session, disconnect (within one interval)."""
        plan = self.plans.plan_named(session.plan) if session.plan else None
        if plan is None:
            return
        names = (b"d", b"dt", b"dv", b"tt", b"tv", b"f")
        usage = self.usage.from_raw(
            {k: v for k, v in zip(names, usage_raw, strict=True) if v is not None}, now
        )
        reason = check_quota(plan, usage, now)
        if reason is None:
            return
        with self._lock:
            last = self._kicked.get(session.field)
            if last is not None and now - last < session.interim / 2:
                return  # a retransmitted Interim must not fire a second DM right away
            self._kicked[session.field] = now
            if len(self._kicked) > 10000:
                self._kicked.clear()
        log.info("quota %s exhausted for %s on %s; disconnecting", reason, session.phone, ac.name)
        self._enforce(ac, session, reason)

    def _enforce(self, ac: AcRecord, session: OnlineSession, reason: str) -> None:
        assert self.enforcer is not None
        enforcer = self.enforcer
        if not self.enforce_async:
            enforcer.disconnect(session, reason, ac=ac)
            return
        with self._lock:
            if self._pool is None:
                self._pool = concurrent.futures.ThreadPoolExecutor(4, "acct-enforce")
            self._futures = [f for f in self._futures if not f.done()]
            self._futures.append(self._pool.submit(enforcer.disconnect, session, reason, ac=ac))

    def drain(self, timeout: float = 30.0) -> None:
        """Wait for queued disconnects (tests, shutdown)."""
        with self._lock:
            futures = list(self._futures)
        concurrent.futures.wait(futures, timeout=timeout)

    def close(self) -> None:
        if self._pool is not None:
            self._pool.shutdown(wait=True)

    # --- Accounting-On / Off ------------------------------------------------------------------

    def close_ac(self, ac: AcRecord, before: float, at: float, how: str) -> int:
        """Close every session of ``ac`` that started no later than ``before`` (the NAS
        rebooted: its sessions are gone). A late retransmitted Accounting-On must not close
        sessions that started after the reboot, hence ``before``. Returns the number closed."""
        closed = 0
        sessions = [s for s in self.registry.by_ac(ac.name) if s.started <= before]
        for start in range(0, len(sessions), 200):
            chunk = sessions[start:start + 200]
            pipe = self.redis.pipeline(transaction=False)
            for s in chunk:
                queue_script(
                    pipe, self._close,
                    [keys.phone_sessions(s.phone), keys.session_tombstone(s.phone, s.ac, s.session_id)],
                    [s.field, self.settings.tombstone_ttl, 0, self.grace],
                )
            results = pipe.execute()
            pipe = self.redis.pipeline(transaction=False)
            for s, res in zip(chunk, results, strict=True):
                self.registry.unindex_in(pipe, s.phone, s.ac, s.session_id, s.venue, s.plan)
                if res:
                    closed += 1
                    log_close(pipe, how, s, at)
                    pipe.xadd(keys.real_name_log(), session_logout_fields(s, s.updated, how))
            pipe.execute()
        return closed

    def _wait_replicas(self) -> None:
        n = self.settings.acct_wait_replicas
        if n <= 0:
            return
        acked = int(self.redis.execute_command("WAIT", n, self.settings.acct_wait_timeout_ms))
        if acked < n:
            log.warning("accounting write reached %d of %d replicas in time", acked, n)
