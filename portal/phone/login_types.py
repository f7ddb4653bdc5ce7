"""Values of the phone journey (``portal.phone.login``): what each use case returns, the one error
it raises (:class:`LoginError`, with a stable ``code`` that ``portal/web/errors.py`` maps to the
user's zh/en message) and the :class:`Signer` for context, ad and session tokens (HMAC-signed, or
sealed — encrypted and authenticated — when what they carry must not be readable).

Pure: no Redis, no sockets. Everything here is re-exported by ``portal.phone.login``.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import json
import os
import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from cryptography.exceptions import InvalidTag
from cryptography.hazmat.primitives.ciphers.aead import AESGCM

from portal.aaa.plans import Plan

__all__ = [
    "AdOffer", "CodeSent", "Landing", "LoginError", "LoginSuccess", "PhoneContext", "Signer",
    "StatusView", "mask_phone", "plan_title",
]


class LoginError(Exception):
    """A step of the journey failed; ``code`` is what the page and the log show."""

    def __init__(self, code: str, *, retry_after: int = 0, reply_message: str = "", detail: str = "",
                 attempts_left: int | None = None) -> None:
        super().__init__(f"{code}: {detail}" if detail else code)
        self.code = code
        self.retry_after = retry_after
        self.reply_message = reply_message
        self.detail = detail
        self.attempts_left = attempts_left


@dataclass(frozen=True, slots=True)
class PhoneContext:
    """Where a phone is, from its AC's redirect. ``mac`` "" when the AC sent none."""

    ac: str
    user_ip: str
    mac: str = ""
    ssid: str = ""
    ap: str = ""
    venue: str = "none"
    first_url: str = ""
    # "vendor" when the AC vouched for the MAC (encrypted with the AC's redirect key), else "".
    vouched: str = ""
    # Keyed hash of the number this browser proved it typed for this device (its code request):
    # the page may then offer that number back, masked, and post the masked value. The number
    # itself is never put in the token (tokens are signed, not encrypted).
    phone_proof: str = ""
    # Non-Portal gateways (portal.phone.gateway_login): the adapter's grant state as JSON, e.g. the
    # openNDS client's hid and the gateway's address. "" for carrier ACs.
    gateway: str = ""

    @property
    def device(self) -> str:
        return f"mac:{self.mac}" if self.mac else f"ip:{self.user_ip}"


@dataclass(frozen=True, slots=True)
class CodeSent:
    phone: str
    resend_in: int           # seconds until "resend" may be pressed
    expires_in: int


@dataclass(frozen=True, slots=True)
class AdOffer:
    ticket: str
    seconds: int
    ad: dict[str, str]
    phone: str


@dataclass(frozen=True, slots=True)
class Landing:
    """What the landing page shows: an ad (returning phone) or the login form."""

    ad: AdOffer | None = None
    phone: str = ""           # MASKED number to prefill, only when the requester proved it
    resend_in: int = 0
    refusal: LoginError | None = None   # a bound phone whose plan refuses: say why
    code_pending: bool = False          # a code is outstanding for this device: show the code field


@dataclass(frozen=True, slots=True)
class LoginSuccess:
    phone: str
    plan: Plan
    redirect_url: str
    delay: int
    kind: str
    session_token: str       # per-client token for the status page and the RFC 8908 API
    # True: redirect_url is the gateway's grant URL (openNDS) and the phone MUST be sent there.
    handoff: bool = False
    # CoovaChilli JSON interface: the logon URL under /json/ that the page calls (JSONP) instead
    # of sending the browser to redirect_url (which stays the no-script fallback); "" = none.
    gateway_json: str = ""


@dataclass(frozen=True, slots=True)
class StatusView:
    online: bool
    phone: str = ""
    plan: str = ""
    seconds_remaining: int | None = None
    bytes_remaining: int | None = None
    up_kbps: int | None = None
    down_kbps: int | None = None
    devices: int = 0
    max_devices: int | None = None
    venue: str = "none"
    plan_en: str = ""         # the plan's English title (``plan`` is the Chinese one)

    def plan_in(self, lang: str) -> str:
        return self.plan_en if lang == "en" and self.plan_en else self.plan


def plan_title(plan: Plan, lang: str) -> str:
    """What a phone page calls ``plan`` in ``lang``: its title in that language, else its name
    (an identifier, readable in both) — never the other language's title."""
    return (plan.title_en if lang == "en" else plan.title_zh) or plan.name


_SEALED_VERSION = b"\x01"
_NONCE_BYTES = 12


class Signer:
    """Compact JSON tokens with a purpose and an expiry: :meth:`sign` (HMAC-SHA256; the body is
    readable base64) and :meth:`seal` (AES-256-GCM; nobody without the key can read the body)."""

    def __init__(self, key: bytes, clock: Callable[[], float] = time.time) -> None:
        self.key = key
        self.clock = clock
        # HMAC-SHA256 keyed once; each token copies it. hmac.digest() looked the digest up in
        # OpenSSL and released the GIL on every call (seven per login): with 32 request threads
        # in a worker each release could hand the GIL away mid-request (docs/benchmarks.md).
        self._keyed = hmac.new(key, digestmod=hashlib.sha256)
        # A separate key for sealing, derived from the same secret (never the signing key itself).
        self._sealer = AESGCM(hmac.new(key, b"citywifi sealed token v1", hashlib.sha256).digest())

    def seal(self, purpose: str, data: dict[str, Any], ttl: float) -> str:
        """A token whose content is encrypted and authenticated, the purpose bound as associated
        data. For tokens that travel in URLs (access logs, history, Referer) and carry personal
        data, such as the status link's phone number."""
        body = json.dumps(dict(data, _e=round(self.clock() + ttl, 3)), separators=(",", ":")).encode()
        nonce = os.urandom(_NONCE_BYTES)
        sealed = _SEALED_VERSION + nonce + self._sealer.encrypt(nonce, body, purpose.encode())
        return base64.urlsafe_b64encode(sealed).rstrip(b"=").decode()

    def unseal(self, purpose: str, token: str) -> dict[str, Any]:
        """The data of a :meth:`seal` token, else :class:`LoginError` (``bad_link`` / ``link_expired``)."""
        try:
            text = token.strip()
            raw = base64.urlsafe_b64decode(text + "=" * (-len(text) % 4))
            if raw[:1] != _SEALED_VERSION or len(raw) < 1 + _NONCE_BYTES + 16:
                raise ValueError("not a sealed token")
            nonce, sealed = raw[1:1 + _NONCE_BYTES], raw[1 + _NONCE_BYTES:]
            body = json.loads(self._sealer.decrypt(nonce, sealed, purpose.encode()))
        except (ValueError, TypeError, UnicodeError, InvalidTag):
            raise LoginError("bad_link", detail=f"{purpose} token does not open") from None
        if not isinstance(body, dict):
            raise LoginError("bad_link", detail=f"not a {purpose} token")
        if float(body.pop("_e", 0)) < self.clock():
            raise LoginError("link_expired", detail=f"{purpose} token expired")
        return body

    def sign(self, purpose: str, data: dict[str, Any], ttl: float) -> str:
        body = dict(data, _p=purpose, _e=round(self.clock() + ttl, 3))
        raw = base64.urlsafe_b64encode(json.dumps(body, separators=(",", ":")).encode()).rstrip(b"=")
        mac = self._mac(raw)
        return f"{raw.decode()}.{base64.urlsafe_b64encode(mac).decode()}"

    def _mac(self, raw: bytes) -> bytes:
        mac = self._keyed.copy()
        mac.update(raw)
        return mac.digest()[:18]

    def verify(self, purpose: str, token: str) -> dict[str, Any]:
        try:
            raw, _, sig = token.strip().partition(".")
            expected = self._mac(raw.encode())
            if not hmac.compare_digest(base64.urlsafe_b64decode(sig + "=" * (-len(sig) % 4)), expected):
                raise ValueError("bad signature")
            body = json.loads(base64.urlsafe_b64decode(raw + "=" * (-len(raw) % 4)))
        except (ValueError, TypeError, UnicodeError):
            raise LoginError("bad_link", detail=f"{purpose} token does not verify") from None
        if not isinstance(body, dict) or body.pop("_p", None) != purpose:
            raise LoginError("bad_link", detail=f"not a {purpose} token")
        if float(body.pop("_e", 0)) < self.clock():
            raise LoginError("link_expired", detail=f"{purpose} token expired")
        return body

def mask_phone(phone: str) -> str:
    """``189****0001``: what logs show of a phone number."""
    return phone[:3] + "****" + phone[-4:] if len(phone) >= 8 else "****"
