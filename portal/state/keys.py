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

import hashlib

PREFIX = "cw"

__all__ = [
    "PREFIX",
    "ac",
    "ac_address_index",
    "ac_names",
    "ac_portal_source",
    "ac_radius_learned",
    "ac_seeds",
    "ac_sessions",
    "ac_stats",
    "acct_log",
    "ad_click_nonce",
    "archive_checkpoints",
    "archive_last_run",
    "archive_lock",
    "blocked_macs",
    "blocked_phones",
    "bounded_part",
    "carrier_lookup",
    "console_failure_addresses",
    "console_failures_from",
    "device_slots",
    "ip_session_bucket",
    "listener_stats",
    "login_tokens",
    "login_tokens_used",
    "mac_binding",
    "mac_session_bucket",
    "noc_job",
    "otp_ac_counter",
    "otp_code",
    "otp_global_counter",
    "otp_ip_counter",
    "otp_last_sent",
    "otp_mac_counter",
    "otp_phone_counter",
    "phone_macs",
    "phone_redirect",
    "phone_sessions",
    "plan_defs",
    "plan_override",
    "plan_revisions",
    "plan_rules",
    "plan_seeds",
    "plan_sessions",
    "session_deadlines",
    "session_index_repair_lock",
    "session_tombstone",
    "shared_key",
    "ssid_index_names",
    "ssid_sessions",
    "ssid_unknown_sessions",
    "token_grant",
    "usage",
    "venue_sessions",
]


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
    or policies are edited (portal/acs.py)."""
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


# --- Credentials (RADIUS login tokens and per-MAC credentials; portal/credentials.py) ---------

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


# --- Plans (portal/plans.py) -----------------------------------------------------------------
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
    """Hash: what the TOML seed last wrote (``portal.plans.seed_plans``). ``plan:<name>`` → SHA-256
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


# --- Usage (portal/usage.py) -----------------------------------------------------------------

def usage(phone: str) -> str:
    """Hash: one phone's counters. ``d`` day (YYYYMMDD, local) the daily counters belong to,
    ``dt``/``dv`` daily seconds/octets, ``tt``/``tv`` total seconds/octets, ``f`` first login
    epoch (validity starts there)."""
    return f"{PREFIX}:{{p:{phone}}}:usage"


# --- Sessions (portal/sessions.py, radius/accounting.py, radius/reaper.py) ----------------------
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
# * per-venue and per-SSID hashes and bucketed MAC / IP hashes (portal/session_index.py) for the
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
    ``max_sessions`` until the device's accounting opens its session (portal/device_slots.py);
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
    of a fixed number of buckets (portal/session_index.py: small hashes stay listpacks)."""
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


# --- Log archive (portal/archive.py) ---------------------------------------------------------

def archive_checkpoints() -> str:
    """Hash: archived stream name (``realname``, ``accounting``, ``audit``) → the last stream id
    that is durably in an archive file. Written only after the file is fsynced and renamed;
    entries up to it may then be trimmed from Redis. Export reads files up to it, Redis after."""
    return f"{PREFIX}:{{archive}}:checkpoints"


def archive_seals() -> str:
    """Hash: stream name → ``<day> <mac>`` of the newest sealed archive day (portal/archive_seal.py).
    The head of each day chain lives apart from the files, so deleting the newest day file and
    its seal is detected too."""
    return f"{PREFIX}:{{archive}}:seals"


def archive_lock() -> str:
    """String (TTL, renewed): ``<host>:<pid>`` of the archive job running now (one at a time)."""
    return f"{PREFIX}:{{archive}}:lock"


def archive_last_run() -> str:
    """Hash: summary of the last archive run (at, archived, trimmed, deleted files, error)."""
    return f"{PREFIX}:{{archive}}:last-run"


# --- OTP and SMS abuse limits (portal/otp.py, portal/phone_policy.py) ---------------------------
# Redis Cluster forbids a script touching keys of several slots, so each limit family lives in its
# own slot and portal/otp.py reserves them one script at a time (see the order explained there).
# Counters are fixed windows: ``window`` is "h" (hour), "d" (day) or "m" (minute) and ``bucket``
# the window's number (epoch // window length, days shifted to the operator's time zone).

def otp_code(phone: str) -> str:
    """Hash: the phone's current code — h (HMAC hex), n (nonce), dev (mac:…/ip:…), exp, tries,
    used, lang. A new code overwrites it (invalidating the previous one)."""
    return f"{PREFIX}:{{p:{phone}}}:otp"


def otp_last_sent(phone: str) -> str:
    """String: epoch of the last code sent to the phone (resend cooldown)."""
    return f"{PREFIX}:{{p:{phone}}}:otp-last"


def otp_phone_counter(phone: str, window: str, bucket: int) -> str:
    """String (counter, TTL): codes sent to the phone in one window."""
    return f"{PREFIX}:{{p:{phone}}}:otpn:{window}:{bucket}"


def otp_mac_counter(mac: str, window: str, bucket: int) -> str:
    """String (counter, TTL): codes asked by one device MAC in one window."""
    return f"{PREFIX}:{{m:{mac}}}:otpn:{window}:{bucket}"


def otp_ip_counter(ip: str, window: str, bucket: int) -> str:
    """String (counter, TTL): codes asked from one client IP in one window."""
    return f"{PREFIX}:{{ip:{ip}}}:otpn:{window}:{bucket}"


def otp_source_counter(address: str, window: str, bucket: int) -> str:
    """String (counter, TTL): codes asked from one OBSERVED source address (the request's peer
    after trusted proxies; behind NAT, a whole venue) in one window."""
    return f"{PREFIX}:{{src:{address}}}:otpn:{window}:{bucket}"


def otp_retry(phone: str) -> str:
    """Hash (TTL): the single-use retry ticket of a verified code whose login then failed —
    dev (mac:…/ip:…), page (hash of the login page's context token), n and h (the code's nonce
    and HMAC), exp, tries. Redeemed (deleted) atomically by one retry from that device and page."""
    return f"{PREFIX}:{{p:{phone}}}:otp-retry"


def otp_ac_counter(ac: str, window: str, bucket: int) -> str:
    """String (counter, TTL): codes asked through one AC in one window."""
    return f"{PREFIX}:{{smsac:{ac}}}:otpn:{window}:{bucket}"


def otp_global_counter(window: str, bucket: int) -> str:
    """String (counter, TTL): SMS codes issued by the whole installation in one window."""
    return f"{PREFIX}:{{smsbudget}}:otpn:{window}:{bucket}"


def carrier_lookup(phone: str) -> str:
    """String (TTL): cached subscriber-lookup answer for the phone (JSON, or "null"); the sms-worker
    also writes a delivery report's "not a subscriber" verdict here (portal/phone_policy.py)."""
    return f"{PREFIX}:{{p:{phone}}}:carrier"


# --- SMS queue (sms-worker) ------------------------------------------------------------------
# Everything about queued SMS shares the {sms} tag so the enqueue / claim / outcome Lua
# scripts touch one slot.

def sms_stream() -> str:
    """Stream: one entry per SMS job (field ``job_id``); read by the sms-workers group."""
    return f"{PREFIX}:{{sms}}:jobs"


SMS_GROUP = "sms-workers"  # consumer group name on sms_stream()


def sms_job(job_id: str) -> str:
    """Hash: one job — ``job`` (JSON SmsJob, deleted once the outcome is recorded: it holds the
    code), ``status`` (queued/sending/sent/failed/delivered/undelivered), gateway, message_id,
    error_code, message_zh/en, timestamps."""
    return f"{PREFIX}:{{sms}}:job:{job_id}"


def sms_dlr(gateway: str, message_id: str) -> str:
    """String (TTL): job id of the message a gateway knows as ``message_id``."""
    return f"{PREFIX}:{{sms}}:dlr:{gateway}:{message_id}"


def sms_dlr_early(gateway: str, message_id: str) -> str:
    """Hash (TTL): a delivery report that arrived before the worker recorded the send."""
    return f"{PREFIX}:{{sms}}:dlr-early:{gateway}:{message_id}"


# --- Phone journey (portal/venues.py, portal/login.py, portal/reallog.py) ----------------------

def venue_defs() -> str:
    """Hash: venue id → JSON of the Venue (name, ACs, SSIDs, APs, pages, redirect, ads…)."""
    return f"{PREFIX}:{{venues}}:defs"


def venue_stats(venue: str) -> str:
    """Hash: a venue's counters — ``ad_impressions``, ``ad_views`` (countdown completed and
    logged in), ``logins``, ``returning_logins``, ``silent_logins``, and ``ad:<id>:…`` per ad."""
    return f"{PREFIX}:{{vstat:{venue}}}"


def portal_login(ac: str, user_ip: str) -> str:
    """Hash (TTL): the portal's view of who is logged in at (AC, user IP): phone, mac, plan,
    venue, ssid, ap, at, kind. Deleted by logout and NTF_LOGOUT; RADIUS Stop ends it too
    (readers check the accounting session registry). ``+ ":held"``: ``portal.ntf_replay``."""
    return f"{PREFIX}:{{u:{ac}|{user_ip}}}:login"


def device_pending_phone(device: str) -> str:
    """String (TTL = code lifetime): the phone a device (``mac:…``/``ip:…``) asked a code for,
    so a closed and reopened login window can finish without a new code."""
    return f"{PREFIX}:{{dev:{device}}}:pending-phone"


def phone_redirect(address: str) -> str:
    """String (TTL = web.context_ttl): the query of the last AC redirect a phone at this observed
    address brought (ACs with client_address_check only), so ``/portal`` alone, the OS probes'
    redirect and the RFC 8908 ``user-portal-url`` reach its login page (portal.phone_memory)."""
    return f"{PREFIX}:{{pr:{address}}}:redirect"


def ad_click_nonce(nonce: str) -> str:
    """String (TTL = click token lifetime): this rendered ad's click was counted."""
    return f"{PREFIX}:{{adc:{nonce}}}"


def ad_ticket(nonce: str) -> str:
    """String (TTL): a live single-use ad-view ticket; deleted when redeemed."""
    return f"{PREFIX}:{{adt:{nonce}}}"


def real_name_log() -> str:
    """Stream: real-name login records (phone, MAC, IP, AC, AP, SSID, time, kind). No MAXLEN:
    retention and export are the NOC's job (docs/protocols/sms.md, log retention law)."""
    return f"{PREFIX}:{{reallog}}:stream"


def login_by_ip(user_ip: str) -> str:
    """String (TTL): AC name of the newest portal login from this user IP, for the RFC 8908 API
    and OS probes asked without a per-client token (ACs with overlapping private ranges:
    the newest login wins — hand out per-client API URLs there)."""
    return f"{PREFIX}:{{uip:{user_ip}}}"


# --- NOC background jobs (portal/jobs.py) ------------------------------------------------------

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


# --- venue pages and assets (portal/pages.py, portal/assets.py) --------------------------------
# One hash tag per venue (``{vp:<venue>}``) so a publish (new version + pointer) is one MULTI.

def page_meta(venue: str, page: str) -> str:
    """Hash: one venue page — ``draft`` (source), ``draft_author``, ``draft_at``, ``published``
    (version number, absent = none), ``published_source`` (copy of that version's source, so a
    phone view needs one HGET), ``last_version`` (counter)."""
    return f"{PREFIX}:{{vp:{venue}}}:page:{page}"


def page_versions(venue: str, page: str) -> str:
    """Hash: version number → JSON {version, source, author, at, note} (immutable history)."""
    return f"{PREFIX}:{{vp:{venue}}}:versions:{page}"


def venue_assets(venue: str) -> str:
    """Hash: asset name → JSON {name, kind, content_type, size, sha256, author, at}."""
    return f"{PREFIX}:{{vp:{venue}}}:assets"


def venue_asset_blob(venue: str, name: str) -> str:
    """String: the bytes of one venue asset (every web node reads the same Redis)."""
    return f"{PREFIX}:{{vp:{venue}}}:asset:{name}"


# --- live figures for the NOC dashboard and /metrics (portal/livestats.py) ---------------------
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


# --- ad campaigns (portal/campaigns.py) ----------------------------------------------------------

def campaign_defs() -> str:
    """Hash: campaign id → JSON of the campaign (ad_pages.campaigns.campaign_to_dict)."""
    return f"{PREFIX}:{{campaigns}}:defs"


def campaign_owners() -> str:
    """Hash: campaign id → JSON {o: owning account, v: targeted venues, b: stored bytes} — the
    quota index (portal/campaigns.py), rebuilt from ``campaign_defs`` when they disagree."""
    return f"{PREFIX}:{{campaigns}}:owners"


def campaign_stats(campaign: str, day: str) -> str:
    """Hash (TTL ~400 days): one campaign's counters for one local day (``day`` = YYYYMMDD),
    fields ``<venue>|imp``, ``<venue>|view``, ``<venue>|click``. One hash tag per campaign, so a
    stats range read stays in one slot."""
    return f"{PREFIX}:{{cs:{campaign}}}:day:{day}"


def campaign_phone_day(phone: str, day: str) -> str:
    """Hash (TTL = end of the local day): campaign id → impressions shown to this phone today
    (the per-phone frequency cap). In the phone's slot."""
    return f"{PREFIX}:{{p:{phone}}}:adseen:{day}"


# --- health -------------------------------------------------------------------------------------

def health_probe(service: str) -> str:
    """String (expires after a minute): written by ``service``'s health check to prove Redis
    takes writes (a PING is answered even by a Redis that refuses them)."""
    return f"{PREFIX}:{{health}}:{service}"


# --- Keys shared by every node of the fleet (portal/keyfiles.py) -------------------------------

def shared_key(name: str) -> str:
    """String: a server key every node must use alike (hex), created once with SET NX by the
    first node that needs it — for ``radius-class.key``, the key that signs the RADIUS Class."""
    return f"{PREFIX}:{{keys}}:{name}"


def render_breaker(venue: str, page: str, source_digest: str) -> str:
    """String (TTL = the cool-down): this published source of a venue page blew its render budget
    at runtime; every web process serves the default page instead until it expires (value: reason)."""
    return f"{PREFIX}:{{vp:{venue}}}:breaker:{page}:{source_digest}"


def render_slots(account: str) -> str:
    """String counter (TTL 30 s): template renders (preview, publish check) running for one console
    account right now; ``render_slots(account) + ":rate"`` counts them per minute (TTL 60 s)."""
    return f"{PREFIX}:{{accounts}}:renders:{account}"


def content_writes(account: str, window: str, bucket: int) -> str:
    """String counter (TTL): venue content writes of one account and its API tokens in one window."""
    return f"{PREFIX}:{{accounts}}:content-writes:{bounded_part(account)}:{window}:{bucket}"
