"""Where each phone came from: the AC redirect it last brought, for the requests that carry none.

A phone meets the portal first through its AC's redirect (``/portal?wlanuserip=…``). Later
requests often come without those parameters: the OS probe URLs (``/generate_204``…), the RFC
8908 ``user-portal-url``, a bookmarked or typed ``/portal``, "log in again" after logout. The
portal answers them from the last redirect the phone brought, found by what the portal can
verify about the requester (the same rules as ``portal.phone.device_guard``):

* the AC's ``client_address_check`` is on — the observed address IS the phone's: the redirect is
  kept in Redis under that address (:meth:`RedirectMemory.remember_address`), so also the OS's
  own requests (probes, the API: no browser cookies) find it;
* otherwise (NAT) — the address says nothing about the phone: the redirect travels in a signed
  cookie of the browser that brought it (:meth:`RedirectMemory.cookie_value`), and only that
  browser finds it again.

What is remembered is only ever *replayed* through the landing page, which checks it again
exactly like a fresh redirect (address, device binding, vouched MAC): memory adds no trust.

Framework-free: the web layer passes cookie values in and sets the returned ones.
"""

from __future__ import annotations

import logging
from typing import Any
from urllib.parse import parse_qs, urlencode

from portal.phone.login_types import LoginError, Signer
from portal.state import keys

__all__ = ["MAX_QUERY", "REDIRECT_COOKIE", "RedirectMemory"]

log = logging.getLogger("citywifi.phone_memory")

REDIRECT_COOKIE = "cw_ac"
MAX_QUERY = 2048
"""Longest query kept (a cookie holds ~4 KB; a longer redirect is kept in its minimal form)."""


def encode_query(query: dict[str, list[str]]) -> str:
    return urlencode([(k, v) for k, values in query.items() for v in values])


def decode_query(text: str) -> dict[str, list[str]]:
    return parse_qs(text, keep_blank_values=True)


class RedirectMemory:
    """The last AC redirect of each phone, by observed address (Redis) or signed cookie."""

    def __init__(self, redis: Any, signer: Signer, *, ttl: int) -> None:
        self.redis = redis
        self.signer = signer
        self.ttl = max(60, int(ttl))

    # --- by observed address (ACs with client_address_check) --------------------------------

    def remember_address(self, address: str, query: str) -> None:
        self.redis.set(keys.phone_redirect(address), query.encode(), ex=self.ttl)

    def recall_address(self, address: str) -> str | None:
        raw = self.redis.get(keys.phone_redirect(address))
        return None if raw is None else raw.decode("utf-8", "replace")

    def forget_address(self, address: str) -> None:
        self.redis.delete(keys.phone_redirect(address))

    # --- by the browser's signed cookie (NAT) ------------------------------------------------------

    def cookie_value(self, query: str) -> str:
        return self.signer.sign("acq", {"q": query}, self.ttl)

    def recall_cookie(self, value: str | None) -> str | None:
        """The query a :meth:`cookie_value` cookie carries; None when absent, forged or expired."""
        if not value or len(value) > 4096:
            return None
        try:
            data = self.signer.verify("acq", value)
        except LoginError:
            return None
        query = data.get("q")
        return query if isinstance(query, str) and query else None
