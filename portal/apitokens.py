"""API tokens: how programs (OSS/BSS, scripts, monitoring) use ``/api/v1``.

Administrators create a token with a name and a scope — ``read`` or ``write`` (``write``
implies ``read``) — and an optional expiry. The secret (``cw_<id>_<random>``) is shown once;
Redis keeps only its SHA-256, so a leaked database does not leak working tokens. The id inside
the secret finds the record without a scan; the hash comparison is constant-time.
"""

from __future__ import annotations

import hashlib
import hmac
import re
import secrets
import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from portal.errors import NotFound, ValidationError
from portal.state import keys

__all__ = ["SCOPES", "ApiToken", "ApiTokenStore"]

SCOPES = ("read", "write", "admin")
# Each scope includes the ones before it. ``admin`` is for console accounts and tokens: a
# ``write`` token must not be able to make itself a console administrator.
_RANK = {scope: rank for rank, scope in enumerate(SCOPES)}
_SECRET = re.compile(r"^cw_([0-9a-f]{12})_([A-Za-z0-9_\-]{20,64})$")
_NAME = re.compile(r"^[^\x00-\x1f]{1,64}$")


@dataclass(frozen=True, slots=True)
class ApiToken:
    id: str
    name: str
    scope: str
    created_by: str
    created_at: float
    expires_at: float | None = None
    last_used: float | None = None
    revoked: bool = False

    def allows(self, scope: str) -> bool:
        return _RANK.get(self.scope, -1) >= _RANK[scope]

    def as_dict(self) -> dict[str, Any]:
        return {"id": self.id, "name": self.name, "scope": self.scope, "created_by": self.created_by,
                "created_at": self.created_at, "expires_at": self.expires_at,
                "last_used": self.last_used, "revoked": self.revoked}


def _digest(secret: str) -> str:
    return hashlib.sha256(secret.encode()).hexdigest()


def _opt_float(value: bytes | None) -> float | None:
    return float(value) if value else None


class ApiTokenStore:
    def __init__(self, redis: Any, *, clock: Callable[[], float] = time.time) -> None:
        self.redis = redis
        self.clock = clock

    def create(self, name: str, scope: str, created_by: str,
               expires_at: float | None = None) -> tuple[ApiToken, str]:
        """A new token and its secret (the only time the secret exists outside the caller)."""
        name = str(name).strip()
        if not _NAME.match(name):
            raise ValidationError("name: 1-64 printable characters")
        if scope not in SCOPES:
            raise ValidationError("scope must be 'read', 'write' or 'admin'")
        if expires_at is not None and expires_at <= self.clock():
            raise ValidationError("expires_at must be in the future")
        token_id = secrets.token_hex(6)
        secret = f"cw_{token_id}_{secrets.token_urlsafe(32)}"
        token = ApiToken(token_id, name, scope, created_by, self.clock(), expires_at)
        fields = {"name": name, "scope": scope, "created_by": created_by,
                  "created_at": repr(token.created_at),
                  "expires_at": "" if expires_at is None else repr(expires_at),
                  "sha256": _digest(secret), "revoked": "0"}
        pipe = self.redis.pipeline(transaction=True)
        pipe.hset(keys.api_token(token_id), mapping=fields)
        pipe.sadd(keys.api_tokens(), token_id)
        pipe.execute()
        return token, secret

    def get(self, token_id: str) -> ApiToken | None:
        raw = self.redis.hgetall(keys.api_token(token_id))
        if not raw or b"scope" not in raw:
            return None
        return ApiToken(token_id, raw[b"name"].decode(), raw[b"scope"].decode(),
                        raw.get(b"created_by", b"").decode(), float(raw.get(b"created_at") or 0),
                        _opt_float(raw.get(b"expires_at")), _opt_float(raw.get(b"last_used")),
                        raw.get(b"revoked") == b"1")

    def all(self) -> list[ApiToken]:
        ids = sorted(i.decode() for i in self.redis.smembers(keys.api_tokens()))
        return sorted((t for t in (self.get(i) for i in ids) if t is not None), key=lambda t: t.created_at)

    def verify(self, secret: str) -> ApiToken | None:
        """The live token this secret belongs to, else None (unknown, revoked, expired)."""
        match = _SECRET.match(secret or "")
        if not match:
            return None
        token_id = match.group(1)
        stored = self.redis.hget(keys.api_token(token_id), "sha256")
        if not stored or not hmac.compare_digest(stored.decode(), _digest(secret)):
            return None
        token = self.get(token_id)
        now = self.clock()
        if token is None or token.revoked or (token.expires_at is not None and token.expires_at <= now):
            return None
        # last_used is informative: written at most once a minute per token.
        if token.last_used is None or now - token.last_used > 60:
            self.redis.hset(keys.api_token(token_id), "last_used", repr(now))
        return token

    def revoke(self, token_id: str) -> ApiToken:
        if self.get(token_id) is None:
            raise NotFound(f"no API token {token_id!r}")
        self.redis.hset(keys.api_token(token_id), "revoked", "1")
        token = self.get(token_id)
        assert token is not None
        return token
