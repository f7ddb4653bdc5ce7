"""Redis key names of the AAA core: the AC registry, the blocklist, login credentials (tokens,
MAC bindings), plans and usage counters — and ``PREFIX``, the first part of every key name.

Re-exported by :mod:`portal.state.keys`; callers use ``keys.<name>(...)``.
"""

from __future__ import annotations

__all__ = [
    "PREFIX",
    "ac",
    "ac_address_index",
    "ac_names",
    "ac_portal_source",
    "ac_radius_learned",
    "ac_seeds",
    "ac_stats",
    "blocked_macs",
    "blocked_phones",
    "listener_stats",
    "login_tokens",
    "login_tokens_used",
    "mac_binding",
    "phone_macs",
    "plan_defs",
    "plan_override",
    "plan_revisions",
    "plan_rules",
    "plan_seeds",
    "token_grant",
    "usage",
]


PREFIX = "cw"


# --- AC registry -----------------------------------------------------------------------------

def ac(name: str) -> str:
    """Hash: one AC's record (field ``json`` holds the serialised AcRecord)."""
    return f"{PREFIX}:{{acs}}:ac:{name}"


def ac_names() -> str:
    """Set: names of every registered AC."""
    return f"{PREFIX}:{{acs}}:names"


def ac_seeds() -> str:
    """Set: names of ACs the TOML seed has written (``AcRegistry.seed``): one that is missing
    from the registry but listed here was deleted in the console/API and is not recreated."""
    return f"{PREFIX}:{{acs}}:seeded"


def ac_address_index() -> str:
    """Hash: source address or BAS-IP → AC name."""
    return f"{PREFIX}:{{acs}}:by-address"


def ac_portal_source(address: str) -> str:
    """Set: names of the ACs whose explicit ``portal_sources`` list ``address`` (several ACs
    behind one NAT address may share it; ACs without the list are found by ``ac_address_index``)."""
    return f"{PREFIX}:{{acs}}:portal-src:{address}"


def ac_stats(name: str) -> str:
    """Hash: live counters of one AC (last packet seen, bad authenticators, …)."""
    return f"{PREFIX}:{{acstat:{name}}}"


def ac_radius_learned(name: str) -> str:
    """Hash: what the RADIUS servers learned about one AC under ``auto`` Message-Authenticator
    policies (radius/ma_policy.py): ``ma`` = epoch of its first Access-Request with a valid
    Message-Authenticator, ``first`` = "proxy" or "nas" (whether its first Access-Request carried
    Proxy-State without one). Shared by every worker and node; cleared when the AC's addresses
    or policies are edited (portal/aaa/acs.py)."""
    return f"{PREFIX}:{{acs}}:learned:{name}"


def listener_stats() -> str:
    """Hash: ac-listener counters not tied to a known AC (``unknown_ac``, ``ambiguous_ac``,
    ``last_unknown_source``, ``last_unknown_at``, ``state_unavailable``)."""
    return f"{PREFIX}:{{acstat}}:listener"


# --- Blocklist (NOC) -------------------------------------------------------------------------

def blocked_phones() -> str:
    """Hash: phone → JSON {reason, expires (epoch or 0), by, at}."""
    return f"{PREFIX}:{{block}}:phones"


def blocked_macs() -> str:
    """Hash: normalised MAC (aa:bb:cc:dd:ee:ff) → JSON {reason, expires, by, at}."""
    return f"{PREFIX}:{{block}}:macs"


# --- Credentials (RADIUS login tokens and per-MAC credentials; portal/aaa/credentials.py) ---------

def login_tokens(phone: str) -> str:
    """Hash: live single-use login tokens of a phone, token → "<expires epoch>|<mac or empty>".

    The key's TTL covers the newest token; each field carries its own expiry.
    """
    return f"{PREFIX}:{{p:{phone}}}:login-tokens"


def token_grant(phone: str, token_digest: str) -> str:
    """String: the Access-Accept a login token earned (JSON {ac, mac, attrs, at}), kept for the
    short replay window (``radius.token_replay_window``): the same AC asking again for the same
    device and token — a retransmission from a new source port, or a failover to another node
    after a lost Accept — gets the same Accept (radius/token_grants.py). ``token_digest`` is a
    hash of the token, never the token itself."""
    return f"{PREFIX}:{{p:{phone}}}:token-grant:{token_digest}"


def login_tokens_used(phone: str) -> str:
    """Hash: recently consumed login tokens of a phone, token → consumed-at epoch (short TTL),
    so a replayed token is told apart from a mistyped one ("reused" vs "invalid")."""
    return f"{PREFIX}:{{p:{phone}}}:login-tokens-used"


def mac_binding(mac: str) -> str:
    """Hash: the returning-user binding of one normalised MAC: phone, secret (the per-MAC
    RADIUS password), expires (epoch). Key expires with the binding."""
    return f"{PREFIX}:{{m:{mac}}}:binding"


def phone_macs(phone: str) -> str:
    """Set: normalised MACs bound to a phone (index for listing/unbinding; may hold stale MACs
    whose binding already expired — readers check ``mac_binding``)."""
    return f"{PREFIX}:{{p:{phone}}}:macs"


# --- Plans (portal/aaa/plans.py) -----------------------------------------------------------------
# Plan definitions and assignment rules are small, read-mostly and cached in-process; they share
# the ``{plans}`` slot so a console edit of a plan and its rules can be one MULTI.

def plan_defs() -> str:
    """Hash: plan name → JSON of the Plan (including ``retired``)."""
    return f"{PREFIX}:{{plans}}:defs"


def plan_rules() -> str:
    """Hash: assignment rule → plan name. Fields: ``venue:<id>``, ``ssid:<ssid>``, ``ac:<name>``,
    ``*`` (global default)."""
    return f"{PREFIX}:{{plans}}:rules"


def plan_seeds() -> str:
    """Hash: what the TOML seed last wrote (``portal.aaa.plans.seed_plans``). ``plan:<name>`` → SHA-256
    of the plan JSON written; ``rule:<rule field>`` → the plan name written. A record that no
    longer matches was edited (or deleted) in the console/API since, and is left alone."""
    return f"{PREFIX}:{{plans}}:seeded"


def plan_revisions() -> str:
    """Hash: ``<plan>@<revision>`` → JSON of a plan definition as it was before a change, kept
    while online sessions still run under it (the AC took no CoA for the change; their record's
    plan names the revision). Pruned when no session refers to a revision any more."""
    return f"{PREFIX}:{{plans}}:revisions"


def plan_override(phone: str) -> str:
    """String: the plan name assigned to one phone, overriding every rule. Lives in the phone's
    slot so authorize() reads it in the same round trip as usage and sessions."""
    return f"{PREFIX}:{{p:{phone}}}:plan"


# --- Usage (portal/aaa/usage.py) -----------------------------------------------------------------

def usage(phone: str) -> str:
    """Hash: one phone's counters. ``d`` day (YYYYMMDD, local) the daily counters belong to,
    ``dt``/``dv`` daily seconds/octets, ``tt``/``tv`` total seconds/octets, ``f`` first login
    epoch (validity starts there)."""
    return f"{PREFIX}:{{p:{phone}}}:usage"
