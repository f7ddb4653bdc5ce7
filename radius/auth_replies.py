"""The replies of Access-Rejects decided by the auth policy (``radius.auth``): each reason's text,
in Simplified Chinese and English (the catalog ``portal.aaa.texts``, looked up when the module
is imported), split into Reply-Message attributes the NAS concatenates."""

from __future__ import annotations

from portal.aaa.grants import QuotaRefusal
from portal.aaa.texts import REJECT_MESSAGES
from radius.server import AuthReply
from radius.wire import Attr, Code

__all__ = ["REJECT_MESSAGES", "refusal_reply", "reply_message_attrs", "too_many_devices"]


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


def refusal_reply(refusal: QuotaRefusal) -> AuthReply:
    return AuthReply(Code.ACCESS_REJECT, reply_message_attrs(refusal.reply_message), refusal.code)


def too_many_devices() -> AuthReply:
    return refusal_reply(QuotaRefusal("too_many_devices", "every device slot of the plan is taken"))
