"""Configuration of the simulated AC (one frozen object, built by the caller)."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from types import MappingProxyType
from typing import Any

__all__ = ["SimConfig"]


def _empty() -> Mapping[str, Any]:
    return MappingProxyType({})


@dataclass(frozen=True, slots=True)
class SimConfig:
    """Everything a simulated AC needs. Defaults mimic a Huawei AC on loopback.

    Timers follow the EAG defaults of ``docs/protocols/portal-protocol.md`` §1.9 unless noted.
    """

    host: str = "127.0.0.1"
    port: int = 0                          # 0 = free port; read SimulatedAc.port after start()
    flavour: str = "huawei-v2"             # ac_adapters.profiles name
    secret: bytes = b"testing123"          # portal-protocol shared secret
    portal_host: str = "127.0.0.1"         # NTF_LOGOUT / MAC-trigger target (the portal listener)
    portal_port: int = 50100
    radius_host: str | None = "127.0.0.1"  # None = check ``local_users`` instead of asking RADIUS
    radius_auth_port: int = 1812
    radius_acct_port: int = 1813
    radius_secret: bytes = b"testing123"
    radius_timeout: float = 2.0            # per try (RFC 5080 IRT)
    radius_retries: int = 3                # tries in total
    # More RADIUS servers (host, auth port, acct port), tried after the primary above: each
    # retransmission goes to the next server; one that timed out is skipped for radius_dead_time.
    radius_fallbacks: tuple[tuple[str, int, int], ...] = ()
    radius_balance: bool = False           # True: rotate new requests over live servers (loading-share)
    radius_dead_time: float = 10.0         # seconds a server that timed out is skipped
    local_users: Mapping[str, str] | None = None   # username → password when radius_host is None
    local_reply: Mapping[str, Any] = field(default_factory=_empty)  # "Access-Accept" attrs in local mode
    coa_port: int | None = 0               # None = no RFC 5176 server; 0 = free port
    nas_ip: str = "127.0.0.1"              # NAS-IP-Address and portal BAS-IP
    nas_identifier: str = "citywifi-ac-sim"
    ssid: str = "CityWiFi"
    ap_mac: str = "00:11:22:33:44:55"
    ap_group: str = ""                     # Huawei: AP group sent as ap-group-name ("" = not sent)
    challenge_ttl: float = 15.0            # EAG: a challenge stays valid 15 s
    ntf_retry_interval: float = 2.0        # NTF_LOGOUT / 0x30 re-sent every 2 s …
    ntf_retries: int = 3                   # … up to this many sends in total
    ntf_zero_ids: bool = False             # EAG: every NTF_LOGOUT has SerialNo 0 and ReqID 0 (§1.6)
    interim_interval: float | None = None  # None = Acct-Interim-Interval from RADIUS (else no interims)
    require_lease: bool = False            # True: REQ_CHALLENGE for an IP never add_user()-ed → ErrCode 1
    # True: the AC knows each client's MAC from layer 2 (DHCP / ARP for the user IP), as hardware
    # does, and reports that MAC (Calling-Station-Id, accounting, NTF) whatever MAC the portal's
    # packet or the phone's URL names; an IP never add_user()-ed gets a MAC derived from it.
    # False: a lease first seen in a portal request takes the MAC that request carries (what an
    # AC that echoes the redirect's MAC does) — kept for tests that drive the portal by IP only.
    learned_macs: bool = False
    mac_trigger: bool = False              # send 0x30 REQ_MACBINDING_INFO when a known MAC appears
    mac_login_wait: float = 5.0            # EAG: after 0x31 "bound" wait 5 s for the server's login
    ack_auth_retries: int = 0              # EAG retry_times: re-send ACK_AUTH every 2 s until AFF_ACK_AUTH
    aff_timeout: float | None = None       # drop users whose AFF_ACK_AUTH never came (ME60 ~30 s)
    traffic_rate: float = 40_000.0         # simulated download bytes/s per active user (upload = 1/5)
    counters_start: int = 0                # initial octet counters (set > 2**32 to exercise gigawords)
    first_url: str = "http://www.example.com/"   # the page the phone first asked for (redirect URL)
    redirect_key: str = ""                 # 8-char DES key for encrypted redirect MACs (EAG); "" = none
    vlan: str = ""                         # user VLAN in redirects of vendors that send one; "" = none
    tick: float = 0.05                     # timer thread granularity, real seconds

    def __post_init__(self) -> None:
        if self.radius_host is None and self.local_users is None:
            raise ValueError("SimConfig needs radius_host or local_users")
        if self.challenge_ttl <= 0 or self.ntf_retry_interval <= 0 or self.ntf_retries < 1:
            raise ValueError("challenge_ttl and ntf_retry_interval must be > 0, ntf_retries ≥ 1")
