"""The auth policy's one-request paths (``radius.auth.AuthPolicy`` inherits them).

* Without a ``RespClient`` (Sentinel, Cluster: a batch touches keys of many slots) every
  Access-Request runs through redis-py: the credential check, then the blocklist and policy
  reads in one pipeline (``portal.aaa.authorizer.Authorizer.decide``), then the device slot.
* With one, MAC authentication still goes one request at a time (the binding names the phone
  first): two trips, through the same ``RespClient``.

A spent login token asked for again within the replay window gets its first Accept again
(``radius.token_grants``); everything ends in ``portal.aaa.decision.decide``.
"""

from __future__ import annotations

import hashlib
from collections.abc import Callable
from typing import Any
from zoneinfo import ZoneInfo

from portal.aaa.acs import AcRecord
from portal.aaa.authorizer import Authorizer
from portal.aaa.blocklist import blocks, normalise_mac, normalise_mac_or_none
from portal.aaa.credentials import (
    CheckPlan,
    CredentialError,
    CredentialStore,
    Identity,
    InvalidCredential,
    ReusedCredential,
    consume_keys_args,
)
from portal.aaa.decision import Refusal
from portal.aaa.grants import QuotaRefusal
from portal.state import keys
from radius import wire
from radius.auth_lookups import phone_keep, phone_strip, without_realm
from radius.auth_replies import REJECT_MESSAGES, refusal_reply, reply_message_attrs, too_many_devices
from radius.called_station import is_mac, parse_ssid
from radius.dialects import render
from radius.errors import MalformedPacket
from radius.memo import memo
from radius.resp import RespClient
from radius.server import AuthReply
from radius.token_grants import TokenReplay, fetch_command
from radius.wire import Attr, Code

__all__ = ["SingleRequests", "Unsupported"]


class Unsupported(CredentialError):
    code = "unsupported_method"


class SingleRequests:
    """The one-request paths and the reply helpers both paths share."""

    redis: Any
    fast: RespClient | None
    authorizer: Authorizer
    credentials: CredentialStore
    replay: TokenReplay
    metrics: Any
    mac_auth_check_password: bool
    venue_of: Callable[[str, str | None], str | None] | None
    tz: ZoneInfo
    _consume_sha: bytes
    _reserve_sha: bytes
    # User-Name → phone, one memo per realm rule (a str key is cheaper than a tuple here)
    _phones: tuple[dict[str, str | None], dict[str, str | None]]

    def _handle_redis_py(self, req: wire.Request, ac: AcRecord, secret: bytes, now: float) -> AuthReply:
        try:
            identity, token = self._identify(req, ac, secret)
        except ReusedCredential as exc:
            return self._replay_one(req, ac, exc, now)
        except CredentialError as exc:
            return self._reject(exc.code)
        except MalformedPacket:
            return self._reject("invalid_credential")
        ssid = parse_ssid(req.text(Attr.CALLED_STATION_ID))
        venue = self.venue_of(ac.name, ssid) if self.venue_of is not None else None
        grant = self.authorizer.decide(identity.phone, identity.mac, ac, ssid, now, venue, blocklist=True)
        if isinstance(grant, Refusal):
            return self._refused(grant)
        try:
            self.authorizer.reserve(identity.phone, identity.mac, grant, now)   # one more trip
        except QuotaRefusal as refusal:
            return refusal_reply(refusal)
        reply = AuthReply(Code.ACCESS_ACCEPT, render(grant, ac.effective_radius_dialect, self.tz))
        store = self.replay.store(identity, token, ac.name, reply, now)
        if store is not None:
            self.replay.run_stores([store], lambda cmds: [self.redis.execute_command(*c) for c in cmds])
        return reply

    def _phone(self, username: str, ac: AcRecord) -> str:
        """The phone a User-Name names under the AC's rules (radius.user_name), memoised."""
        phone = memo(self._phones[ac.strip_realm], phone_strip if ac.strip_realm else phone_keep, username)
        if phone is None:
            raise InvalidCredential("User-Name is not a phone number")
        return phone

    def _replay_one(self, req: wire.Request, ac: AcRecord, exc: ReusedCredential, now: float) -> AuthReply:
        """The redis-py path's :meth:`_replay_batch` for one request."""
        mac = normalise_mac_or_none(req.text(Attr.CALLING_STATION_ID))
        username = req.text(Attr.USER_NAME) or ""
        phone = self._phone(username, ac)
        if self.replay.window <= 0 or not exc.token or mac is None:
            return self._reject(exc.code)
        if self._blocked(Identity(phone, mac, "token"), now):
            return self._reject("blocked")
        return self._replayed(self.redis.execute_command(*fetch_command(phone, exc.token)), ac.name, mac)

    def _replayed(self, raw: Any, ac_name: str, mac: str | None) -> AuthReply:
        attrs = self.replay.accept_attrs(raw, ac_name, mac)
        if attrs is None:
            return self._reject("reused_credential")
        if self.metrics is not None:
            self.metrics.inc("token_replay")
        return AuthReply(Code.ACCESS_ACCEPT, attrs)

    def _handle_one(self, req: wire.Request, ac: AcRecord, secret: bytes, now: float) -> AuthReply:
        assert self.fast is not None
        ssid = parse_ssid(req.text(Attr.CALLED_STATION_ID))
        try:
            plan = self._plan(req, ac, secret)
            if plan is None:   # MAC authentication: the binding names the phone first
                identity = self._identify(req, ac, secret)[0]
                raw = self._run(self._policy_cmds(identity.phone, identity.mac))
            else:
                n = len(plan.commands)
                raw = self._run([*plan.commands, *self._policy_cmds(plan.phone, plan.mac)])
                identity = self._decide(plan, raw[:n])
                raw = raw[n:]
        except CredentialError as exc:
            return self._reject(exc.code)
        except MalformedPacket:
            return self._reject("invalid_credential")
        venue = self.venue_of(ac.name, ssid) if self.venue_of is not None else None
        blocked_phone, blocked_mac, override, usage, sessions = raw
        grant = self.authorizer.decide_replies(identity.phone, identity.mac, ac, ssid, now, venue,
                                               (blocked_phone, blocked_mac, override, _pairs(usage),
                                                _pairs(sessions)))
        if isinstance(grant, Refusal):
            return self._refused(grant)
        reserve = self.authorizer.slot_command(identity.phone, identity.mac, grant, now)
        if reserve is not None and self._run([reserve])[0][0] == b"full":
            return too_many_devices()
        return AuthReply(Code.ACCESS_ACCEPT, render(grant, ac.effective_radius_dialect, self.tz))

    def _plan(self, req: wire.Request, ac: AcRecord, secret: bytes) -> CheckPlan | None:
        username = req.text(Attr.USER_NAME)
        if not username:
            raise CredentialError("no User-Name")
        if ac.mac_auth and is_mac(without_realm(username, ac)):
            return None
        calling = req.text(Attr.CALLING_STATION_ID)
        password = req.get(Attr.USER_PASSWORD)
        if password is not None:
            clear = wire.decrypt_password(password, secret, req.authenticator).decode("utf-8", "replace")
            return self.credentials.plan_pap(self._phone(username, ac), clear, calling)
        chap = req.get(Attr.CHAP_PASSWORD)
        if chap is not None:
            challenge = req.get(Attr.CHAP_CHALLENGE) or req.authenticator
            return self.credentials.plan_chap(self._phone(username, ac), chap, challenge, calling)
        raise Unsupported("neither User-Password nor CHAP-Password")

    def _decide(self, plan: CheckPlan, raw: list[Any]) -> Identity:
        if plan.method == "pap":
            return self.credentials.decide_pap(plan, raw)
        outcome = self.credentials.decide_chap(plan, raw)
        if isinstance(outcome, Identity):
            return outcome
        return self.credentials.decide_consume(plan, self._run([outcome])[0], outcome[3])

    def _run(self, commands: list[Any], *, raise_errors: bool = True) -> list[Any]:
        """Run commands (``CONSUME`` ones as EVALSHA of CONSUME_LUA) in one pipeline; an error
        reply raises unless ``raise_errors`` is false (then it is returned in its slot)."""
        assert self.fast is not None
        wire_cmds = [self._wire(c) for c in commands]
        replies = self.fast.pipeline(wire_cmds)
        if raise_errors:
            for reply in replies:
                if isinstance(reply, Exception):
                    raise reply
        return replies

    def _wire(self, command: Any) -> Any:
        if isinstance(command, tuple):
            if command[0] == "CONSUME":
                keys_, args = consume_keys_args(command)
                return ("EVALSHA", self._consume_sha, len(keys_), *keys_, *args)
            if command[0] == "RESERVE":
                return ("EVALSHA", self._reserve_sha, 2, *command[1:])
        return command

    @staticmethod
    def _policy_cmds(phone: str, mac: str | None) -> list[tuple[Any, ...]]:
        # The reads of portal.aaa.authorizer.Authorizer.decide with the blocklist, in its order
        # (what Authorizer.decide_replies takes).
        return [
            ("HGET", keys.blocked_phones(), phone),
            ("HGET", keys.blocked_macs(), mac or "-"),
            ("GET", keys.plan_override(phone)),
            ("HGETALL", keys.usage(phone)),
            ("HGETALL", keys.phone_sessions(phone)),
        ]

    # --- steps ---------------------------------------------------------------------------------

    @staticmethod
    def _reject(reason: str) -> AuthReply:
        zh, en = REJECT_MESSAGES[reason]
        return AuthReply(Code.ACCESS_REJECT, reply_message_attrs(f"{zh} / {en}"), reason)

    @classmethod
    def _refused(cls, refusal: Refusal) -> AuthReply:
        """The Access-Reject of a decision's Refusal: the blocklist's, or a plan/quota one."""
        if refusal.code == "blocked":
            return cls._reject("blocked")
        return refusal_reply(QuotaRefusal(refusal.code, refusal.detail))


    def _identify(self, req: wire.Request, ac: AcRecord, secret: bytes) -> tuple[Identity, str]:
        """Who the request proves, and the login token it spent ("" if none)."""
        username = req.text(Attr.USER_NAME)
        if not username:
            raise CredentialError("no User-Name")
        calling = req.text(Attr.CALLING_STATION_ID)
        password = req.get(Attr.USER_PASSWORD)
        chap = req.get(Attr.CHAP_PASSWORD)
        if ac.mac_auth and is_mac(without_realm(username, ac)):
            username = without_realm(username, ac)
            # MAC authentication (Huawei MAC-priority portal): User-Name is the device MAC.
            if calling and is_mac(calling) and normalise_mac(calling) != normalise_mac(username):
                raise CredentialError("User-Name MAC differs from Calling-Station-Id")
            if self.mac_auth_check_password and not self._mac_password_ok(req, username, secret):
                raise CredentialError("MAC authentication password mismatch")
            return self.credentials.check_mac_auth(username), ""
        creds = self.credentials
        if password is not None:
            clear = wire.decrypt_password(password, secret, req.authenticator).decode("utf-8", "replace")
            identity = creds.check_pap(self._phone(username, ac), clear, calling)
            return identity, clear if identity.kind == "token" else ""
        if chap is not None:   # check_chap's steps, keeping the token a response matched
            challenge = req.get(Attr.CHAP_CHALLENGE) or req.authenticator
            plan = creds.plan_chap(self._phone(username, ac), chap, challenge, calling)
            outcome = creds.decide_chap(plan, creds.run(plan.commands))
            if isinstance(outcome, Identity):
                return outcome, ""
            return creds.decide_consume(plan, creds.run((outcome,))[0], outcome[3]), outcome[3]
        raise Unsupported("neither User-Password nor CHAP-Password")

    @staticmethod
    def _mac_password_ok(req: wire.Request, username: str, secret: bytes) -> bool:
        candidates = {username.encode(), normalise_mac(username).encode()}
        password = req.get(Attr.USER_PASSWORD)
        if password is not None:
            return wire.decrypt_password(password, secret, req.authenticator) in candidates
        chap = req.get(Attr.CHAP_PASSWORD)
        if chap is not None and len(chap) == 17:
            challenge = req.get(Attr.CHAP_CHALLENGE) or req.authenticator
            return any(hashlib.md5(chap[:1] + c + challenge).digest() == chap[1:] for c in candidates)
        return False

    def _blocked(self, identity: Identity, now: float) -> bool:
        # One pipeline for both entries; portal.aaa.blocklist.blocks decides.
        pipe = self.redis.pipeline(transaction=False)
        pipe.hget(keys.blocked_phones(), identity.phone)
        pipe.hget(keys.blocked_macs(), identity.mac or "-")
        phone_entry, mac_entry = pipe.execute()
        return blocks(phone_entry, mac_entry, now)


def _pairs(raw: Any) -> dict[bytes, bytes]:
    if not raw:
        return {}
    if isinstance(raw, dict):
        return raw
    return dict(zip(raw[::2], raw[1::2], strict=True))

