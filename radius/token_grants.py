"""A login token's first Access-Accept, repeatable for a short while on any node.

A login token is single-use (``portal.aaa.credentials``): the first Access-Request that presents it
consumes it. But an Accept can be lost, and the AC then asks again with the same request — from
a new source port (the RFC 5080 duplicate cache keys on the port, so it does not recognise it)
or on its second RADIUS server — and would be told "reused credential": the phone that just
typed the right code is refused. So the Accept a token earned is kept in Redis for
``radius.token_replay_window`` seconds (``keys.token_grant``, in the phone's slot), and the same
AC asking for the same device (Calling-Station-Id) and token within that window gets the same
Accept again: the same attributes, Class included, so accounting ties to one login.

Only the same AC and the same device MAC qualify; a request without Calling-Station-Id never
does (the token alone would then let a second device in). Pure encoding here; the policy
(``radius.auth``) runs the commands with its Redis client.
"""

from __future__ import annotations

import hashlib
import json
import logging
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from portal.aaa.credentials import Identity
from portal.state import keys

__all__ = ["TokenGrant", "TokenReplay", "decode_grant", "encode_grant", "fetch_command", "store_command"]

log = logging.getLogger(__name__)

Command = tuple[Any, ...]


@dataclass(frozen=True, slots=True)
class TokenGrant:
    ac: str
    mac: str
    attrs: tuple[tuple[int, bytes], ...]

    def replayable_for(self, ac: str, mac: str | None) -> bool:
        return bool(mac) and self.ac == ac and self.mac == mac


def _key(phone: str, token: str) -> str:
    return keys.token_grant(phone, hashlib.sha256(token.encode()).hexdigest()[:32])


def encode_grant(ac: str, mac: str, attrs: tuple[tuple[int, bytes], ...], at: float) -> str:
    return json.dumps({"ac": ac, "mac": mac, "at": round(at, 3),
                       "attrs": [[t, v.hex()] for t, v in attrs]}, separators=(",", ":"))


def decode_grant(raw: Any) -> TokenGrant | None:
    """The stored grant, or None for nothing / anything unreadable (then no replay)."""
    if not raw:
        return None
    try:
        data = json.loads(raw)
        attrs = tuple((int(t), bytes.fromhex(v)) for t, v in data["attrs"])
        if not all(0 < t < 256 and len(v) <= 253 for t, v in attrs):
            return None
        return TokenGrant(str(data["ac"]), str(data["mac"]), attrs)
    except (ValueError, TypeError, KeyError):
        return None


def store_command(phone: str, token: str, payload: str, window: float) -> Command:
    return ("SET", _key(phone, token), payload, "PX", max(1, int(window * 1000)))


def fetch_command(phone: str, token: str) -> Command:
    return ("GET", _key(phone, token))


class TokenReplay:
    """The policy's side of it: what to keep after an Accept, what a replay gets."""

    def __init__(self, window: float) -> None:
        self.window = window

    def store(self, identity: Identity, token: str, ac: str, reply: Any, now: float) -> Command | None:
        """The command keeping ``reply``'s attributes if it is an Access-Accept that ``token``
        earned for a known device; else None."""
        if (reply.code != 2 or identity.kind != "token" or not token or not identity.mac
                or self.window <= 0):
            return None
        payload = encode_grant(ac, identity.mac, reply.attrs, now)
        return store_command(identity.phone, token, payload, self.window)

    @staticmethod
    def run_stores(commands: list[Command], run: Callable[[list[Command]], list[Any]]) -> None:
        """Run the store commands; on failure only log (the Accepts go out anyway: the tokens are
        spent, and only a lost Accept would need the copy)."""
        try:
            failed = [r for r in run(commands) if isinstance(r, Exception)]
        except Exception as exc:   # Redis trouble: the Accepts still go out
            failed = [exc]
        if failed:
            log.warning("could not keep %d login-token Accept(s) for the replay window: %s",
                        len(failed), failed[0])

    @staticmethod
    def accept_attrs(raw: Any, ac: str, mac: str | None) -> tuple[tuple[int, bytes], ...] | None:
        """The Accept attributes to repeat for this AC and device, or None (then "reused")."""
        grant = decode_grant(raw)
        return grant.attrs if grant is not None and grant.replayable_for(ac, mac) else None
