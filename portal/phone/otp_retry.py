"""Single-use retry tickets for a verified SMS code whose login then failed.

A code verifies exactly once (``portal.phone.otp``). When what follows fails — the AC timed out, the
portal was busy, the real-name record could not be written — the user should not need a new
SMS, but the used code must not become reusable either (an earlier version accepted any code
from the same device for five minutes). So the journey grants ONE ticket: a Redis hash under
the phone's slot holding the device (``mac:…``/``ip:…``), a hash of the login page's context
token, and the code's nonce and HMAC. A retry redeems it only from that device and that page,
with that same code, before the code's lifetime (counted from its verification) ends; the
redemption deletes it atomically, so of parallel retries one wins. Wrong codes count against
the code's attempt limit. A new code for the phone deletes any ticket (``_STORE`` in
``portal.phone.otp``).
"""

from __future__ import annotations

import hashlib
import time
from collections.abc import Callable
from typing import Any

from portal.state import keys

__all__ = ["RetryTickets", "page_hash"]

# ARGV: page hash, candidate HMAC, now, max attempts, device as mac:…, device as ip:….
# Returns {'ok'} (ticket deleted), {'wrong_code', tries}, {'used'} or {'expired'}.
_REDEEM = """
local r = redis.call('HMGET', KEYS[1], 'page', 'h', 'exp', 'dev')
if not r[1] then return {'used'} end
if r[1] ~= ARGV[1] or (r[4] ~= ARGV[5] and r[4] ~= ARGV[6]) then return {'used'} end
if tonumber(ARGV[3]) >= tonumber(r[3]) then
  redis.call('DEL', KEYS[1])
  return {'expired'}
end
if r[2] ~= ARGV[2] then
  local tries = redis.call('HINCRBY', KEYS[1], 'tries', 1)
  if tries >= tonumber(ARGV[4]) then redis.call('DEL', KEYS[1]) end
  return {'wrong_code', tostring(tries)}
end
redis.call('DEL', KEYS[1])
return {'ok'}
"""


def page_hash(page: str) -> str:
    """What a ticket keeps of the login page's context token (not the token itself)."""
    return hashlib.sha256(page.encode("utf-8", "replace")).hexdigest()[:32]


def _text(value: Any) -> str:
    return value.decode() if isinstance(value, bytes) else ("" if value is None else str(value))


class RetryTickets:
    """Grant and redeem tickets. ``digest(phone, device, nonce, code)`` is the OTP service's
    HMAC, so a ticket checks the very code that was verified."""

    def __init__(self, redis: Any, digest: Callable[[str, str, str, str], str], *, max_attempts: int,
                 clock: Callable[[], float] = time.time) -> None:
        self.redis = redis
        self.digest = digest
        self.max_attempts = max_attempts
        self.clock = clock
        self._redeem = redis.register_script(_REDEEM)

    def grant(self, phone: str, page: str, *, device: str, nonce: str, digest: str, until: float,
              details: dict[str, str]) -> bool:
        """One ticket for ``phone`` (replacing any earlier one), valid until ``until``."""
        ttl = int(until - self.clock())
        if not nonce or not device or ttl <= 0:
            return False
        key = keys.otp_retry(phone)
        pipe = self.redis.pipeline(transaction=True)
        pipe.delete(key)
        pipe.hset(key, mapping={**details, "dev": device, "page": page_hash(page), "n": nonce,
                                "h": digest, "exp": repr(until), "tries": 0})
        pipe.expire(key, ttl)
        pipe.execute()
        return True

    def redeem(self, phone: str, code: str, devices: list[str], page: str) -> tuple[str, int, dict[str, str]]:
        """``("ok", 0, ticket fields)`` when this device (one of ``devices``: ``mac:…``, ``ip:…``)
        and page present the verified code — the ticket is then gone; else ``("used", 0, {})``,
        ``("expired", 0, {})`` or ``("wrong_code", tries so far, {})``."""
        key = keys.otp_retry(phone)
        fields = dict(zip(("dev", "n", "exp", "mac", "ip", "ac", "h"),
                          map(_text, self.redis.hmget(key, "dev", "n", "exp", "mac", "ip", "ac", "h")),
                          strict=True))
        if not page or not fields["dev"] or not fields["n"] or fields["dev"] not in devices:
            return "used", 0, {}
        candidate = self.digest(phone, fields["dev"], fields["n"], code) if code.isascii() else "-"
        result = self._redeem(keys=[key], args=[page_hash(page), candidate, repr(self.clock()),
                                                self.max_attempts, *devices])
        status = _text(result[0])
        if status == "wrong_code":
            return status, int(_text(result[1])), {}
        return (status, 0, fields) if status == "ok" else (status, 0, {})
