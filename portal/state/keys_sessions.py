"""Redis key names of online sessions (the per-phone records and their indexes), the accounting
log and the log archive's bookkeeping.

Re-exported by :mod:`portal.state.keys`; callers use ``keys.<name>(...)``.
"""

from __future__ import annotations

from portal.state.keys_aaa import PREFIX

__all__ = [
    "ac_sessions",
    "acct_log",
    "archive_checkpoints",
    "archive_last_run",
    "archive_lock",
    "archive_seals",
    "device_slots",
    "ip_session_bucket",
    "login_claim",
    "mac_session_bucket",
    "phone_sessions",
    "plan_sessions",
    "session_deadlines",
    "session_index_repair_lock",
    "session_tombstone",
    "ssid_index_names",
    "ssid_sessions",
    "ssid_unknown_sessions",
    "venue_sessions",
]


# --- Sessions (portal/aaa/sessions.py, radius/accounting.py, radius/reaper.py) ----------------------
# Redis Cluster: a Lua script may only touch keys of one slot. The accounting script must update
# a session's last-seen counters AND the phone's usage counters atomically (that is what makes a
# replayed Interim-Update harmless), and authorize() must read usage + sessions in one trip, so
# the session records live in the PHONE's slot: one hash per phone, field "<ac>|<acct-session-id>"
# → compact JSON. (One hash per phone rather than one key per session also saves the ~70 bytes of
# per-key overhead; 1–3 sessions per phone stay a listpack with hash-max-ziplist-value 256.)
# The two secondary indexes are in other slots and are updated in the same pipeline but not the
# same script; they may briefly point at a session that no longer exists, so every reader of an
# index re-checks the record and drops dangling entries:
# * per-AC hash (slot ``{sac:<ac>}``): Accounting-On/Off and "which phone owns this session id"
#   when an accounting packet carries no Class;
# * one global deadline zset (slot ``{ses}``) for the reaper and the NOC's list. It is a single
#   key (one node in a cluster) but only sees one write per interim per session (~350/s at 100k
#   sessions with a 300 s interval).
# * per-venue and per-SSID hashes and bucketed MAC / IP hashes (portal/aaa/session_index.py) for the
#   NOC's searches; written after the accounting script from the record it returned (the record
#   says which venue, SSID, MAC and IP), removed with the record; the maintenance process
#   (radius/reaper.py) repairs what a crash between the two left.

def phone_sessions(phone: str) -> str:
    """Hash: a phone's online sessions, ``<ac>|<acct-session-id>`` → compact JSON record."""
    return f"{PREFIX}:{{p:{phone}}}:ses"


def session_tombstone(phone: str, ac: str, session_id: str) -> str:
    """String (TTL): final counters ``t,in,out`` of a recently closed session, so a late or
    replayed Stop/Interim is recognised instead of being counted again."""
    return f"{PREFIX}:{{p:{phone}}}:sx:{ac}|{session_id}"


def login_claim(phone: str, login: str) -> str:
    """String (TTL): ``<ac>|<acct-session-id>`` of the accounting session that a login (the nonce
    of the signed Class its Access-Accept carried) backs. One login backs one session; the
    accounting script refuses the same Class on any other session."""
    return f"{PREFIX}:{{p:{phone}}}:lc:{login}"


def device_slots(phone: str) -> str:
    """Hash (TTL = the longest hold): device slots an Access-Accept reserved for a plan with
    ``max_sessions`` until the device's accounting opens its session (portal/aaa/device_slots.py);
    field = device MAC or ``lg:<login>`` → ``<expiry epoch>|<login>``."""
    return f"{PREFIX}:{{p:{phone}}}:slots"


def ac_sessions(ac: str) -> str:
    """Hash: acct-session-id → phone, for every online session on one AC."""
    return f"{PREFIX}:{{sac:{ac}}}"


def venue_sessions(venue: str) -> str:
    """Hash: ``<ac>|<acct-session-id>`` → phone, for every online session that started in one
    venue (per-venue online counts and the NOC's venue filter without a scan)."""
    return f"{PREFIX}:{{sven:{venue}}}"


def plan_sessions(plan: str) -> str:
    """Hash: ``<ac>|<acct-session-id>`` → phone, for every online session whose record names
    ``plan`` (a plan name, a ``<plan>@<revision>``, or "" for sessions without a known plan):
    a changed plan reaches its online sessions without a scan."""
    return f"{PREFIX}:{{spl:{plan}}}"



def ssid_sessions(ssid: str) -> str:
    """Hash: ``<ac>|<acct-session-id>`` → phone, for every online session that started on one
    SSID (the NOC's SSID filter and its count without a scan)."""
    return f"{PREFIX}:{{sssid:{ssid}}}"


def ssid_unknown_sessions() -> str:
    """Hash: ``<ac>|<acct-session-id>`` → phone, for online sessions whose record names no SSID
    (the AC sent no Called-Station-Id, or a record older than SSID recording): an SSID search
    matches them by their real-name login record."""
    return f"{PREFIX}:{{sssid}}:unknown"


def ssid_index_names() -> str:
    """Set: every SSID that has an index hash (the repair finds stale ones through it)."""
    return f"{PREFIX}:{{sssid}}:names"


def mac_session_bucket(bucket: int) -> str:
    """Hash: ``<mac>|<ac>|<acct-session-id>`` → phone, for online sessions whose MAC falls in one
    of a fixed number of buckets (portal/aaa/session_index.py: small hashes stay listpacks)."""
    return f"{PREFIX}:{{smac:{bucket}}}"


def ip_session_bucket(bucket: int) -> str:
    """Hash: ``<ip>|<ac>|<acct-session-id>`` → phone, like :func:`mac_session_bucket` for IPs."""
    return f"{PREFIX}:{{sip:{bucket}}}"


def session_index_repair_lock() -> str:
    """String (TTL = repair interval): one process of the fleet repairs the session indexes."""
    return f"{PREFIX}:{{sven}}:index-repair-lock"


def session_deadlines() -> str:
    """Sorted set: ``<phone>|<ac>|<acct-session-id>`` scored by the epoch after which the session
    counts as silent (last update + 2 × interim + grace)."""
    return f"{PREFIX}:{{ses}}:dl"


# --- Accounting log (radius/accounting.py; retention/export belong to the NOC) -----------------

def acct_log() -> str:
    """Stream: every accounting record accepted with an Accounting-Response, plus closes made
    by the reaper and Accounting-On/Off. No MAXLEN here: retention is the NOC's job."""
    return f"{PREFIX}:{{acctlog}}:stream"


# --- Log archive (portal/legal/log_archive.py) ---------------------------------------------------------

def archive_checkpoints() -> str:
    """Hash: archived stream name (``realname``, ``accounting``, ``audit``) → the last stream id
    that is durably in an archive file. Written only after the file is fsynced and renamed;
    entries up to it may then be trimmed from Redis. Export reads files up to it, Redis after."""
    return f"{PREFIX}:{{archive}}:checkpoints"


def archive_seals() -> str:
    """Hash: stream name → ``<day> <mac>`` of the newest sealed archive day (portal/legal/archive_seal.py).
    The head of each day chain lives apart from the files, so deleting the newest day file and
    its seal is detected too."""
    return f"{PREFIX}:{{archive}}:seals"


def archive_lock() -> str:
    """String (TTL, renewed): ``<host>:<pid>`` of the archive job running now (one at a time)."""
    return f"{PREFIX}:{{archive}}:lock"


def archive_last_run() -> str:
    """Hash: summary of the last archive run (at, archived, trimmed, deleted files, error)."""
    return f"{PREFIX}:{{archive}}:last-run"
