"""Console accounts: who may sign in to the venue and NOC consoles, and what they may see.

Three roles. An ``admin`` sees everything and manages accounts and API tokens; ``noc`` runs
the NOC console and sees every venue; a ``venue`` operator sees and edits only the venues
assigned to them. Passwords are stored as argon2id hashes (argon2-cffi's defaults, rehashed
when those defaults are raised). After ``max_failures`` wrong passwords in a row the account
is locked for ``lockout_seconds``; the counter lives in Redis so every web node shares it.
"""

from __future__ import annotations

import json
import re
import time
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from enum import StrEnum
from typing import Any

from argon2 import PasswordHasher
from argon2.exceptions import InvalidHashError, VerificationError

from portal.errors import CitywifiError, NotFound, ValidationError
from portal.state import keys

__all__ = [
    "Account", "AccountError", "AccountLocked", "AccountStore", "BadCredentials", "Role",
    "check_password_strength",
]

_USERNAME = re.compile(r"^[a-z0-9][a-z0-9_.@\-]{1,63}$")
_VENUE_ID = re.compile(r"^[A-Za-z0-9_.\-]{1,64}$")
MIN_PASSWORD = 10
# Verifying against this keeps the time of "no such user" equal to "wrong password".
_DUMMY_HASH = PasswordHasher().hash("citywifi-no-such-user")


class Role(StrEnum):
    ADMIN = "admin"
    NOC = "noc"
    VENUE = "venue"


class AccountError(CitywifiError):
    """Base of the sign-in refusals (``code`` names the zh/en message)."""

    code = "account_error"


class BadCredentials(AccountError):
    code = "bad_credentials"


class AccountLocked(AccountError):
    code = "account_locked"

    def __init__(self, retry_after: int) -> None:
        super().__init__(f"account locked for {retry_after} s")
        self.retry_after = retry_after


@dataclass(frozen=True, slots=True)
class Account:
    username: str
    role: Role
    venues: tuple[str, ...] = ()
    display_name: str = ""
    disabled: bool = False
    created_at: float = 0.0
    password_changed_at: float = 0.0

    @property
    def is_admin(self) -> bool:
        return self.role is Role.ADMIN

    @property
    def is_noc(self) -> bool:
        """NOC staff and administrators: every venue, the NOC console."""
        return self.role in (Role.ADMIN, Role.NOC)

    def can_see_venue(self, venue_id: str) -> bool:
        return self.is_noc or venue_id in self.venues

    def public(self) -> dict[str, Any]:
        """The account as plain data (no hash) for pages, the API and the audit log."""
        return {"username": self.username, "role": str(self.role), "venues": list(self.venues),
                "display_name": self.display_name, "disabled": self.disabled,
                "created_at": self.created_at, "password_changed_at": self.password_changed_at}


def check_password_strength(password: str, username: str) -> None:
    """Refuse passwords an attacker guesses first (length, the username, one repeated char)."""
    if not isinstance(password, str) or len(password) < MIN_PASSWORD:
        raise ValidationError(f"password: at least {MIN_PASSWORD} characters")
    if len(password) > 256:
        raise ValidationError("password: at most 256 characters")
    if username.lower() in password.lower() or len(set(password)) < 4:
        raise ValidationError("password: too easy to guess (contains the username or repeats)")


def _role(value: Any) -> Role:
    try:
        return Role(str(value))
    except ValueError:
        raise ValidationError(f"role must be one of {', '.join(r.value for r in Role)}") from None


def _venues(values: Iterable[str]) -> tuple[str, ...]:
    out = []
    for v in values:
        v = str(v).strip()
        if not _VENUE_ID.match(v):
            raise ValidationError(f"venue id {v!r} is not valid")
        if v not in out:
            out.append(v)
    return tuple(out)


class AccountStore:
    """Accounts in Redis (one hash each, under the ``{accounts}`` hash tag)."""

    def __init__(self, redis: Any, *, clock: Callable[[], float] = time.time, max_failures: int = 5,
                 lockout_seconds: int = 900) -> None:
        self.redis = redis
        self.clock = clock
        self.max_failures = max_failures
        self.lockout_seconds = lockout_seconds
        self._hasher = PasswordHasher()

    # -- reading -------------------------------------------------------------------------------
    def get(self, username: str) -> Account | None:
        raw = self.redis.hgetall(keys.console_account(username))
        return self._account(username, raw) if raw else None

    def require(self, username: str) -> Account:
        account = self.get(username)
        if account is None:
            raise NotFound(f"no account {username!r}")
        return account

    def all(self) -> list[Account]:
        names = sorted(n.decode() if isinstance(n, bytes) else str(n)
                       for n in self.redis.smembers(keys.console_accounts()))
        return [a for a in (self.get(n) for n in names) if a is not None]

    # -- writing -------------------------------------------------------------------------------
    def create(self, username: str, password: str, role: Role | str, venues: Iterable[str] = (),
               display_name: str = "") -> Account:
        username = str(username).strip().lower()
        if not _USERNAME.match(username):
            raise ValidationError("username: 2-64 of a-z, 0-9, '_', '.', '@', '-'")
        check_password_strength(password, username)
        now = self.clock()
        account = Account(username, _role(role), _venues(venues), str(display_name)[:80], False, now, now)
        fields = self._fields(account)
        fields["hash"] = self._hasher.hash(password)
        key = keys.console_account(username)
        if not self.redis.hsetnx(key, "hash", fields["hash"]):
            raise ValidationError(f"username {username!r} is taken")
        pipe = self.redis.pipeline(transaction=True)
        pipe.hset(key, mapping=fields)
        pipe.sadd(keys.console_accounts(), username)
        pipe.execute()
        return account

    def update(self, username: str, *, role: Role | str | None = None, venues: Iterable[str] | None = None,
               display_name: str | None = None, disabled: bool | None = None) -> Account:
        current = self.require(username)
        changed = Account(
            current.username,
            current.role if role is None else _role(role),
            current.venues if venues is None else _venues(venues),
            current.display_name if display_name is None else str(display_name)[:80],
            current.disabled if disabled is None else bool(disabled),
            current.created_at, current.password_changed_at,
        )
        self.redis.hset(keys.console_account(username), mapping=self._fields(changed))
        return changed

    def set_password(self, username: str, new: str) -> None:
        """An administrator's reset (no old password); also clears a lockout."""
        self.require(username)
        check_password_strength(new, username)
        self.redis.hset(keys.console_account(username),
                        mapping={"hash": self._hasher.hash(new), "password_changed_at": repr(self.clock())})
        self.redis.delete(keys.console_failures(username))

    def change_password(self, username: str, old: str, new: str) -> None:
        """The account holder's own change: the old password must be right."""
        self.authenticate(username, old)
        if old == new:
            raise ValidationError("password: the new password must differ from the old one")
        self.set_password(username, new)

    def delete(self, username: str) -> None:
        pipe = self.redis.pipeline(transaction=True)
        pipe.delete(keys.console_account(username), keys.console_failures(username))
        pipe.srem(keys.console_accounts(), username)
        pipe.execute()

    # -- signing in ----------------------------------------------------------------------------
    def authenticate(self, username: str, password: str) -> Account:
        """The account if ``password`` is right; :class:`BadCredentials` (also for unknown and
        disabled accounts: the caller cannot tell them apart) or :class:`AccountLocked`."""
        username = str(username).strip().lower()
        failures_key = keys.console_failures(username)
        failures = int(self.redis.get(failures_key) or 0)
        if failures >= self.max_failures:
            raise AccountLocked(max(1, int(self.redis.ttl(failures_key) or self.lockout_seconds)))
        raw = self.redis.hgetall(keys.console_account(username)) if _USERNAME.match(username) else {}
        stored = (raw.get(b"hash") or b"").decode()
        try:
            self._hasher.verify(stored or _DUMMY_HASH, str(password))
            ok = bool(stored)
        except (VerificationError, InvalidHashError):
            ok = False
        account = self._account(username, raw) if raw else None
        if not ok or account is None or account.disabled:
            pipe = self.redis.pipeline(transaction=True)
            pipe.incr(failures_key)
            pipe.expire(failures_key, self.lockout_seconds)
            count = int(pipe.execute()[0])
            if count >= self.max_failures:
                raise AccountLocked(self.lockout_seconds)
            raise BadCredentials("wrong username or password")
        self.redis.delete(failures_key)
        if self._hasher.check_needs_rehash(stored):
            self.redis.hset(keys.console_account(username), "hash", self._hasher.hash(str(password)))
        return account

    # -- encoding ------------------------------------------------------------------------------
    @staticmethod
    def _fields(account: Account) -> dict[str, str]:
        return {"role": str(account.role), "venues": json.dumps(list(account.venues)),
                "display_name": account.display_name, "disabled": "1" if account.disabled else "0",
                "created_at": repr(account.created_at),
                "password_changed_at": repr(account.password_changed_at)}

    @staticmethod
    def _account(username: str, raw: dict[bytes, bytes]) -> Account | None:
        data = {k.decode(): v.decode() for k, v in raw.items()}
        if "role" not in data:      # a half-written create (hsetnx done, hset not yet)
            return None
        try:
            return Account(username, Role(data["role"]), tuple(json.loads(data.get("venues") or "[]")),
                           data.get("display_name", ""), data.get("disabled") == "1",
                           float(data.get("created_at") or 0), float(data.get("password_changed_at") or 0))
        except (ValueError, TypeError):
            return None
