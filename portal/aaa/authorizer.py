"""The Authorizer: the plan cache, quota settings and device-slot script behind an authorisation,
and the one pipeline of reads (``{p:<phone>}`` slot) that feeds :func:`portal.aaa.decision.decide`.

The web login and the RADIUS server (redis-py paths) decide through it; ``authorize`` is its
function form, with an Authorizer kept per Redis client. What a Grant holds, the Class codec and
the quota rules are in :mod:`portal.aaa.grants`; the decision itself is :mod:`portal.aaa.decision`.
"""

from __future__ import annotations

import threading
from typing import TYPE_CHECKING, Any

from portal.aaa.decision import AuthReads, DecisionRules, Refusal, decide, starts_validity
from portal.aaa.device_slots import RESERVE_LUA, reserve_command
from portal.aaa.grants import ClassSigner, Grant, QuotaRefusal, parse_class
from portal.aaa.plans import PlanStore
from portal.aaa.sessions import decode_records, normalise_mac_or_none
from portal.aaa.usage import UsageBook
from portal.runtime.settings import QuotaSettings
from portal.state import keys
from portal.state.scripts import queue_script

if TYPE_CHECKING:
    from portal.aaa.acs import AcRecord

__all__ = ["Authorizer", "authorize"]


class Authorizer:
    """Holds the plan cache and quota settings; ``authorize`` is the function form."""

    def __init__(
        self, redis: Any, settings: QuotaSettings | None = None, *, reaper_grace: float = 60.0,
        plans: PlanStore | None = None, class_signer: ClassSigner | None = None,
    ) -> None:
        self.redis = redis
        self.class_signer = class_signer   # signs the Class of every Grant (the RADIUS server's)
        self.settings = settings or QuotaSettings()
        self.plans = plans or PlanStore(
            redis, default_plan=self.settings.default_plan, cache_ttl=self.settings.plan_cache_ttl
        )
        self.usage = UsageBook(redis, self.settings.timezone)
        self.reaper_grace = reaper_grace
        self.rules: DecisionRules = DecisionRules(
            self.usage.tz, self.settings.default_interim, reaper_grace, class_signer)
        self._reserve = redis.register_script(RESERVE_LUA)

    def decide(
        self, phone: str, mac: str | None, ac: AcRecord, ssid: str | None, now: float,
        venue: str | None = None, *, blocklist: bool = False,
    ) -> Grant | Refusal:
        """``portal.aaa.decision.decide`` over one pipeline of reads in the phone's slot (plan
        override, usage, online sessions) and, with ``blocklist``, its blocklist entries (the
        RADIUS server's; the web login checks the blocklist before it sends a code)."""
        pipe = self.redis.pipeline(transaction=False)
        if blocklist:
            pipe.hget(keys.blocked_phones(), phone)
            pipe.hget(keys.blocked_macs(), mac or "-")
        pipe.get(keys.plan_override(phone))
        pipe.hgetall(keys.usage(phone))
        pipe.hgetall(keys.phone_sessions(phone))
        raw = pipe.execute()
        return self.decide_replies(phone, mac, ac, ssid, now, venue,
                                   (raw[0], raw[1], *raw[2:]) if blocklist else (None, None, *raw))

    def decide_replies(
        self, phone: str, mac: str | None, ac: AcRecord, ssid: str | None, now: float,
        venue: str | None, replies: tuple[Any, ...] | list[Any],
    ) -> Grant | Refusal:
        """:meth:`decide` over replies someone else fetched, in its order: blocked phone entry,
        blocked MAC entry, plan override, usage hash, sessions hash (hashes as dicts). The
        RADIUS fast path's MAC authentication reads them through its own client."""
        blocked_phone, blocked_mac, raw_override, raw_usage, raw_sessions = replies
        override = None if raw_override is None else raw_override.decode()
        plan = self.plans.resolve_with(override, ac.name, ssid, venue)
        usage = self.usage.from_raw(raw_usage, now)
        reads = AuthReads(phone, mac, blocked_phone, blocked_mac, usage,
                                    decode_records(phone, raw_sessions))
        decided = decide(reads, plan, self.rules, ac.name, now)
        if plan is not None and isinstance(decided, Grant) and starts_validity(plan, usage):
            self.usage.mark_first_login(phone, now)   # once per phone ever
        return decided

    def authorize(
        self, phone: str, mac: str | None, ac: AcRecord, ssid: str | None, now: float,
        venue: str | None = None,
    ) -> Grant:
        """:meth:`decide` without the blocklist, raising QuotaRefusal instead of returning it."""
        decided = self.decide(phone, mac, ac, ssid, now, venue)
        if isinstance(decided, Refusal):
            raise QuotaRefusal(decided.code, decided.detail)
        return decided

    def slot_command(self, phone: str, mac: str | None, grant: Grant, now: float) -> tuple[Any, ...] | None:
        """The ("RESERVE", ...) command that binds ``grant``'s device slot, or None when its plan
        has no ``max_sessions`` (portal/aaa/device_slots.py)."""
        plan = self.plans.plan_named(grant.plan_name)
        info = parse_class(grant.class_)
        if plan is None or plan.max_sessions is None or info is None:
            return None
        return reserve_command(phone, normalise_mac_or_none(mac), plan.max_sessions, now,
                               self.settings.slot_hold, self.reaper_grace, info.login)

    def reserve(self, phone: str, mac: str | None, grant: Grant, now: float) -> None:
        """Bind the device slot an Access-Accept of ``grant`` takes, atomically against every
        other node; raise QuotaRefusal("too_many_devices") when the plan's slots are all taken.
        (The RADIUS fast path reserves inside the token's consume step instead.)"""
        command = self.slot_command(phone, mac, grant, now)
        if command is None:
            return
        pipe = self.redis.pipeline(transaction=False)
        queue_script(pipe, self._reserve, command[1:3], command[3:])
        reply = pipe.execute()[0]
        if reply[0] == b"full":
            raise QuotaRefusal("too_many_devices", f"{phone}: {reply[1]} devices hold slots")


_authorizers: dict[int, tuple[Any, Authorizer]] = {}
_authorizers_lock = threading.Lock()


def authorize(
    redis: Any, phone: str, mac: str | None, ac: AcRecord, ssid: str | None, now: float,
    *, settings: QuotaSettings | None = None, venue: str | None = None,
) -> Grant:
    """Resolve the plan, check validity, quotas and concurrency; return the Grant or raise
    QuotaRefusal. One Redis round trip; the Authorizer (plan cache) is kept per client."""
    key = id(redis)
    with _authorizers_lock:
        entry = _authorizers.get(key)
        if entry is None or entry[0] is not redis or (
            settings is not None and entry[1].settings != settings
        ):
            entry = (redis, Authorizer(redis, settings))
            _authorizers[key] = entry
    return entry[1].authorize(phone, mac, ac, ssid, now, venue=venue)
