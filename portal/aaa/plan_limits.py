"""A plan's limits, declared once: each limit's name, what it counts, how the NOC types it, and
whether online sessions follow a change of it.

``Plan`` (``portal.aaa.plans``) validates exactly these fields, the NOC's plan form
(``portal.web.noc.noc_plans``) and the API's plan schema (``portal.web.api.api_plans``) are built
from this table, and their names for people are ``PLAN_LIMIT_LABELS`` in ``portal/aaa/texts.py``.
A new limit is one entry here, its label, its field on ``Plan`` and on ``PlanSeed``
(``portal/runtime/settings_seeds.py``; a test keeps the two alike), and the rule that applies it
(``portal/aaa/decision.py`` / ``grants.py``).

Stored units: times in seconds, volumes in octets (both directions together; 1 MB = 1,000,000
octets, ``portal/units.py``), rates in kbit/s. ``None`` on a plan means "no limit".
"""

from __future__ import annotations

from dataclasses import dataclass

from portal.units import MB

__all__ = ["ENFORCED_FIELDS", "LIMIT_NAMES", "PLAN_LIMITS", "PlanLimit"]


@dataclass(frozen=True, slots=True)
class PlanLimit:
    name: str
    counts: str                 # what the stored number means (the API documents it so)
    form_unit: str              # the unit the NOC types it in ("" for a plain count)
    form_scale: int             # form unit → stored unit (minutes → seconds: 60)
    form_minimum: float = 0     # the smallest value the form accepts (0: any positive)
    whole: bool = True          # the form takes whole numbers only
    enforced: bool = True       # a change is sent to the plan's online sessions (CoA)


PLAN_LIMITS: tuple[PlanLimit, ...] = (
    PlanLimit("up_kbps", "kbit/s, user to network", "kbit/s", 1),
    PlanLimit("down_kbps", "kbit/s, network to user", "kbit/s", 1),
    PlanLimit("session_timeout", "seconds per session", "min", 60, whole=False),
    PlanLimit("idle_timeout", "seconds", "min", 60, whole=False),
    PlanLimit("daily_time", "online seconds per local day", "min", 60, whole=False),
    PlanLimit("total_time", "online seconds ever", "min", 60, whole=False),
    PlanLimit("daily_volume", "octets per local day, both directions (1 MB = 1,000,000 octets)",
              "MB", MB, whole=False),
    PlanLimit("total_volume", "octets ever, both directions (1 MB = 1,000,000 octets)",
              "MB", MB, whole=False),
    PlanLimit("validity_days", "days from the first login", "d", 1),
    # Concurrency and device binding are checked at login; online sessions are not affected.
    PlanLimit("max_sessions", "devices online at once", "", 1, enforced=False),
    # RFC 2869 §5.16: Acct-Interim-Interval MUST NOT be smaller than 60.
    PlanLimit("interim_interval", "seconds (at least 60)", "s", 1, form_minimum=60),
    PlanLimit("mac_binding_days", "days", "d", 1, enforced=False),
)

LIMIT_NAMES: tuple[str, ...] = tuple(limit.name for limit in PLAN_LIMITS)

# The fields that decide what an online session gets (its Session-Timeout, rates, idle timeout,
# interim interval, or whether its allowance is used up): a change of any of them is sent to the
# plan's online sessions. Titles, retirement, concurrency and device binding apply at login.
ENFORCED_FIELDS: tuple[str, ...] = (*(limit.name for limit in PLAN_LIMITS if limit.enforced),
                                    "valid_until")
