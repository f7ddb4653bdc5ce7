"""Settings that seed Redis at start-up: the ACs (``[[acs]]``), the plans (``[[plans]]``) and
the plan assignment rules (``[[plan_rules]]``). Redis holds the live records; NOC edits there
are never overwritten by these.

Re-exported by :mod:`portal.runtime.settings`; import them from there.
"""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass

from portal.runtime.settings_loader import SettingsError
from portal.runtime.settings_radius import ma_mode

__all__ = ["PLAN_RULE_SCOPES", "AcSeed", "PlanRuleSeed", "PlanSeed"]


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


@dataclass(frozen=True, slots=True)
class PlanSeed:
    """A plan from the TOML file, copied into Redis at start-up (``portal.aaa.plans.seed_plans``).
    Every field of ``portal.aaa.plans.Plan``; TOML has no null, so 0 means "no limit / unset"."""

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
    """A plan assignment rule from the TOML file (``portal.aaa.plans.PlanStore.assign``)."""

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
