"""The Access-Request policy: credential → the decision (``portal.aaa.decision``) → dialect.

Plugs into ``radius.server.RadiusServer`` as its auth handler. Each step either passes or ends in
an Access-Reject whose Reply-Message (Chinese / English) the portal can show, and whose reason
the server counts (``reject.<reason>``). Redis errors propagate: the server stays silent.

With a ``RespClient`` (plain redis:// or unix:// URL) the server hands over every Access-Request
it drained from its socket in one pass, and the whole batch costs ONE Redis round trip: one
pre-encoded pipeline of plain reads (``radius.batch_reads``: credentials, blocklists, plan
override, usage) whose replies hiredis parses in C, followed in the same pipeline by the
device-slot reservations of the devices whose Accept can be foreseen (``radius.auth_slots``).
A PAP password that names a live login token, or a CHAP response that matches one, is then
consumed atomically by ``portal.aaa.credentials.CONSUME_LUA`` (+1 trip for those requests only; MAC
authentication takes two trips per request), which also reserves the device slot of a plan
with ``max_sessions`` (``portal.aaa.device_slots``). An Accept that spent no token and was not
reserved early reserves its slot with ``RESERVE_LUA`` in one more pipelined trip, only when its
plan has a device limit. Every path ends in the one decision, ``portal.aaa.decision.decide``, over
the replies it fetched. Without a ``RespClient`` (Sentinel, Cluster) the same steps run one
request at a time through redis-py (``radius.auth_single``).
"""

from __future__ import annotations

import random
import time
from collections.abc import Callable
from typing import Any
from zoneinfo import ZoneInfo

from portal.aaa.acs import AcRecord
from portal.aaa.authorizer import Authorizer
from portal.aaa.blocklist import blocks, normalise_mac_or_none
from portal.aaa.credentials import (
    CONSUME_LUA,
    CheckPlan,
    CredentialError,
    CredentialStore,
    DevicesFull,
    Identity,
    InvalidCredential,
    ReusedCredential,
)
from portal.aaa.decision import AuthReads, Refusal, decide, screen, starts_validity
from portal.aaa.device_slots import slot_field
from portal.state import STATE_ERRORS
from radius import wire
from radius.auth_lookups import PlanCache, pairs_memo, without_realm
from radius.auth_replies import REJECT_MESSAGES, reply_message_attrs, too_many_devices
from radius.auth_single import SingleRequests, Unsupported
from radius.auth_slots import DeviceSlots, Early
from radius.batch_reads import READS_PER_REQUEST, BatchReads, flat_pairs
from radius.called_station import parse_ssid
from radius.dialects import render
from radius.errors import MalformedPacket
from radius.memo import memo
from radius.resp import RespClient, bulk
from radius.server import AuthReply
from radius.token_grants import TokenReplay, fetch_command
from radius.wire import Attr, Code

__all__ = ["REJECT_MESSAGES", "AuthPolicy", "parse_ssid", "reply_message_attrs"]

# The enum members the per-request path reads, as module globals: on Python 3.11 reading
# ``Attr.X`` costs ~650 instructions more than a global (callgrind), twelve times a request.
_CALLED, _CALLING, _USER_NAME = Attr.CALLED_STATION_ID, Attr.CALLING_STATION_ID, Attr.USER_NAME
_USER_PASSWORD, _CHAP_PASSWORD, _ACCEPT = Attr.USER_PASSWORD, Attr.CHAP_PASSWORD, Code.ACCESS_ACCEPT


class _Job:
    """One PAP/CHAP Access-Request of a batch, between the batch's reads and the decision."""

    __slots__ = ("ac", "early", "index", "plan", "reads", "ssid")

    def __init__(self, index: int, ac: AcRecord, plan: CheckPlan, ssid: str | None) -> None:
        self.index = index
        self.ac = ac
        self.plan = plan
        self.ssid = ssid
        self.early: Early | None = None   # its device slot, reserved with the reads
        self.reads: Any = None            # its radius.batch_reads.PhoneReads


class AuthPolicy(SingleRequests):
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
        # (AC name, SSID) → venue id, so a venue's own plan rule applies (portal.venues.venue_store).
        self.venue_of = venue_of
        self.lookups = PlanCache(authorizer, venue_of)
        # One-round-trip path (see module docstring); None = redis-py, one pipeline per step.
        self.fast = fast
        self._reads = BatchReads()
        self._consume_sha = fast.script(CONSUME_LUA) if fast is not None else b""
        self.slots = (DeviceSlots(fast, authorizer.settings.slot_hold, authorizer.reaper_grace)
                      if fast is not None else None)
        self._reserve_sha = self.slots.reserve_sha if self.slots is not None else b""
        self.tz = tz or ZoneInfo(authorizer.settings.timezone)
        # Memos of pure functions of request text (bounded, see radius.memo).
        self._macs: dict[str, str | None] = {}
        # User-Name → phone, one memo per realm rule (a str key is cheaper than a tuple here)
        self._phones: tuple[dict[str, str | None], dict[str, str | None]] = ({}, {})
        self._ssids: dict[str | None, str | None] = {}
        self._bindings: dict[tuple[bytes, ...], dict[bytes, bytes]] = {}   # MAC binding replies
        self._dialects: dict[str, tuple[AcRecord, str]] = {}   # AC name → (its record, dialect)

    # --- the handler -------------------------------------------------------------------------

    def handle_auth(self, req: wire.Request, ac: AcRecord, secret: bytes, now: float) -> AuthReply:
        if self.fast is not None:
            result = self.handle_auth_batch([(req, ac, secret)], now)[0]
            if isinstance(result, BaseException):
                raise result
            return result
        return self._handle_redis_py(req, ac, secret, now)

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
                ssid = memo(self._ssids, parse_ssid, req.text(_CALLED))
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

    def _check_plan(self, req: wire.Request, ac: AcRecord, secret: bytes) -> CheckPlan | None:
        """The credential check a request asks for (what CredentialStore.plan_pap/plan_chap
        check, without building per-request commands); None for MAC authentication."""
        username = req.text(_USER_NAME)
        if not username:
            raise CredentialError("no User-Name")
        if ac.mac_auth and memo(self._macs, normalise_mac_or_none, without_realm(username, ac)) is not None:
            return None
        password = req.get(_USER_PASSWORD)
        chap = req.get(_CHAP_PASSWORD)
        if password is None and chap is None:
            raise Unsupported("neither User-Password nor CHAP-Password")
        phone = self._phones[ac.strip_realm].get(username) or self._phone(username, ac)
        mac = memo(self._macs, normalise_mac_or_none, req.text(_CALLING))
        if password is not None:
            clear = wire.decrypt_password(password, secret, req.authenticator).decode("utf-8", "replace")
            return CheckPlan(phone, mac, "pap", (), clear)   # positional: cheaper (NamedTuple)
        assert chap is not None
        if len(chap) != 17:
            raise InvalidCredential("CHAP-Password must be 17 octets")
        challenge = req.get(Attr.CHAP_CHALLENGE) or req.authenticator
        return CheckPlan(phone, mac, "chap", (), chap_password=chap, challenge=challenge)

    def _run_jobs(self, jobs: list[_Job], results: list[Any], now: float) -> None:
        slots = self.slots
        assert self.fast is not None and slots is not None
        payload, count, of = self._reads.payload([
            (job.plan.phone, job.plan.mac, job.plan.password.encode() if job.plan.method == "pap" else None)
            for job in jobs])
        now_bulk = bulk((f"{now:.3f}",))
        # The device slots of the Accepts that can be foreseen ride with the reads (auth_slots).
        early_payload, early, n_early = slots.early(of, now_bulk)
        if n_early:
            replies = self.fast.send_encoded(payload + early_payload, count + n_early)
            slots.hand_out(early, replies[count:])
            for job, device, item in zip(jobs, of, early, strict=True):
                job.reads = device
                job.early = item
        else:
            replies = self.fast.send_encoded(payload, count)
            for job, device in zip(jobs, of, strict=True):
                job.reads = device
        blocked_phones, blocked_macs = replies[0], replies[1]
        for value in (blocked_phones, blocked_macs):
            if isinstance(value, Exception):
                if n_early:   # as if they had never been made
                    self._settle_slots(jobs, [], [], results)
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
                binding = pairs_memo(self._bindings, reads[0])
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
        self.lookups.refresh()
        venues: dict[tuple[str, str | None], str | None] = {}   # this batch's venue lookups
        if consumes:   # tokens to spend, all in one more round trip
            # A token whose Accept takes a device slot reserves it in the same step (atomic on
            # every node: portal/aaa/device_slots.py); a full plan leaves the token unspent.
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
        reserves: list[tuple[int, bytes]] = []   # Accepts still to reserve a slot for (EVALSHA)
        took: list[tuple[Any, int]] = []   # devices accepted on a limited plan (PhoneReads, max)
        for job, identity, reads, blocked, nonce in decided:
            try:
                reply, slot = self._grant_reply(job, identity, reads, blocked, now, venues, nonce)
                results[job.index] = reply
                if slot is not None:
                    took.append((job.reads, slot[0]))
                    if slot[1]:   # not reserved early
                        reserves.append((job.index, slots.ordinary(job.reads, slot[0], slot[1], now_bulk)))
            except STATE_ERRORS:
                raise
            except Exception as exc:
                results[job.index] = exc
        if reserves or took or n_early:
            # A bound device's credential spends no token: one more trip, when needed.
            self._settle_slots(jobs if n_early else [], reserves, took, results)
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

    def _slot_to_reserve(self, job: _Job, reads: list[Any], blocked: tuple[Any, Any], now: float,
                         venues: dict[tuple[str, str | None], str | None]) -> tuple[int, bytes] | None:
        """(max_sessions, login nonce) when spending this job's token leads to an Accept that
        must hold a device slot; None when the plan has no limit or the request will be refused
        anyway (``portal.aaa.decision.screen``: blocked, no plan, quota used up; no slot is taken)."""
        override = None if reads[3] is None else reads[3].decode()
        lookups = self.lookups
        plan = lookups.resolve(override, job.ac.name, job.ssid, lookups.venue(job.ac.name, job.ssid, venues))
        if plan is None or plan.max_sessions is None:
            return None
        facts = AuthReads(job.plan.phone, job.plan.mac, blocked[0], blocked[1], lookups.usage(reads[4], now))
        if screen(facts, plan, now) is not None:
            return None
        return plan.max_sessions, random.getrandbits(32).to_bytes(4, "big")

    def _settle_slots(self, jobs: list[_Job], reserves: list[tuple[int, bytes]],
                      took: list[tuple[Any, int]], results: list[Any]) -> None:
        """The ordinary reservations, the early ones no decision took (taken back), and which
        devices to reserve early next time (``radius.auth_slots``)."""
        assert self.slots is not None
        unused = [(job.reads, job.early) for job in jobs if job.early is not None and not job.early.used]
        if reserves or unused:
            self.slots.finish(reserves, results, unused)
        self.slots.expect([reads for reads, _ in unused], took)

    def _grant_reply(self, job: _Job, identity: Identity, reads: list[Any], blocked: tuple[Any, Any],
                     now: float, venues: dict[tuple[str, str | None], str | None],
                     nonce: bytes | None = None
                     ) -> tuple[AuthReply, tuple[int, bytes] | None]:
        """The reply and, when it is an Accept on a plan with a device limit that spent no token,
        (max_sessions, login nonce still to reserve, or b"" when reserved early). ``nonce``:
        the login whose device slot the consume step already reserved (the concurrency check
        was done there, atomically)."""
        ac = job.ac
        override = None if reads[3] is None else reads[3].decode()
        lookups = self.lookups
        plan = lookups.resolve(override, ac.name, job.ssid, lookups.venue(ac.name, job.ssid, venues))
        slot = None
        early = None
        if nonce is None and plan is not None and plan.max_sessions is not None:
            if job.early is not None and job.early.fits(plan.max_sessions):
                early = job.early   # reserved with the reads, for this very limit
                nonce = early.nonce
                slot = (plan.max_sessions, b"")
            else:
                # The login nonce is drawn here so that the reservation names the same login as
                # the Class, without parsing the Class back.
                nonce = random.getrandbits(32).to_bytes(4, "big")
                slot = (plan.max_sessions, nonce)
        # No sessions: max_sessions is the device-slot reservation's (the consume step's, the
        # early one, or the ordinary one after this), atomic where a read of the sessions would be stale.
        usage = lookups.usage(reads[4], now)
        grant = decide(AuthReads(identity.phone, identity.mac, blocked[0], blocked[1], usage),
                       plan, self.authorizer.rules, ac.name, now, nonce)
        if isinstance(grant, Refusal):
            return self._refused(grant), None
        assert plan is not None
        if starts_validity(plan, usage):
            self.authorizer.usage.mark_first_login(identity.phone, now)
        if early is not None:
            early.used = True
            if early.full():
                return too_many_devices(), slot
        dialect = self._dialects.get(ac.name)
        if dialect is None or dialect[0] is not ac:   # the AC cache hands out a new record on refresh
            if len(self._dialects) >= 4096:
                self._dialects.clear()
            dialect = self._dialects[ac.name] = (ac, ac.effective_radius_dialect)
        return AuthReply(_ACCEPT, render(grant, dialect[1], self.tz)), slot

