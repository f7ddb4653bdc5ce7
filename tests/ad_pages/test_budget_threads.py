"""A render's budget belongs to its thread (``ad_pages.budget``): a thread that never armed one
reads None (trusted, unlimited) without a look-up miss, an armed budget is seen by its own
thread only, and disarming returns the thread to None."""

from __future__ import annotations

import threading

from ad_pages import budget
from ad_pages.sandbox import RenderLimits


def test_budgets_are_per_thread() -> None:
    seen: dict[str, object] = {}

    def fresh() -> None:
        seen["fresh"] = budget.current()
        seen["has_own"] = "budget" in budget._local.__dict__   # the class default, no attribute set

    armed = budget.arm(RenderLimits())
    try:
        assert budget.current() is armed
        other = threading.Thread(target=fresh)
        other.start()
        other.join()
        assert seen == {"fresh": None, "has_own": False}
    finally:
        budget.disarm()
    assert budget.current() is None
