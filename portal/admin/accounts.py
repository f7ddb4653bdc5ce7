"""Console accounts: who may sign in to the venue and NOC consoles, and what they may see.

Three roles. An ``admin`` sees everything and manages accounts and API tokens; ``noc`` runs
the NOC console and sees every venue; a ``venue`` operator sees and edits only the venues
assigned to them. Passwords are stored as argon2id hashes (argon2-cffi's defaults, rehashed
when those defaults are raised).

Lockout is kept per (account, client address): ``max_failures`` wrong passwords from one address
lock that address out of that account for ``lockout_seconds``, so a stranger guessing cannot
lock the real administrator out from their own desk. Two wider limits catch what that misses:
``max_failures_per_account`` from all addresses together (a guess spread over many machines)
locks the account for everyone, and ``max_failures_per_address`` over all accounts (password
spraying) locks the address out of every account. The counters live in Redis so every web node
shares them; each expires ``lockout_seconds`` after its last failure.

Console sign-in sessions live here too (server-side records named by a random id): whatever
changes a password, disables or deletes an account — console, API or ``citywifi admin`` —
ends its sessions in the same call.
"""

from __future__ import annotations

import ipaddress
import json
import re
import secrets
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

    def __init__(self, retry_after: int, *, counted: bool = True) -> None:
        super().__init__(f"account locked for {retry_after} s")
        self.retry_after = retry_after
        # False: a lockout already covered the attempt, which was refused unexamined and left
        # nothing behind (callers must not store anything about it either, audit included).
        self.counted = counted


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


def _address_key(address: str) -> str:
    """The unit lockouts count by: an IPv4 address, or an IPv6 /64 (one subscriber usually
    holds a whole /64, so counting single IPv6 addresses would hand out 2^64 fresh starts)."""
    try:
        ip = ipaddress.ip_address(address)
    except ValueError:
        return keys.bounded_part(address) if address else ""
    if isinstance(ip, ipaddress.IPv6Address):
        if ip.ipv4_mapped is not None:
            return str(ip.ipv4_mapped)
        return str(ipaddress.ip_network(f"{ip}/64", strict=False))
    return str(ip)


class AccountStore:
    """Accounts in Redis (one hash each, under the ``{accounts}`` hash tag)."""

    def __init__(self, redis: Any, *, clock: Callable[[], float] = time.time, max_failures: int = 5,
                 lockout_seconds: int = 900, max_failures_per_account: int = 50,
                 max_failures_per_address: int = 20, session_seconds: int = 12 * 3600) -> None:
        self.redis = redis
        self.clock = clock
        self.session_seconds = session_seconds
        self.max_failures = max_failures
        self.max_failures_per_account = max_failures_per_account
        self.max_failures_per_address = max_failures_per_address
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
        if changed.disabled:
            self.end_sessions(username)
        if changed.disabled or changed.role is not current.role:
            self._retire_tokens(username, None if changed.disabled else changed.role)
        return changed

    def set_password(self, username: str, new: str, *, keep_session: str | None = None) -> None:
        """A reset (no old password: an administrator, the CLI, the API); also clears a lockout
        and ends every console sign-in of the account but ``keep_session`` — here, so no path
        that sets a password can forget to."""
        self.require(username)
        check_password_strength(new, username)
        self.redis.hset(keys.console_account(username),
                        mapping={"hash": self._hasher.hash(new), "password_changed_at": repr(self.clock())})
        self._clear_failures(username)
        self.end_sessions(username, keep=keep_session)

    def change_password(self, username: str, old: str, new: str, address: str = "", *,
                        keep_session: str | None = None) -> None:
        """The account holder's own change: the old password must be right. Their other
        sign-ins end; ``keep_session`` (the one making the change) stays."""
        self.authenticate(username, old, address)
        if old == new:
            raise ValidationError("password: the new password must differ from the old one")
        self.set_password(username, new, keep_session=keep_session)

    def delete(self, username: str) -> None:
        """Remove the account; its sign-ins end with it."""
        pipe = self.redis.pipeline(transaction=True)
        pipe.delete(keys.console_account(username))
        pipe.srem(keys.console_accounts(), username)
        pipe.execute()
        self._clear_failures(username)
        self.end_sessions(username)
        self._retire_tokens(username, None)

    def _retire_tokens(self, username: str, role: Role | None) -> None:
        """API tokens die with their creator (deleted, disabled) or shrink with a demotion:
        revoke those the account may no longer hold (the token store also checks on every use)."""
        from portal.admin.apitokens import ApiTokenStore  # here: that module imports this one

        ApiTokenStore(self.redis, clock=self.clock).retire_for(username, None if role is None else str(role))

    # -- console sign-in sessions ---------------------------------------------------------------
    # Server-side: the console cookie carries only the random id; the record names the account.
    def open_session(self, username: str) -> str:
        session_id = secrets.token_urlsafe(24)
        pipe = self.redis.pipeline(transaction=True)
        pipe.set(keys.console_session(session_id), username, ex=self.session_seconds)
        pipe.sadd(keys.console_user_sessions(username), session_id)
        pipe.expire(keys.console_user_sessions(username), self.session_seconds)
        pipe.execute()
        return session_id

    def session_user(self, session_id: str) -> str | None:
        if not session_id or len(session_id) > 64:
            return None
        value = self.redis.get(keys.console_session(session_id))
        return value.decode() if value else None

    def close_session(self, session_id: str, username: str) -> None:
        pipe = self.redis.pipeline(transaction=True)
        pipe.delete(keys.console_session(session_id))
        pipe.srem(keys.console_user_sessions(username), session_id)
        pipe.execute()

    def end_sessions(self, username: str, keep: str | None = None) -> int:
        """End every sign-in of ``username`` but ``keep``; returns how many ended."""
        ids = [i.decode() for i in self.redis.smembers(keys.console_user_sessions(username))]
        doomed = [i for i in ids if i != keep]
        if doomed:
            pipe = self.redis.pipeline(transaction=True)
            pipe.delete(*(keys.console_session(i) for i in doomed))
            pipe.srem(keys.console_user_sessions(username), *doomed)
            pipe.execute()
        return len(doomed)

    # -- signing in ----------------------------------------------------------------------------
    def authenticate(self, username: str, password: str, address: str = "") -> Account:
        """The account if ``password`` is right; :class:`BadCredentials` (also for unknown and
        disabled accounts: the caller cannot tell them apart) or :class:`AccountLocked`.
        ``address`` is the client's address ("" for local tools): lockouts are kept per address
        (module docstring).

        Every attempt is counted BEFORE the password is checked, and the count is taken back
        when it was right: parallel requests cannot all slip in under the limit while the
        (deliberately slow) hash check runs."""
        username = str(username).strip().lower()
        address = _address_key(address)
        limits = (self.max_failures, self.max_failures_per_account, self.max_failures_per_address)
        locked = self._locked_for(username, address, limits)
        if locked:
            # Already locked out: refused without counting, so a stranger's burst (any username,
            # any length) stores nothing but this one counter (issue: 64 tries stored 18 MB).
            self.redis.incr(keys.console_locked_refusals())
            raise AccountLocked(locked, counted=False)
        counts, waits = self._count_attempt(username, address)
        over = [w for c, limit, w in zip(counts, limits, waits, strict=True) if c is not None and c > limit]
        if over:
            raise AccountLocked(max(over))
        raw = self.redis.hgetall(keys.console_account(username)) if _USERNAME.match(username) else {}
        stored = (raw.get(b"hash") or b"").decode()
        try:
            self._hasher.verify(stored or _DUMMY_HASH, str(password))
            ok = bool(stored)
        except (VerificationError, InvalidHashError):
            ok = False
        account = self._account(username, raw) if raw else None
        if not ok or account is None or account.disabled:
            reached = [w for c, limit, w in zip(counts, limits, waits, strict=True)
                       if c is not None and c >= limit]
            if reached:
                raise AccountLocked(max(reached))
            raise BadCredentials("wrong username or password")
        # Right: this address starts afresh on the account, and this attempt is taken back from
        # the wider counts (other failures there stay: the owner signing in does not reset a
        # guess spread over many machines).
        pipe = self.redis.pipeline(transaction=True)
        pipe.delete(keys.console_failures_from(username, address))
        pipe.decr(keys.console_failures(username))
        if address:
            pipe.decr(keys.console_address_failures(address))
        pipe.execute()
        if self._hasher.check_needs_rehash(stored):
            self.redis.hset(keys.console_account(username), "hash", self._hasher.hash(str(password)))
        return account

    def _locked_for(self, username: str, address: str, limits: tuple[int, int, int]) -> int:
        """Seconds left on a lockout that already covers this attempt (0 = none); reads only."""
        names = [keys.console_failures_from(username, address), keys.console_failures(username)]
        if address:
            names.append(keys.console_address_failures(address))
        pipe = self.redis.pipeline(transaction=False)
        for name in names:
            pipe.get(name)
            pipe.ttl(name)
        replies = pipe.execute()
        waits = [int(replies[2 * i + 1]) for i, limit in enumerate(limits[:len(names)])
                 if replies[2 * i] is not None and int(replies[2 * i]) >= limit]
        return max((max(w, 1) for w in waits), default=0)

    def _count_attempt(self, username: str, address: str) -> tuple[list[int | None], list[int]]:
        """Count an attempt on (account, address), the account and the address; returns the
        counts (None where not kept) and the seconds each lockout would last."""
        ttl = self.lockout_seconds
        pair = keys.console_failures_from(username, address)
        account_wide = keys.console_failures(username)
        pipe = self.redis.pipeline(transaction=True)
        pipe.incr(pair)
        pipe.expire(pair, ttl)
        pipe.incr(account_wide)
        pipe.expire(account_wide, ttl)
        pipe.sadd(keys.console_failure_addresses(username), address)
        pipe.expire(keys.console_failure_addresses(username), ttl)
        if address:
            pipe.incr(keys.console_address_failures(address))
            pipe.expire(keys.console_address_failures(address), ttl)
        replies = pipe.execute()
        counts: list[int | None] = [int(replies[0]), int(replies[2]), int(replies[6]) if address else None]
        return counts, [ttl, ttl, ttl]   # every counter was just given the full period

    def _clear_failures(self, username: str) -> None:
        """An administrator's reset or a deletion lifts every lockout on the account."""
        addresses = [a.decode() for a in self.redis.smembers(keys.console_failure_addresses(username))]
        self.redis.delete(keys.console_failures(username), keys.console_failure_addresses(username),
                          *(keys.console_failures_from(username, a) for a in addresses))

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
