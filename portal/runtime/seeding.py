"""Copy the ACs, plans and plan rules of the settings file into Redis at start-up.

Run by every process that needs them to answer (``radius``, ``ac-listener``, ``up``), so a node
started alone — a RADIUS node before any listener, say — does not drop its ACs' packets as from
unknown clients until another process has seeded. Both steps leave console/API edits alone
(``AcRegistry.seed``, ``portal.aaa.plans.seed_plans``), so running them on every start and on several
nodes at once is harmless.
"""

from __future__ import annotations

from typing import Any

from portal.aaa.acs import AcRegistry
from portal.aaa.plans import PlanStore, seed_plans
from portal.runtime.settings import Settings

__all__ = ["seed_from_settings"]


def seed_from_settings(redis: Any, settings: Settings) -> list[str]:
    """Write what is missing; return what was written (``ac:<name>``, ``plan:<name>``, ``rule:…``)."""
    written = [f"ac:{name}" for name in AcRegistry(redis).seed(settings.acs)]
    written += seed_plans(PlanStore(redis), settings.plans, settings.plan_rules)
    return written
