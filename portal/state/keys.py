"""Every Redis key name citywifi uses, built in one place.

Keys carry a hash tag (the part in braces) so that every key a Lua script or MULTI touches
together lands in one Redis Cluster slot. Group by the entity a multi-key update is about:

* ``{acs}``          — the AC registry (records, address index); updated together.
* ``{p:<phone>}``    — everything about one phone (OTP, plan, usage, bindings it owns).
* ``{m:<mac>}``      — everything about one device MAC.
* ``{ses}``          — the online-session registry index (per-session hashes use their own tag).

Add new key builders here, next to their siblings, with a line saying what the key holds.
"""

from __future__ import annotations

PREFIX = "cw"

__all__ = [
    "PREFIX",
    "ac",
    "ac_address_index",
    "ac_names",
    "ac_stats",
    "blocked_macs",
    "blocked_phones",
]


# --- AC registry -----------------------------------------------------------------------------

def ac(name: str) -> str:
    """Hash: one AC's record (field ``json`` holds the serialised AcRecord)."""
    return f"{PREFIX}:{{acs}}:ac:{name}"


def ac_names() -> str:
    """Set: names of every registered AC."""
    return f"{PREFIX}:{{acs}}:names"


def ac_address_index() -> str:
    """Hash: source address or BAS-IP → AC name."""
    return f"{PREFIX}:{{acs}}:by-address"


def ac_stats(name: str) -> str:
    """Hash: live counters of one AC (last packet seen, bad authenticators, …)."""
    return f"{PREFIX}:{{acstat:{name}}}"


# --- Blocklist (NOC) -------------------------------------------------------------------------

def blocked_phones() -> str:
    """Hash: phone → JSON {reason, expires (epoch or 0), by, at}."""
    return f"{PREFIX}:{{block}}:phones"


def blocked_macs() -> str:
    """Hash: normalised MAC (aa:bb:cc:dd:ee:ff) → JSON {reason, expires, by, at}."""
    return f"{PREFIX}:{{block}}:macs"
