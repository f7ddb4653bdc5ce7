"""Message-Authenticator and Proxy-State rules for Access-Requests, as FreeRADIUS 3.2.5+ has them.

BlastRADIUS (CVE-2024-3596) forges an Access-Accept from an Access-Reject with an MD5 collision
hidden in Proxy-State; a Message-Authenticator (HMAC-MD5 with the shared secret) in the request
defeats it. Many portal-protocol ACs do not send one, so, like FreeRADIUS's ``security`` section
and ``client`` blocks, each AC resolves two settings (its own, else the global one):

``require_message_authenticator``
    ``yes``: an Access-Request without Message-Authenticator is dropped. ``no``: it is accepted
    (one that is present is still verified). ``auto``: accepted until the AC has sent one valid
    Message-Authenticator; from then on required.
``limit_proxy_state`` (only matters for requests without Message-Authenticator)
    ``yes``: Proxy-State without Message-Authenticator is dropped. ``no``: accepted. ``auto``:
    dropped, unless the AC's first Access-Request carried Proxy-State without
    Message-Authenticator (it is then taken to be a proxy and a warning is logged).

What ``auto`` learns is kept in Redis (``keys.ac_radius_learned``), not per process as in
FreeRADIUS: every worker of every node enforces it (a request retried on the other node is
judged the same), and a restart does not reopen the window in which an attacker's forged
unsigned request is accepted again. Each process also caches it with the AC record
(``radius.ac_cache_ttl``), so the hot path reads no Redis; learning writes once per AC. Editing
the AC's addresses or these settings clears what was learned (``portal.aaa.acs``).
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable
from typing import Any

from portal.state import keys

__all__ = ["AUTO", "MODES", "NO", "YES", "MaGate", "MaPolicy", "read_learned"]

log = logging.getLogger(__name__)

YES, NO, AUTO = "yes", "no", "auto"
MODES = (YES, NO, AUTO)


class MaPolicy:
    """One AC's resolved modes and what was learned (per process, refreshed with the AC cache)."""

    __slots__ = ("first", "limit_proxy_state", "ma_seen", "pending", "require")

    def __init__(self, require: str, limit_proxy_state: str, ma_seen: bool = False,
                 first: str = "") -> None:
        self.require = require
        self.limit_proxy_state = limit_proxy_state
        self.ma_seen = ma_seen
        self.first = first            # "", "proxy" or "nas": the AC's first Access-Request
        self.pending = False          # something is still to learn (checked per packet)
        self._update()

    def _update(self) -> None:
        self.pending = ((self.require == AUTO and not self.ma_seen)
                        or (self.limit_proxy_state == AUTO and not self.first))

    @property
    def requires_ma(self) -> bool:
        return self.require == YES or (self.require == AUTO and self.ma_seen)

    @property
    def allows_proxy_state(self) -> bool:
        mode = self.limit_proxy_state
        return mode == NO or (mode == AUTO and self.first == "proxy")


def read_learned(redis: Any, name: str) -> tuple[bool, str]:
    """(a valid Message-Authenticator was seen, first request kind) as stored for AC ``name``."""
    ma, first = redis.hmget(keys.ac_radius_learned(name), "ma", "first")
    return ma is not None, (first or b"").decode()


class MaGate:
    """Applies a :class:`MaPolicy` to Access-Requests and records what ``auto`` learns."""

    def __init__(self, redis: Any, clock: Callable[[], float] = time.time) -> None:
        self.redis = redis
        self.clock = clock

    def signed(self, name: str, policy: MaPolicy) -> None:
        """A verified Message-Authenticator arrived from AC ``name`` (call only when
        ``policy.pending``)."""
        if policy.require == AUTO and not policy.ma_seen:
            policy.ma_seen = True
            if self._store(name, "ma", f"{self.clock():.0f}")[0]:
                log.info("AC %s sent a valid Message-Authenticator: its Access-Requests must carry "
                         "one from now on (require_message_authenticator = auto)", name)
        if policy.limit_proxy_state == AUTO and not policy.first:
            policy.first = self._store(name, "first", "nas")[1]
        policy._update()

    def unsigned(self, name: str, policy: MaPolicy, proxy_state: bool) -> str | None:
        """The drop reason for an Access-Request without Message-Authenticator, or None."""
        if policy.requires_ma:
            return "missing_message_authenticator"
        if policy.limit_proxy_state == AUTO and not policy.first:
            created, policy.first = self._store(name, "first", "proxy" if proxy_state else "nas")
            if created and policy.first == "proxy":
                log.warning(
                    "AC %s: its first Access-Request carried Proxy-State without "
                    "Message-Authenticator, so it is treated as a RADIUS proxy and Proxy-State "
                    "is allowed from it (limit_proxy_state = auto). A NAS never sends Proxy-State: "
                    "if this AC is not behind a proxy, set its limit_proxy_state to \"yes\"", name)
            policy._update()
        if proxy_state and not policy.allows_proxy_state:
            return "proxy_state_without_ma"
        return None

    def _store(self, name: str, field: str, value: str) -> tuple[bool, str]:
        """Set ``field`` unless set (fleet-wide: the first writer wins). Returns (this call
        set it, the stored value). If Redis fails the value holds in this process only; the
        AC cache refresh reads Redis again and the next packet retries."""
        key = keys.ac_radius_learned(name)
        try:
            pipe = self.redis.pipeline(transaction=False)
            pipe.hsetnx(key, field, value)
            pipe.hget(key, field)
            created, stored = pipe.execute()
        except Exception as exc:   # Redis down: keep serving
            log.debug("could not record %s=%s for AC %s: %s", field, value, name, exc)
            return False, value
        return bool(created), (stored or b"").decode() or value
