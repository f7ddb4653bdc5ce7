"""The authorisation decision, written once: blocklist → plan → quota → concurrency → Grant.

Pure (no I/O): every path that lets a phone online fetches its reads its own way and calls
:func:`decide` on them — ``portal.aaa.authorizer.Authorizer`` (redis-py: the web login, and the RADIUS
server under Sentinel or Cluster), the RADIUS fast path (``radius.auth``: one pre-encoded
pipeline per batch, ``radius.batch_reads``) and RADIUS MAC authentication. So which backend runs
changes how the reads travel, never what is decided (tests/radius/test_decision_backends.py runs
one set of decisions on plain, Sentinel and Cluster Redis).

The plan is resolved by the caller from the override it read (``PlanStore.resolve_with``: plan
definitions and rules are cached per process, their refresh is I/O); ``None`` means no plan
applies. The one write a decision can ask for — the first login that starts a validity period
counted from first login — is the caller's too (:func:`starts_validity`).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import NamedTuple
from zoneinfo import ZoneInfo

from portal.aaa.blocklist import blocks
from portal.aaa.grants import ClassSigner, Grant, check_quota, grant_of, too_many_online
from portal.aaa.plans import Plan
from portal.aaa.sessions import OnlineSession
from portal.aaa.usage import Usage

__all__ = ["AuthReads", "DecisionRules", "Refusal", "decide", "screen", "starts_validity"]


class AuthReads(NamedTuple):
    """What one decision needs, as fetched (a NamedTuple: built per Access-Request, cheaply).

    ``blocked_phone`` / ``blocked_mac``: the raw blocklist entries (``HGET`` of the blocked
    phones / MACs; None = not listed); a caller that checked the blocklist itself (the web login,
    before sending a code) passes None for both. ``sessions``: the phone's online sessions for the
    ``max_sessions`` pre-check, or None where the device-slot reservation alone decides it
    (portal/aaa/device_slots.py: atomic, where a read could be stale)."""

    phone: str
    mac: str | None
    blocked_phone: bytes | None
    blocked_mac: bytes | None
    usage: Usage
    sessions: list[OnlineSession] | None = None


class Refusal(NamedTuple):
    """Why not: ``"blocked"`` (the NOC blocklist) or a ``portal.aaa.grants.REFUSAL_MESSAGES`` code."""

    code: str
    detail: str = ""


@dataclass(frozen=True, slots=True)
class DecisionRules:
    """The per-process part of a decision (settings, the Class key), built once."""

    tz: ZoneInfo
    default_interim: int
    grace: float                        # how long past its deadline a session still counts
    signer: ClassSigner | None = None   # signs the Class for its AC (the RADIUS server's)


def screen(reads: AuthReads, plan: Plan | None, now: float) -> Refusal | None:
    """The refusal that needs no session list — blocked, no plan, validity/time/volume — or None.
    The RADIUS fast path asks this before spending a token whose Accept reserves a device slot."""
    if (reads.blocked_phone is not None or reads.blocked_mac is not None) and blocks(
            reads.blocked_phone, reads.blocked_mac, now):
        return Refusal("blocked", reads.phone)
    if plan is None:
        return Refusal("no_plan", reads.phone)
    code = check_quota(plan, reads.usage, now)
    if code is not None:
        return Refusal(code, f"{reads.phone} plan {plan.name}")
    return None


def decide(reads: AuthReads, plan: Plan | None, rules: DecisionRules, ac: str, now: float,
           nonce: bytes | None = None) -> Grant | Refusal:
    """The Grant for ``reads`` under ``plan`` (resolved from the override read with them), or
    the Refusal. ``ac``: the AC name the Class is signed for; ``nonce``: the login's (the
    device-slot reservation's), random when None."""
    refusal = screen(reads, plan, now)
    if refusal is not None:
        return refusal
    assert plan is not None
    if reads.sessions and plan.max_sessions is not None:
        online = too_many_online(plan.max_sessions, reads.sessions, reads.mac, now, rules.grace)
        if online is not None:
            return Refusal("too_many_devices", f"{reads.phone}: {online} online")
    return grant_of(plan, reads.usage, reads.phone, now, rules.tz, rules.default_interim,
                    rules.signer, ac, nonce)


def starts_validity(plan: Plan, usage: Usage) -> bool:
    """True when an Accept under ``plan`` must record the first login (``UsageBook.
    mark_first_login``): its validity counts from a first login this phone has not made yet."""
    return usage.first_login is None and plan.validity_days is not None
