"""The texts and replies of Access-Rejects decided by the auth policy (``radius.auth``): each in
Simplified Chinese and English, split into Reply-Message attributes the NAS concatenates."""

from __future__ import annotations

from portal.aaa.credentials import DEVICE_MISMATCH_MESSAGE
from portal.aaa.grants import QuotaRefusal
from radius.server import AuthReply
from radius.wire import Attr, Code

__all__ = ["REJECT_MESSAGES", "refusal_reply", "reply_message_attrs", "too_many_devices"]

# Reject reasons radius.auth decides (quota reasons come with their text from portal.aaa.grants).
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
    "device_mismatch": DEVICE_MISMATCH_MESSAGE,    # the AC reports another MAC than the token's
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


def refusal_reply(refusal: QuotaRefusal) -> AuthReply:
    return AuthReply(Code.ACCESS_REJECT, reply_message_attrs(refusal.reply_message), refusal.code)


def too_many_devices() -> AuthReply:
    return refusal_reply(QuotaRefusal("too_many_devices", "every device slot of the plan is taken"))
