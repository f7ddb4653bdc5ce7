"""The NOC blocklist: phones and MACs that get no SMS code and no login, with reason and expiry."""

from __future__ import annotations

import json
import re
import time
from dataclasses import asdict, dataclass
from typing import Any

from portal.errors import ValidationError
from portal.state import keys

__all__ = ["BlockEntry", "Blocklist", "blocks", "normalise_mac", "normalise_mac_or_none"]

_HEX = set("0123456789abcdef")


_CANONICAL_MAC = re.compile(r"[0-9a-f]{2}(?::[0-9a-f]{2}){5}")


def normalise_mac(mac: str) -> str:
    """``AA-BB-CC-DD-EE-FF`` / ``aabb.ccdd.eeff`` / ``AABBCCDDEEFF`` → ``aa:bb:cc:dd:ee:ff``."""
    if _CANONICAL_MAC.fullmatch(mac):   # already so (eight times per phone login): itself
        return mac
    digits = "".join(ch for ch in mac.lower() if ch not in ":-. ")
    if len(digits) != 12 or not set(digits) <= _HEX:
        raise ValidationError(f"{mac!r} is not a MAC address")
    return ":".join(digits[i : i + 2] for i in range(0, 12, 2))


def normalise_mac_or_none(mac: str | None) -> str | None:
    """Normalised MAC, or None when absent or unparseable (never fails: NAS input)."""
    if not mac:
        return None
    try:
        return normalise_mac(mac)
    except ValidationError:
        return None


@dataclass(frozen=True, slots=True)
class BlockEntry:
    value: str          # phone (digits) or normalised MAC
    reason: str
    expires: float      # epoch seconds; 0 = never
    by: str             # who blocked it
    at: float           # when

    def active(self, now: float) -> bool:
        return self.expires == 0 or now < self.expires


def blocks(phone_entry: bytes | None, mac_entry: bytes | None, now: float) -> bool:
    """The blocklist check over raw entries as read (``HGET`` of the blocked phones / MACs; None
    = not listed): True when either is active. An unreadable entry blocks (fail closed: someone
    meant to block). Every login path checks through here (portal.aaa.decision.screen)."""
    for raw in (phone_entry, mac_entry):
        if raw is not None:
            try:
                if BlockEntry(**json.loads(raw)).active(now):
                    return True
            except (TypeError, ValueError):
                return True
    return False


class Blocklist:
    """Phones and MACs blocked by the NOC. Expired entries read as not blocked."""

    def __init__(self, redis: Any, clock: Any = time.time) -> None:
        self.redis = redis
        self.clock = clock

    def _key(self, kind: str) -> str:
        if kind == "phone":
            return keys.blocked_phones()
        if kind == "mac":
            return keys.blocked_macs()
        raise ValidationError(f"unknown blocklist kind {kind!r} (phone or mac)")

    @staticmethod
    def _normalise(kind: str, value: str) -> str:
        if kind == "mac":
            return normalise_mac(value)
        digits = value.strip().removeprefix("+86").replace(" ", "").replace("-", "")
        if not digits.isdigit():
            raise ValidationError(f"{value!r} is not a phone number")
        return digits

    def block(self, kind: str, value: str, reason: str, *, ttl: float = 0, by: str = "") -> BlockEntry:
        value = self._normalise(kind, value)
        now = self.clock()
        entry = BlockEntry(value, reason, now + ttl if ttl > 0 else 0.0, by, now)
        self.redis.hset(self._key(kind), value, json.dumps(asdict(entry)))
        return entry

    def unblock(self, kind: str, value: str) -> bool:
        return bool(self.redis.hdel(self._key(kind), self._normalise(kind, value)))

    def get(self, kind: str, value: str) -> BlockEntry | None:
        """The active entry for a phone/MAC, or None."""
        return self._active(self.redis.hget(self._key(kind), self._normalise(kind, value)))

    def get_many(self, *items: tuple[str, str]) -> list[BlockEntry | None]:
        """``get`` for several (kind, value) pairs in one round trip (the code request asks for
        the phone and the MAC on every SMS)."""
        pipe = self.redis.pipeline(transaction=False)
        for kind, value in items:
            pipe.hget(self._key(kind), self._normalise(kind, value))
        return [self._active(raw) for raw in pipe.execute()]

    def _active(self, raw: bytes | str | None) -> BlockEntry | None:
        if raw is None:
            return None
        entry = BlockEntry(**json.loads(raw))
        return entry if entry.active(self.clock()) else None

    def is_blocked_phone(self, phone: str) -> bool:
        raw = self.redis.hget(keys.blocked_phones(), self._normalise("phone", phone))
        return blocks(raw, None, self.clock())

    def is_blocked_mac(self, mac: str) -> bool:
        raw = self.redis.hget(keys.blocked_macs(), self._normalise("mac", mac))
        return blocks(None, raw, self.clock())

    def entries(self, kind: str) -> list[BlockEntry]:
        now = self.clock()
        out = [BlockEntry(**json.loads(raw)) for raw in self.redis.hvals(self._key(kind))]
        return sorted((e for e in out if e.active(now)), key=lambda e: e.at)
