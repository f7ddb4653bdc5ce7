"""Redis key names of the consoles: NOC background jobs, console accounts and sign-in counters,
API tokens, the audit log, console sessions, and the live figures of the NOC dashboard.

Re-exported by :mod:`portal.state.keys`; callers use ``keys.<name>(...)``.
"""

from __future__ import annotations

import hashlib

from portal.state.keys_aaa import PREFIX

__all__ = [
    "api_token",
    "api_tokens",
    "audit_log",
    "bounded_part",
    "console_account",
    "console_accounts",
    "console_address_failures",
    "console_failure_addresses",
    "console_failure_audit_minute",
    "console_failures",
    "console_failures_from",
    "console_locked_refusals",
    "console_session",
    "console_unaudited_failures",
    "console_user_sessions",
    "noc_job",
    "stats_minute",
    "stats_month",
    "stats_totals",
]


# --- NOC background jobs (portal/noc/jobs.py) ------------------------------------------------------

def noc_job(job_id: str) -> str:
    """Hash (TTL ``console.job_ttl``): one background job of the NOC (a kick, a changed plan
    applied to online sessions) — kind, target, actor, state, created, updated, heartbeat,
    owner, total, done, result (JSON), error."""
    return f"{PREFIX}:{{job:{job_id}}}"


# --- consoles: accounts, API tokens, audit ---------------------------------------------------
# Sign-in counters are keyed by what a stranger typed: such a part goes into the key as itself
# only when short and plain, else as a digest, so no request can make a key name long.

_PLAIN_PART = frozenset("abcdefghijklmnopqrstuvwxyz0123456789_.@-:/")


def bounded_part(value: str, limit: int = 64) -> str:
    """``value`` as a key part: itself if at most ``limit`` plain characters, else ``h:<sha256/128>``
    (a collision needs 2^64 tries; it would only share a failure counter)."""
    if len(value) <= limit and value and all(ch in _PLAIN_PART for ch in value):
        return value
    return "h:" + hashlib.sha256(value.encode("utf-8", "surrogatepass")).hexdigest()[:32]


def console_account(username: str) -> str:
    """Hash: one console account — role, venues (JSON list), display_name, disabled,
    password hash (argon2id), created_at, password_changed_at."""
    return f"{PREFIX}:{{accounts}}:user:{username}"


def console_accounts() -> str:
    """Set: every console username (same hash tag as the accounts, for MULTI)."""
    return f"{PREFIX}:{{accounts}}:all"


def console_failures(username: str) -> str:
    """String (TTL = lockout period): wrong passwords for this username from any address."""
    return f"{PREFIX}:{{accounts}}:failures:{bounded_part(username)}"


def console_failures_from(username: str, address: str) -> str:
    """String (TTL = lockout period from its last failure): failed sign-ins on it from this address."""
    return f"{PREFIX}:{{accounts}}:failures:{bounded_part(username)}:from:{bounded_part(address)}"


def console_failure_addresses(username: str) -> str:
    """Set: addresses with a ``console_failures_from`` counter on this username (so a password
    reset or an account deletion can clear them all)."""
    return f"{PREFIX}:{{accounts}}:failure-addresses:{bounded_part(username)}"


def console_address_failures(address: str) -> str:
    """String (TTL = lockout period): wrong passwords from this address over all usernames."""
    return f"{PREFIX}:{{accounts}}:address-failures:{bounded_part(address)}"


def console_locked_refusals() -> str:
    """String (no TTL): attempts refused under a lockout, only counted (nothing they sent is stored)."""
    return f"{PREFIX}:{{accounts}}:locked-refusals"


def console_failure_audit_minute(minute: int) -> str:
    """String (TTL 2 min): failed sign-ins audited in this minute (``epoch // 60``), fleet-wide; past
    ``console.failed_sign_in_audit_per_minute`` only counted (``console_unaudited_failures``)."""
    return f"{PREFIX}:{{accounts}}:failure-audit:{minute}"


def console_unaudited_failures() -> str:
    """String (no TTL): failed sign-ins not audited because of the per-minute cap."""
    return f"{PREFIX}:{{accounts}}:unaudited-failures"


def api_token(token_id: str) -> str:
    """Hash: one API token — name, scope, created_by, created_at, expires_at, last_used,
    revoked, sha256 of the secret (the secret itself is never stored)."""
    return f"{PREFIX}:{{apitokens}}:token:{token_id}"


def api_tokens() -> str:
    """Set: every API token id."""
    return f"{PREFIX}:{{apitokens}}:all"


def audit_log() -> str:
    """Stream: console and API actions (who, when, what, before/after); archived, no MAXLEN."""
    return f"{PREFIX}:{{audit}}:log"


def console_session(session_id: str) -> str:
    """String (TTL = console session lifetime): the username a console sign-in belongs to.
    Deleted by logout, password change and disabling the account."""
    return f"{PREFIX}:{{accounts}}:session:{session_id}"


def console_user_sessions(username: str) -> str:
    """Set: the live console session ids of one account (to end them all at once)."""
    return f"{PREFIX}:{{accounts}}:sessions-of:{username}"


# --- live figures for the NOC dashboard and /metrics (portal/noc/livestats.py) ---------------------
# One hash tag ``{stats}``: every write is a few HINCRBYs on one slot (pipelined, no MULTI).

def stats_minute(minute: int) -> str:
    """Hash (TTL ~1 day): counters of one UTC minute (``minute`` = epoch // 60) — ``login:<kind>``,
    ``lv:<venue>``, ``code:<outcome>``, ``reject:<reason>``, ``fen`` (SMS spend)."""
    return f"{PREFIX}:{{stats}}:m:{minute}"


def stats_month(month: str) -> str:
    """Hash (TTL ~40 days): SMS figures of one local month ``YYYY-MM`` — ``sent``, ``fen``."""
    return f"{PREFIX}:{{stats}}:month:{month}"


def stats_totals() -> str:
    """Hash (no TTL): fleet-wide lifetime counters (a minute's fields but ``lv:``) for /metrics."""
    return f"{PREFIX}:{{stats}}:total"
