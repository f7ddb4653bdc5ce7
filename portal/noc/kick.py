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

    @property
    def message_zh(self) -> str:
        return {
            "dm": "已通过 RFC 5176 断开请求（DM）下线",
            "portal": "已通过 Portal 协议下线请求（REQ_LOGOUT）下线",
            "controller": "已在网关控制器上取消授权（unauthorize-guest）",
            "gone": "AC 报告该会话已不存在（用户已下线）",
            "refused": f"AC 拒绝断开（Error-Cause {self.error_cause}），用户仍在线",
            "not_found": "AC 报告找不到该会话（Error-Cause 503），但计费显示用户仍在线，可能未下线；"
                         "请核对 AC 的 RFC 5176 会话标识",
            "no_answer": "AC 未响应，用户可能仍在线",
            "unknown_ac": "未知的 AC，无法下线",
            "no_remote_logout": "该网关（Omada 外部门户 API）不支持从外部下线用户，用户仍在线："
                                "会话将在授权时长结束时终止；其用量由 Open API 读取，"
                                "在授权结束时计入每日配额" if self.detail.startswith("omada+openapi") else
                                "该网关（Omada 外部门户 API）不支持从外部下线用户，用户仍在线："
                                "会话将在授权时长结束时终止；该 API 也不回报用户流量，"
                                "其用量不计入每日配额（可为该网关配置 Open API 应用）"
                                if self.detail.startswith("omada") else
                                "该网关（openNDS 9.10）不支持从外部下线用户，用户仍在线："
                                "会话将在登录时下发的时长或流量限额用完时结束；"
                                "如需立即下线，请在网关上执行 ndsctl deauth <用户 IP>",
        }[self.outcome]

    @property
    def message_en(self) -> str:
        return {
            "dm": "Disconnected via RFC 5176 Disconnect-Request (DM)",
            "portal": "Logged out via Portal REQ_LOGOUT",
            "controller": "Unauthorised on the gateway's controller (unauthorize-guest)",
            "gone": "The AC reports the session no longer exists (already offline)",
            "refused": f"The AC refused the disconnect (Error-Cause {self.error_cause}); still online",
            "not_found": "The AC reports no such session (Error-Cause 503) but accounting shows it "
                         "online; the user may still be online: check the AC's RFC 5176 identifiers",
            "no_answer": "The AC did not answer; the user may still be online",
            "unknown_ac": "Unknown AC; cannot disconnect",
            "no_remote_logout": "This gateway (Omada's external-portal API) cannot be told to drop a "
                                "client from outside; the user is still online until the authorised "
                                "time runs out. Its usage is read through the Open API and booked to "
                                "the daily quota when the authorisation ends"
                                if self.detail.startswith("omada+openapi") else
                                "This gateway (Omada's external-portal API) cannot be told to drop a "
                                "client from outside; the user is still online until the authorised "
                                "time runs out. That API reports no usage either: this client's "
                                "traffic is not booked to the daily quota (give the entry an Open "
                                "API application)"
                                if self.detail.startswith("omada") else
                                "This gateway (openNDS 9.10) cannot be told to drop a client from "
                                "outside; the user is still online until the session length or data "
                                "quota given at login runs out. To end it now, run `ndsctl deauth "
                                "<client IP>` on the gateway",
        }[self.outcome]

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
        return {
            "coa": "新套餐已通过 CoA 应用到在线会话",
            "next_login": "该 AC 不支持 RFC 5176（CoA），新套餐将在下次登录时生效",
            "coa_failed": "AC 未确认 CoA，新套餐将在下次登录时生效",
            "disconnected": "新套餐的额度已用完，会话已下线",
            "disconnect_failed": "新套餐的额度已用完，但 AC 未确认下线",
            "superseded": "套餐又被修改，由新的修改任务处理",
        }[self.outcome]

    @property
    def message_en(self) -> str:
        return {
            "coa": "The new plan was applied to the live session via CoA",
            "next_login": "This AC has no RFC 5176 (CoA); the new plan applies at the next login",
            "coa_failed": "The AC did not acknowledge the CoA; the new plan applies at the next login",
            "disconnected": "The new plan's allowance is used up; the session was disconnected",
            "disconnect_failed": "The new plan's allowance is used up, but the AC did not confirm "
                                 "the disconnect",
            "superseded": "The plan was changed again; the newer change takes over",
        }[self.outcome]

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

    @property
    def message_zh(self) -> str:
        if self.after is None:
            return "已取消指定套餐（按规则分配）；在线会话保持不变。"
        ok = sum(1 for o in self.sessions if o.ok)
        return f"套餐已改为 {self.after}；{len(self.sessions)} 个在线会话中 {ok} 个已应用。"

    @property
    def message_en(self) -> str:
        if self.after is None:
            return "Plan override removed (rules decide); online sessions are left as they are."
        ok = sum(1 for o in self.sessions if o.ok)
        return f"Plan set to {self.after}; applied to {ok} of {len(self.sessions)} online sessions."

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

    @property
    def message_zh(self) -> str:
        c = self.counts()
        kept = c["next_login"] + c["coa_failed"]
        text = (f"套餐 {self.plan}：{len(self.outcomes)} 个在线会话，{c['coa']} 个已通过 CoA 应用新限制，"
                f"{c['disconnected']} 个已超出新限制并下线")
        if kept:
            text += f"，{kept} 个的 AC 未接受 CoA，保持原限制直到下线（新限制在下次登录时生效）"
        if c["disconnect_failed"]:
            text += f"，{c['disconnect_failed']} 个已超出新限制但 AC 未确认下线"
        return text + "。"

    @property
    def message_en(self) -> str:
        c = self.counts()
        kept = c["next_login"] + c["coa_failed"]
        text = (f"Plan {self.plan}: {len(self.outcomes)} online sessions; {c['coa']} got the new "
                f"limits by CoA, {c['disconnected']} were past them and were disconnected")
        if kept:
            text += (f"; {kept} on ACs that took no CoA keep their previous limits until they end "
                     f"(the new ones apply at the next login)")
        if c["disconnect_failed"]:
            text += (f"; {c['disconnect_failed']} are past the new limits but the AC did not "
                     f"confirm the disconnect")
        return text + "."

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
