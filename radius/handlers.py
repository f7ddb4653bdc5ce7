"""What plugs into the RADIUS socket loop (``radius.server.RadiusServer``): the policy handler
interfaces, the auth decision they return, and the server's options.

Policy plugs in through a handler object, not by subclassing. A handler that raises
``StateUnavailable`` or a Redis error makes the server stay silent — the AC retries or fails
over. The batch variants decide everything one socket drain read in one Redis round trip.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import NamedTuple, Protocol

from portal.aaa.acs import AcRecord
from radius import wire

__all__ = ["AcctHandler", "AuthHandler", "AuthReply", "BatchAcctHandler", "BatchAuthHandler", "ServerOptions"]


class AuthReply(NamedTuple):
    """What the auth handler decided: Access-Accept/Reject plus attributes (MA added by us).
    A NamedTuple: built per Access-Request (see ``radius.wire.Request``)."""

    code: int
    attrs: tuple[tuple[int, bytes], ...] = ()
    reason: str = ""          # reject reason, for logs and counters


class AuthHandler(Protocol):
    def handle_auth(self, req: wire.Request, ac: AcRecord, secret: bytes, now: float) -> AuthReply:
        """Decide on a verified Access-Request. Raise StateUnavailable/RedisError to stay silent."""
        ...


class BatchAuthHandler(AuthHandler, Protocol):
    def handle_auth_batch(
        self, items: list[tuple[wire.Request, AcRecord, bytes]], now: float
    ) -> list[AuthReply | BaseException]:
        """Decide on several verified Access-Requests at once (one Redis round trip).

        Raise StateUnavailable/RedisError to stay silent for the whole batch; an exception in the
        returned list makes the server stay silent for that request only.
        """
        ...


class AcctHandler(Protocol):
    def handle_acct(self, req: wire.Request, ac: AcRecord, secret: bytes, now: float) -> None:
        """Store a verified Accounting-Request durably; return only when done (then we answer)."""
        ...


class BatchAcctHandler(AcctHandler, Protocol):
    def handle_acct_batch(
        self, items: list[tuple[wire.Request, AcRecord, bytes]], now: float
    ) -> list[BaseException | None]:
        """Store several verified Accounting-Requests durably (None = stored, answer it); raise
        StateUnavailable/RedisError to stay silent for the whole batch."""
        ...


@dataclass(frozen=True, slots=True)
class ServerOptions:
    # (the Message-Authenticator policies are the AcCache's: they are resolved per AC)
    drop_unknown_attributes: bool = False        # strict: an attribute the dictionary lacks → drop
    dedup_ttl: float = 30.0                      # RFC 5080 §2.2.2: 5–30 s
    dedup_max_entries: int = 65536
    ac_cache_ttl: float = 5.0
    batch_max: int = 64              # datagrams drained per pass and decided in one Redis trip
    batch_wait: float = 0.0          # seconds to wait for more datagrams once a pass found some
