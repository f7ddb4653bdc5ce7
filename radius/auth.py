"""The Access-Request policy: credential → the decision (``portal.decision``) → dialect.

Plugs into ``radius.server.RadiusServer`` as its auth handler. Each step either passes or ends in
an Access-Reject whose Reply-Message (Chinese / English) the portal can show, and whose reason
the server counts (``reject.<reason>``). Redis errors propagate: the server stays silent.

With a ``RespClient`` (plain redis:// or unix:// URL) the server hands over every Access-Request
it drained from its socket in one pass, and the whole batch costs ONE Redis round trip: one
pre-encoded pipeline of plain reads (``radius.batch_reads``: credentials, blocklists, plan
override, usage) whose replies hiredis parses in C. A PAP password that names a live login
token, or a CHAP response that matches one, is then consumed atomically by
``portal.credentials.CONSUME_LUA`` (+1 trip for those requests only; MAC authentication takes two
trips per request), which also reserves the device slot of a plan with ``max_sessions``
(``portal.device_slots``). An Accept that spent no token (a bound device's credential) reserves
its slot with ``RESERVE_LUA`` in one more pipelined trip, only when its plan has a device limit.
Every path ends in the one decision, ``portal.decision.decide``, over the replies it fetched.
Without a ``RespClient`` (Sentinel, Cluster: a batch touches keys of many slots) the same steps
run through redis-py: the credential check, then the blocklist and policy reads in one pipeline
(``portal.grants.Authorizer.decide``), then the device slot.
"""

from __future__ import annotations

import logging
import random
import time
from collections.abc import Callable
from typing import Any
from zoneinfo import ZoneInfo

from portal.acs import AcRecord
from portal.blocklist import blocks, normalise_mac
from portal.credentials import (
    CONSUME_LUA,
    CheckPlan,
    CredentialError,
    CredentialStore,
    DevicesFull,
    Identity,
    InvalidCredential,
    ReusedCredential,
    consume_keys_args,
)
from portal.decision import AuthReads, Refusal, decide, screen, starts_validity
from portal.device_slots import RESERVE_LUA, slot_field
from portal.errors import ValidationError
from portal.grants import Authorizer, QuotaRefusal
from portal.plans import Plan
from portal.state import STATE_ERRORS, keys
from portal.usage import Usage, day_of, next_midnight, parse_usage
from radius import wire
from radius.auth_replies import REJECT_MESSAGES, refusal_reply, reply_message_attrs, too_many_devices
from radius.batch_reads import READS_PER_REQUEST, BatchReads, flat_pairs
from radius.called_station import is_mac, parse_ssid
from radius.dialects import render
from radius.errors import MalformedPacket
from radius.resp import RespClient, bulk
from radius.server import AuthReply
from radius.token_grants import TokenReplay, fetch_command
from radius.user_name import phone_of_user_name
from radius.wire import Attr, Code

__all__ = ["REJECT_MESSAGES", "AuthPolicy", "parse_ssid", "reply_message_attrs"]

log = logging.getLogger(__name__)

_CACHE_MAX = 50_000   # entries per pure-function memo below (cleared when full)


def _memo(cache: dict[Any, Any], fn: Callable[[Any], Any], arg: Any) -> Any:
    try:
        return cache[arg]
    except KeyError:
        pass
    if len(cache) >= _CACHE_MAX:
        cache.clear()
    value = cache[arg] = fn(arg)
    return value


def _mac_or_none(value: str | None) -> str | None:
    if not value:
        return None
    try:
        return normalise_mac(value)
    except ValidationError:
        return None


def _phone_strip(username: str) -> str | None:
    return phone_of_user_name(username, strip_realm=True)


def _phone_keep(username: str) -> str | None:
    return phone_of_user_name(username, strip_realm=False)


def _without_realm(username: str, ac: AcRecord) -> str:
    return username.partition("@")[0] if ac.strip_realm and "@" in username else username


class _Job:
    """One PAP/CHAP Access-Request of a batch, between the batch's reads and the decision."""

    __slots__ = ("ac", "index", "plan", "ssid")

    def __init__(self, index: int, ac: AcRecord, plan: CheckPlan, ssid: str | None) -> None:
        self.index = index
        self.ac = ac
        self.plan = plan
        self.ssid = ssid


class AuthPolicy:
    """Decides Access-Requests. Build one per worker process (it holds caches)."""

    def __init__(
        self,
        redis: Any,
        authorizer: Authorizer,
        *,
        credentials: CredentialStore | None = None,
        mac_auth_check_password: bool = False,
        venue_of: Callable[[str, str | None], str | None] | None = None,
        fast: RespClient | None = None,
        tz: ZoneInfo | None = None,
        clock: Callable[[], float] = time.time,
        token_replay_window: float = 60.0,
    ) -> None:
        self.redis = redis
        # A token's first Accept is repeated for a while to its AC and device.
        self.replay = TokenReplay(token_replay_window)
        self.metrics: Any = None   # the server's counters (token_replay), set by build_server
        self.authorizer = authorizer
        self.credentials = credentials or CredentialStore(redis, clock=clock)
        self.mac_auth_check_password = mac_auth_check_password
        # (AC name, SSID) → venue id, so a venue's own plan rule applies (portal.venues).
        self.venue_of = venue_of
        # One-round-trip path (see module docstring); None = redis-py, one pipeline per step.
        self.fast = fast
        self._consume_sha = fast.script(CONSUME_LUA) if fast is not None else b""
        self._reserve_sha = fast.script(RESERVE_LUA) if fast is not None else b""
        self._reads = BatchReads()
        settings = authorizer.settings   # RESERVE_LUA's hold and grace, encoded once
        self._reserve_tail = bulk((f"{settings.slot_hold:.3f}", f"{authorizer.reaper_grace:.3f}"))
        self.tz = tz or ZoneInfo(authorizer.settings.timezone)
        # Memos of pure functions of request text (bounded, see _memo) and of per-phone keys.
        self._macs: dict[str, str | None] = {}
        # User-Name → phone, one memo per realm rule (a str key is cheaper than a tuple here)
        self._phones: tuple[dict[str, str | None], dict[str, str | None]] = ({}, {})
        self._ssids: dict[str | None, str | None] = {}
        self._day: tuple[float, float, str, bytes] = (0.0, 0.0, "", b"")   # [from, to) → local day
        self._resolved: dict[tuple[str | None, str, str | None, str | None], Plan | None] = {}
        self._resolved_of: object = None

    # --- the handler -------------------------------------------------------------------------

    def handle_auth(self, req: wire.Request, ac: AcRecord, secret: bytes, now: float) -> AuthReply:
        if self.fast is not None:
            result = self.handle_auth_batch([(req, ac, secret)], now)[0]
            if isinstance(result, BaseException):
                raise result
            return result
        try:
            identity, token = self._identify(req, ac, secret)
        except ReusedCredential as exc:
            return self._replay_one(req, ac, exc, now)
        except CredentialError as exc:
            return self._reject(exc.code)
        except MalformedPacket:
            return self._reject("invalid_credential")
        ssid = parse_ssid(req.text(Attr.CALLED_STATION_ID))
        venue = self.venue_of(ac.name, ssid) if self.venue_of is not None else None
        grant = self.authorizer.decide(identity.phone, identity.mac, ac, ssid, now, venue, blocklist=True)
        if isinstance(grant, Refusal):
            return self._refused(grant)
        try:
            self.authorizer.reserve(identity.phone, identity.mac, grant, now)   # one more trip
        except QuotaRefusal as refusal:
            return refusal_reply(refusal)
        reply = AuthReply(Code.ACCESS_ACCEPT, render(grant, ac.effective_radius_dialect, self.tz))
        store = self.replay.store(identity, token, ac.name, reply, now)
        if store is not None:
            self.replay.run_stores([store], lambda cmds: [self.redis.execute_command(*c) for c in cmds])
        return reply

    def handle_auth_batch(
        self, items: list[tuple[wire.Request, AcRecord, bytes]], now: float
    ) -> list[AuthReply | BaseException]:
        """Decide a batch (``radius.server.BatchAuthHandler``): one pipeline of reads for all
        PAP/CHAP requests (``radius.batch_reads``). Redis errors propagate (the server answers
        none of the batch); any other failure, or an error reply to one request's reads, is
        returned in the request's slot (that request alone is not answered)."""
        if self.fast is None:
            out: list[AuthReply | BaseException] = []
            for req, ac, secret in items:
                try:
                    out.append(self.handle_auth(req, ac, secret, now))
                except STATE_ERRORS:
                    raise
                except Exception as exc:
                    out.append(exc)
            return out
        results: list[AuthReply | BaseException | None] = [None] * len(items)
        jobs: list[_Job] = []
        single: list[int] = []
        for i, (req, ac, secret) in enumerate(items):
            try:
                plan = self._check_plan(req, ac, secret)
                if plan is None:
                    single.append(i)   # MAC authentication: the binding names the phone first
                    continue
                ssid = _memo(self._ssids, parse_ssid, req.text(Attr.CALLED_STATION_ID))
                jobs.append(_Job(i, ac, plan, ssid))
            except CredentialError as exc:
                results[i] = self._reject(exc.code)
            except MalformedPacket:
                results[i] = self._reject("invalid_credential")
            except Exception as exc:
                results[i] = exc
        if jobs:
            self._run_jobs(jobs, results, now)
        for i in single:
            req, ac, secret = items[i]
            try:
                results[i] = self._handle_one(req, ac, secret, now)
            except STATE_ERRORS:
                raise
            except Exception as exc:
                results[i] = exc
        return [r if r is not None else RuntimeError("undecided") for r in results]

    def _phone(self, username: str, ac: AcRecord) -> str:
        """The phone a User-Name names under the AC's rules (radius.user_name), memoised."""
        phone = _memo(self._phones[ac.strip_realm], _phone_strip if ac.strip_realm else _phone_keep,
                      username)
        if phone is None:
            raise InvalidCredential("User-Name is not a phone number")
        return phone

    def _check_plan(self, req: wire.Request, ac: AcRecord, secret: bytes) -> CheckPlan | None:
        """The credential check a request asks for (what CredentialStore.plan_pap/plan_chap
        check, without building per-request commands); None for MAC authentication."""
        username = req.text(Attr.USER_NAME)
        if not username:
            raise CredentialError("no User-Name")
        if ac.mac_auth and _memo(self._macs, _mac_or_none, _without_realm(username, ac)) is not None:
            return None
        password = req.get(Attr.USER_PASSWORD)
        chap = req.get(Attr.CHAP_PASSWORD)
        if password is None and chap is None:
            raise _Unsupported("neither User-Password nor CHAP-Password")
        phone = self._phones[ac.strip_realm].get(username) or self._phone(username, ac)
        mac = _memo(self._macs, _mac_or_none, req.text(Attr.CALLING_STATION_ID))
        if password is not None:
            clear = wire.decrypt_password(password, secret, req.authenticator).decode("utf-8", "replace")
            return CheckPlan(phone, mac, "pap", (), password=clear)
        assert chap is not None
        if len(chap) != 17:
            raise InvalidCredential("CHAP-Password must be 17 octets")
        challenge = req.get(Attr.CHAP_CHALLENGE) or req.authenticator
        return CheckPlan(phone, mac, "chap", (), chap_password=chap, challenge=challenge)

    def _run_jobs(self, jobs: list[_Job], results: list[Any], now: float) -> None:
        assert self.fast is not None
        payload, count = self._reads.payload([
            (job.plan.phone, job.plan.mac, job.plan.password.encode() if job.plan.method == "pap" else None)
            for job in jobs])
        replies = self.fast.send_encoded(payload, count)
        blocked_phones, blocked_macs = replies[0], replies[1]
        for value in (blocked_phones, blocked_macs):
            if isinstance(value, Exception):
                raise value   # the blocklist is unreadable: no answer is better than a wrong one
        # (job, identity, its five reads, (blocked phone entry, blocked MAC entry), the login nonce
        # of the device slot its token's consume step reserved or None)
        decided: list[tuple[_Job, Identity, list[Any], tuple[Any, Any], bytes | None]] = []
        consumes: list[tuple[_Job, tuple[Any, ...], list[Any], tuple[Any, Any]]] = []
        replays: list[tuple[_Job, str, tuple[Any, Any]]] = []   # spent tokens asked for again
        spent_by: list[tuple[_Job, Identity, str]] = []           # tokens this batch spent
        for i, job in enumerate(jobs):
            plan = job.plan
            start = 2 + READS_PER_REQUEST * i
            reads = replies[start : start + READS_PER_REQUEST]
            blocked = (blocked_phones[i], blocked_macs[i])
            try:
                for value in reads:
                    if isinstance(value, Exception):
                        raise value
                binding = flat_pairs(reads[0])
                if plan.method == "pap":
                    if reads[1] is not None:
                        # The password names a live token: spend it (atomic; checks MAC, expiry).
                        consumes.append((job, self.credentials.consume_command(
                            plan.phone, plan.password, plan.mac), reads, blocked))
                        continue
                    status = b"reused" if reads[2] else b"invalid"
                    identity = self.credentials.decide_pap(plan, [binding, [status, b""]])
                else:
                    outcome = self.credentials.decide_chap(plan, [binding, reads[1], reads[2]])
                    if not isinstance(outcome, Identity):
                        consumes.append((job, outcome, reads, blocked))
                        continue
                    identity = outcome
                decided.append((job, identity, reads, blocked, None))
            except ReusedCredential as exc:
                self._reused(job, exc, blocked, replays, results)
            except CredentialError as exc:
                results[job.index] = self._reject(exc.code)
            except Exception as exc:
                results[job.index] = exc
        self._refresh_resolved()
        venues: dict[tuple[str, str | None], str | None] = {}   # this batch's venue lookups
        if consumes:   # tokens to spend, all in one more round trip
            # A token whose Accept takes a device slot reserves it in the same step (atomic on
            # every node: portal/device_slots.py); a full plan leaves the token unspent.
            nonces: list[bytes | None] = []
            commands = []
            for job, command, reads, blocked in consumes:
                slot = self._slot_to_reserve(job, reads, blocked, now, venues)
                nonces.append(None if slot is None else slot[1])
                if slot is not None:
                    login = slot[1].hex()
                    command = self.credentials.with_reservation(
                        command, job.plan.phone, slot[0], slot_field(job.plan.mac, login),
                        self.authorizer.settings.slot_hold, self.authorizer.reaper_grace, login)
                commands.append(command)
            # An error reply stays in its request's slot: the other tokens of the pipeline are
            # spent by then, and their requests must be answered (a retry would say "reused").
            spent = self._run(commands, raise_errors=False)
            for (job, command, reads, blocked), consumed, nonce in zip(consumes, spent, nonces, strict=True):
                if isinstance(consumed, Exception):
                    results[job.index] = consumed
                    continue
                try:
                    if job.plan.method == "pap":   # a failed PAP token may still be the binding's
                        identity = self.credentials.decide_pap(job.plan, [flat_pairs(reads[0]), consumed])
                    else:
                        identity = self.credentials.decide_consume(job.plan, consumed, command[3])
                    reserved = nonce if identity.kind == "token" else None
                    decided.append((job, identity, reads, blocked, reserved))
                    if identity.kind == "token":
                        spent_by.append((job, identity, command[3]))
                except DevicesFull:
                    results[job.index] = too_many_devices()
                except ReusedCredential as exc:   # spent meanwhile (another node, another port)
                    self._reused(job, exc, blocked, replays, results)
                except CredentialError as exc:
                    results[job.index] = self._reject(exc.code)
        if replays:
            self._replay_batch(replays, results, now)
        unreserved: list[tuple[int, bytes]] = []   # Accepts still to reserve a slot for (EVALSHA)
        now_bulk = b""
        for job, identity, reads, blocked, nonce in decided:
            try:
                reply, slot = self._grant_reply(job, identity, reads, blocked, now, venues, nonce)
                results[job.index] = reply
                if slot is not None:
                    if not now_bulk:
                        now_bulk = bulk((f"{now:.3f}",))
                    unreserved.append((job.index, self._reads.reads_of(job.plan.phone, job.plan.mac).reserve(
                        self._reserve_sha, slot[0], now_bulk, self._reserve_tail, slot[1].hex().encode())))
            except STATE_ERRORS:
                raise
            except Exception as exc:
                results[job.index] = exc
        if unreserved:   # a bound device's credential spends no token: one more trip, when needed
            self._reserve_slots(unreserved, results)
        stores = [store for job, identity, token in spent_by
                  if isinstance(reply := results[job.index], AuthReply)
                  and (store := self.replay.store(identity, token, job.ac.name, reply, now))]
        if stores:   # before any of these Accepts is sent (a lost one must be repeatable)
            self.replay.run_stores(stores, lambda cmds: self._run(cmds, raise_errors=False))

    # --- a spent token asked for again (radius.token_grants) ----------------------------------

    def _reused(self, job: _Job, exc: ReusedCredential, blocked: tuple[Any, Any],
                replays: list[tuple[_Job, str, tuple[Any, Any]]], results: list[Any]) -> None:
        if self.replay.window > 0 and exc.token and job.plan.mac:
            replays.append((job, exc.token, blocked))
        else:
            results[job.index] = self._reject(exc.code)

    def _replay_batch(self, replays: list[tuple[_Job, str, tuple[Any, Any]]], results: list[Any],
                      now: float) -> None:
        fetched = self._run([fetch_command(job.plan.phone, token) for job, token, _ in replays],
                            raise_errors=False)
        for (job, _, blocked), raw in zip(replays, fetched, strict=True):
            if isinstance(raw, Exception):
                results[job.index] = raw
            elif (blocked[0] is not None or blocked[1] is not None) and blocks(blocked[0], blocked[1], now):
                results[job.index] = self._reject("blocked")
            else:
                results[job.index] = self._replayed(raw, job.ac.name, job.plan.mac)

    def _replay_one(self, req: wire.Request, ac: AcRecord, exc: ReusedCredential, now: float) -> AuthReply:
        """The redis-py path's :meth:`_replay_batch` for one request."""
        mac = _mac_or_none(req.text(Attr.CALLING_STATION_ID))
        username = req.text(Attr.USER_NAME) or ""
        phone = self._phone(username, ac)
        if self.replay.window <= 0 or not exc.token or mac is None:
            return self._reject(exc.code)
        if self._blocked(Identity(phone, mac, "token"), now):
            return self._reject("blocked")
        return self._replayed(self.redis.execute_command(*fetch_command(phone, exc.token)), ac.name, mac)

    def _replayed(self, raw: Any, ac_name: str, mac: str | None) -> AuthReply:
        attrs = self.replay.accept_attrs(raw, ac_name, mac)
        if attrs is None:
            return self._reject("reused_credential")
        if self.metrics is not None:
            self.metrics.inc("token_replay")
        return AuthReply(Code.ACCESS_ACCEPT, attrs)

    def _venue(self, job: _Job, venues: dict[tuple[str, str | None], str | None]) -> str | None:
        if self.venue_of is None:
            return None
        where = (job.ac.name, job.ssid)
        try:
            return venues[where]
        except KeyError:
            venue = venues[where] = self.venue_of(job.ac.name, job.ssid)
            return venue

    def _slot_to_reserve(self, job: _Job, reads: list[Any], blocked: tuple[Any, Any], now: float,
                         venues: dict[tuple[str, str | None], str | None]) -> tuple[int, bytes] | None:
        """(max_sessions, login nonce) when spending this job's token leads to an Accept that
        must hold a device slot; None when the plan has no limit or the request will be refused
        anyway (``portal.decision.screen``: blocked, no plan, quota used up; no slot is taken)."""
        override = None if reads[3] is None else reads[3].decode()
        plan = self._resolve(override, job.ac.name, job.ssid, self._venue(job, venues))
        if plan is None or plan.max_sessions is None:
            return None
        facts = AuthReads(job.plan.phone, job.plan.mac, blocked[0], blocked[1], self._usage(reads[4], now))
        if screen(facts, plan, now) is not None:
            return None
        return plan.max_sessions, random.getrandbits(32).to_bytes(4, "big")

    def _reserve_slots(self, unreserved: list[tuple[int, bytes]], results: list[Any]) -> None:
        assert self.fast is not None
        replies = self.fast.evalsha_many([payload for _, payload in unreserved], self._reserve_sha)
        for (index, _), reply in zip(unreserved, replies, strict=True):
            if isinstance(reply, Exception):
                results[index] = reply
            elif reply[0] == b"full":
                results[index] = too_many_devices()

    def _grant_reply(self, job: _Job, identity: Identity, reads: list[Any], blocked: tuple[Any, Any],
                     now: float, venues: dict[tuple[str, str | None], str | None],
                     nonce: bytes | None = None
                     ) -> tuple[AuthReply, tuple[int, bytes] | None]:
        """The reply and, when it is an Accept that still has to reserve a device slot,
        (max_sessions, login nonce). ``nonce``: the login whose device slot the consume
        step already reserved (the concurrency check was done there, atomically)."""
        ac = job.ac
        override = None if reads[3] is None else reads[3].decode()
        plan = self._resolve(override, ac.name, job.ssid, self._venue(job, venues))
        slot = None
        if nonce is None and plan is not None and plan.max_sessions is not None:
            # The login nonce is drawn here so that the reservation names the same login as
            # the Class, without parsing the Class back.
            nonce = random.getrandbits(32).to_bytes(4, "big")
            slot = (plan.max_sessions, nonce)
        # No sessions: max_sessions is the device-slot reservation's (the consume step's, or
        # _reserve_slots after this), atomic where a read of the sessions would be stale.
        usage = self._usage(reads[4], now)
        grant = decide(AuthReads(identity.phone, identity.mac, blocked[0], blocked[1], usage),
                       plan, self.authorizer.rules, ac.name, now, nonce)
        if isinstance(grant, Refusal):
            return self._refused(grant), None
        assert plan is not None
        if starts_validity(plan, usage):
            self.authorizer.usage.mark_first_login(identity.phone, now)
        return AuthReply(Code.ACCESS_ACCEPT, render(grant, ac.effective_radius_dialect, self.tz)), slot

    def _refresh_resolved(self) -> None:
        """Forget remembered resolutions when the plan store's snapshot changed."""
        snap = self.authorizer.plans.snapshot()
        if snap is not self._resolved_of:
            self._resolved.clear()
            self._resolved_of = snap

    def _resolve(self, override: str | None, ac_name: str, ssid: str | None,
                 venue: str | None) -> Plan | None:
        """PlanStore.resolve_with, remembered for as long as the store's cached snapshot (the
        same definitions and rules, refreshed every plan_cache_ttl) stays in use. Callers check
        the snapshot first (``_refresh_resolved``, once per batch)."""
        plans = self.authorizer.plans
        key = (override, ac_name, ssid, venue)
        try:
            return self._resolved[key]
        except KeyError:
            pass
        if len(self._resolved) > 10_000:
            self._resolved.clear()
        plan = self._resolved[key] = plans.resolve_with(override, ac_name, ssid, venue)
        return plan

    def _usage(self, flat: list[bytes] | None, now: float) -> Usage:
        """portal.usage.parse_usage over the flat HGETALL reply, with the local day cached
        until the next local midnight (strftime per request was a measurable cost)."""
        lo, hi, today, today_raw = self._day
        if not lo <= now < hi:
            tz = self.authorizer.usage.tz
            today = day_of(now, tz)
            today_raw = today.encode()
            self._day = (now, next_midnight(now, tz), today, today_raw)
        return parse_usage(flat_pairs(flat), today, today_raw)

    def _handle_one(self, req: wire.Request, ac: AcRecord, secret: bytes, now: float) -> AuthReply:
        assert self.fast is not None
        ssid = parse_ssid(req.text(Attr.CALLED_STATION_ID))
        try:
            plan = self._plan(req, ac, secret)
            if plan is None:   # MAC authentication: the binding names the phone first
                identity = self._identify(req, ac, secret)[0]
                raw = self._run(self._policy_cmds(identity.phone, identity.mac))
            else:
                n = len(plan.commands)
                raw = self._run([*plan.commands, *self._policy_cmds(plan.phone, plan.mac)])
                identity = self._decide(plan, raw[:n])
                raw = raw[n:]
        except CredentialError as exc:
            return self._reject(exc.code)
        except MalformedPacket:
            return self._reject("invalid_credential")
        venue = self.venue_of(ac.name, ssid) if self.venue_of is not None else None
        blocked_phone, blocked_mac, override, usage, sessions = raw
        grant = self.authorizer.decide_replies(identity.phone, identity.mac, ac, ssid, now, venue,
                                               (blocked_phone, blocked_mac, override, _pairs(usage),
                                                _pairs(sessions)))
        if isinstance(grant, Refusal):
            return self._refused(grant)
        reserve = self.authorizer.slot_command(identity.phone, identity.mac, grant, now)
        if reserve is not None and self._run([reserve])[0][0] == b"full":
            return too_many_devices()
        return AuthReply(Code.ACCESS_ACCEPT, render(grant, ac.effective_radius_dialect, self.tz))

    def _plan(self, req: wire.Request, ac: AcRecord, secret: bytes) -> CheckPlan | None:
        username = req.text(Attr.USER_NAME)
        if not username:
            raise CredentialError("no User-Name")
        if ac.mac_auth and is_mac(_without_realm(username, ac)):
            return None
        calling = req.text(Attr.CALLING_STATION_ID)
        password = req.get(Attr.USER_PASSWORD)
        if password is not None:
            clear = wire.decrypt_password(password, secret, req.authenticator).decode("utf-8", "replace")
            return self.credentials.plan_pap(self._phone(username, ac), clear, calling)
        chap = req.get(Attr.CHAP_PASSWORD)
        if chap is not None:
            challenge = req.get(Attr.CHAP_CHALLENGE) or req.authenticator
            return self.credentials.plan_chap(self._phone(username, ac), chap, challenge, calling)
        raise _Unsupported("neither User-Password nor CHAP-Password")

    def _decide(self, plan: CheckPlan, raw: list[Any]) -> Identity:
        if plan.method == "pap":
            return self.credentials.decide_pap(plan, raw)
        outcome = self.credentials.decide_chap(plan, raw)
        if isinstance(outcome, Identity):
            return outcome
        return self.credentials.decide_consume(plan, self._run([outcome])[0], outcome[3])

    def _run(self, commands: list[Any], *, raise_errors: bool = True) -> list[Any]:
        """Run commands (``CONSUME`` ones as EVALSHA of CONSUME_LUA) in one pipeline; an error
        reply raises unless ``raise_errors`` is false (then it is returned in its slot)."""
        assert self.fast is not None
        wire_cmds = [self._wire(c) for c in commands]
        replies = self.fast.pipeline(wire_cmds)
        if raise_errors:
            for reply in replies:
                if isinstance(reply, Exception):
                    raise reply
        return replies

    def _wire(self, command: Any) -> Any:
        if isinstance(command, tuple):
            if command[0] == "CONSUME":
                keys_, args = consume_keys_args(command)
                return ("EVALSHA", self._consume_sha, len(keys_), *keys_, *args)
            if command[0] == "RESERVE":
                return ("EVALSHA", self._reserve_sha, 2, *command[1:])
        return command

    @staticmethod
    def _policy_cmds(phone: str, mac: str | None) -> list[tuple[Any, ...]]:
        # The reads of portal.grants.Authorizer.decide with the blocklist, in its order
        # (what Authorizer.decide_replies takes).
        return [
            ("HGET", keys.blocked_phones(), phone),
            ("HGET", keys.blocked_macs(), mac or "-"),
            ("GET", keys.plan_override(phone)),
            ("HGETALL", keys.usage(phone)),
            ("HGETALL", keys.phone_sessions(phone)),
        ]

    # --- steps ---------------------------------------------------------------------------------

    @staticmethod
    def _reject(reason: str) -> AuthReply:
        zh, en = REJECT_MESSAGES[reason]
        return AuthReply(Code.ACCESS_REJECT, reply_message_attrs(f"{zh} / {en}"), reason)

    @classmethod
    def _refused(cls, refusal: Refusal) -> AuthReply:
        """The Access-Reject of a decision's Refusal: the blocklist's, or a plan/quota one."""
        if refusal.code == "blocked":
            return cls._reject("blocked")
        return refusal_reply(QuotaRefusal(refusal.code, refusal.detail))

    def _identify(self, req: wire.Request, ac: AcRecord, secret: bytes) -> tuple[Identity, str]:
        """Who the request proves, and the login token it spent ("" if none)."""
        username = req.text(Attr.USER_NAME)
        if not username:
            raise CredentialError("no User-Name")
        calling = req.text(Attr.CALLING_STATION_ID)
        password = req.get(Attr.USER_PASSWORD)
        chap = req.get(Attr.CHAP_PASSWORD)
        if ac.mac_auth and is_mac(_without_realm(username, ac)):
            username = _without_realm(username, ac)
            # MAC authentication (Huawei MAC-priority portal): User-Name is the device MAC.
            if calling and is_mac(calling) and normalise_mac(calling) != normalise_mac(username):
                raise CredentialError("User-Name MAC differs from Calling-Station-Id")
            if self.mac_auth_check_password and not self._mac_password_ok(req, username, secret):
                raise CredentialError("MAC authentication password mismatch")
            return self.credentials.check_mac_auth(username), ""
        creds = self.credentials
        if password is not None:
            clear = wire.decrypt_password(password, secret, req.authenticator).decode("utf-8", "replace")
            identity = creds.check_pap(self._phone(username, ac), clear, calling)
            return identity, clear if identity.kind == "token" else ""
        if chap is not None:   # check_chap's steps, keeping the token a response matched
            challenge = req.get(Attr.CHAP_CHALLENGE) or req.authenticator
            plan = creds.plan_chap(self._phone(username, ac), chap, challenge, calling)
            outcome = creds.decide_chap(plan, creds.run(plan.commands))
            if isinstance(outcome, Identity):
                return outcome, ""
            return creds.decide_consume(plan, creds.run((outcome,))[0], outcome[3]), outcome[3]
        raise _Unsupported("neither User-Password nor CHAP-Password")

    @staticmethod
    def _mac_password_ok(req: wire.Request, username: str, secret: bytes) -> bool:
        candidates = {username.encode(), normalise_mac(username).encode()}
        password = req.get(Attr.USER_PASSWORD)
        if password is not None:
            return wire.decrypt_password(password, secret, req.authenticator) in candidates
        chap = req.get(Attr.CHAP_PASSWORD)
        if chap is not None and len(chap) == 17:
            import hashlib

            challenge = req.get(Attr.CHAP_CHALLENGE) or req.authenticator
            return any(hashlib.md5(chap[:1] + c + challenge).digest() == chap[1:] for c in candidates)
        return False

    def _blocked(self, identity: Identity, now: float) -> bool:
        # One pipeline for both entries; portal.blocklist.blocks decides.
        pipe = self.redis.pipeline(transaction=False)
        pipe.hget(keys.blocked_phones(), identity.phone)
        pipe.hget(keys.blocked_macs(), identity.mac or "-")
        phone_entry, mac_entry = pipe.execute()
        return blocks(phone_entry, mac_entry, now)


def _pairs(raw: Any) -> dict[bytes, bytes]:
    if not raw:
        return {}
    if isinstance(raw, dict):
        return raw
    return dict(zip(raw[::2], raw[1::2], strict=True))




class _Unsupported(CredentialError):
    code = "unsupported_method"
