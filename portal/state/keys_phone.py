"""Redis key names of the phone journey: OTP codes and the SMS abuse limits, the SMS queue,
venue definitions, AC logins, redirects, ad tickets and the real-name log.

Re-exported by :mod:`portal.state.keys`; callers use ``keys.<name>(...)``.
"""

from __future__ import annotations

from portal.state.keys_aaa import PREFIX

__all__ = [
    "SMS_GROUP",
    "ad_click_nonce",
    "ad_ticket",
    "carrier_lookup",
    "device_pending_phone",
    "login_by_ip",
    "otp_ac_counter",
    "otp_code",
    "otp_global_counter",
    "otp_ip_counter",
    "otp_last_sent",
    "otp_mac_counter",
    "otp_phone_counter",
    "otp_retry",
    "otp_source_counter",
    "phone_redirect",
    "portal_login",
    "real_name_log",
    "sms_dlr",
    "sms_dlr_early",
    "sms_job",
    "sms_stream",
    "venue_defs",
    "venue_stats",
]


# --- OTP and SMS abuse limits (portal/phone/otp.py, portal/phone/phone_policy.py) ---------------------------
# Redis Cluster forbids a script touching keys of several slots, so each limit family lives in its
# own slot and portal/phone/otp.py reserves them one script at a time (see the order explained there).
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
    also writes a delivery report's "not a subscriber" verdict here (portal/phone/phone_policy.py)."""
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


# --- Phone journey (portal/venues/venue_store.py, portal/phone/login.py, portal/legal/reallog.py) -----------

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
    (readers check the accounting session registry). ``+ ":held"``: ``portal.aaa.ntf_replay``."""
    return f"{PREFIX}:{{u:{ac}|{user_ip}}}:login"


def device_pending_phone(device: str) -> str:
    """String (TTL = code lifetime): the phone a device (``mac:…``/``ip:…``) asked a code for,
    so a closed and reopened login window can finish without a new code."""
    return f"{PREFIX}:{{dev:{device}}}:pending-phone"


def phone_redirect(address: str) -> str:
    """String (TTL = web.context_ttl): the query of the last AC redirect a phone at this observed
    address brought (ACs with client_address_check only), so ``/portal`` alone, the OS probes'
    redirect and the RFC 8908 ``user-portal-url`` reach its login page (portal.phone.phone_memory)."""
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
