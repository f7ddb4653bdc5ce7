"""API tokens: how programs (OSS/BSS, scripts, monitoring) use ``/api/v1``.

Administrators create a token with a name and a scope, and an optional expiry. Scopes:

* ``read`` — query everything but the personal-data exports;
* ``write`` — ``read`` plus changes;
* ``admin`` — ``write`` plus console accounts and tokens;
* ``export`` — ``read`` plus the legal-log exports (``GET /logs/{stream}``: every phone number
  and device of the real-name log). Deliberately no other scope includes it, so a monitoring or
  provisioning token cannot walk off with the real-name log.

The secret (``cw_<id>_<random>``) is shown once; Redis keeps only its SHA-256, so a leaked
database does not leak working tokens. The id inside the secret finds the record without a
scan; the hash comparison is constant-time.

A token acts for the console account that created it (``created_by = "user:<name>"``) and dies
with it: every use checks that the account still exists (the same one: created before the
token), is enabled, and grants at least what is asked — a token never grants more than its
creator's *current* role (:data:`ROLE_GRANTS`), so demoting an administrator demotes their
tokens. :meth:`ApiTokenStore.retire_for` also revokes them for good when the account is deleted,
disabled or demoted (the account store calls it). Tokens minted with ``citywifi admin
create-token`` (``cli:<user>``) belong to the server's operator, who holds the Redis password
anyway; they live until revoked or expired. ``create-token --owner USER`` mints one that acts for
that account instead (``user:<USER>``, the operator kept in ``issued_by``) and so lives and dies
with it like one the account made itself.

Venue accounts may hold ``read`` tokens (made in the venue console, ``/venue/tokens``). Such a
token is *venue-scoped*: :meth:`ApiTokenStore.verify` sets ``venues`` to its account's venues as
they are now, and the API lets it call only the operations declared venue-scoped (the reports),
restricted to those venues (portal/web/api/api_base.py).
"""

from __future__ import annotations

import hashlib
import hmac
import re
import secrets
import time
from collections.abc import Callable
from dataclasses import dataclass, field, replace
from typing import Any

from portal.admin.accounts import AccountStore
from portal.errors import NotFound, ValidationError
from portal.state import keys

__all__ = ["ROLE_GRANTS", "SCOPES", "ApiToken", "ApiTokenStore", "grants_of"]

SCOPES = ("read", "write", "admin", "export")
_GRANTS: dict[str, frozenset[str]] = {
    "read": frozenset({"read"}),
    "write": frozenset({"read", "write"}),
    "admin": frozenset({"read", "write", "admin"}),
    "export": frozenset({"read", "export"}),
}
ROLE_GRANTS: dict[str, frozenset[str]] = {
    "admin": frozenset({"read", "write", "admin", "export"}),
    "noc": frozenset({"read", "write", "export"}),     # the NOC console exports logs too
    "venue": frozenset({"read"}),                      # venue-scoped: reports of its own venues
}
"""The most a token may grant while its creator holds this console role."""
_SECRET = re.compile(r"^cw_([0-9a-f]{12})_([A-Za-z0-9_\-]{20,64})$")
_NAME = re.compile(r"^[^\x00-\x1f\x7f-\x9f]{1,64}$")


def grants_of(scope: str) -> frozenset[str]:
    """What a token of ``scope`` may do (empty for an unknown scope)."""
    return _GRANTS.get(scope, frozenset())


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
    revoked_reason: str = ""
    # What this token may do now: its scope, cut down to its creator's current role (set by
    # ApiTokenStore.verify; a token read with get() shows what its scope alone would allow).
    grants: frozenset[str] = field(default=frozenset())
    # The venues a venue account's token is confined to (set by verify from the account as it
    # is now); None for everyone else's tokens.
    venues: tuple[str, ...] | None = None
    issued_by: str = ""

    def allows(self, scope: str) -> bool:
        return scope in (self.grants if self.grants else grants_of(self.scope))

    @property
    def actor(self) -> str:
        """How the audit log names this token: by its id (names need not be unique)."""
        return f"token:{self.id}"

    def as_dict(self) -> dict[str, Any]:
        out = {"id": self.id, "name": self.name, "scope": self.scope, "created_by": self.created_by,
                "created_at": self.created_at, "expires_at": self.expires_at,
                "last_used": self.last_used, "revoked": self.revoked,
                "revoked_reason": self.revoked_reason, "issued_by": self.issued_by,
                "grants": sorted(self.grants if self.grants else grants_of(self.scope))}
        if self.venues is not None:
            out["venues"] = list(self.venues)
        return out


def _digest(secret: str) -> str:
    return hashlib.sha256(secret.encode()).hexdigest()


def _opt_float(value: bytes | None) -> float | None:
    return float(value) if value else None


class ApiTokenStore:
    def __init__(self, redis: Any, *, clock: Callable[[], float] = time.time) -> None:
        self.redis = redis
        self.clock = clock

    # -- the creator ------------------------------------------------------------------------------
    def _creator_grants(self, created_by: str, minted_at: float | None,
                        ) -> tuple[frozenset[str], str, tuple[str, ...] | None]:
        """What the creator may hand out now, why nothing ("" when something), and the venues a
        venue account's tokens are confined to (None: not confined). ``minted_at`` None:
        minting now."""
        kind, _, name = created_by.partition(":")
        if kind == "cli" and name:
            return ROLE_GRANTS["admin"], "", None
        if kind != "user" or not name:
            return frozenset(), "no known creator", None
        account = AccountStore(self.redis).get(name)
        if account is None:
            return frozenset(), "creator deleted", None
        # An account deleted and created again under the same name is someone else.
        if minted_at is not None and account.created_at > minted_at:
            return frozenset(), "creator deleted", None
        if account.disabled:
            return frozenset(), "creator disabled", None
        role = str(account.role)
        allowed = ROLE_GRANTS.get(role, frozenset())
        return allowed, "" if allowed else "creator demoted", (
            tuple(account.venues) if role == "venue" else None)

    # -- tokens -------------------------------------------------------------------------------------
    def create(self, name: str, scope: str, created_by: str,
               expires_at: float | None = None, *, issued_by: str = "") -> tuple[ApiToken, str]:
        """A new token and its secret (the only time the secret exists outside the caller).
        ``created_by`` is ``user:<account>`` (an enabled account whose role grants the scope) or
        ``cli:<operator>``; ``issued_by`` names who minted a token for an account when that was
        not the account itself (``citywifi admin create-token --owner``)."""
        name = str(name).strip()
        if not _NAME.match(name):
            raise ValidationError("name: 1-64 printable characters")
        if scope not in SCOPES:
            raise ValidationError(f"scope must be one of {', '.join(SCOPES)}")
        if expires_at is not None and expires_at <= self.clock():
            raise ValidationError("expires_at must be in the future")
        allowed, why, _ = self._creator_grants(created_by, None)
        if not grants_of(scope) <= allowed:
            raise ValidationError(f"{created_by} may not create a {scope!r} token ({why or 'role too low'})")
        token_id = secrets.token_hex(6)
        secret = f"cw_{token_id}_{secrets.token_urlsafe(32)}"
        token = ApiToken(token_id, name, scope, created_by, self.clock(), expires_at,
                         issued_by=issued_by)
        fields = {"name": name, "scope": scope, "created_by": created_by, "issued_by": issued_by,
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
                        raw.get(b"revoked") == b"1", raw.get(b"revoked_reason", b"").decode(),
                        issued_by=raw.get(b"issued_by", b"").decode())

    def all(self) -> list[ApiToken]:
        ids = sorted(i.decode() for i in self.redis.smembers(keys.api_tokens()))
        return sorted((t for t in (self.get(i) for i in ids) if t is not None), key=lambda t: t.created_at)

    def owned_by(self, username: str) -> list[ApiToken]:
        """The tokens that act for console account ``username``, oldest first."""
        return [t for t in self.all() if t.created_by == f"user:{username}"]

    def verify(self, secret: str) -> ApiToken | None:
        """The live token this secret belongs to, with what it may do now (``grants``), else None
        (unknown, revoked, expired, or its creator gone, disabled or without API standing)."""
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
        allowed, _why, venues = self._creator_grants(token.created_by, token.created_at)
        grants = grants_of(token.scope) & allowed
        if not grants:
            return None
        # last_used is informative: written at most once a minute per token.
        if token.last_used is None or now - token.last_used > 60:
            self.redis.hset(keys.api_token(token_id), "last_used", repr(now))
        return replace(token, grants=grants, venues=venues)

    def revoke(self, token_id: str, reason: str = "") -> ApiToken:
        if self.get(token_id) is None:
            raise NotFound(f"no API token {token_id!r}")
        self.redis.hset(keys.api_token(token_id), mapping={"revoked": "1", "revoked_reason": reason[:80]})
        token = self.get(token_id)
        assert token is not None
        return token

    def retire_for(self, username: str, role: str | None) -> list[ApiToken]:
        """Revoke the live tokens of ``user:<username>`` that its role no longer allows (``role``
        None: the account was deleted or disabled — all of them). Returns what was revoked."""
        allowed = frozenset() if role is None else ROLE_GRANTS.get(role, frozenset())
        reason = "creator deleted or disabled" if role is None else f"creator is now {role}"
        out = []
        for token in self.all():
            if (token.created_by == f"user:{username}" and not token.revoked
                    and not grants_of(token.scope) <= allowed):
                out.append(self.revoke(token.id, reason))
        return out
