"""Who is asking: the ONE place the web app learns a client's address and scheme.

The portal identifies a phone by its address (status, logout, the RFC 8908 API, per-address SMS
caps, console lockouts and audit entries), so that address must be one the client cannot
choose. Forwarding headers (``X-Forwarded-For``, ``X-Forwarded-Proto``) are therefore believed
only when the TCP peer is one of ``web.trusted_proxies``, and then for at most
``web.proxy_hops`` entries, walked from the right: each trusted hop vouches for the entry it
appended (nginx overwrites the header with ``$remote_addr``, so with one hop there is only that
one). Anything else — no proxy configured, a peer that is not a proxy, a garbled entry — leaves
the TCP peer as the client.

:class:`ForwardedHeaders` (installed by :func:`portal.web.create_app`, so every way of building
the app gets it) resolves the address once per request, puts it into ``REMOTE_ADDR`` and removes
every forwarding header from the WSGI environ, so nothing later (``request.access_route``,
a library) can read a forged one. Views call :func:`client_address`.
"""

from __future__ import annotations

import ipaddress
import logging
import threading
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from typing import Any

from flask import request

from portal.runtime.settings import WebSettings
from portal.runtime.settings_web import cidr_list

__all__ = ["ForwardedHeaders", "ProxyTrust", "canonical_address", "client_address",
           "forwarded_by_untrusted_peer", "is_loopback_host"]

log = logging.getLogger("citywifi.web.client")

CLIENT_KEY = "citywifi.client_address"
PEER_KEY = "citywifi.peer_address"
UNTRUSTED_KEY = "citywifi.forwarded_by_untrusted"

# Headers a proxy uses to say who the client is or how it connected. All are dropped from the
# environ after resolution; only X-Forwarded-For / X-Forwarded-Proto are ever believed.
FORWARDING_HEADERS = (
    "HTTP_X_FORWARDED_FOR", "HTTP_X_FORWARDED_PROTO", "HTTP_X_FORWARDED_HOST", "HTTP_X_FORWARDED_PORT",
    "HTTP_X_FORWARDED_PREFIX", "HTTP_X_FORWARDED_PROTOCOL", "HTTP_X_FORWARDED_SSL", "HTTP_X_REAL_IP",
    "HTTP_FORWARDED", "HTTP_X_CLIENT_IP", "HTTP_TRUE_CLIENT_IP", "HTTP_CF_CONNECTING_IP",
)

Network = ipaddress.IPv4Network | ipaddress.IPv6Network


def canonical_address(text: str) -> str | None:
    """The address in its canonical form (IPv4-mapped IPv6 as IPv4), or None if ``text`` is not one."""
    try:
        address = ipaddress.ip_address(text.strip())
    except ValueError:
        return None
    if isinstance(address, ipaddress.IPv6Address) and address.ipv4_mapped is not None:
        return str(address.ipv4_mapped)
    return str(address)


def is_loopback_host(host: str) -> bool:
    """True when a listen address only accepts connections from this machine."""
    if host.strip().lower() == "localhost":
        return True
    address = canonical_address(host.strip("[]"))
    return address is not None and ipaddress.ip_address(address).is_loopback


@dataclass(frozen=True, slots=True)
class ProxyTrust:
    """Which peers may speak for a client, and for how many hops. Pure: no Flask, no I/O."""

    networks: tuple[Network, ...] = ()
    hops: int = 0

    @classmethod
    def from_settings(cls, web: WebSettings) -> ProxyTrust:
        return cls(cidr_list("web.trusted_proxies", web.trusted_proxies), web.proxy_hops)

    def trusts(self, address: str) -> bool:
        canonical = canonical_address(address)
        if canonical is None:
            return False
        ip = ipaddress.ip_address(canonical)
        return any(ip.version == net.version and ip in net for net in self.networks)

    def client(self, peer: str, forwarded_for: str) -> str:
        """The client's address: the peer, or up to ``hops`` entries of ``forwarded_for`` taken
        from the right while the address speaking for them is a trusted proxy."""
        address = canonical_address(peer) or peer
        chain = [part for part in forwarded_for.split(",") if part.strip()] if forwarded_for else []
        for _ in range(self.hops):
            if not chain or not self.trusts(address):
                break
            entry = canonical_address(chain.pop())
            if entry is None:       # a proxy sent garbage: keep the proxy, never a guessed client
                break
            address = entry
        return address

    def scheme(self, peer: str, forwarded_proto: str, default: str) -> str:
        """``http``/``https`` as the trusted proxy saw it (its last entry), else the connection's."""
        if not self.hops or not forwarded_proto or not self.trusts(peer):
            return default
        value = forwarded_proto.split(",")[-1].strip().lower()
        return value if value in ("http", "https") else default


class ForwardedHeaders:
    """WSGI middleware: resolve the client once, set ``REMOTE_ADDR`` and the scheme from it, and
    remove every forwarding header from the environ."""

    def __init__(self, app: Callable[..., Iterable[bytes]], trust: ProxyTrust) -> None:
        self.app = app
        self.trust = trust
        self._warned = threading.Event()

    def __call__(self, environ: dict[str, Any], start_response: Callable[..., Any]) -> Iterable[bytes]:
        peer = environ.get("REMOTE_ADDR") or ""
        sent = [name for name in FORWARDING_HEADERS if name in environ]
        client = self.trust.client(peer, environ.get("HTTP_X_FORWARDED_FOR", ""))
        environ["wsgi.url_scheme"] = self.trust.scheme(
            peer, environ.get("HTTP_X_FORWARDED_PROTO", ""), environ.get("wsgi.url_scheme", "http"))
        for name in sent:
            del environ[name]
        untrusted = bool(sent) and not (self.trust.hops and self.trust.trusts(peer))
        environ[PEER_KEY] = peer
        environ[CLIENT_KEY] = client
        environ[UNTRUSTED_KEY] = untrusted
        environ["REMOTE_ADDR"] = client
        if untrusted and not self.trust.networks and not self._warned.is_set():
            address = canonical_address(peer)
            if address is not None and ipaddress.ip_address(address).is_loopback:
                # A local proxy forwards to us but is not configured: every phone looks like
                # 127.0.0.1 (shared SMS caps, no way to tell phones apart). Say so once.
                self._warned.set()
                log.warning("requests from %s carry forwarding headers but web.trusted_proxies is "
                            "empty: is a proxy in front? Set web.trusted_proxies and web.proxy_hops", peer)
        return self.app(environ, start_response)


def client_address() -> str:
    """The address of the client of the current request — the phone's, behind a trusted proxy."""
    environ = request.environ
    return str(environ.get(CLIENT_KEY) or environ.get("REMOTE_ADDR") or "")


def forwarded_by_untrusted_peer() -> bool:
    """True when the request carried forwarding headers that were not believed: it came through
    some proxy we do not know, so its apparent address says nothing about where it came from."""
    return bool(request.environ.get(UNTRUSTED_KEY, False))
