"""Settings of the network side: the portal protocol client and the ac-listener, the RADIUS
server (with the Message-Authenticator policy values shared with the AC records), plans' quota
and accounting checks, and the simulated AC (`citywifi ac-sim`).

Re-exported by :mod:`portal.runtime.settings`; import them from there.
"""

from __future__ import annotations

from dataclasses import dataclass

from portal.runtime.settings_loader import SettingsError

__all__ = ["MA_MODES", "AcSimSettings", "ListenerSettings", "PortalClientSettings", "QuotaSettings",
           "RadiusSettings", "ma_mode"]


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
    """Plans, usage counters, online sessions and accounting (portal/aaa/plans.py, radius/accounting.py)."""

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
