"""Settings of the web processes: the portal site (gunicorn, proxies, redirects), /metrics, the
venue and NOC consoles, venue pages and assets, and the quotas on stored venue content.

Re-exported by :mod:`portal.runtime.settings`; import them from there (``cidr_list`` from here).
"""

from __future__ import annotations

import ipaddress
import urllib.parse
from dataclasses import dataclass

from portal.runtime.settings_loader import SettingsError

__all__ = ["ConsoleSettings", "ContentSettings", "MetricsSettings", "PagesSettings", "WebSettings",
           "cidr_list"]


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
    """Prometheus /metrics and health endpoints (portal/runtime/metrics_http.py); ports are per process."""

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
