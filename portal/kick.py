"""NOC use cases that act on live sessions: kick a session or a phone, change a phone's plan.

Both consoles and the API call these; the radius process does the same things for quotas. The
packets (RFC 5176 Disconnect / CoA, Portal REQ_LOGOUT fallback) are sent by an *enforcer* that
is handed in — ``radius.enforcement.Enforcer`` in production — so this module (portal core)
never imports the radius package: ``radius`` imports the portal core, not the other way round.
The web layer builds the enforcer (``portal/web/noc_sessions.py``, ``enforcer()``).

Outcomes carry what happened in words an operator understands, in Chinese and English:
disconnected via RFC 5176 DM, via Portal logout, AC did not answer, plan applied via CoA, AC
without RFC 5176 (new plan at next login).
"""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass, replace
from typing import Any, Protocol

from portal.acs import AcRecord, AcRegistry
from portal.errors import NotFound, ValidationError
from portal.grants import Grant, QuotaRefusal, evaluate
from portal.plans import Plan, PlanStore
from portal.sessions import OnlineSession, SessionRegistry
from portal.usage import UsageBook

__all__ = ["Enforcement", "KickOutcome", "NocActions", "PlanChange", "PlanOutcome"]


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
    """How one session's kick went. ``method``: dm | portal | none."""

    ac: str
    session_id: str
    phone: str
    ok: bool
    method: str
    error_cause: int | None = None
    detail: str = ""

    @property
    def outcome(self) -> str:
        """dm | portal | gone | refused | not_found | no_answer | unknown_ac

        "gone" only when the enforcer confirmed the session is closed (a NAK 503 alone is not
        proof: a NAS answers it too when our identifiers do not match its session)."""
        if self.ok:
            return "gone" if self.method == "dm" and self.error_cause == 503 else self.method
        if self.detail.startswith("unknown AC"):
            return "unknown_ac"
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
            "gone": "AC 报告该会话已不存在（用户已下线）",
            "refused": f"AC 拒绝断开（Error-Cause {self.error_cause}），用户仍在线",
            "not_found": "AC 报告找不到该会话（Error-Cause 503），但计费显示用户仍在线，可能未下线；"
                         "请核对 AC 的 RFC 5176 会话标识",
            "no_answer": "AC 未响应，用户可能仍在线",
            "unknown_ac": "未知的 AC，无法下线",
        }[self.outcome]

    @property
    def message_en(self) -> str:
        return {
            "dm": "Disconnected via RFC 5176 Disconnect-Request (DM)",
            "portal": "Logged out via Portal REQ_LOGOUT",
            "gone": "The AC reports the session no longer exists (already offline)",
            "refused": f"The AC refused the disconnect (Error-Cause {self.error_cause}); still online",
            "not_found": "The AC reports no such session (Error-Cause 503) but accounting shows it "
                         "online; the user may still be online: check the AC's RFC 5176 identifiers",
            "no_answer": "The AC did not answer; the user may still be online",
            "unknown_ac": "Unknown AC; cannot disconnect",
        }[self.outcome]

    def as_dict(self) -> dict[str, Any]:
        return {"ac": self.ac, "session_id": self.session_id, "phone": self.phone, "ok": self.ok,
                "method": self.method, "outcome": self.outcome, "error_cause": self.error_cause,
                "detail": self.detail, "message": self.message_en, "message_zh": self.message_zh}


@dataclass(frozen=True, slots=True)
class PlanOutcome:
    """How a plan change reached one live session. ``outcome``: coa | next_login | coa_failed |
    disconnected (the new plan's quota is already used up) | disconnect_failed."""

    ac: str
    session_id: str
    outcome: str
    session_timeout: int | None = None
    up_kbps: int | None = None
    down_kbps: int | None = None
    detail: str = ""

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
        }[self.outcome]

    def as_dict(self) -> dict[str, Any]:
        return {"ac": self.ac, "session_id": self.session_id, "ok": self.ok, "outcome": self.outcome,
                "session_timeout": self.session_timeout, "up_kbps": self.up_kbps,
                "down_kbps": self.down_kbps, "detail": self.detail, "message": self.message_en,
                "message_zh": self.message_zh}


@dataclass(frozen=True, slots=True)
class PlanChange:
    phone: str
    before: str | None          # the user override before ("None" = rules decided)
    after: str | None
    sessions: tuple[PlanOutcome, ...]

    def as_dict(self) -> dict[str, Any]:
        return {"phone": self.phone, "before": self.before, "after": self.after,
                "sessions": [o.as_dict() for o in self.sessions]}


class NocActions:
    """Kick and re-plan live sessions through ``enforcer`` (see module doc)."""

    def __init__(self, redis: Any, enforcer: Enforcement, *, plans: PlanStore, usage: UsageBook,
                 default_interim: int = 300, grace: float = 60.0,
                 clock: Callable[[], float] = time.time) -> None:
        self.redis = redis
        self.enforcer = enforcer
        self.plans = plans
        self.usage = usage
        self.default_interim = default_interim
        self.grace = grace
        self.clock = clock
        self.registry = SessionRegistry(redis, grace=grace)
        self.acs = AcRegistry(redis)

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
        res: _Result = self.enforcer.disconnect(session, reason)
        return KickOutcome(session.ac, session.session_id, session.phone, bool(res.ok), res.method,
                           res.error_cause, res.detail)

    # --- plan ---------------------------------------------------------------------------------

    def change_plan(self, phone: str, plan_name: str | None) -> PlanChange:
        """Set (or with None remove) the phone's plan override and apply it to its live
        sessions: CoA with the new Session-Timeout and rates where the AC takes RFC 5176; the
        next login otherwise. Removing the override leaves live sessions as they are."""
        plan: Plan | None = None
        if plan_name is not None:
            plan = self.plans.get_or_none(plan_name)
            if plan is None:
                raise NotFound(f"no plan named {plan_name!r}")
            if plan.retired:
                raise ValidationError(f"plan {plan_name!r} is retired and cannot be assigned")
        before = self.plans.user_plan(phone)
        self.plans.assign_user(phone, plan_name)
        outcomes: list[PlanOutcome] = []
        if plan is not None:
            outcomes = [self._apply(s, plan) for s in self.registry.by_phone(phone)]
        return PlanChange(phone, before, plan_name, tuple(outcomes))

    def grant_for(self, session: OnlineSession, plan: Plan) -> Grant:
        """What the live session gets under ``plan`` now (QuotaRefusal when nothing is left).
        Concurrency is not re-checked: the session is already online."""
        now = self.clock()
        usage = self.usage.get(session.phone, now)
        grant = evaluate(plan, usage, [], phone=session.phone, mac=session.mac, now=now,
                         tz=self.usage.tz, default_interim=self.default_interim, grace=self.grace)
        if plan.session_timeout is not None:
            # A CoA Session-Timeout counts from the CoA: only what is left of the per-session cap.
            cap = max(1, plan.session_timeout - session.session_time)
            timeout = cap if grant.session_timeout is None else min(grant.session_timeout, cap)
            grant = replace(grant, session_timeout=timeout)
        return grant

    def _apply(self, session: OnlineSession, plan: Plan) -> PlanOutcome:
        ref = (session.ac, session.session_id)
        try:
            grant = self.grant_for(session, plan)
        except QuotaRefusal as exc:
            kicked = self._kick(session, "plan_changed")
            return PlanOutcome(*ref, "disconnected" if kicked.ok else "disconnect_failed",
                               detail=f"{exc.code}; {kicked.message_en}")
        limits: dict[str, Any] = dict(session_timeout=grant.session_timeout,
                                      up_kbps=grant.up_kbps, down_kbps=grant.down_kbps)
        ac = self.acs.get_or_none(session.ac)
        if ac is None or not ac.rfc5176:
            return PlanOutcome(*ref, "next_login", **limits,
                               detail="unknown AC" if ac is None else "AC without RFC 5176")
        res: _Result = self.enforcer.coa(session, grant, ac=ac)
        if not res.ok:
            detail = res.detail + (f" (Error-Cause {res.error_cause})" if res.error_cause else "")
            return PlanOutcome(*ref, "coa_failed", **limits, detail=detail)
        self.registry.with_plan(session, plan.name)
        return PlanOutcome(*ref, "coa", **limits)
