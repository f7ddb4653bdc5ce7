"""The NOC's view of one phone (the console's user page): plan, usage, validity, bound devices, recent logins.

Read-only; changes (plan override, unbinding a device, kicks) go through
``portal.noc.kick.NocActions`` and ``portal.aaa.credentials.CredentialStore`` from the web layer, which
audits them.

The *effective* plan of a phone is decided per login by the rules (override, venue, SSID, AC,
default — ``portal.aaa.plans``), so it is shown with where it comes from: the override when one is
set and live, else the plan of its newest online session, else that of its last login, else the
global default rule.

Recent logins come from the real-name stream, which has no per-phone index: the newest
:data:`LOGIN_SCAN_LIMIT` entries are read and this phone's are kept.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from portal.aaa.credentials import CredentialStore, normalise_phone
from portal.aaa.grants import terminate_at
from portal.aaa.plans import Plan, PlanStore
from portal.aaa.sessions import OnlineSession, SessionRegistry
from portal.aaa.usage import Usage, UsageBook
from portal.legal.reallog import LOGOUT, LoginRecord
from portal.state import keys

__all__ = ["LOGIN_SCAN_LIMIT", "BoundMac", "UserDirectory", "UserProfile"]

LOGIN_SCAN_LIMIT = 20_000


@dataclass(frozen=True, slots=True)
class BoundMac:
    mac: str
    expires: float

    def as_dict(self) -> dict[str, Any]:
        return {"mac": self.mac, "expires": self.expires}


@dataclass(frozen=True, slots=True)
class UserProfile:
    phone: str
    override: str | None
    effective: str | None
    effective_source: str          # override | session | last_login | default | none
    plan: Plan | None              # definition of the effective plan
    usage: Usage
    expires: float | None          # validity end under the effective plan (None = never)
    macs: tuple[BoundMac, ...]
    sessions: tuple[OnlineSession, ...]
    logins: tuple[LoginRecord, ...]

    def as_dict(self) -> dict[str, Any]:
        u = self.usage
        return {
            "phone": self.phone,
            "plan": {"override": self.override, "effective": self.effective,
                     "source": self.effective_source,
                     "definition": None if self.plan is None else _plan_dict(self.plan)},
            "usage": {"day": u.day, "today": {"time": u.daily_time, "octets": u.daily_volume},
                      "total": {"time": u.total_time, "octets": u.total_volume}},
            "validity": {"first_login": u.first_login, "expires": self.expires},
            "macs": [m.as_dict() for m in self.macs],
            "online": [{"ac": s.ac, "session_id": s.session_id, "mac": s.mac or "", "ip": s.ip or "",
                        "plan": s.plan, "started": s.started} for s in self.sessions],
            "logins": [{"at": r.at, "mac": r.mac, "ip": r.ip, "ac": r.ac, "ap": r.ap, "ssid": r.ssid,
                        "venue": r.venue, "kind": r.kind, "plan": r.plan,
                        "observed_ip": r.observed_ip} for r in self.logins],
        }


def _plan_dict(plan: Plan) -> dict[str, Any]:
    return {"name": plan.name, "title_zh": plan.title_zh, "title_en": plan.title_en,
            "up_kbps": plan.up_kbps, "down_kbps": plan.down_kbps,
            "session_timeout": plan.session_timeout, "daily_time": plan.daily_time,
            "total_time": plan.total_time, "daily_volume": plan.daily_volume,
            "total_volume": plan.total_volume, "validity_days": plan.validity_days,
            "max_sessions": plan.max_sessions, "retired": plan.retired}


class UserDirectory:
    """Assembles :class:`UserProfile` for a phone."""

    def __init__(self, redis: Any, *, plans: PlanStore, usage: UsageBook, grace: float = 60.0,
                 clock: Callable[[], float] = time.time) -> None:
        self.redis = redis
        self.plans = plans
        self.usage = usage
        self.clock = clock
        self.registry = SessionRegistry(redis, grace=grace)
        self.credentials = CredentialStore(redis)

    def profile(self, phone: str, *, logins: int = 20) -> UserProfile:
        """Everything the NOC shows about ``phone`` (ValidationError if it is no number)."""
        phone = normalise_phone(phone)
        now = self.clock()
        override = self.plans.user_plan(phone)
        usage = self.usage.get(phone, now)
        sessions = tuple(sorted(self.registry.by_phone(phone), key=lambda s: -s.started))
        recent = tuple(self.recent_logins(phone, logins))
        effective, source = self._effective(override, sessions, recent)
        plan = None
        if effective:   # "<plan>@<revision>": a session still under a plan's previous definition
            plan = self.plans.plan_named(effective) if "@" in effective else self.plans.get_or_none(effective)
        return UserProfile(
            phone=phone, override=override, effective=effective, effective_source=source,
            plan=plan, usage=usage, expires=terminate_at(plan, usage, now) if plan else None,
            macs=tuple(self.bound_macs(phone)), sessions=sessions, logins=recent)

    def _effective(self, override: str | None, sessions: tuple[OnlineSession, ...],
                   logins: tuple[LoginRecord, ...]) -> tuple[str | None, str]:
        if override:
            plan = self.plans.get_or_none(override)
            if plan is not None and not plan.retired:
                return override, "override"
        for s in sessions:
            if s.plan:
                return s.plan, "session"
        for r in logins:
            if r.plan:
                return r.plan, "last_login"
        default = self.plans.resolve_with(None, "", None)
        return (default.name, "default") if default is not None else (None, "none")

    def bound_macs(self, phone: str) -> list[BoundMac]:
        out = []
        for mac in self.credentials.macs_for_phone(phone):
            found = self.credentials.binding_for_mac(mac)
            if found is not None:
                out.append(BoundMac(mac, found[1]))
        return out

    def recent_logins(self, phone: str, count: int = 20) -> list[LoginRecord]:
        """This phone's newest login records (newest first), from the newest
        :data:`LOGIN_SCAN_LIMIT` real-name entries."""
        out: list[LoginRecord] = []
        upper: Any = "+"
        read = 0
        target = phone.encode()
        while len(out) < count and read < LOGIN_SCAN_LIMIT:
            page = self.redis.xrevrange(keys.real_name_log(), max=upper, min="-", count=1000)
            if not page:
                break
            read += len(page)
            for _entry_id, raw in page:
                if raw.get(b"phone") != target or raw.get(b"kind") == LOGOUT.encode():
                    continue
                data = {k.decode(): v.decode() for k, v in raw.items()}
                try:
                    out.append(LoginRecord(
                        phone=phone, mac=data.get("mac", ""), ip=data.get("ip", ""),
                        ac=data.get("ac", ""), ap=data.get("ap", ""), ssid=data.get("ssid", ""),
                        venue=data.get("venue", ""), kind=data.get("kind", ""),
                        plan=data.get("plan", ""), at=float(data["at"]),
                        observed_ip=data.get("observed_ip", "")))
                except (KeyError, ValueError):
                    continue
                if len(out) >= count:
                    break
            if len(page) < 1000:
                break
            last = page[-1][0]
            upper = "(" + (last.decode() if isinstance(last, bytes) else str(last))
        return out
