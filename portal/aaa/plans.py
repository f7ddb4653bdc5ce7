"""Plans: rate, time and volume quotas, validity, concurrency; and which plan applies.

A plan is assigned by rules, most specific first (``resolve``):

1. a per-user override (``PlanStore.assign_user``),
2. the venue's default (``venue:<id>``) — the physical place the venue operator configures,
3. the SSID's default (``ssid:<ssid>``) — a service brand that may span ACs,
4. the AC's default (``ac:<name>``) — infrastructure fallback for everything behind one AC,
5. the global default (``*``), then ``settings.quota.default_plan``.

A retired plan is never handed out: a rule that points at it (or at an unknown name) is skipped
and the next rule applies. Definitions and rules are read-mostly, so each process caches them for
``plan_cache_ttl`` seconds: the RADIUS hot path does not spend a Redis round trip on them.

A changed plan applies to its online sessions at once (``portal/noc/kick.py``: CoA, or Disconnect
when the new limits are already used up). A session whose AC cannot take the CoA keeps running
under the definition it was granted: that definition is kept as a *revision*
(``<plan>@<revision>``, :meth:`PlanStore.archive`) and the session's record names it, so the
NOC's session list, the phone's status page and the quota checks read the limits the AC still
enforces. Revision names cannot clash with plan names ("@" is not allowed in a plan name).

Plans and rules live in Redis and are edited in the NOC console and API; ``[[plans]]`` and
``[[plan_rules]]`` in the TOML file can seed them (:func:`seed_plans`, run where ``[[acs]]`` are
seeded). The seed remembers a hash of what it wrote (``keys.plan_seeds``), so a TOML change reaches
a record the NOC has not touched since the last seed, while a record the NOC edited, created
under the same name, or deleted is never overwritten or brought back.
"""

from __future__ import annotations

import dataclasses
import hashlib
import json
import logging
import re
import threading
import time
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from portal.aaa.plan_limits import ENFORCED_FIELDS, LIMIT_NAMES
from portal.errors import NotFound, ValidationError
from portal.state import keys

if TYPE_CHECKING:
    from portal.runtime.settings import PlanRuleSeed, PlanSeed

__all__ = ["ENFORCED_FIELDS", "RULE_SCOPES", "Plan", "PlanStore", "base_name", "plan_from_seed",
           "seed_plans"]

log = logging.getLogger(__name__)

_NAME = re.compile(r"^[A-Za-z0-9_.\-]{1,64}$")
RULE_SCOPES = ("venue", "ssid", "ac", "default")

def base_name(plan: str) -> str:
    """The plan a session's plan field belongs to: ``basic`` for ``basic@1f2e3d4c5b``."""
    return plan.partition("@")[0]


@dataclass(frozen=True, slots=True)
class Plan:
    """One plan. ``None`` means "no limit" for every limit field. Times in seconds, volumes in
    octets (both directions together), rates in kbit/s."""

    name: str
    title_zh: str = ""
    title_en: str = ""
    up_kbps: int | None = None            # user → network
    down_kbps: int | None = None          # network → user
    session_timeout: int | None = None    # cap on one session
    idle_timeout: int | None = None
    daily_time: int | None = None         # online seconds per local day
    total_time: int | None = None         # online seconds ever
    daily_volume: int | None = None       # octets per local day
    total_volume: int | None = None       # octets ever
    validity_days: int | None = None      # days from first login
    valid_until: float | None = None      # fixed end (epoch seconds)
    max_sessions: int | None = None       # concurrent devices
    interim_interval: int | None = None   # Acct-Interim-Interval; None = settings default
    mac_binding_days: int | None = None   # how long a device stays recognised without SMS
    retired: bool = False

    def __post_init__(self) -> None:
        if not isinstance(self.name, str) or not _NAME.match(self.name):
            raise ValidationError(
                f"plan name {self.name!r}: 1-64 letters, digits, '_', '.' or '-'"
            )
        for fname in LIMIT_NAMES:
            value = getattr(self, fname)
            if value is None:
                continue
            if isinstance(value, bool) or not isinstance(value, int) or value <= 0:
                raise ValidationError(f"plan {self.name}: {fname} must be a positive integer or unset")
        if self.interim_interval is not None and self.interim_interval < 60:
            # RFC 2869 §5.16: Acct-Interim-Interval MUST NOT be smaller than 60.
            raise ValidationError(f"plan {self.name}: interim_interval must be at least 60 s")
        if self.valid_until is not None and (
            isinstance(self.valid_until, bool) or not isinstance(self.valid_until, int | float)
            or self.valid_until <= 0
        ):
            raise ValidationError(f"plan {self.name}: valid_until must be an epoch time")
        for fname in ("title_zh", "title_en"):
            if len(getattr(self, fname)) > 100:
                raise ValidationError(f"plan {self.name}: {fname} is longer than 100 characters")

    def enforced_differs(self, other: Plan) -> bool:
        """Whether ``other`` gives online sessions different limits (see ENFORCED_FIELDS)."""
        return any(getattr(self, f) != getattr(other, f) for f in ENFORCED_FIELDS)

    @property
    def revision(self) -> str:
        """A short content hash of the definition: the ``@<revision>`` of an archived copy."""
        return hashlib.sha256(self.to_json().encode()).hexdigest()[:10]

    @property
    def has_daily_limit(self) -> bool:
        return self.daily_time is not None or self.daily_volume is not None

    def to_json(self) -> str:
        return json.dumps(dataclasses.asdict(self), sort_keys=True, ensure_ascii=False)

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> Plan:
        known = {f.name for f in dataclasses.fields(cls)}
        unknown = set(data) - known
        if unknown:
            raise ValidationError(f"unknown plan field(s): {', '.join(sorted(unknown))}")
        return cls(**dict(data))

    @classmethod
    def from_json(cls, raw: str | bytes) -> Plan:
        return cls.from_dict(json.loads(raw))


def _rule_field(scope: str, key: str = "") -> str:
    if scope not in RULE_SCOPES:
        raise ValidationError(f"unknown rule scope {scope!r} (one of {', '.join(RULE_SCOPES)})")
    if scope == "default":
        return "*"
    if not key:
        raise ValidationError(f"a {scope} rule needs a key")
    return f"{scope}:{key}"


class PlanStore:
    """Plan definitions, assignment rules and per-user overrides in Redis, with an in-process
    cache of definitions and rules (``cache_ttl`` seconds; writes through this store clear it)."""

    def __init__(
        self,
        redis: Any,
        *,
        default_plan: str = "",
        cache_ttl: float = 5.0,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self.redis = redis
        self.default_plan = default_plan
        self.cache_ttl = cache_ttl
        self._clock = clock
        self._lock = threading.Lock()
        self._cached: tuple[dict[str, Plan], dict[str, str]] | None = None
        self._revisions: dict[str, Plan] = {}
        self._cached_at = 0.0

    # --- definitions --------------------------------------------------------------------------

    def put(self, plan: Plan) -> None:
        """Create or replace a plan."""
        self.redis.hset(keys.plan_defs(), plan.name, plan.to_json())
        self.invalidate()

    def get_or_none(self, name: str) -> Plan | None:
        raw = self.redis.hget(keys.plan_defs(), name)
        return None if raw is None else Plan.from_json(raw)

    def get(self, name: str) -> Plan:
        plan = self.get_or_none(name)
        if plan is None:
            raise NotFound(f"no plan named {name!r}")
        return plan

    def all(self) -> list[Plan]:
        raw = self.redis.hgetall(keys.plan_defs())
        return sorted((Plan.from_json(v) for v in raw.values()), key=lambda p: p.name)

    def archive(self, plan: Plan) -> str:
        """Keep ``plan`` (a definition about to be replaced) as a revision; returns its name
        ``<plan>@<revision>`` for the records of sessions that still run under it."""
        name = f"{plan.name}@{plan.revision}"
        self.redis.hset(keys.plan_revisions(), name, plan.to_json())
        self.invalidate()
        return name

    def revisions_of(self, name: str) -> list[str]:
        """Names of the archived revisions of plan ``name``."""
        prefix = f"{name}@"
        return sorted(k.decode() for k in self.redis.hkeys(keys.plan_revisions())
                      if k.decode().startswith(prefix))

    def drop_revisions(self, names: Sequence[str]) -> None:
        """Forget revisions no online session runs under any more."""
        if names:
            self.redis.hdel(keys.plan_revisions(), *names)
            self.invalidate()

    def retire(self, name: str) -> Plan:
        """Stop handing a plan out. Online sessions keep it until they end; rules pointing at it
        fall through to the next rule."""
        plan = dataclasses.replace(self.get(name), retired=True)
        self.put(plan)
        return plan

    # --- rules and overrides ------------------------------------------------------------------

    def assign(self, scope: str, key: str, plan_name: str) -> None:
        """Make ``plan_name`` the default for a venue / SSID / AC (or ``default`` globally)."""
        field = _rule_field(scope, key)
        if self.get_or_none(plan_name) is None:
            raise NotFound(f"no plan named {plan_name!r}")
        self.redis.hset(keys.plan_rules(), field, plan_name)
        self.invalidate()

    def unassign(self, scope: str, key: str = "") -> None:
        self.redis.hdel(keys.plan_rules(), _rule_field(scope, key))
        self.invalidate()

    def rules(self) -> dict[str, str]:
        return {k.decode(): v.decode() for k, v in self.redis.hgetall(keys.plan_rules()).items()}

    def assign_user(self, phone: str, plan_name: str | None) -> None:
        """Override the plan of one phone (``None`` removes the override)."""
        if plan_name is None:
            self.redis.delete(keys.plan_override(phone))
            return
        if self.get_or_none(plan_name) is None:
            raise NotFound(f"no plan named {plan_name!r}")
        self.redis.set(keys.plan_override(phone), plan_name)

    def user_plan(self, phone: str) -> str | None:
        raw = self.redis.get(keys.plan_override(phone))
        return None if raw is None else raw.decode()

    # --- resolution ---------------------------------------------------------------------------

    def invalidate(self) -> None:
        with self._lock:
            self._cached = None

    def snapshot(self) -> tuple[dict[str, Plan], dict[str, str]]:
        """(definitions by name, rules), from the cache when it is fresh."""
        now = self._clock()
        with self._lock:
            cached = self._cached
            if cached is not None and now - self._cached_at < self.cache_ttl:
                return cached
        pipe = self.redis.pipeline(transaction=False)
        pipe.hgetall(keys.plan_defs())
        pipe.hgetall(keys.plan_rules())
        pipe.hgetall(keys.plan_revisions())
        raw_defs, raw_rules, raw_revisions = pipe.execute()
        revisions = {}
        for rev_name, value in raw_revisions.items():
            try:
                revisions[rev_name.decode()] = Plan.from_json(value)
            except (ValidationError, ValueError, TypeError):
                continue
        defs = {}
        for value in raw_defs.values():
            try:
                plan = Plan.from_json(value)
            except (ValidationError, ValueError, TypeError):
                continue  # a broken record must not take the hot path down; the console shows it
            defs[plan.name] = plan
        rules = {k.decode(): v.decode() for k, v in raw_rules.items()}
        with self._lock:
            self._cached = (defs, rules)
            self._revisions = revisions
            self._cached_at = now
        return defs, rules

    def plan_named(self, name: str) -> Plan | None:
        """A (cached) definition by name, retired or not — for sessions that already hold it;
        ``<plan>@<revision>`` is the archived definition a session still runs under."""
        defs = self.snapshot()[0]
        if "@" in name:
            with self._lock:
                found = self._revisions.get(name)
            # A revision pruned while a session was being pinned to it (two changes of one plan
            # racing): the plan itself is the closest answer, not "no plan".
            return found if found is not None else defs.get(base_name(name))
        return defs.get(name)

    def resolve_with(
        self, override: str | None, ac_name: str, ssid: str | None, venue: str | None = None
    ) -> Plan | None:
        """Resolution when the caller already fetched the user's override (authorize() does, in
        its single round trip). ``None`` when nothing applies."""
        defs, rules = self.snapshot()
        candidates = [override]
        if venue:
            candidates.append(rules.get(f"venue:{venue}"))
        if ssid:
            candidates.append(rules.get(f"ssid:{ssid}"))
        candidates += [rules.get(f"ac:{ac_name}"), rules.get("*"), self.default_plan or None]
        for name in candidates:
            if name is None:
                continue
            plan = defs.get(name)
            if plan is not None and not plan.retired:
                return plan
        return None

    def resolve(self, phone: str, ac_name: str, ssid: str | None, venue: str | None = None) -> Plan:
        """The plan that applies to ``phone`` logging in through ``ac_name`` on ``ssid``.

        Raises NotFound when no rule gives a live plan.
        """
        plan = self.resolve_with(self.user_plan(phone), ac_name, ssid, venue)
        if plan is None:
            raise NotFound(f"no plan applies to {phone} on {ac_name}/{ssid}")
        return plan


# --- seeding from the TOML file -------------------------------------------------------------------

def plan_from_seed(seed: PlanSeed) -> Plan:
    """The :class:`Plan` of a ``[[plans]]`` entry (TOML has no null: 0 there means unset here)."""
    values = {f.name: getattr(seed, f.name) for f in dataclasses.fields(seed)}
    for name in (*LIMIT_NAMES, "valid_until"):
        if not values[name]:
            values[name] = None
    return Plan.from_dict(values)


def _digest(raw: str | bytes) -> str:
    return hashlib.sha256(raw if isinstance(raw, bytes) else raw.encode()).hexdigest()


def seed_plans(store: PlanStore, plans: Sequence[PlanSeed], rules: Sequence[PlanRuleSeed]) -> list[str]:
    """Copy ``[[plans]]`` and ``[[plan_rules]]`` into Redis without undoing console/API work.

    Each record is written when it is absent and was never seeded, or when it still holds exactly
    what the previous seed wrote (then a changed TOML entry updates it). A record the NOC edited,
    created itself, or deleted since is left as it is. A rule naming a plan that exists neither in
    the file nor in Redis is skipped with a warning. Returns what was written
    (``plan:<name>``, ``rule:<field>``) for the caller's log.
    """
    redis = store.redis
    pipe = redis.pipeline(transaction=False)
    pipe.hgetall(keys.plan_defs())
    pipe.hgetall(keys.plan_rules())
    pipe.hgetall(keys.plan_seeds())
    raw_defs, raw_rules, raw_marks = pipe.execute()
    defs = {k.decode(): v for k, v in raw_defs.items()}
    current_rules = {k.decode(): v.decode() for k, v in raw_rules.items()}
    marks = {k.decode(): v.decode() for k, v in raw_marks.items()}

    def wanted(mark_field: str, current: str | None, new: str, seeded: str | None) -> bool:
        if current is None:
            return seeded is None                    # absent: new, unless the NOC deleted it
        if seeded is None or current != seeded:
            if current != new:
                log.info("seed: %s was changed in Redis since; the TOML entry is not applied", mark_field)
            return False
        return current != new                        # untouched since the last seed

    written: list[str] = []
    write = redis.pipeline(transaction=True)         # one slot ({plans}): all or nothing
    for seed in plans:
        plan = plan_from_seed(seed)
        new_json = plan.to_json()
        mark_field = f"plan:{plan.name}"
        current = defs.get(plan.name)
        if wanted(mark_field, None if current is None else _digest(current), _digest(new_json),
                  marks.get(mark_field)):
            write.hset(keys.plan_defs(), plan.name, new_json)
            write.hset(keys.plan_seeds(), mark_field, _digest(new_json))
            defs[plan.name] = new_json.encode()
            written.append(mark_field)
    for rule in rules:
        field = _rule_field(rule.scope, rule.key)
        mark_field = f"rule:{field}"
        if not wanted(mark_field, current_rules.get(field), rule.plan, marks.get(mark_field)):
            continue
        if rule.plan not in defs:
            log.warning("seed: plan rule %s names plan %r, which is neither in [[plans]] nor in "
                        "Redis; rule skipped", field, rule.plan)
            continue
        write.hset(keys.plan_rules(), field, rule.plan)
        write.hset(keys.plan_seeds(), mark_field, rule.plan)
        written.append(mark_field)
    if written:
        write.execute()
        store.invalidate()
    return written
