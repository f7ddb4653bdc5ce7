"""The Access-Request policy: credential → blocklist → plan/quota (R2's Authorizer) → dialect.

Plugs into ``radius.server.RadiusServer`` as its auth handler. Each step either passes or ends in
an Access-Reject whose Reply-Message (Chinese / English) the portal can show, and whose reason
the server counts (``reject.<reason>``). Redis errors propagate: the server stays silent.

Round trips per Access-Request: credential check (1 pipeline, +1 Lua for a CHAP token),
blocklist (1 pipeline), authorize (1 pipeline).
"""

from __future__ import annotations

import json
import time
from collections.abc import Callable
from typing import Any
from zoneinfo import ZoneInfo

from portal.acs import AcRecord
from portal.blocklist import BlockEntry, normalise_mac
from portal.credentials import CredentialError, CredentialStore, Identity
from portal.errors import ValidationError
from portal.grants import Authorizer, QuotaRefusal
from portal.state import keys
from radius import wire
from radius.dialects import render
from radius.errors import MalformedPacket
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
        tz: ZoneInfo | None = None,
        clock: Callable[[], float] = time.time,
    ) -> None:
        self.redis = redis
        self.authorizer = authorizer
        self.credentials = credentials or CredentialStore(redis, clock=clock)
        self.mac_auth_check_password = mac_auth_check_password
        # (AC name, SSID) → venue id, so a venue's own plan rule applies (portal.venues).
        self.venue_of = venue_of
        self.tz = tz or ZoneInfo(authorizer.settings.timezone)

    # --- the handler -------------------------------------------------------------------------

    def handle_auth(self, req: wire.Request, ac: AcRecord, secret: bytes, now: float) -> AuthReply:
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


class _Unsupported(CredentialError):
    code = "unsupported_method"
