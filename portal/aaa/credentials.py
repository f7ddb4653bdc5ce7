"""RADIUS credentials minted by the portal, never typed by users.

Two kinds (ARCHITECTURE "RADIUS credentials are minted, not typed"):

* **Login token** — after the SMS code is verified the portal mints a random single-use token
  for the phone (short TTL) and logs the user in on the AC with ``User-Name = phone`` and the
  token as password (PAP or CHAP). The RADIUS server consumes it atomically (Lua) on first use;
  a replay is told apart from garbage so the portal can say "reused".
* **Per-MAC credential** — a returning user's device is bound to the phone for the plan's
  binding period; the binding carries a reusable random secret. The portal logs the device in
  with ``User-Name = phone`` / password = secret, and RADIUS checks that Calling-Station-Id is
  the bound MAC. ACs doing MAC authentication (``User-Name = MAC``) are answered from the same
  binding (:meth:`CredentialStore.check_mac_auth`).

CHAP needs the cleartext on the server, so tokens and secrets are stored as issued; they are
random, short-lived or device-bound, and protected like every other Redis secret.

Each check costs one Redis round trip (a pipeline), plus one Lua call when a CHAP response
matched a login token.
"""

from __future__ import annotations

import hashlib
import hmac
import secrets
import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any, Literal, NamedTuple

from portal.aaa.blocklist import normalise_mac, normalise_mac_or_none
from portal.aaa.device_slots import RESERVE_FUNCTION_LUA
from portal.aaa.texts import DEVICE_MISMATCH_MESSAGE  # re-exported: the portal recognises it in TextInfo
from portal.errors import CitywifiError, ValidationError
from portal.state import keys
from portal.state.scripts import execute_scripted, queue_evalsha, queue_script

__all__ = [
    "CONSUME_LUA",
    "DEVICE_MISMATCH_MESSAGE",
    "CheckPlan",
    "Credential",
    "CredentialError",
    "CredentialStore",
    "DeviceMismatch",
    "DevicesFull",
    "Identity",
    "InvalidCredential",
    "ReusedCredential",
    "normalise_phone",
]

IdentityKind = Literal["token", "mac_credential", "mac_auth"]

USED_TOKEN_MEMORY = 3600.0   # seconds a consumed token is remembered to report "reused"


class CredentialError(CitywifiError):
    """A credential check failed; ``code`` is the reject reason the RADIUS server counts."""

    code = "invalid_credential"


class InvalidCredential(CredentialError):
    """Unknown, expired or mismatched credential (wrong MAC, wrong password, no binding)."""

    code = "invalid_credential"


class DeviceMismatch(InvalidCredential):
    """A login token minted for one device (the MAC the phone's page named) presented by the
    AC for another (its Calling-Station-Id): someone claimed a MAC that is not theirs. The
    token is not spent."""

    code = "device_mismatch"


class ReusedCredential(CredentialError):
    """A single-use login token that was already consumed; ``token`` names it (the RADIUS side
    may repeat that token's first Accept to the same AC and device, radius/token_grants.py)."""

    code = "reused_credential"

    def __init__(self, message: str = "login token already used", token: str = "") -> None:
        super().__init__(message)
        self.token = token


class DevicesFull(CredentialError):
    """The token is good, but the plan's device slots are all taken (portal/aaa/device_slots.py);
    the token was not spent."""

    code = "too_many_devices"


@dataclass(frozen=True, slots=True)
class Credential:
    """What the portal hands to the AC: RADIUS User-Name and password."""

    username: str
    password: str


class Identity(NamedTuple):
    """Who a successful credential check proved: the phone, the device, and how. (A NamedTuple,
    as CheckPlan: built per Access-Request. Tell it from a Command with ``isinstance(x,
    Identity)``, never ``isinstance(x, tuple)``.)"""

    phone: str
    mac: str | None
    kind: IdentityKind


def normalise_phone(phone: str) -> str:
    """``+86 138-0013-8000`` → ``13800138000``; raise ValidationError if not digits."""
    digits = phone.strip().removeprefix("+86").replace(" ", "").replace("-", "")
    if not digits.isdigit() or not 5 <= len(digits) <= 20:
        raise ValidationError(f"{phone!r} is not a phone number")
    return digits


Command = tuple[Any, ...]


class CheckPlan(NamedTuple):
    """The Redis commands one credential check needs, plus what deciding on them requires.
    A NamedTuple, not a frozen dataclass: one is built per Access-Request, and a frozen
    dataclass sets each field through ``object.__setattr__`` (three times the instructions)."""

    phone: str
    mac: str | None
    method: str                       # "pap" | "chap"
    commands: tuple[Command, ...]
    password: str = ""
    chap_password: bytes = b""
    challenge: bytes = b""


def _as_dict(raw: Any) -> dict[bytes, bytes]:
    """HGETALL reply as a dict, whether redis-py (dict) or a raw RESP client (flat list)."""
    if raw is None:
        return {}
    if isinstance(raw, dict):
        return raw
    return dict(zip(raw[::2], raw[1::2], strict=True))


# KEYS[1] live tokens hash, KEYS[2] used tokens hash.
# ARGV[1] token, ARGV[2] now, ARGV[3] used-memory seconds, ARGV[4] caller MAC ("" = unknown).
# Returns {status, mac}: ok | expired | reused | invalid | mac_mismatch. Checks happen before the
# HDEL so a token presented from the wrong device is not burnt by that attempt.
# With four KEYS (+ phone_sessions, device_slots) and ARGV 5-9 (max_sessions, slot field, hold,
# grace, login) the step that spends the token also reserves the device's slot
# (portal/aaa/device_slots.py); when the plan is full it returns {'full', mac, count} and spends
# nothing, so a refused login changes nothing.
CONSUME_LUA = RESERVE_FUNCTION_LUA + """
local v = redis.call('HGET', KEYS[1], ARGV[1])
if not v then
  if redis.call('HEXISTS', KEYS[2], ARGV[1]) == 1 then return {'reused', ''} end
  return {'invalid', ''}
end
local sep = string.find(v, '|', 1, true)
local expires = tonumber(string.sub(v, 1, sep - 1))
local mac = string.sub(v, sep + 1)
if expires < tonumber(ARGV[2]) then
  redis.call('HDEL', KEYS[1], ARGV[1])
  return {'expired', mac}
end
if mac ~= '' and mac ~= ARGV[4] then return {'mac_mismatch', mac} end
if #KEYS >= 4 then
  local n = reserve_slot(KEYS[3], KEYS[4], tonumber(ARGV[5]), ARGV[6], ARGV[4], tonumber(ARGV[2]),
                         tonumber(ARGV[7]), tonumber(ARGV[8]), ARGV[9])
  if n then return {'full', mac, n} end
end
redis.call('HDEL', KEYS[1], ARGV[1])
redis.call('HSET', KEYS[2], ARGV[1], ARGV[2])
redis.call('EXPIRE', KEYS[2], ARGV[3])
return {'ok', mac}
"""


# Bind a MAC to a phone in one atomic step: the same phone keeps its secret (devices already
# logged in keep working), another phone gets the fresh one. KEYS: binding. ARGV: phone, fresh
# secret, expires (text), EXPIREAT epoch. Returns {previous phone or '', secret in force}.
_BIND_LUA = """
local old = redis.call('HMGET', KEYS[1], 'phone', 'secret')
local secret = ARGV[2]
if old[1] == ARGV[1] and old[2] then secret = old[2] end
redis.call('HSET', KEYS[1], 'phone', ARGV[1], 'secret', secret, 'expires', ARGV[3])
redis.call('EXPIREAT', KEYS[1], ARGV[4])
return {old[1] or '', secret}
"""


class CredentialStore:
    """Mint and check RADIUS credentials in Redis (keys under ``{p:<phone>}`` / ``{m:<mac>}``)."""

    def __init__(self, redis: Any, clock: Callable[[], float] = time.time) -> None:
        self.redis = redis
        self.clock = clock
        self._consume = redis.register_script(CONSUME_LUA)
        self._bind = redis.register_script(_BIND_LUA)

    # --- minting (portal side) ---------------------------------------------------------------

    def mint_login_token(self, phone: str, mac: str | None = None, ttl: int = 120) -> Credential:
        """A fresh single-use token for ``phone``; if ``mac`` is given only that device may use it."""
        if ttl <= 0:
            raise ValidationError("login token ttl must be positive")
        phone = normalise_phone(phone)
        bound = normalise_mac(mac) if mac else ""
        token = secrets.token_urlsafe(12)   # 16 url-safe characters, 96 bits
        key = keys.login_tokens(phone)
        pipe = self.redis.pipeline(transaction=True)
        pipe.hset(key, token, f"{self.clock() + ttl:.3f}|{bound}")
        # The hash lives as long as its newest token; older fields carry their own expiry.
        pipe.expire(key, ttl + 5)
        pipe.execute()
        return Credential(phone, token)

    def bind_mac(self, mac: str, phone: str, days: float) -> Credential:
        """Bind a device to a phone for ``days``; return its reusable RADIUS credential.

        Re-binding the same MAC to the same phone keeps the secret (devices already logged in
        keep working) and extends the expiry; binding it to another phone issues a new secret.
        """
        if days <= 0:
            raise ValidationError("binding period must be positive")
        mac = normalise_mac(mac)
        phone = normalise_phone(phone)
        expires = self.clock() + days * 86400
        # The binding's read-modify-write is one script in its slot; the phone's index lives in
        # another slot, so its SADD is a separate command (best effort) — in the same pipelined
        # round trip. Only a MAC moving to another phone costs a second one (the old index).
        pipe = self.redis.pipeline(transaction=False)
        bind = (self._bind, [keys.mac_binding(mac)],
                [phone, secrets.token_urlsafe(12), f"{expires:.3f}", int(expires) + 1])
        queue_evalsha(pipe, *bind)
        pipe.sadd(keys.phone_macs(phone), mac)
        (old, secret), _added = execute_scripted(pipe, {0: bind})
        old_phone = old.decode() if isinstance(old, bytes) else str(old)
        if old_phone and old_phone != phone:
            self.redis.srem(keys.phone_macs(old_phone), mac)
        return Credential(phone, secret.decode() if isinstance(secret, bytes) else str(secret))

    def binding_for_mac(self, mac: str) -> tuple[str, float] | None:
        """(phone, expires epoch) of a live binding, or None."""
        return self.binding_from_reply(mac, self.redis.hgetall(keys.mac_binding(normalise_mac(mac))))

    def binding_from_reply(self, mac: str, raw: dict[bytes, bytes] | None) -> tuple[str, float] | None:
        """``binding_for_mac`` from an HGETALL of ``keys.mac_binding(mac)`` the caller already
        made (batched with its other reads, in one round trip)."""
        data = self._binding(normalise_mac(mac), raw)
        return None if data is None else (data[0], data[2])

    def mac_credential(self, mac: str) -> Credential | None:
        """The credential the portal uses to log a returning device in, or None if unbound."""
        return self.credential_from_reply(mac, self.redis.hgetall(keys.mac_binding(normalise_mac(mac))))

    def credential_from_reply(self, mac: str, raw: dict[bytes, bytes] | None) -> Credential | None:
        """``mac_credential`` from an HGETALL of ``keys.mac_binding(mac)`` the caller made."""
        data = self._binding(normalise_mac(mac), raw)
        return None if data is None else Credential(data[0], data[1])

    def unbind_mac(self, mac: str) -> bool:
        """Remove a device binding; True if there was one."""
        mac = normalise_mac(mac)
        key = keys.mac_binding(mac)
        phone = self.redis.hget(key, "phone")
        removed = bool(self.redis.delete(key))
        if phone is not None:
            self.redis.srem(keys.phone_macs(phone.decode()), mac)
        return removed

    def macs_for_phone(self, phone: str) -> list[str]:
        """MACs with a live binding to ``phone``."""
        phone = normalise_phone(phone)
        out = []
        for raw in sorted(self.redis.smembers(keys.phone_macs(phone))):
            found = self.binding_for_mac(raw.decode())
            if found is not None and found[0] == phone:
                out.append(raw.decode())
        return out

    # --- checking (RADIUS side) --------------------------------------------------------------
    #
    # Each check is split into a plan (the Redis commands it needs, so the RADIUS server can
    # batch them with its other reads in ONE round trip) and a decision over the replies.
    # Commands are plain tuples; ("CONSUME", tokens_key, used_key, *args) stands for the token
    # consumption script (CONSUME_LUA), which each executor runs its own way.

    def plan_pap(self, username: str, password: str, calling_station_id: str | None) -> CheckPlan:
        phone = self._phone_or_reject(username)
        mac = normalise_mac_or_none(calling_station_id)
        cmds: list[Command] = []
        if mac is not None:
            cmds.append(("HGETALL", keys.mac_binding(mac)))
        # A per-MAC secret is never a live token, so trying to consume it has no side effect.
        cmds.append(self.consume_command(phone, password, mac))
        return CheckPlan(phone, mac, "pap", tuple(cmds), password=password)

    def decide_pap(self, plan: CheckPlan, results: list[Any]) -> Identity:
        status = results[-1][0]
        if status == b"ok":
            return Identity(plan.phone, plan.mac, "token")
        if plan.mac is not None:
            binding = self._binding(plan.mac, _as_dict(results[0]))
            if binding is not None and binding[0] == plan.phone and hmac.compare_digest(
                binding[1].encode(), plan.password.encode()
            ):
                return Identity(plan.phone, plan.mac, "mac_credential")
        raise self._failure(status, plan.password)

    def plan_chap(self, username: str, chap_password: bytes, challenge: bytes,
                  calling_station_id: str | None) -> CheckPlan:
        phone = self._phone_or_reject(username)
        if len(chap_password) != 17:
            raise InvalidCredential("CHAP-Password must be 17 octets")
        mac = normalise_mac_or_none(calling_station_id)
        cmds: list[Command] = [
            ("HGETALL", keys.mac_binding(mac) if mac else keys.mac_binding("-")),
            ("HKEYS", keys.login_tokens(phone)),
            ("HKEYS", keys.login_tokens_used(phone)),
        ]
        return CheckPlan(phone, mac, "chap", tuple(cmds), chap_password=chap_password,
                         challenge=challenge)

    def decide_chap(self, plan: CheckPlan, results: list[Any]) -> Identity | Command:
        """The Identity, or the CONSUME command to run for the token that matched."""
        chap_id, response = plan.chap_password[:1], plan.chap_password[1:]

        def matches(secret: bytes) -> bool:
            digest = hashlib.md5(chap_id + secret + plan.challenge).digest()
            return hmac.compare_digest(digest, response)

        binding_raw, live, used = results[0], results[1], results[2]
        if plan.mac is not None:
            binding = self._binding(plan.mac, _as_dict(binding_raw))
            if binding is not None and binding[0] == plan.phone and matches(binding[1].encode()):
                return Identity(plan.phone, plan.mac, "mac_credential")
        for token in live or ():
            if matches(token):
                return self.consume_command(plan.phone, token.decode(), plan.mac)
        for token in used or ():
            if matches(token):
                raise ReusedCredential(token=token.decode("utf-8", "replace"))
        raise InvalidCredential("no credential matches the CHAP response")

    def decide_consume(self, plan: CheckPlan, reply: Any, token: str = "") -> Identity:
        """Outcome of a CONSUME command returned by ``decide_chap`` (``token``: the token it
        spends, i.e. the command's fourth element)."""
        status = reply[0]
        if status == b"ok":
            return Identity(plan.phone, plan.mac, "token")
        raise self._failure(status, token)

    def check_pap(self, username: str, password: str, calling_station_id: str | None) -> Identity:
        """Check a PAP User-Name/User-Password; consume the token if it was one."""
        plan = self.plan_pap(username, password, calling_station_id)
        return self.decide_pap(plan, self.run(plan.commands))

    def check_chap(self, username: str, chap_password: bytes, challenge: bytes,
                   calling_station_id: str | None) -> Identity:
        """Check a CHAP-Password (RFC 1994 / RFC 2865 §2.2: id + MD5(id + secret + challenge))."""
        plan = self.plan_chap(username, chap_password, challenge, calling_station_id)
        outcome = self.decide_chap(plan, self.run(plan.commands))
        if isinstance(outcome, Identity):
            return outcome
        return self.decide_consume(plan, self.run((outcome,))[0], outcome[3])

    def run(self, commands: tuple[Command, ...] | list[Command]) -> list[Any]:
        """Execute plan commands with redis-py (one pipeline)."""
        pipe = self.redis.pipeline(transaction=False)
        for cmd in commands:
            if cmd[0] == "CONSUME":
                queue_script(pipe, self._consume, *consume_keys_args(cmd))
            else:
                pipe.execute_command(*cmd)
        return list(pipe.execute())

    def consume_command(self, phone: str, token: str, mac: str | None) -> Command:
        """The CONSUME_LUA command (as a ("CONSUME", ...) tuple) that spends ``token`` atomically."""
        return ("CONSUME", keys.login_tokens(phone), keys.login_tokens_used(phone), token,
                f"{self.clock():.3f}", int(USED_TOKEN_MEMORY), mac or "")

    @staticmethod
    def with_reservation(command: Command, phone: str, max_sessions: int, field: str, hold: float,
                         grace: float, login: str) -> Command:
        """A CONSUME command that also reserves a device slot (portal/aaa/device_slots.py) when the
        token is good; the token stays at index 3 and the device MAC at 6."""
        return (*command[:7], keys.phone_sessions(phone), keys.device_slots(phone),
                max_sessions, field, f"{hold:.3f}", f"{grace:.3f}", login)

    def check_mac_auth(self, mac: str) -> Identity:
        """MAC authentication (User-Name = MAC): accepted iff the device has a live binding."""
        norm = normalise_mac_or_none(mac)
        if norm is None:
            raise InvalidCredential(f"{mac!r} is not a MAC address")
        binding = self._binding(norm, self.redis.hgetall(keys.mac_binding(norm)))
        if binding is None:
            raise InvalidCredential("device has no binding")
        return Identity(binding[0], norm, "mac_auth")

    # --- helpers -----------------------------------------------------------------------------

    @staticmethod
    def _phone_or_reject(username: str) -> str:
        try:
            return normalise_phone(username)
        except ValidationError:
            raise InvalidCredential("User-Name is not a phone number") from None

    def _binding(self, mac: str, raw: dict[bytes, bytes] | None) -> tuple[str, str, float] | None:
        if not raw:
            return None
        try:
            expires = float(raw[b"expires"])
            data = (raw[b"phone"].decode(), raw[b"secret"].decode(), expires)
        except (KeyError, ValueError, UnicodeDecodeError):
            return None
        return data if expires > self.clock() else None

    @staticmethod
    def _failure(status: bytes, token: str = "") -> CredentialError:
        if status == b"reused":
            return ReusedCredential(token=token)
        if status == b"expired":
            return InvalidCredential("login token expired")
        if status == b"mac_mismatch":
            return DeviceMismatch("login token was issued for another device")
        if status == b"full":
            return DevicesFull("every device slot of the plan is taken")
        return InvalidCredential("unknown credential")


def consume_keys_args(command: Command) -> tuple[list[Any], list[Any]]:
    """KEYS and ARGV of a ("CONSUME", ...) command, with or without a reservation."""
    if len(command) > 7:
        return [command[1], command[2], command[7], command[8]], [*command[3:7], *command[9:]]
    return [command[1], command[2]], list(command[3:])
