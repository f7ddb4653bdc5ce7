"""The Access-Request policy: credential → blocklist → plan/quota (R2's Authorizer) → dialect.

Plugs into ``radius.server.RadiusServer`` as its auth handler. Each step either passes or ends in
an Access-Reject whose Reply-Message (Chinese / English) the portal can show, and whose reason
the server counts (``reject.<reason>``). Redis errors propagate: the server stays silent.

With a ``RespClient`` (plain redis:// or unix:// URL) an Access-Request costs ONE Redis round
trip: the credential reads and token consumption, the blocklist lookups and the plan/usage/
session reads of ``portal.grants`` go out as one pipeline (+1 for a CHAP token's consumption,
+1 for MAC authentication). Without it (Sentinel, Cluster) the same steps run through redis-py,
one pipeline each.
"""

from __future__ import annotations

import json
import time
from collections.abc import Callable
from typing import Any
from zoneinfo import ZoneInfo

from portal.acs import AcRecord
from portal.blocklist import BlockEntry, normalise_mac
from portal.credentials import CONSUME_LUA, CheckPlan, CredentialError, CredentialStore, Identity
from portal.errors import ValidationError
from portal.grants import Authorizer, Grant, QuotaRefusal, evaluate
from portal.sessions import decode_records
from portal.state import keys
from radius import wire
from radius.dialects import render
from radius.errors import MalformedPacket
from radius.resp import RespClient
from radius.server import AuthReply
from radius.wire import Attr, Code

__all__ = ["REJECT_MESSAGES", "AuthPolicy", "parse_ssid", "reply_message_attrs"]

# Reject reasons decided here (quota reasons come with their text from portal.grants).
REJECT_MESSAGES: dict[str, tuple[str, str]] = {
    "invalid_credential": (
        "登录凭证无效或已过期，请重新获取验证码",
        "Invalid or expired login credential. Please request a new code.",
    ),
    "reused_credential": (
        "登录凭证已使用，请重新获取验证码",
        "This login credential was already used. Please request a new code.",
    ),
    "blocked": (
        "该号码或设备已被停止上网服务，请联系客服",
        "This number or device is blocked. Please contact customer service.",
    ),
    "unsupported_method": (
        "不支持的认证方式",
        "Unsupported authentication method.",
    ),
}


def reply_message_attrs(text: str) -> tuple[tuple[int, bytes], ...]:
    """Reply-Message attribute(s): split on UTF-8 character boundaries into ≤ 253-octet pieces
    (RFC 2865 §5.18: multiple Reply-Messages are concatenated by the NAS)."""
    out = []
    chunk = b""
    for ch in text:
        enc = ch.encode()
        if len(chunk) + len(enc) > 253:
            out.append((int(Attr.REPLY_MESSAGE), chunk))
            chunk = b""
        chunk += enc
    if chunk:
        out.append((int(Attr.REPLY_MESSAGE), chunk))
    return tuple(out)


def _is_mac(value: str) -> bool:
    try:
        normalise_mac(value)
    except ValidationError:
        return False
    return True


def parse_ssid(called_station_id: str | None) -> str | None:
    """SSID from Called-Station-Id ``<AP MAC>:<SSID>`` (RFC 3580 §3.20); None if absent."""
    if not called_station_id:
        return None
    value = called_station_id.strip()
    # The MAC may itself contain ':' (aa:bb:…), so try the known MAC lengths first.
    for mac_len in (17, 14, 12):
        if len(value) > mac_len and value[mac_len] == ":" and _is_mac(value[:mac_len]):
            return value[mac_len + 1 :] or None
    if _is_mac(value):
        return None
    _, sep, tail = value.rpartition(":")
    return tail or None if sep else None


class AuthPolicy:
    """Decides Access-Requests. Build one per worker process (it holds caches)."""

    def __init__(
        self,
        redis: Any,
        authorizer: Authorizer,
        *,
        credentials: CredentialStore | None = None,
        mac_auth_check_password: bool = False,
        venue_of: Callable[[str, str | None], str | None] | None = None,
        fast: RespClient | None = None,
        tz: ZoneInfo | None = None,
        clock: Callable[[], float] = time.time,
    ) -> None:
        self.redis = redis
        self.authorizer = authorizer
        self.credentials = credentials or CredentialStore(redis, clock=clock)
        self.mac_auth_check_password = mac_auth_check_password
        # (AC name, SSID) → venue id, so a venue's own plan rule applies (portal.venues).
        self.venue_of = venue_of
        # One-round-trip path (see module docstring); None = redis-py, one pipeline per step.
        self.fast = fast
        self._consume_sha = fast.script(CONSUME_LUA) if fast is not None else b""
        self.tz = tz or ZoneInfo(authorizer.settings.timezone)

    # --- the handler -------------------------------------------------------------------------

    def handle_auth(self, req: wire.Request, ac: AcRecord, secret: bytes, now: float) -> AuthReply:
        if self.fast is not None:
            return self._handle_batched(req, ac, secret, now)
        try:
            identity = self._identify(req, ac, secret)
        except CredentialError as exc:
            return self._reject(exc.code)
        except MalformedPacket:
            return self._reject("invalid_credential")
        if self._blocked(identity, now):
            return self._reject("blocked")
        ssid = parse_ssid(req.text(Attr.CALLED_STATION_ID))
        venue = self.venue_of(ac.name, ssid) if self.venue_of is not None else None
        try:
            grant = self.authorizer.authorize(identity.phone, identity.mac, ac, ssid, now, venue=venue)
        except QuotaRefusal as refusal:
            return AuthReply(Code.ACCESS_REJECT, reply_message_attrs(refusal.reply_message), refusal.code)
        return AuthReply(Code.ACCESS_ACCEPT, render(grant, ac.effective_radius_dialect, self.tz))

    def _handle_batched(self, req: wire.Request, ac: AcRecord, secret: bytes, now: float) -> AuthReply:
        assert self.fast is not None
        ssid = parse_ssid(req.text(Attr.CALLED_STATION_ID))
        try:
            plan = self._plan(req, ac, secret)
            if plan is None:   # MAC authentication: the binding names the phone first
                identity = self._identify(req, ac, secret)
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
        if self._blocked_raw(raw[:2], now):
            return self._reject("blocked")
        venue = self.venue_of(ac.name, ssid) if self.venue_of is not None else None
        try:
            grant = self._authorize_raw(identity, ac, ssid, venue, now, raw[2:])
        except QuotaRefusal as refusal:
            return AuthReply(Code.ACCESS_REJECT, reply_message_attrs(refusal.reply_message), refusal.code)
        return AuthReply(Code.ACCESS_ACCEPT, render(grant, ac.effective_radius_dialect, self.tz))

    def _plan(self, req: wire.Request, ac: AcRecord, secret: bytes) -> CheckPlan | None:
        username = req.text(Attr.USER_NAME)
        if not username:
            raise CredentialError("no User-Name")
        if ac.mac_auth and _is_mac(username):
            return None
        calling = req.text(Attr.CALLING_STATION_ID)
        password = req.get(Attr.USER_PASSWORD)
        if password is not None:
            clear = wire.decrypt_password(password, secret, req.authenticator).decode("utf-8", "replace")
            return self.credentials.plan_pap(username, clear, calling)
        chap = req.get(Attr.CHAP_PASSWORD)
        if chap is not None:
            challenge = req.get(Attr.CHAP_CHALLENGE) or req.authenticator
            return self.credentials.plan_chap(username, chap, challenge, calling)
        raise _Unsupported("neither User-Password nor CHAP-Password")

    def _decide(self, plan: CheckPlan, raw: list[Any]) -> Identity:
        if plan.method == "pap":
            return self.credentials.decide_pap(plan, raw)
        outcome = self.credentials.decide_chap(plan, raw)
        if isinstance(outcome, Identity):
            return outcome
        return self.credentials.decide_consume(plan, self._run([outcome])[0])

    def _run(self, commands: list[tuple[Any, ...]]) -> list[Any]:
        assert self.fast is not None
        wire_cmds = [
            ("EVALSHA", self._consume_sha, 2, *c[1:]) if c[0] == "CONSUME" else c for c in commands
        ]
        replies = self.fast.pipeline(wire_cmds)
        for reply in replies:
            if isinstance(reply, Exception):
                raise reply
        return replies

    @staticmethod
    def _policy_cmds(phone: str, mac: str | None) -> list[tuple[Any, ...]]:
        # Blocklist (portal.blocklist) and the reads of portal.grants.Authorizer.authorize.
        return [
            ("HGET", keys.blocked_phones(), phone),
            ("HGET", keys.blocked_macs(), mac or "-"),
            ("GET", keys.plan_override(phone)),
            ("HGETALL", keys.usage(phone)),
            ("HGETALL", keys.phone_sessions(phone)),
        ]

    @staticmethod
    def _blocked_raw(raw: list[Any], now: float) -> bool:
        for value in raw:
            if value is not None:
                try:
                    if BlockEntry(**json.loads(value)).active(now):
                        return True
                except (TypeError, ValueError):
                    return True   # unreadable entry: fail closed, someone meant to block
        return False

    def _authorize_raw(self, identity: Identity, ac: AcRecord, ssid: str | None,
                       venue: str | None, now: float, raw: list[Any]) -> Grant:
        # Mirrors portal.grants.Authorizer.authorize over already-fetched replies (a test checks
        # both give the same Grant); the decision itself is R2's pure ``evaluate``.
        a = self.authorizer
        raw_override, raw_usage, raw_sessions = raw
        override = None if raw_override is None else raw_override.decode()
        plan = a.plans.resolve_with(override, ac.name, ssid, venue)
        if plan is None:
            raise QuotaRefusal("no_plan", f"{identity.phone} on {ac.name}/{ssid}")
        usage = a.usage.from_raw(_pairs(raw_usage), now)
        sessions = decode_records(identity.phone, _pairs(raw_sessions))
        grant = evaluate(
            plan, usage, sessions, phone=identity.phone, mac=identity.mac, now=now,
            tz=a.usage.tz, default_interim=a.settings.default_interim, grace=a.reaper_grace,
        )
        if usage.first_login is None and plan.validity_days is not None:
            a.usage.mark_first_login(identity.phone, now)
        return grant

    # --- steps ---------------------------------------------------------------------------------

    @staticmethod
    def _reject(reason: str) -> AuthReply:
        zh, en = REJECT_MESSAGES[reason]
        return AuthReply(Code.ACCESS_REJECT, reply_message_attrs(f"{zh} / {en}"), reason)

    def _identify(self, req: wire.Request, ac: AcRecord, secret: bytes) -> Identity:
        username = req.text(Attr.USER_NAME)
        if not username:
            raise CredentialError("no User-Name")
        calling = req.text(Attr.CALLING_STATION_ID)
        password = req.get(Attr.USER_PASSWORD)
        chap = req.get(Attr.CHAP_PASSWORD)
        if ac.mac_auth and _is_mac(username):
            # MAC authentication (Huawei MAC-priority portal): User-Name is the device MAC.
            if calling and _is_mac(calling) and normalise_mac(calling) != normalise_mac(username):
                raise CredentialError("User-Name MAC differs from Calling-Station-Id")
            if self.mac_auth_check_password and not self._mac_password_ok(req, username, secret):
                raise CredentialError("MAC authentication password mismatch")
            return self.credentials.check_mac_auth(username)
        if password is not None:
            clear = wire.decrypt_password(password, secret, req.authenticator)
            return self.credentials.check_pap(username, clear.decode("utf-8", "replace"), calling)
        if chap is not None:
            challenge = req.get(Attr.CHAP_CHALLENGE) or req.authenticator
            return self.credentials.check_chap(username, chap, challenge, calling)
        raise _Unsupported("neither User-Password nor CHAP-Password")

    @staticmethod
    def _mac_password_ok(req: wire.Request, username: str, secret: bytes) -> bool:
        candidates = {username.encode(), normalise_mac(username).encode()}
        password = req.get(Attr.USER_PASSWORD)
        if password is not None:
            return wire.decrypt_password(password, secret, req.authenticator) in candidates
        chap = req.get(Attr.CHAP_PASSWORD)
        if chap is not None and len(chap) == 17:
            import hashlib

            challenge = req.get(Attr.CHAP_CHALLENGE) or req.authenticator
            return any(hashlib.md5(chap[:1] + c + challenge).digest() == chap[1:] for c in candidates)
        return False

    def _blocked(self, identity: Identity, now: float) -> bool:
        # One pipeline for both lookups (portal.blocklist stores JSON BlockEntry per value).
        pipe = self.redis.pipeline(transaction=False)
        pipe.hget(keys.blocked_phones(), identity.phone)
        pipe.hget(keys.blocked_macs(), identity.mac or "-")
        for raw in pipe.execute():
            if raw is not None:
                try:
                    if BlockEntry(**json.loads(raw)).active(now):
                        return True
                except (TypeError, ValueError):
                    return True   # unreadable entry: fail closed, someone meant to block
        return False


def _pairs(raw: Any) -> dict[bytes, bytes]:
    if not raw:
        return {}
    if isinstance(raw, dict):
        return raw
    return dict(zip(raw[::2], raw[1::2], strict=True))


class _Unsupported(CredentialError):
    code = "unsupported_method"
