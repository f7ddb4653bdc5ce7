"""What an accounting record may claim: the checks made before anything of it is applied.

An AC reports session time and octet counters, and an AC can be wrong (firmware bugs, counter
garbage) or hostile. A record whose values cannot be true is *refused*: it is kept in the
accounting log as ``k=rejected`` with the reason (for the NOC), counted per AC, answered (the AC
would otherwise retransmit it forever, RFC 5080 §2.2.1) and not applied to sessions or usage.

Checked here, from the record alone (pure, no Redis):

* ``counter_range`` — octets with Gigawords folded in beyond 2^53 - 1 (the accounting script
  computes in Lua doubles, exact up to 2^53; 8 PB per session is not a real count);
* ``delay`` — Acct-Delay-Time beyond ``quota.acct_max_delay`` (2^32 - 1 put a start in 1890);
* ``session_time`` — Acct-Session-Time beyond ``quota.acct_max_session_time`` (136 years);
* ``before_login`` — the session would have started (now - delay - session time) before the
  login its signed Class names, by more than ``quota.acct_clock_skew``: time beyond now.

Checked in the accounting script, where the session's own state is known (see
``radius/accounting.py``): ``time_ahead`` (session time grew faster than our clock since the
session started), ``rate_in`` / ``rate_out`` (more octets than the plan's rate × margin allows
over the session time), ``login_reused`` (a login's Class on a second session),
``counter_range``/``usage_overflow`` (numbers the counters cannot hold).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING

from portal.runtime.settings import QuotaSettings

if TYPE_CHECKING:
    from portal.aaa.plans import Plan
    from radius.accounting import AcctRecord

__all__ = ["BURST_SECONDS", "MAX_COUNTER", "Limits", "check_record"]

MAX_COUNTER = 2**53 - 1
# Octet allowance: rate × margin × (session time + this). Covers counters sampled a little after
# the session time, and the first seconds of a session at line rate before shaping applies.
BURST_SECONDS = 60


@dataclass(frozen=True, slots=True)
class Limits:
    clock_skew: int = 300
    max_delay: int = 604800
    max_session_time: int = 2592000
    rate_margin: float = 2.0
    line_kbps: int = 1_000_000

    @classmethod
    def from_settings(cls, q: QuotaSettings) -> Limits:
        return cls(q.acct_clock_skew, q.acct_max_delay, q.acct_max_session_time,
                   q.acct_rate_margin, q.acct_line_kbps)

    def bytes_per_second(self, kbps: int | None) -> float:
        """Octets per second a counter may grow at under ``kbps`` (None: the line rate)."""
        return (kbps or self.line_kbps) * 125.0 * self.rate_margin

    def plan_rates(self, plan: Plan | None) -> tuple[float, float]:
        """(input, output) octets per second allowed under ``plan``; 0 = use the line rate.
        Input is what the user sends (the plan's up rate), output what it receives."""
        if plan is None:
            return 0.0, 0.0
        return (self.bytes_per_second(plan.up_kbps) if plan.up_kbps else 0.0,
                self.bytes_per_second(plan.down_kbps) if plan.down_kbps else 0.0)


def check_record(record: AcctRecord, received_at: float, limits: Limits,
                 login_issued: int | None = None) -> str | None:
    """The refusal reason for values that cannot be true, or None. ``login_issued``: when the
    login of a verified signed Class was granted (our clock)."""
    if record.input_total > MAX_COUNTER or record.output_total > MAX_COUNTER:
        return "counter_range"
    delay = record.delay_time or 0
    if delay > limits.max_delay:
        return "delay"
    session_time = record.session_time or 0
    if session_time > limits.max_session_time:
        return "session_time"
    if login_issued is not None and received_at - delay - session_time < login_issued - limits.clock_skew:
        return "before_login"
    return None
