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
the final counters so a late/replayed Stop or Interim books nothing either. A Stop's entry in
the accounting log follows the script's answer (written with its real-name logout, in the same
round trip, before the answer), so a retransmitted Stop leaves no second entry. Those streams are
in other hash slots (Redis Cluster) than the session, so the script that closes it leaves a
marker (``keys_outbox.session_logout_pending``) deleted only once both entries are stored: if
Redis fails in between, nothing is answered, and the AC's retransmitted Stop finds the marker and
writes the missing entries (radius/acct_script.py).

Trust (an AC's word is checked before it is booked):

* whose session: a record is booked to the phone named by a Class we signed for THE AC that
  sends it (``portal.aaa.grants.ClassSigner``), or to the phone this AC's own session index names;
  one login (signed Class) backs one session, checked in the script against the login's owner
  (``keys.login_claim``). Nothing else is booked unless ``quota.acct_trust_user_name``;
* plausibility: ``radius/acct_checks.py`` (values that cannot be true);
* all or nothing: the script (``radius/acct_script.py``) checks everything before it writes, and
  a record the script fails on fails alone: the rest of the batch is stored and answered.

A refused record is kept in the log (``k=rejected``, ``why``), counted per AC (``/metrics``
``citywifi_radius_accounting_refused_total`` and the AC's ``keys.ac_stats`` for the NOC) and
answered: retransmitting it would not make it true.
"""

from __future__ import annotations

import concurrent.futures
import logging
import threading
import time
from collections.abc import Callable
from typing import TYPE_CHECKING, Any, NamedTuple

from portal.aaa.device_slots import RELEASE_LUA, release_args
from portal.aaa.grants import ClassSigner, is_signed_class, parse_class
from portal.aaa.ntf_replay import CONFIRM_LUA, confirm_in
from portal.aaa.plans import PlanStore
from portal.aaa.sessions import (
    CLOSE_SESSION_LUA,
    OnlineSession,
    SessionRegistry,
    decode_record,
)
from portal.aaa.usage import UsageBook
from portal.legal.reallog import logout_fields, stop_cause
from portal.runtime.settings import QuotaSettings
from portal.state import STATE_ERRORS, keys, keys_outbox
from portal.state.scripts import queue_script
from portal.venues.venue_store import VenueResolver, VenueStore
from radius.acct_checks import BURST_SECONDS, Limits, check_record
from radius.acct_enforce import QuotaChecks
from radius.acct_log import clear_pending, close_ac_sessions, log_close
from radius.acct_log import log_fields as _log_fields
from radius.acct_record import AcctRecord, AcctStatus, called_station_of, mac_of, nas_ids_of
from radius.acct_script import acct_lua
from radius.acct_wire import AcctWire, script_call
from radius.errors import InProgress, RadiusError
from radius.metrics import Metrics
from radius.resp import RespClient, RespPipeline

if TYPE_CHECKING:
    from portal.aaa.acs import AcRecord
    from radius.enforcement import Enforcer

__all__ = ["AccountingProcessor", "AccountingScriptError", "AcctRecord", "AcctStatus", "StopInProgress",
           "log_close"]

log = logging.getLogger(__name__)


_KIND: dict[int, str] = {AcctStatus.START: "start", AcctStatus.INTERIM_UPDATE: "interim",
                         AcctStatus.STOP: "stop"}


class StopInProgress(InProgress):
    """Another copy of this Stop is writing the session's log records right now: this copy is not
    answered (the AC retransmits it; by then the records are stored and it is a plain repeat)."""


class AccountingScriptError(RadiusError):
    """The accounting script failed on one record (a bug, not an outage): that record alone is
    not answered; the rest of its batch is."""

    code = "accounting_script_error"


class _Binding(NamedTuple):
    """Whose session a record is: the phone, the plan and login of a verified signed Class.
    (This and _Queued are named tuples, not frozen dataclasses: built per record, and a frozen
    dataclass sets each field through object.__setattr__.)"""

    phone: str
    plan: str = ""
    login: str = ""
    issued: int | None = None


class _Queued(NamedTuple):
    """A session record whose writes are queued on a pipeline; ``result`` indexes its script's
    reply in the pipeline's results, ``place`` its place in the batch."""

    ac: AcRecord
    record: AcctRecord
    phone: str
    plan: str
    kind: str
    received_at: float
    started: int
    result: int
    place: int

    @property
    def sid(self) -> str:
        assert self.record.session_id is not None
        return self.record.session_id


class AccountingProcessor(QuotaChecks):
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
        class_signer: ClassSigner | None = None,
        metrics: Metrics | None = None,
        fast: RespClient | None = None,
    ) -> None:
        self.redis = redis
        self.enforcer = enforcer
        self.clock = clock
        self.settings = settings or QuotaSettings()
        self.limits = Limits.from_settings(self.settings)
        self._line_rate = int(self.limits.bytes_per_second(None))
        # Verifies the signed Class (the key the RADIUS server signs Access-Accepts with); without
        # one no Class is trusted and only sessions this AC already has are accepted.
        self.class_signer = class_signer
        self.metrics = metrics or Metrics()
        self.grace = grace
        self.plans = plans or PlanStore(redis, default_plan=self.settings.default_plan,
                                        cache_ttl=self.settings.plan_cache_ttl)
        self.registry = SessionRegistry(redis, grace=grace,
                                        tombstone_ttl=self.settings.tombstone_ttl)
        self.usage = UsageBook(redis, self.settings.timezone)
        # Where a session starts: SSID and venue go into its record and the per-venue index.
        self.venues = venues or VenueResolver(VenueStore(redis, cache_ttl=self.settings.plan_cache_ttl))
        # The accounting script with these settings written into it (radius/acct_script.py).
        self._acct_lua = acct_lua(self.settings.tombstone_ttl, self.limits.clock_skew,
                                  self._line_rate, BURST_SECONDS)
        self._acct = redis.register_script(self._acct_lua)
        self._close = redis.register_script(CLOSE_SESSION_LUA)
        self._release = redis.register_script(RELEASE_LUA)
        # The batch pipelines go through a RespClient when one is given (radius.resp.RespPipeline:
        # no redis-py encoding, no SCRIPT EXISTS per batch). Not with acct_wait_replicas: WAIT
        # counts the writes of its own connection, which is redis-py's.
        self.fast = fast if self.settings.acct_wait_replicas <= 0 else None
        self._wire = AcctWire(self._acct.sha.encode())
        if self.fast is not None:
            self.fast.script(self._acct_lua)
            self.fast.script(RELEASE_LUA)
            self.fast.script(CONFIRM_LUA)     # queued on the follow-up pipeline by confirm_in
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
        it is stored; Redis errors propagate (nothing of the batch is acknowledged). A record the
        accounting script fails on is reported in its own slot: its neighbours are answered."""
        out: list[BaseException | None] = [None] * len(items)
        pipe: Any = None
        queued: list[_Queued] = []
        for i, (req, ac, _secret) in enumerate(items):
            try:
                record = AcctRecord.from_packet(req)
                if record.status in _KIND and record.session_id:
                    if pipe is None:
                        pipe = self._pipeline()
                    q = self._queue_session(pipe, ac, record, now, i)
                    if q is not None:
                        queued.append(q)
                    continue
                if pipe is not None:   # what was queued before this record goes first
                    self._run(pipe, queued, out)
                    pipe, queued = None, []
                self.process(ac, record, now)
            except STATE_ERRORS:
                raise
            except Exception as exc:
                out[i] = exc
        if pipe is not None:
            self._run(pipe, queued, out)
            self._wait_replicas()
        return out

    # --- processing ---------------------------------------------------------------------------

    def _pipeline(self) -> Any:
        if self.fast is not None:
            return RespPipeline(self.fast)
        return self.redis.pipeline(transaction=False)

    def process(self, ac: AcRecord, record: AcctRecord, received_at: float) -> None:
        """Store one record durably and apply it. Raises on Redis failure (do not answer)."""
        status = record.status
        if status in (AcctStatus.ACCOUNTING_ON, AcctStatus.ACCOUNTING_OFF):
            self.redis.xadd(keys.acct_log(), _log_fields("acct", ac.name, received_at, record))
            self.close_ac(ac, record.event_time(received_at), received_at,
                          "nas-on" if status == AcctStatus.ACCOUNTING_ON else "nas-off")
        elif status in _KIND and record.session_id:
            pipe = self._pipeline()
            q = self._queue_session(pipe, ac, record, received_at, 0)
            out: list[BaseException | None] = [None]
            self._run(pipe, [q] if q is not None else [], out)
            if out[0] is not None:
                raise out[0]
        else:
            # Unknown status or no Acct-Session-Id: keep it in the log (it was sent and we
            # acknowledge it), but it cannot touch session state.
            self.redis.xadd(keys.acct_log(), _log_fields("other", ac.name, received_at, record))
        self._wait_replicas()

    def _bind(self, ac: AcRecord, record: AcctRecord) -> _Binding | str:
        """Whose session this is, or why the record cannot be booked to anyone.

        A signed Class that verifies for THIS AC names the phone, plan and login. Otherwise the
        session must already be known on this AC (per-AC index: its Start carried a valid Class,
        or the Class key changed since); a Class that claims to be ours but does not verify, or
        names another phone than the index, is refused. A session nobody vouches for is filed
        under its User-Name only with ``quota.acct_trust_user_name`` (any registered AC could
        then charge any number)."""
        assert record.session_id is not None
        value = record.class_
        if self.class_signer is not None:
            info = self.class_signer.verify(value, ac.name)
            if info is not None:
                return _Binding(info.phone, info.plan, info.login, info.issued)
        located = self.registry.locate(ac.name, record.session_id)
        claimed = parse_class(value) if is_signed_class(value) else None
        if located is not None:
            if claimed is not None and claimed.phone != located:
                return "class_invalid"
            return _Binding(located)
        if claimed is not None:
            return "class_invalid"
        if not self.settings.acct_trust_user_name:
            return "unbound"
        legacy = parse_class(value)     # an unsigned Class of older releases, trusted like User-Name
        if legacy is not None:
            return _Binding(legacy.phone, legacy.plan)
        return _Binding((record.user_name or "unknown").strip() or "unknown")

    def _refuse(self, pipe: Any, ac: AcRecord, record: AcctRecord, received_at: float,
                phone: str | None, reason: str) -> None:
        """Queue what a refused record leaves: its raw fields in the log (``k=rejected``) and a
        per-AC count for the NOC (``keys.ac_stats``); bump the worker's metrics."""
        pipe.xadd(keys.acct_log(), _log_fields("rejected", ac.name, received_at, record, phone,
                                               {"why": reason}))
        stats = keys.ac_stats(ac.name)
        pipe.hincrby(stats, f"acct_rejected:{reason}", 1)
        pipe.hset(stats, mapping={"acct_last_rejected": reason,
                                  "acct_last_rejected_at": f"{received_at:.3f}"})
        counter = f"acct_rejected.{reason}.{ac.name}"
        self.metrics.inc(counter)
        n = self.metrics.get(counter)
        if n & (n - 1) == 0:    # the 1st, 2nd, 4th, 8th …: an AC sending garbage cannot flood the log
            log.warning("accounting record from %s refused (%s): session %r phone %s [%d so far in "
                        "this worker]", ac.name, reason, record.session_id, phone or "-", n)

    def _queue_session(self, pipe: Any, ac: AcRecord, record: AcctRecord, received_at: float,
                       index: int) -> _Queued | None:
        """Queue one session record's writes on ``pipe`` (_finish_sessions reads the outcome);
        None when it was refused before the script (its refusal is queued instead)."""
        assert record.status is not None and record.session_id is not None
        kind = _KIND[record.status]   # an int finds its IntEnum key (no AcctStatus() call)
        bound = self._bind(ac, record)
        if isinstance(bound, str):
            self._refuse(pipe, ac, record, received_at, None, bound)
            return None
        phone, plan_name, sid = bound.phone, bound.plan, record.session_id
        reason = check_record(record, received_at, self.limits, bound.issued)
        if reason is not None:
            self._refuse(pipe, ac, record, received_at, phone, reason)
            return None
        plan = self.plans.plan_named(plan_name) if plan_name else None
        interim = (plan.interim_interval if plan and plan.interim_interval
                   else self.settings.default_interim)
        session_time = record.session_time or 0
        event_time = record.event_time(received_at)
        started = int(event_time - session_time)
        wire = self._wire if type(pipe) is RespPipeline else None
        if kind != "stop" and wire is not None:   # a Stop is logged by the script's answer
            pipe.queue(wire.log_entry(ac.name, received_at, record, phone))
        elif kind != "stop":
            pipe.xadd(keys.acct_log(), _log_fields("acct", ac.name, received_at, record, phone))
        mac = mac_of(record.calling_station_id)
        ap_mac, ssid = called_station_of(record.called_station_id)
        rate_in, rate_out = self.limits.plan_rates(plan)
        session = (ac.name, sid, phone, bound.login, kind, mac or "", record.framed_ip or "",
                   interim, plan_name, (record.user_name or "") if record.user_name != phone else "",
                   ssid or "", self.venues.venue_id(ac.name, ssid, ap_mac), int(rate_in),
                   int(rate_out),
                   nas_ids_of(record.calling_station_id, record.nas_ip, record.nas_identifier, mac))
        variable = (int(received_at), self.usage.today(received_at), session_time,
                    record.input_total, record.output_total, int(record.input_gigawords is not None),
                    int(record.output_gigawords is not None), started, int(event_time))
        # A Stop's index writes follow the script. The deadline is the record's own ('u' is the
        # whole second): a whole number stays an integer in a small zset's listpack, where a
        # fraction was re-parsed by every ZADD's scan (docs/benchmarks.md).
        deadline = int(received_at) + 2 * interim + self.grace
        if kind != "stop" and wire is not None:
            pipe.queue(*wire.index(ac.name, sid, phone, deadline))
        elif kind != "stop":
            self.registry.index_in(pipe, phone, ac.name, sid, deadline)
        if wire is not None:   # the session's repeating arguments encoded once (radius/acct_wire.py)
            pipe.queue(wire.script(session, variable))
        else:
            queue_script(pipe, self._acct, *script_call(session, variable))
        result = len(pipe) - 1
        self._release_slot(pipe, phone, mac, bound.login, f"{ac.name}|{sid}", kind)
        return _Queued(ac, record, phone, plan_name, kind, received_at, started, result, index)

    def _release_slot(self, pipe: Any, phone: str, mac: str | None, login: str, field: str,
                      kind: str) -> None:
        """The device slot its Access-Accept reserved (portal/aaa/device_slots.py) ends when the
        Start's session takes it over, or at a Stop of the same login. A separate script right
        after the accounting script in the same pipeline: it frees the slot only if that script
        stored the session, and leaves the accounting script's KEYS/ARGV alone."""
        if kind == "interim":
            return   # a live session already counts instead of its device's reservation
        release = release_args(phone, mac, login, field, kind)
        if release is not None:
            queue_script(pipe, self._release, *release)

    def _run(self, pipe: Any, queued: list[_Queued], out: list[BaseException | None]) -> None:
        """Execute ``pipe`` and finish its records. A command that failed for one record (an
        error reply, not a dead connection: that raises) fails that record alone."""
        results = pipe.execute(raise_on_error=False)
        self._finish_sessions(results, queued, out)

    def _finish_sessions(self, results: list[Any], queued: list[_Queued],
                         out: list[BaseException | None]) -> None:
        """After the pipeline ran: a closed session's logout record and index removal, the venue,
        SSID, MAC and IP index entries of sessions opened, closed or given a new IP (the record
        names them), refusals found by the script, then the quota check of each Interim-Update
        (maybe a disconnect)."""
        follow: Any = None

        def later() -> Any:
            nonlocal follow
            if follow is None:
                follow = self._pipeline()
            return follow

        checks: list[tuple[_Queued, OnlineSession | None, Any]] = []
        logged: list[str] = []    # logout-pending markers to clear once the records are stored
        for q in queued:
            reply = results[q.result]
            failed = isinstance(reply, Exception)
            if q.kind == "stop" and not failed and reply[0] == b"busy":
                out[q.place] = StopInProgress(f"{q.ac.name}|{q.sid}")
                continue
            if q.kind == "stop" and (failed or reply[0] == b"closed"):
                # Logged by the script's answer: an AC retransmits a Stop with a new Acct-Delay-Time
                # (new Identifier, unknown to the packet cache); 'dup' — already stopped — is not.
                entry = _log_fields("acct", q.ac.name, q.received_at, q.record, q.phone)
                later().xadd(keys.acct_log(), entry)
            if failed:
                log.error("accounting script failed on %s|%s: %s", q.ac.name, q.sid, reply)
                out[q.place] = AccountingScriptError(f"{q.ac.name}|{q.sid}: {reply}")
                continue
            verdict = reply[0].decode()
            if verdict == "refused":
                self._refuse(later(), q.ac, q.record, q.received_at, q.phone, reply[3].decode())
                continue
            if verdict == "dup" and not (q.kind == "start" and reply[1]):
                continue
            if verdict == "updated" and len(reply) > 5 and isinstance(reply[5], bytes):
                # The usual Interim-Update: its record (JSON → OnlineSession, a tenth of the
                # worker's work per update) is decoded only if its IP moved or a quota ran out.
                prev = reply[4].decode()
                moved = (q.record.framed_ip or prev) != prev
                session = decode_record(q.phone, f"{q.ac.name}|{q.sid}", reply[1]) if moved else None
                if moved and session is None:
                    continue
                if session is not None:
                    self.registry.index.moved_ip_in(later(), session, prev)   # new IP
                if q.kind == "interim" and self.enforcer is not None:
                    checks.append((q, session, reply))
                continue
            session = decode_record(q.phone, f"{q.ac.name}|{q.sid}", reply[1])
            if session is None:
                continue
            if verdict == "dup":
                # A retransmitted Start: its first copy's index writes may have been lost with
                # the connection (the AC retransmits because it got no answer). Idempotent.
                self.registry.attributes_index_in(later(), session)
            elif verdict == "closed":
                record = q.record
                # Real-name logout record (portal/legal/reallog.py), before we answer.
                later().xadd(keys.real_name_log(), logout_fields(
                    phone=q.phone, ac=q.ac.name, session_id=q.sid, start=q.started,
                    stop=record.event_time(q.received_at), session_time=record.session_time or 0,
                    bytes_in=record.input_total, bytes_out=record.output_total,
                    cause=stop_cause(record.terminate_cause),
                    mac=mac_of(record.calling_station_id), ip=record.framed_ip,
                    plan=q.plan, venue=session.venue, ssid=session.ssid))
                self.registry.unindex_in(follow, q.phone, q.ac.name, q.sid, session)
                confirm_in(self.redis, follow, q.ac.name, session.ip or record.framed_ip)
                logged.append(keys_outbox.session_logout_pending(q.phone, q.ac.name, q.sid))
            elif verdict == "new":
                self.registry.attributes_index_in(later(), session)
            elif len(reply) > 4 and reply[4] is not None and reply[4].decode() != (session.ip or ""):
                self.registry.index.moved_ip_in(later(), session, reply[4].decode())   # new IP
            if q.kind == "interim" and verdict != "dup" and self.enforcer is not None:
                checks.append((q, session, reply))
        if follow is not None and len(follow):
            follow.execute()
        if logged:
            clear_pending(self._pipeline(), logged)
        for q, session, reply in checks:
            self._check_quota(q.ac, q.phone, f"{q.ac.name}|{q.sid}", session, reply, q.received_at)

    # --- Accounting-On / Off ------------------------------------------------------------------

    def close_ac(self, ac: AcRecord, before: float, at: float, how: str) -> int:
        """Close every session of ``ac`` that started no later than ``before`` (the NAS
        rebooted): ``radius.acct_log.close_ac_sessions``. Returns the number closed."""
        return close_ac_sessions(self.redis, self.registry, self._close, ac.name, before, at, how,
                                 self.settings.tombstone_ttl, self.grace)

    def _wait_replicas(self) -> None:
        n = self.settings.acct_wait_replicas
        if n <= 0:
            return
        acked = int(self.redis.execute_command("WAIT", n, self.settings.acct_wait_timeout_ms))
        if acked < n:
            log.warning("accounting write reached %d of %d replicas in time", acked, n)
