"""NOC use cases that act on live sessions: kick a session or a phone, change a phone's plan.

Both consoles and the API call these; the radius process does the same things for quotas. The
packets (RFC 5176 Disconnect / CoA, Portal REQ_LOGOUT fallback) are sent by an *enforcer* that
is handed in — ``radius.enforcement.Enforcer`` in production — so this module (portal core)
never imports the radius package: ``radius`` imports the portal core, not the other way round.
The web layer builds the enforcer (``portal/web/noc/noc_sessions.py``, ``enforcer()``).

Outcomes carry what happened in words an operator understands, in Chinese and English:
disconnected via RFC 5176 DM, via Portal logout, AC did not answer, plan applied via CoA, AC
without RFC 5176 (new plan at next login).

A changed plan (:meth:`NocActions.apply_plan_change`) reaches every online session under it,
raised or lowered alike: a CoA with the new limits, or a Disconnect when the session is already
past them (allowance used up, or longer online than the new per-session cap). A session whose
AC cannot take the CoA keeps the limits it was granted — the AC still enforces them — and its
record is pointed at the archived previous definition (``<plan>@<revision>``, see
``portal/aaa/plans.py``), so every view of it shows what is really enforced until it ends. The web
layer runs these as background jobs (``portal/noc/jobs.py``).
"""

from __future__ import annotations

import concurrent.futures
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any, Protocol

from ac_adapters.gateways import adapter_for
from portal.aaa.acs import AcRecord, AcRegistry
from portal.aaa.decision import AuthReads, DecisionRules, Refusal, decide
from portal.aaa.grants import Grant, QuotaRefusal
from portal.aaa.plans import Plan, PlanStore, base_name
from portal.aaa.sessions import OnlineSession, SessionRegistry
from portal.aaa.usage import UsageBook
from portal.errors import NotFound, ValidationError
from portal.noc.texts import KICK_OUTCOMES, PLAN_APPLICATION, PLAN_CHANGE, PLAN_SESSION_OUTCOMES
from portal.texts import fill

__all__ = ["Enforcement", "KickOutcome", "NocActions", "PlanApplication", "PlanChange", "PlanOutcome"]

Progress = Callable[[int, int], None]


class _Result(Protocol):
    ok: bool
    method: str
    error_cause: int | None
    detail: str


class Enforcement(Protocol):
    """What ``radius.enforcement.Enforcer`` offers (structural)."""

    def disconnect(self, session: OnlineSession, reason: str = ..., *,
                   ac: AcRecord | None = ...) -> Any: ...

    def coa(self, session: OnlineSession, grant: Grant, *, ac: AcRecord | None = ...) -> Any: ...


@dataclass(frozen=True, slots=True)
class KickOutcome:
    """How one session's kick went. ``method``: dm | portal | controller | none."""

    ac: str
    session_id: str
    phone: str
    ok: bool
    method: str
    error_cause: int | None = None
    detail: str = ""

    @property
    def outcome(self) -> str:
        """dm | portal | controller | gone | refused | not_found | no_answer | unknown_ac | no_remote_logout

        "gone" only when the enforcer confirmed the session is closed (a NAK 503 alone is not
        proof: a NAS answers it too when our identifiers do not match its session)."""
        if self.ok:
            return "gone" if self.method == "dm" and self.error_cause == 503 else self.method
        if self.detail.startswith("unknown AC"):
            return "unknown_ac"
        if self.method == "unsupported":
            return "no_remote_logout"
        if self.method == "dm" and self.error_cause == 503:
            return "not_found"
        if self.method == "dm" and self.error_cause is not None:
            return "refused"
        return "no_answer"

    def _message(self) -> tuple[str, str]:
        key = self.outcome
        if key == "no_remote_logout":
            key += ("/omada+openapi" if self.detail.startswith("omada+openapi") else
                    "/omada" if self.detail.startswith("omada") else "/opennds")
        return fill(KICK_OUTCOMES[key], error_cause=self.error_cause)

    @property
    def message_zh(self) -> str:
        return self._message()[0]

    @property
    def message_en(self) -> str:
        return self._message()[1]

    def as_dict(self) -> dict[str, Any]:
        return {"ac": self.ac, "session_id": self.session_id, "phone": self.phone, "ok": self.ok,
                "method": self.method, "outcome": self.outcome, "error_cause": self.error_cause,
                "detail": self.detail, "message": self.message_en, "message_zh": self.message_zh}


@dataclass(frozen=True, slots=True)
class PlanOutcome:
    """How a plan change reached one live session. ``outcome``: coa | next_login | coa_failed |
    disconnected (the new plan's quota is already used up) | disconnect_failed | superseded (a
    newer change of the plan took over)."""

    ac: str
    session_id: str
    outcome: str
    session_timeout: int | None = None
    up_kbps: int | None = None
    down_kbps: int | None = None
    detail: str = ""
    phone: str = ""

    @property
    def ok(self) -> bool:
        return self.outcome in ("coa", "disconnected")

    @property
    def message_zh(self) -> str:
        return PLAN_SESSION_OUTCOMES[self.outcome][0]

    @property
    def message_en(self) -> str:
        return PLAN_SESSION_OUTCOMES[self.outcome][1]

    def as_dict(self) -> dict[str, Any]:
        return {"ac": self.ac, "session_id": self.session_id, "phone": self.phone, "ok": self.ok,
                "outcome": self.outcome,
                "session_timeout": self.session_timeout, "up_kbps": self.up_kbps,
                "down_kbps": self.down_kbps, "detail": self.detail, "message": self.message_en,
                "message_zh": self.message_zh}


@dataclass(frozen=True, slots=True)
class PlanChange:
    phone: str
    before: str | None          # the user override before ("None" = rules decided)
    after: str | None
    sessions: tuple[PlanOutcome, ...]

    def _message(self) -> tuple[str, str]:
        if self.after is None:
            return PLAN_CHANGE["removed"]
        ok = sum(1 for o in self.sessions if o.ok)
        return fill(PLAN_CHANGE["set"], plan=self.after, total=len(self.sessions), ok=ok)

    @property
    def message_zh(self) -> str:
        return self._message()[0]

    @property
    def message_en(self) -> str:
        return self._message()[1]

    def as_dict(self) -> dict[str, Any]:
        return {"phone": self.phone, "before": self.before, "after": self.after,
                "sessions": [o.as_dict() for o in self.sessions], "message": self.message_en,
                "message_zh": self.message_zh}


PLAN_OUTCOMES = ("coa", "disconnected", "next_login", "coa_failed", "disconnect_failed", "superseded")


@dataclass(frozen=True, slots=True)
class PlanApplication:
    """How a changed plan reached its online sessions (one job)."""

    plan: str
    outcomes: tuple[PlanOutcome, ...]

    def counts(self) -> dict[str, int]:
        return {o: sum(1 for x in self.outcomes if x.outcome == o) for o in PLAN_OUTCOMES}

    def _message(self, lang: int) -> str:
        """The summary in ``lang`` (0 zh, 1 en): PLAN_APPLICATION's parts that apply."""
        c = self.counts()
        kept = c["next_login"] + c["coa_failed"]
        text = PLAN_APPLICATION["summary"][lang].format(plan=self.plan, total=len(self.outcomes),
                                                        coa=c["coa"], disconnected=c["disconnected"])
        if kept:
            text += PLAN_APPLICATION["kept"][lang].format(kept=kept)
        if c["disconnect_failed"]:
            text += PLAN_APPLICATION["disconnect_failed"][lang].format(failed=c["disconnect_failed"])
        return text + PLAN_APPLICATION["end"][lang]

    @property
    def message_zh(self) -> str:
        return self._message(0)

    @property
    def message_en(self) -> str:
        return self._message(1)

    def as_dict(self, limit: int = 500) -> dict[str, Any]:
        """Counts for all; per-session details for at most ``limit`` (those not applied first)."""
        ordered = sorted(self.outcomes, key=lambda o: (o.outcome in ("coa", "disconnected"), o.ac,
                                                       o.session_id))
        return {"plan": self.plan, "sessions": len(self.outcomes), "counts": self.counts(),
                "message": self.message_en, "message_zh": self.message_zh,
                "details": [o.as_dict() for o in ordered[:limit]]}


def _remote_control(ac: AcRecord) -> bool:
    """Whether anything outside the gateway can end or change its sessions: a gateway kind whose
    adapter says it cannot (openNDS 9.10) gets neither a Disconnect nor a CoA sent to it."""
    adapter = adapter_for(ac.kind)
    return adapter is None or adapter.can_logout


class NocActions:
    """Kick and re-plan live sessions through ``enforcer`` (see module doc)."""

    def __init__(self, redis: Any, enforcer: Enforcement, *, plans: PlanStore, usage: UsageBook,
                 default_interim: int = 300, grace: float = 60.0,
                 clock: Callable[[], float] = time.time, parallel: int = 8,
                 settle: float = 7.0) -> None:
        self.redis = redis
        self.enforcer = enforcer
        self.plans = plans
        self.usage = usage
        self.default_interim = default_interim
        self.grace = grace
        self.clock = clock
        self.registry = SessionRegistry(redis, grace=grace)
        self.acs = AcRegistry(redis)
        # CoA/DM exchanges of one plan change in flight at once (each waits on its AC).
        self.parallel = max(1, parallel)
        # How long after a change a RADIUS process may still grant from its cached definition
        # (quota.plan_cache_ttl plus a margin): sessions that appear meanwhile get a second pass.
        self.settle = settle

    # --- kick ---------------------------------------------------------------------------------

    def kick_session(self, ac: str, session_id: str, reason: str = "admin") -> KickOutcome:
        """Disconnect one online session; NotFound when it is not online."""
        session = self.registry.get(ac, session_id)
        if session is None:
            raise NotFound(f"no online session {session_id!r} on AC {ac!r}")
        return self._kick(session, reason)

    def kick_phone(self, phone: str, reason: str = "admin") -> list[KickOutcome]:
        """Disconnect every online session of a phone (empty list: nothing was online)."""
        return [self._kick(s, reason) for s in self.registry.by_phone(phone)]

    def _kick(self, session: OnlineSession, reason: str) -> KickOutcome:
        ac = self.acs.get_or_none(session.ac)
        if ac is not None and not _remote_control(ac):
            return KickOutcome(session.ac, session.session_id, session.phone, False, "unsupported",
                               detail=f"{ac.kind}{'+openapi' if ac.openapi_client else ''} gateway: "
                                      f"no remote logout (client {session.ip or '-'})")
        res: _Result = self.enforcer.disconnect(session, reason)
        return KickOutcome(session.ac, session.session_id, session.phone, bool(res.ok), res.method,
                           res.error_cause, res.detail)

    # --- plan ---------------------------------------------------------------------------------

    def assignable(self, plan_name: str | None) -> Plan | None:
        """The plan a phone may be given (None for "remove the override"); NotFound when there
        is no such plan, ValidationError when it is retired."""
        if plan_name is None:
            return None
        plan = self.plans.get_or_none(plan_name)
        if plan is None:
            raise NotFound(f"no plan named {plan_name!r}")
        if plan.retired:
            raise ValidationError(f"plan {plan_name!r} is retired and cannot be assigned")
        return plan

    def change_plan(self, phone: str, plan_name: str | None) -> PlanChange:
        """Set (or with None remove) the phone's plan override and apply it to its live
        sessions: CoA with the new Session-Timeout and rates where the AC takes RFC 5176; the
        next login otherwise. Removing the override leaves live sessions as they are."""
        plan = self.assignable(plan_name)
        before = self.plans.user_plan(phone)
        self.plans.assign_user(phone, plan_name)
        outcomes: list[PlanOutcome] = []
        if plan is not None:
            outcomes = [self._apply(s, plan) for s in self.registry.by_phone(phone)]
        return PlanChange(phone, before, plan_name, tuple(outcomes))

    @staticmethod
    def elapsed(session: OnlineSession, now: float) -> int:
        """Seconds the session has been online: by the clock since its start, or what its AC
        last reported, whichever is more."""
        by_clock = int(now - session.started) if session.started > 0 else 0
        return max(session.session_time, by_clock)

    def grant_for(self, session: OnlineSession, plan: Plan) -> Grant:
        """What the live session gets under ``plan`` now (QuotaRefusal when nothing is left).
        Concurrency is not re-checked: the session is already online."""
        now = self.clock()
        usage = self.usage.get(session.phone, now)
        reads = AuthReads(session.phone, session.mac, None, None, usage)   # not the blocklist
        grant = decide(reads, plan, DecisionRules(self.usage.tz, self.default_interim, self.grace), "", now)
        if isinstance(grant, Refusal):
            raise QuotaRefusal(grant.code, grant.detail)
        if plan.session_timeout is not None:
            # A CoA Session-Timeout counts from the CoA: only what is left of the per-session cap.
            cap = max(1, plan.session_timeout - self.elapsed(session, now))
            timeout = cap if grant.session_timeout is None else min(grant.session_timeout, cap)
            grant = grant._replace(session_timeout=timeout)
        return grant

    def _over_limit(self, session: OnlineSession, plan: Plan) -> tuple[str, Grant | None]:
        """("", the grant) when the session may go on under ``plan``, else (why, None)."""
        try:
            grant = self.grant_for(session, plan)
        except QuotaRefusal as exc:
            return exc.code, None
        if plan.session_timeout is not None and self.elapsed(session, self.clock()) >= plan.session_timeout:
            return "session_timeout_reached", None
        return "", grant

    def _apply(self, session: OnlineSession, plan: Plan, *, pin: str = "") -> PlanOutcome:
        """Send ``plan`` to one live session (CoA, or Disconnect when it is past the limits).
        ``pin``: where the AC takes no CoA, the session's record is pointed at this archived
        revision (the definition the AC still enforces); "" leaves the record as it is."""
        ref = (session.ac, session.session_id)
        why, grant = self._over_limit(session, plan)
        if grant is None:
            kicked = self._kick(session, "plan_changed")
            return PlanOutcome(*ref, "disconnected" if kicked.ok else "disconnect_failed",
                               detail=f"{why}; {kicked.message_en}", phone=session.phone)
        limits: dict[str, Any] = dict(session_timeout=grant.session_timeout,
                                      up_kbps=grant.up_kbps, down_kbps=grant.down_kbps,
                                      phone=session.phone)
        ac = self.acs.get_or_none(session.ac)
        if ac is None or not ac.rfc5176 or not _remote_control(ac):
            self._pin(session, pin)
            return PlanOutcome(*ref, "next_login", **limits,
                               detail="unknown AC" if ac is None else "AC without RFC 5176")
        res: _Result = self.enforcer.coa(session, grant, ac=ac)
        if not res.ok:
            self._pin(session, pin)
            detail = res.detail + (f" (Error-Cause {res.error_cause})" if res.error_cause else "")
            return PlanOutcome(*ref, "coa_failed", **limits, detail=detail)
        self.registry.with_plan(session, plan.name)
        return PlanOutcome(*ref, "coa", **limits)

    def _pin(self, session: OnlineSession, revision: str) -> None:
        # Only a session still on the plan itself: one already pinned runs under an older
        # revision, which is what its AC enforces.
        if revision and session.plan == base_name(revision):
            self.registry.with_plan(session, revision)

    # --- a changed plan -----------------------------------------------------------------------

    def sessions_under(self, plan_name: str) -> list[OnlineSession]:
        """Online sessions whose record names the plan or one of its revisions: from the
        per-plan indexes once every online session is in one, else by a chunked scan."""
        names = [plan_name, *self.plans.revisions_of(plan_name)]
        if self._plans_indexed():
            return [s for name in names for s in self.registry.by_plan(name)]
        seen: dict[str, OnlineSession] = {}
        for chunk in self.registry.scan():
            for s in chunk:
                if base_name(s.plan) == plan_name:
                    seen[f"{s.phone}|{s.field}"] = s
        return list(seen.values())

    def online_under(self, plan_name: str) -> int:
        """About how many online sessions run under the plan or its revisions (index sizes)."""
        names = [plan_name, *self.plans.revisions_of(plan_name)]
        return sum(self.registry.count_by_plan(names).values())

    def _plans_indexed(self) -> bool:
        """Whether every online session is in a per-plan index (true once the sessions recorded
        before the index existed have ended, and after each index repair)."""
        names = [p.name for p in self.plans.all()]
        revisions = [r for p in names for r in self.plans.revisions_of(p)]
        indexed = sum(self.registry.count_by_plan([*names, *revisions, ""]).values())
        return indexed >= self.registry.count()

    def apply_plan_change(self, before: Plan, after: Plan,
                          progress: Progress | None = None) -> PlanApplication:
        """Send the changed plan ``after`` (it was ``before``) to every online session under it,
        in parallel (``parallel`` exchanges at a time). A second pass ``settle`` seconds later
        reaches sessions that started meanwhile with limits a RADIUS process granted from its
        cached copy of ``before``. Stops early (outcome ``superseded``) when the plan was changed
        again: the job of that change takes over."""
        revision = ""
        outcomes: dict[str, PlanOutcome] = {}
        lock = threading.Lock()
        total = [0]

        def current() -> bool:
            return self.plans.get_or_none(after.name) == after

        def one(session: OnlineSession) -> PlanOutcome:
            if not current():
                return PlanOutcome(session.ac, session.session_id, "superseded", phone=session.phone)
            return self._apply(session, after, pin=revision)

        def run(sessions: list[OnlineSession]) -> None:
            todo = [s for s in sessions if s.field not in outcomes]
            with lock:
                total[0] += len(todo)
            with concurrent.futures.ThreadPoolExecutor(min(self.parallel, max(1, len(todo))),
                                                       "plan-apply") as pool:
                for session, outcome in zip(todo, pool.map(one, todo), strict=True):
                    with lock:
                        outcomes[session.field] = outcome
                        if progress is not None:
                            progress(len(outcomes), total[0])

        first = self.sessions_under(after.name)
        if any(s.plan == after.name for s in first):
            revision = self.plans.archive(before)
        run(first)
        if self.settle > 0 and current():
            time.sleep(self.settle)
            later = [s for s in self.sessions_under(after.name) if s.plan == after.name]
            if not revision and any(s.field not in outcomes for s in later):
                revision = self.plans.archive(before)
            run(later)
        self._prune_revisions(after.name)
        if progress is not None:
            progress(len(outcomes), len(outcomes))
        return PlanApplication(after.name, tuple(outcomes.values()))

    def _prune_revisions(self, plan_name: str) -> None:
        unused = [r for r in self.plans.revisions_of(plan_name) if not self.registry.by_plan(r)]
        self.plans.drop_revisions(unused)
