"""The Access-Request policy: credential → blocklist → plan/quota (R2's Authorizer) → dialect.

Plugs into ``radius.server.RadiusServer`` as its auth handler. Each step either passes or ends in
an Access-Reject whose Reply-Message (Chinese / English) the portal can show, and whose reason
the server counts (``reject.<reason>``). Redis errors propagate: the server stays silent.

With a ``RespClient`` (plain redis:// or unix:// URL) the server hands over every Access-Request
it drained from its socket in one pass, and the whole batch costs ONE Redis round trip: one
EVALSHA of ``BATCH_LUA`` does, per request, the credential reads and token consumption
(``portal.credentials.CONSUME_LUA``, embedded unchanged), the blocklist lookups and the
plan/usage/session reads of ``portal.grants``, and returns everything as one JSON document
(+1 trip for the batch's CHAP token consumptions; MAC authentication takes two trips per request).
The decisions are then made in Python by the same code as the per-step path. Without a
``RespClient`` (Sentinel, Cluster: the batch script touches keys of many slots) the same steps
run through redis-py, one pipeline each.
"""

from __future__ import annotations

import json
import time
from collections.abc import Callable
from typing import Any
from zoneinfo import ZoneInfo

import redis

from portal.acs import AcRecord
from portal.blocklist import BlockEntry, normalise_mac
from portal.credentials import (
    CONSUME_LUA,
    USED_TOKEN_MEMORY,
    CheckPlan,
    CredentialError,
    CredentialStore,
    Identity,
    InvalidCredential,
    normalise_phone,
)
from portal.errors import ValidationError
from portal.grants import Authorizer, Grant, QuotaRefusal, evaluate
from portal.plans import Plan
from portal.sessions import decode_records
from portal.state import StateUnavailable, keys
from portal.usage import Usage, day_of, next_midnight
from radius import wire
from radius.dialects import render
from radius.errors import MalformedPacket
from radius.resp import Encoded, RespClient, bulk
from radius.server import AuthReply
from radius.wire import Attr, Code

__all__ = ["BATCH_LUA", "REJECT_MESSAGES", "AuthPolicy", "parse_ssid", "reply_message_attrs"]

# Reject reasons decided here (quota reasons come with their text from portal.grants).
REJECT_MESSAGES: dict[str, tuple[str, str]] = {
    "invalid_credential": (
        "登录凭证无效或已过期，请重新获取验证码",
        "Invalid or expired login credential. Please request a new code.",
    ),
    "reused_credential": (
        "登录凭证已使用，请重新获取验证码",
        "This login credential was already used. Please request a new code.",
    ),
    "blocked": (
        "该号码或设备已被停止上网服务，请联系客服",
        "This number or device is blocked. Please contact customer service.",
    ),
    "unsupported_method": (
        "不支持的认证方式",
        "Unsupported authentication method.",
    ),
}


def reply_message_attrs(text: str) -> tuple[tuple[int, bytes], ...]:
    """Reply-Message attribute(s): split on UTF-8 character boundaries into ≤ 253-octet pieces
    (RFC 2865 §5.18: multiple Reply-Messages are concatenated by the NAS)."""
    out = []
    chunk = b""
    for ch in text:
        enc = ch.encode()
        if len(chunk) + len(enc) > 253:
            out.append((int(Attr.REPLY_MESSAGE), chunk))
            chunk = b""
        chunk += enc
    if chunk:
        out.append((int(Attr.REPLY_MESSAGE), chunk))
    return tuple(out)


def _is_mac(value: str) -> bool:
    try:
        normalise_mac(value)
    except ValidationError:
        return False
    return True


def parse_ssid(called_station_id: str | None) -> str | None:
    """SSID from Called-Station-Id ``<AP MAC>:<SSID>`` (RFC 3580 §3.20); None if absent."""
    if not called_station_id:
        return None
    value = called_station_id.strip()
    # The MAC may itself contain ':' (aa:bb:…), so try the known MAC lengths first.
    for mac_len in (17, 14, 12):
        if len(value) > mac_len and value[mac_len] == ":" and _is_mac(value[:mac_len]):
            return value[mac_len + 1 :] or None
    if _is_mac(value):
        return None
    _, sep, tail = value.rpartition(":")
    return tail or None if sep else None


# One EVALSHA for a batch of Access-Requests (standalone Redis only: keys span many slots).
# KEYS[1] blocked phones, KEYS[2] blocked MACs, then 6 per request: MAC binding (of "-" when the
#   caller has no MAC), login tokens, used login tokens, plan override, usage, phone sessions.
# ARGV[1] now, ARGV[2] used-token memory seconds, then 4 per request: method ("p" PAP: consume
#   the password if it is a live token, exactly what CONSUME_LUA does for one request; "c" CHAP:
#   list the token names, Python finds the match), password ("" for CHAP), caller MAC ("" = none),
#   phone.
# Returns JSON: per request [binding, auth, blocked phone, blocked MAC, override, usage, sessions],
# hashes as flat [field, value, ...] lists (an empty one encodes as {}), missing values as false.
BATCH_LUA = (
    "local function consume(KEYS, ARGV)\n" + CONSUME_LUA + "\nend\n" + """
local out = {}
local n = (#ARGV - 2) / 4
-- The blocklists for the whole batch in two calls (a Lua redis.call costs Redis more CPU than
-- the lookup itself): one HMGET per list, not two HGETs per request.
local phones, macs = {}, {}
for i = 0, n - 1 do
  local a = 2 + i * 4
  phones[i + 1] = ARGV[a + 4]
  macs[i + 1] = ARGV[a + 3] == '' and '-' or ARGV[a + 3]
end
local blocked_phone = redis.call('HMGET', KEYS[1], unpack(phones))
local blocked_mac = redis.call('HMGET', KEYS[2], unpack(macs))
for i = 0, n - 1 do
  local k, a = 2 + i * 6, 2 + i * 4
  local mac = ARGV[a + 3]
  local auth
  if ARGV[a + 1] == 'p' then
    auth = consume({KEYS[k + 2], KEYS[k + 3]}, {ARGV[a + 2], ARGV[1], ARGV[2], mac})
  else
    auth = {redis.call('HKEYS', KEYS[k + 2]), redis.call('HKEYS', KEYS[k + 3])}
  end
  out[i + 1] = {
    redis.call('HGETALL', KEYS[k + 1]), auth, blocked_phone[i + 1], blocked_mac[i + 1],
    redis.call('GET', KEYS[k + 4]), redis.call('HGETALL', KEYS[k + 5]),
    redis.call('HGETALL', KEYS[k + 6])}
end
return cjson.encode(out)
""")

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


def _phone_or_none(username: str) -> str | None:
    try:
        return normalise_phone(username)
    except ValidationError:
        return None


def _bytes_pairs(flat: Any) -> dict[bytes, bytes]:
    """A flat JSON [field, value, …] list (latin-1 text, see _decode_json) as redis-py's dict."""
    if not flat:
        return {}
    it = iter(flat)
    return {k.encode("latin-1"): v.encode("latin-1") for k, v in zip(it, it, strict=True)}


def _decode_json(raw: bytes) -> Any:
    # Lua's cjson copies string bytes as they are (only quote, backslash and control characters
    # are escaped); reading the document as latin-1 maps each byte to one character, so values
    # round-trip exactly with .encode("latin-1"), whatever bytes someone stored.
    return json.loads(raw.decode("latin-1"))


class _Job:
    """One PAP/CHAP Access-Request of a batch, between the batch script and the decision."""

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
    ) -> None:
        self.redis = redis
        self.authorizer = authorizer
        self.credentials = credentials or CredentialStore(redis, clock=clock)
        self.mac_auth_check_password = mac_auth_check_password
        # (AC name, SSID) → venue id, so a venue's own plan rule applies (portal.venues).
        self.venue_of = venue_of
        # One-round-trip path (see module docstring); None = redis-py, one pipeline per step.
        self.fast = fast
        self._consume_sha = fast.script(CONSUME_LUA) if fast is not None else b""
        self._batch_sha = fast.script(BATCH_LUA) if fast is not None else b""
        self.tz = tz or ZoneInfo(authorizer.settings.timezone)
        # Memos of pure functions of request text (bounded, see _memo) and of per-phone keys.
        self._macs: dict[str, str | None] = {}
        self._phones: dict[str, str | None] = {}
        self._ssids: dict[str | None, str | None] = {}
        self._encoded: dict[tuple[str, str | None], tuple[bytes, bytes]] = {}
        self._day: tuple[float, float, str] = (0.0, 0.0, "")   # [from, to) → local day
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
            identity = self._identify(req, ac, secret)
        except CredentialError as exc:
            return self._reject(exc.code)
        except MalformedPacket:
            return self._reject("invalid_credential")
        if self._blocked(identity, now):
            return self._reject("blocked")
        ssid = parse_ssid(req.text(Attr.CALLED_STATION_ID))
        venue = self.venue_of(ac.name, ssid) if self.venue_of is not None else None
        try:
            grant = self.authorizer.authorize(identity.phone, identity.mac, ac, ssid, now, venue=venue)
        except QuotaRefusal as refusal:
            return AuthReply(Code.ACCESS_REJECT, reply_message_attrs(refusal.reply_message), refusal.code)
        return AuthReply(Code.ACCESS_ACCEPT, render(grant, ac.effective_radius_dialect, self.tz))

    def handle_auth_batch(
        self, items: list[tuple[wire.Request, AcRecord, bytes]], now: float
    ) -> list[AuthReply | BaseException]:
        """Decide a batch (``radius.server.BatchAuthHandler``): one EVALSHA of BATCH_LUA for all
        PAP/CHAP requests. Redis errors propagate (the server answers none of the batch); any
        other failure is returned in the request's slot (that request alone is not answered)."""
        if self.fast is None:
            out: list[AuthReply | BaseException] = []
            for req, ac, secret in items:
                try:
                    out.append(self.handle_auth(req, ac, secret, now))
                except _STATE_ERRORS:
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
            except _STATE_ERRORS:
                raise
            except Exception as exc:
                results[i] = exc
        return [r if r is not None else RuntimeError("undecided") for r in results]

    def _check_plan(self, req: wire.Request, ac: AcRecord, secret: bytes) -> CheckPlan | None:
        """The credential check a request asks for (what CredentialStore.plan_pap/plan_chap
        check, without building per-request commands); None for MAC authentication."""
        username = req.text(Attr.USER_NAME)
        if not username:
            raise CredentialError("no User-Name")
        if ac.mac_auth and _memo(self._macs, _mac_or_none, username) is not None:
            return None
        password = req.get(Attr.USER_PASSWORD)
        chap = req.get(Attr.CHAP_PASSWORD)
        if password is None and chap is None:
            raise _Unsupported("neither User-Password nor CHAP-Password")
        phone = _memo(self._phones, _phone_or_none, username)
        if phone is None:
            raise InvalidCredential("User-Name is not a phone number")
        mac = _memo(self._macs, _mac_or_none, req.text(Attr.CALLING_STATION_ID))
        if password is not None:
            clear = wire.decrypt_password(password, secret, req.authenticator).decode("utf-8", "replace")
            return CheckPlan(phone, mac, "pap", (), password=clear)
        assert chap is not None
        if len(chap) != 17:
            raise InvalidCredential("CHAP-Password must be 17 octets")
        challenge = req.get(Attr.CHAP_CHALLENGE) or req.authenticator
        return CheckPlan(phone, mac, "chap", (), chap_password=chap, challenge=challenge)

    def _encoded_for(self, phone: str, mac: str | None) -> tuple[bytes, bytes]:
        """RESP-encoded BATCH_LUA keys of a request and its trailing (MAC, phone) arguments,
        memoised per (phone, MAC): encoding them per request was a measurable CPU share."""
        found = self._encoded.get((phone, mac))
        if found is None:
            if len(self._encoded) >= _CACHE_MAX:
                self._encoded.clear()
            found = self._encoded[(phone, mac)] = (
                bulk((keys.mac_binding(mac or "-"), keys.login_tokens(phone),
                      keys.login_tokens_used(phone), keys.plan_override(phone), keys.usage(phone),
                      keys.phone_sessions(phone))),
                bulk((mac or "", phone)))
        return found

    def _run_jobs(self, jobs: list[_Job], results: list[Any], now: float) -> None:
        assert self.fast is not None
        n = len(jobs)
        key_parts = [b"*%d\r\n" % (3 + 2 + 6 * n + 2 + 4 * n), bulk((
            "EVALSHA", self._batch_sha, 2 + 6 * n, keys.blocked_phones(), keys.blocked_macs()))]
        arg_parts = [bulk((f"{self.credentials.clock():.3f}", int(USED_TOKEN_MEMORY)))]
        for job in jobs:
            plan = job.plan
            encoded_keys, encoded_tail = self._encoded_for(plan.phone, plan.mac)
            key_parts.append(encoded_keys)
            arg_parts.append(b"$1\r\np\r\n" if plan.method == "pap" else b"$1\r\nc\r\n")
            arg_parts.append(bulk((plan.password,)))
            arg_parts.append(encoded_tail)
        parts = key_parts + arg_parts
        reply = self._run([Encoded(b"".join(parts), self._batch_sha)])[0]
        rows = _decode_json(reply)
        if len(rows) != len(jobs):
            raise redis.ResponseError(f"batch script answered {len(rows)} of {len(jobs)} requests")
        decided: list[tuple[_Job, Identity, list[Any]]] = []
        consumes: list[tuple[_Job, tuple[Any, ...], list[Any]]] = []
        for job, row in zip(jobs, rows, strict=True):
            plan = job.plan
            try:
                binding = _bytes_pairs(row[0])
                if plan.method == "pap":
                    status, mac = row[1]
                    identity = self.credentials.decide_pap(
                        plan, [binding, [status.encode("latin-1"), mac.encode("latin-1")]])
                else:
                    live, used = (row[1][0] or (), row[1][1] or ())
                    outcome = self.credentials.decide_chap(plan, [
                        binding, [t.encode("latin-1") for t in live], [t.encode("latin-1") for t in used]])
                    if not isinstance(outcome, Identity):
                        consumes.append((job, outcome, row))
                        continue
                    identity = outcome
                decided.append((job, identity, row))
            except CredentialError as exc:
                results[job.index] = self._reject(exc.code)
            except Exception as exc:
                results[job.index] = exc
        if consumes:   # CHAP tokens that matched: consume them, all in one more round trip
            replies = self._run([c for _, c, _ in consumes])
            for (job, _, row), consumed in zip(consumes, replies, strict=True):
                try:
                    decided.append((job, self.credentials.decide_consume(job.plan, consumed), row))
                except CredentialError as exc:
                    results[job.index] = self._reject(exc.code)
        self._refresh_resolved()
        venues: dict[tuple[str, str | None], str | None] = {}   # this batch's venue lookups
        for job, identity, row in decided:
            try:
                results[job.index] = self._grant_reply(job, identity, row, now, venues)
            except _STATE_ERRORS:
                raise
            except Exception as exc:
                results[job.index] = exc

    def _grant_reply(self, job: _Job, identity: Identity, row: list[Any], now: float,
                     venues: dict[tuple[str, str | None], str | None]) -> AuthReply:
        if (row[2] is not False or row[3] is not False) and self._blocked_raw(
                [None if v is False else v for v in row[2:4]], now):
            return self._reject("blocked")
        ac = job.ac
        venue = None
        if self.venue_of is not None:
            where = (ac.name, job.ssid)
            try:
                venue = venues[where]
            except KeyError:
                venue = venues[where] = self.venue_of(ac.name, job.ssid)
        a = self.authorizer
        # Mirrors portal.grants.Authorizer.authorize over the fetched values (tests compare).
        override = None if row[4] is False else row[4]
        plan = self._resolve(override, ac.name, job.ssid, venue)
        if plan is None:
            refusal = QuotaRefusal("no_plan", f"{identity.phone} on {ac.name}/{job.ssid}")
            return AuthReply(Code.ACCESS_REJECT, reply_message_attrs(refusal.reply_message), refusal.code)
        usage = self._usage(row[5], now)
        sessions = decode_records(identity.phone, _bytes_pairs(row[6])) if row[6] else []
        try:
            grant = evaluate(
                plan, usage, sessions, phone=identity.phone, mac=identity.mac, now=now,
                tz=a.usage.tz, default_interim=a.settings.default_interim, grace=a.reaper_grace,
            )
        except QuotaRefusal as refusal:
            return AuthReply(Code.ACCESS_REJECT, reply_message_attrs(refusal.reply_message), refusal.code)
        if usage.first_login is None and plan.validity_days is not None:
            a.usage.mark_first_login(identity.phone, now)
        return AuthReply(Code.ACCESS_ACCEPT, render(grant, ac.effective_radius_dialect, self.tz))

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

    def _usage(self, flat: Any, now: float) -> Usage:
        """portal.usage.UsageBook.from_raw over a flat JSON list, with the local day cached
        until the next local midnight (strftime per request was a measurable cost)."""
        lo, hi, today = self._day
        if not lo <= now < hi:
            tz = self.authorizer.usage.tz
            today = day_of(now, tz)
            self._day = (now, next_midnight(now, tz), today)
        raw: dict[str, str] = {}
        if flat:
            it = iter(flat)
            raw = dict(zip(it, it, strict=True))
        first = raw.get("f")
        same_day = raw.get("d", "") == today
        return Usage(
            day=today,
            daily_time=int(raw.get("dt", 0)) if same_day else 0,
            daily_volume=int(raw.get("dv", 0)) if same_day else 0,
            total_time=int(raw.get("tt", 0)),
            total_volume=int(raw.get("tv", 0)),
            first_login=float(first) if first is not None else None,
        )

    def _handle_one(self, req: wire.Request, ac: AcRecord, secret: bytes, now: float) -> AuthReply:
        assert self.fast is not None
        ssid = parse_ssid(req.text(Attr.CALLED_STATION_ID))
        try:
            plan = self._plan(req, ac, secret)
            if plan is None:   # MAC authentication: the binding names the phone first
                identity = self._identify(req, ac, secret)
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
        if self._blocked_raw(raw[:2], now):
            return self._reject("blocked")
        venue = self.venue_of(ac.name, ssid) if self.venue_of is not None else None
        try:
            grant = self._authorize_raw(identity, ac, ssid, venue, now, raw[2:])
        except QuotaRefusal as refusal:
            return AuthReply(Code.ACCESS_REJECT, reply_message_attrs(refusal.reply_message), refusal.code)
        return AuthReply(Code.ACCESS_ACCEPT, render(grant, ac.effective_radius_dialect, self.tz))

    def _plan(self, req: wire.Request, ac: AcRecord, secret: bytes) -> CheckPlan | None:
        username = req.text(Attr.USER_NAME)
        if not username:
            raise CredentialError("no User-Name")
        if ac.mac_auth and _is_mac(username):
            return None
        calling = req.text(Attr.CALLING_STATION_ID)
        password = req.get(Attr.USER_PASSWORD)
        if password is not None:
            clear = wire.decrypt_password(password, secret, req.authenticator).decode("utf-8", "replace")
            return self.credentials.plan_pap(username, clear, calling)
        chap = req.get(Attr.CHAP_PASSWORD)
        if chap is not None:
            challenge = req.get(Attr.CHAP_CHALLENGE) or req.authenticator
            return self.credentials.plan_chap(username, chap, challenge, calling)
        raise _Unsupported("neither User-Password nor CHAP-Password")

    def _decide(self, plan: CheckPlan, raw: list[Any]) -> Identity:
        if plan.method == "pap":
            return self.credentials.decide_pap(plan, raw)
        outcome = self.credentials.decide_chap(plan, raw)
        if isinstance(outcome, Identity):
            return outcome
        return self.credentials.decide_consume(plan, self._run([outcome])[0])

    def _run(self, commands: list[Any]) -> list[Any]:
        assert self.fast is not None
        wire_cmds = [
            ("EVALSHA", self._consume_sha, 2, *c[1:]) if isinstance(c, tuple) and c[0] == "CONSUME"
            else c for c in commands
        ]
        replies = self.fast.pipeline(wire_cmds)
        for reply in replies:
            if isinstance(reply, Exception):
                raise reply
        return replies

    @staticmethod
    def _policy_cmds(phone: str, mac: str | None) -> list[tuple[Any, ...]]:
        # Blocklist (portal.blocklist) and the reads of portal.grants.Authorizer.authorize.
        return [
            ("HGET", keys.blocked_phones(), phone),
            ("HGET", keys.blocked_macs(), mac or "-"),
            ("GET", keys.plan_override(phone)),
            ("HGETALL", keys.usage(phone)),
            ("HGETALL", keys.phone_sessions(phone)),
        ]

    @staticmethod
    def _blocked_raw(raw: list[Any], now: float) -> bool:
        for value in raw:
            if value is not None:
                try:
                    if BlockEntry(**json.loads(value)).active(now):
                        return True
                except (TypeError, ValueError):
                    return True   # unreadable entry: fail closed, someone meant to block
        return False

    def _authorize_raw(self, identity: Identity, ac: AcRecord, ssid: str | None,
                       venue: str | None, now: float, raw: list[Any]) -> Grant:
        # Mirrors portal.grants.Authorizer.authorize over already-fetched replies (a test checks
        # both give the same Grant); the decision itself is R2's pure ``evaluate``.
        a = self.authorizer
        raw_override, raw_usage, raw_sessions = raw
        override = None if raw_override is None else raw_override.decode()
        plan = a.plans.resolve_with(override, ac.name, ssid, venue)
        if plan is None:
            raise QuotaRefusal("no_plan", f"{identity.phone} on {ac.name}/{ssid}")
        usage = a.usage.from_raw(_pairs(raw_usage), now)
        sessions = decode_records(identity.phone, _pairs(raw_sessions))
        grant = evaluate(
            plan, usage, sessions, phone=identity.phone, mac=identity.mac, now=now,
            tz=a.usage.tz, default_interim=a.settings.default_interim, grace=a.reaper_grace,
        )
        if usage.first_login is None and plan.validity_days is not None:
            a.usage.mark_first_login(identity.phone, now)
        return grant

    # --- steps ---------------------------------------------------------------------------------

    @staticmethod
    def _reject(reason: str) -> AuthReply:
        zh, en = REJECT_MESSAGES[reason]
        return AuthReply(Code.ACCESS_REJECT, reply_message_attrs(f"{zh} / {en}"), reason)

    def _identify(self, req: wire.Request, ac: AcRecord, secret: bytes) -> Identity:
        username = req.text(Attr.USER_NAME)
        if not username:
            raise CredentialError("no User-Name")
        calling = req.text(Attr.CALLING_STATION_ID)
        password = req.get(Attr.USER_PASSWORD)
        chap = req.get(Attr.CHAP_PASSWORD)
        if ac.mac_auth and _is_mac(username):
            # MAC authentication (Huawei MAC-priority portal): User-Name is the device MAC.
            if calling and _is_mac(calling) and normalise_mac(calling) != normalise_mac(username):
                raise CredentialError("User-Name MAC differs from Calling-Station-Id")
            if self.mac_auth_check_password and not self._mac_password_ok(req, username, secret):
                raise CredentialError("MAC authentication password mismatch")
            return self.credentials.check_mac_auth(username)
        if password is not None:
            clear = wire.decrypt_password(password, secret, req.authenticator)
            return self.credentials.check_pap(username, clear.decode("utf-8", "replace"), calling)
        if chap is not None:
            challenge = req.get(Attr.CHAP_CHALLENGE) or req.authenticator
            return self.credentials.check_chap(username, chap, challenge, calling)
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
        # One pipeline for both lookups (portal.blocklist stores JSON BlockEntry per value).
        pipe = self.redis.pipeline(transaction=False)
        pipe.hget(keys.blocked_phones(), identity.phone)
        pipe.hget(keys.blocked_macs(), identity.mac or "-")
        for raw in pipe.execute():
            if raw is not None:
                try:
                    if BlockEntry(**json.loads(raw)).active(now):
                        return True
                except (TypeError, ValueError):
                    return True   # unreadable entry: fail closed, someone meant to block
        return False


def _pairs(raw: Any) -> dict[bytes, bytes]:
    if not raw:
        return {}
    if isinstance(raw, dict):
        return raw
    return dict(zip(raw[::2], raw[1::2], strict=True))


_STATE_ERRORS = (StateUnavailable, redis.RedisError, ConnectionError, TimeoutError)


class _Unsupported(CredentialError):
    code = "unsupported_method"
