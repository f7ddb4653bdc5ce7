"""Every Redis key name citywifi uses, built in one place.

Keys carry a hash tag (the part in braces) so that every key a Lua script or MULTI touches
together lands in one Redis Cluster slot. Group by the entity a multi-key update is about:

* ``{acs}``          — the AC registry (records, address index); updated together.
* ``{p:<phone>}``    — everything about one phone (OTP, plan, usage, bindings it owns).
* ``{m:<mac>}``      — everything about one device MAC.
* ``{ses}``          — the online-session registry index (per-session hashes use their own tag).

Key builders live in siblings of this module by area, all re-exported here so callers write
``keys.<name>(...)``: ``keys_aaa`` (``PREFIX``, ACs, blocklist, credentials, plans, usage),
``keys_sessions`` (sessions, accounting log, archive), ``keys_phone`` (OTP, SMS, the phone
journey), ``keys_consoles`` (NOC jobs, accounts, sign-in, audit, live figures), ``keys_venues``
(pages, assets, campaigns). Add new key builders next to their siblings there (and to the imports
here), with a line saying what the key holds. ``keys_reports`` and ``keys_gateway`` are imported
by their users directly.
"""

from __future__ import annotations

from portal.state.keys_aaa import (
    PREFIX,
    ac,
    ac_address_index,
    ac_names,
    ac_portal_source,
    ac_radius_learned,
    ac_seeds,
    ac_stats,
    blocked_macs,
    blocked_phones,
    listener_stats,
    login_tokens,
    login_tokens_used,
    mac_binding,
    phone_macs,
    plan_defs,
    plan_override,
    plan_revisions,
    plan_rules,
    plan_seeds,
    token_grant,
    usage,
)
from portal.state.keys_consoles import (
    api_token,
    api_tokens,
    audit_log,
    bounded_part,
    console_account,
    console_accounts,
    console_address_failures,
    console_failure_addresses,
    console_failure_audit_minute,
    console_failures,
    console_failures_from,
    console_locked_refusals,
    console_session,
    console_unaudited_failures,
    console_user_sessions,
    noc_job,
    stats_minute,
    stats_month,
    stats_totals,
)
from portal.state.keys_phone import (
    SMS_GROUP,
    ad_click_nonce,
    ad_ticket,
    carrier_lookup,
    device_pending_phone,
    login_by_ip,
    otp_ac_counter,
    otp_code,
    otp_global_counter,
    otp_ip_counter,
    otp_last_sent,
    otp_mac_counter,
    otp_phone_counter,
    otp_retry,
    otp_source_counter,
    phone_redirect,
    portal_login,
    real_name_log,
    sms_dlr,
    sms_dlr_early,
    sms_job,
    sms_stream,
    venue_defs,
    venue_stats,
)
from portal.state.keys_sessions import (
    ac_sessions,
    acct_log,
    archive_checkpoints,
    archive_last_run,
    archive_lock,
    archive_seals,
    device_slots,
    ip_session_bucket,
    login_claim,
    mac_session_bucket,
    phone_sessions,
    plan_sessions,
    session_deadlines,
    session_index_repair_lock,
    session_tombstone,
    ssid_index_names,
    ssid_sessions,
    ssid_unknown_sessions,
    venue_sessions,
)
from portal.state.keys_venues import (
    campaign_defs,
    campaign_owners,
    campaign_phone_day,
    campaign_stats,
    content_writes,
    page_meta,
    page_versions,
    render_breaker,
    render_slots,
    venue_asset_blob,
    venue_assets,
)

__all__ = [
    "PREFIX",
    "SMS_GROUP",
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
    "ad_ticket",
    "api_token",
    "api_tokens",
    "archive_checkpoints",
    "archive_last_run",
    "archive_lock",
    "archive_seals",
    "audit_log",
    "blocked_macs",
    "blocked_phones",
    "bounded_part",
    "campaign_defs",
    "campaign_owners",
    "campaign_phone_day",
    "campaign_stats",
    "carrier_lookup",
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
    "content_writes",
    "device_pending_phone",
    "device_slots",
    "health_probe",
    "ip_session_bucket",
    "listener_stats",
    "login_by_ip",
    "login_claim",
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
    "otp_retry",
    "otp_source_counter",
    "page_meta",
    "page_versions",
    "phone_macs",
    "phone_redirect",
    "phone_sessions",
    "plan_defs",
    "plan_override",
    "plan_revisions",
    "plan_rules",
    "plan_seeds",
    "plan_sessions",
    "portal_login",
    "real_name_log",
    "render_breaker",
    "render_slots",
    "session_deadlines",
    "session_index_repair_lock",
    "session_tombstone",
    "shared_key",
    "sms_dlr",
    "sms_dlr_early",
    "sms_job",
    "sms_stream",
    "ssid_index_names",
    "ssid_sessions",
    "ssid_unknown_sessions",
    "stats_minute",
    "stats_month",
    "stats_totals",
    "token_grant",
    "usage",
    "venue_asset_blob",
    "venue_assets",
    "venue_defs",
    "venue_sessions",
    "venue_stats",
]


# --- health -------------------------------------------------------------------------------------

def health_probe(service: str) -> str:
    """String (expires after a minute): written by ``service``'s health check to prove Redis
    takes writes (a PING is answered even by a Redis that refuses them)."""
    return f"{PREFIX}:{{health}}:{service}"


# --- Keys shared by every node of the fleet (portal/runtime/keyfiles.py) -------------------------------

def shared_key(name: str) -> str:
    """String: a server key every node must use alike (hex), created once with SET NX by the
    first node that needs it — for ``radius-class.key``, the key that signs the RADIUS Class."""
    return f"{PREFIX}:{{keys}}:{name}"
