"""The RADIUS server's view of the AC registry: lookups by source address with a short TTL.

Every datagram needs its AC (the shared secret, the policies); asking Redis each time would
cost a round trip per packet, so answers — negative ones too, so a flood from an unknown
address costs no Redis either — are kept ``ttl`` seconds. Each entry carries the AC's resolved
Message-Authenticator policy with what ``auto`` has learned (``radius.ma_policy``), read in the
same refresh.
"""

from __future__ import annotations

import time
from collections.abc import Callable

from portal.aaa.acs import AcRecord, AcRegistry
from radius.ma_policy import AUTO, MaPolicy, read_learned

__all__ = ["AcCache", "CachedAc"]


class CachedAc:
    """One AC as the serving loop needs it."""

    __slots__ = ("ma", "record", "secret")

    def __init__(self, record: AcRecord, secret: bytes, ma: MaPolicy) -> None:
        self.record = record
        self.secret = secret
        self.ma = ma


class AcCache:
    def __init__(self, registry: AcRegistry, ttl: float = 5.0,
                 clock: Callable[[], float] = time.monotonic, *,
                 require_message_authenticator: str = AUTO, limit_proxy_state: str = AUTO) -> None:
        self.registry = registry
        self.ttl = ttl
        self.clock = clock
        self.require_message_authenticator = require_message_authenticator   # global defaults
        self.limit_proxy_state = limit_proxy_state
        self._cache: dict[str, tuple[float, CachedAc | None]] = {}
        self._behind: dict[str, tuple[float, AcRecord | None]] = {}

    def lookup(self, address: str) -> CachedAc | None:
        """The AC owning ``address``, or None. Redis errors propagate (the caller stays silent)."""
        now = self.clock()
        hit = self._cache.get(address)
        if hit is not None and hit[0] > now:
            return hit[1]
        if len(self._cache) > 100_000:   # bounded against spoofed-source floods
            self._cache.clear()
        record = self.registry.by_address(address)
        entry = None if record is None else self._entry(record)
        self._cache[address] = (now + self.ttl, entry)
        return entry

    def behind(self, proxy: AcRecord, nas_ip: str | None, nas_id: str | None) -> AcRecord | None:
        """The real AC a trusted proxy's request names: the AC owning NAS-IP-Address, else the
        AC named by NAS-Identifier, provided that AC lists this proxy in ``radius_via`` (a proxy
        cannot speak for ACs that did not choose it). Cached like ``lookup``."""
        key = f"{proxy.name}|{nas_ip or ''}|{nas_id or ''}"
        now = self.clock()
        hit = self._behind.get(key)
        if hit is not None and hit[0] > now:
            return hit[1]
        if len(self._behind) > 100_000:
            self._behind.clear()
        record = self.registry.by_address(nas_ip) if nas_ip else None
        if record is None and nas_id:
            record = self.registry.get_or_none(nas_id)
        if record is not None and (record.radius_via != proxy.name or not record.enabled):
            record = None
        self._behind[key] = (now + self.ttl, record)
        return record

    def peek(self, address: str) -> CachedAc | None:
        """The cached AC for ``address`` without asking Redis (for naming a malformed packet's
        sender in counters and logs)."""
        hit = self._cache.get(address)
        return None if hit is None else hit[1]

    def _entry(self, record: AcRecord) -> CachedAc:
        require = record.require_message_authenticator or self.require_message_authenticator
        limit = record.limit_proxy_state or self.limit_proxy_state
        ma_seen, first = (read_learned(self.registry.redis, record.name)
                          if AUTO in (require, limit) else (False, ""))
        return CachedAc(record, record.effective_radius_secret.encode(),
                        MaPolicy(require, limit, ma_seen, first))
