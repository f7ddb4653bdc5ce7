"""openNDS FAS security level 3: the encrypted redirect and the authmon protocol (pure codec).

**Redirect.** At levels 2 and 3 openNDS 9.x (its ``src/http_microhttpd.c``) sends the phone to
``https://<fas>/<faspath>?fas=<F>&iv=<IV>`` where a PHP one-liner on the gateway computed
``F = base64(openssl_encrypt(text, "aes-256-cbc", faskey, 0, IV))`` — ``options=0`` already
returns base64, so the ciphertext is base64 twice — with ``IV`` the first 16 hex characters of a
random SHA-256 (used as 16 ASCII bytes), PKCS#7 padding, and PHP's key handling: the faskey's
bytes, zero-padded (or cut) to 32. ``text`` is the level-1 item list (``hid=…, clientip=…``)
plus ``authdir``. Only a holder of the faskey can make one that decrypts to a valid item list,
so the redirect is the gateway's word (``vouched``), not the phone's claim.

**authmon.** At level 3 nothing passes through the phone's browser: the gateway's ``authmon``
daemon POSTs (``post-request.php``) form fields ``auth_get``, ``gatewayhash`` = sha256hex of the
URL-encoded gatewayname and ``payload`` (base64) to the FAS URL itself, over HTTPS with a
verified certificate: ``clear`` once at start (forget queued grants), then every 10 s ``view``
with payload ``none`` — answered ``* <entry> <entry>…`` with each entry URL-encoded
``<rhid> <minutes> <up kbit/s> <down kbit/s> <up quota kB> <down quota kB> <custom>`` — and
``view`` again with the ack list ``* <rhid> <rhid>…`` of the entries it applied (``ndsctl
auth``), answered ``ack``. Session length is in MINUTES here (BinAuth takes seconds). authmon
reads only the first 1024 characters of the answer (:data:`MAX_ANSWER`).
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import math
from collections.abc import Iterable
from urllib.parse import quote, quote_plus

from cryptography.hazmat.primitives import padding
from cryptography.hazmat.primitives.ciphers import Cipher, algorithms, modes

from ac_adapters.gateways.base import GatewayLimits, GatewayRedirect
from ac_adapters.gateways.opennds import MAX_FAS_LENGTH, fas_items, redirect_from_items, rhid

__all__ = ["AUTHMON_ACTIONS", "MAX_ANSWER", "authmon_answer", "authmon_entry", "decrypt_fas",
           "encrypt_fas", "gateway_hash", "parse_ack", "parse_encrypted"]

AUTHMON_ACTIONS = frozenset({"clear", "view", "list", "deauthed", "custom"})
MAX_ANSWER = 1000           # authmon keeps ${authlist:2:1024}: entries past it would be cut


def _key(faskey: str) -> bytes:
    return faskey.encode()[:32].ljust(32, b"\0")


def decrypt_fas(fas: str, iv: str, faskey: str) -> str | None:
    """The plain item list of an encrypted ``fas`` query, or None when it does not decrypt
    with this faskey to UTF-8 text (another gateway's key, or forged)."""
    if not fas or len(fas) > 2 * MAX_FAS_LENGTH or len(iv) != 16 or not iv.isascii():
        return None
    try:
        once = base64.b64decode(fas + "=" * (-len(fas) % 4), validate=True)
        data = base64.b64decode(once, validate=True)
    except (binascii.Error, ValueError):
        return None
    if not data or len(data) % 16:
        return None
    decryptor = Cipher(algorithms.AES(_key(faskey)), modes.CBC(iv.encode())).decryptor()
    unpadder = padding.PKCS7(128).unpadder()
    try:
        plain = unpadder.update(decryptor.update(data) + decryptor.finalize()) + unpadder.finalize()
        return plain.decode("utf-8")
    except (ValueError, UnicodeDecodeError):
        return None


def encrypt_fas(text: str, iv: str, faskey: str) -> str:
    """What openNDS's PHP makes of ``text`` (tests and the simulator)."""
    padder = padding.PKCS7(128).padder()
    data = padder.update(text.encode()) + padder.finalize()
    encryptor = Cipher(algorithms.AES(_key(faskey)), modes.CBC(iv.encode())).encryptor()
    once = base64.b64encode(encryptor.update(data) + encryptor.finalize())
    return base64.b64encode(once).decode()


def parse_encrypted(fas: str, iv: str, faskey: str) -> GatewayRedirect | None:
    """The phone's context from a level-3 redirect, if it decrypts with ``faskey`` (None
    otherwise); ``state["level"]`` is ``"3"``. A text that decrypts but is not a valid item
    list raises :class:`GatewayRedirectError`."""
    text = decrypt_fas(fas, iv, faskey)
    if text is None or "hid=" not in text:
        return None
    parsed = redirect_from_items(fas_items(text), vouched=True)
    return GatewayRedirect(gateway_name=parsed.gateway_name, user_ip=parsed.user_ip,
                           user_mac=parsed.user_mac, original_url=parsed.original_url,
                           state={**parsed.state, "level": "3"}, vouched=True)


def gateway_hash(gatewayname: str) -> str:
    """authmon's ``gatewayhash``: sha256hex of the gatewayname as PHP's urlencode writes it."""
    return hashlib.sha256(quote_plus(gatewayname, safe="").encode()).hexdigest()


def _minutes(seconds: int | None) -> int:
    return 0 if not seconds else max(1, math.ceil(seconds / 60))     # 0 = no limit


def authmon_entry(hid: str, faskey: str, limits: GatewayLimits, custom: str = "citywifi") -> str:
    """One grant as authmon hands it to ``ndsctl auth``: ``rhid minutes up down upq downq
    custom`` (minutes rounded up; 0 = no limit; ``custom`` without spaces)."""
    fields = (rhid(hid, faskey), _minutes(limits.session_seconds), limits.up_kbps or 0,
              limits.down_kbps or 0, limits.up_kbytes or 0, limits.down_kbytes or 0,
              "".join(c for c in custom if c.isalnum() or c in "-_.")[:64] or "citywifi")
    return " ".join(str(f) for f in fields)


def authmon_answer(entries: Iterable[str]) -> str:
    """``* e1 e2 …`` with each entry URL-encoded, cut to what authmon reads (the rest waits
    for the next poll: nothing is acknowledged that authmon did not apply)."""
    out = "*"
    for entry in entries:
        encoded = quote(entry, safe="")
        if len(out) + 1 + len(encoded) > MAX_ANSWER:
            break
        out += " " + encoded
    return out


def parse_ack(payload: str) -> list[str] | None:
    """The rhids of an ack list (``* r1 r2``), [] for ``*`` alone, None when ``payload`` is not
    an ack list (``none``: a poll)."""
    text = payload.strip()
    if not text.startswith("*"):
        return None
    return [r for r in text[1:].split() if len(r) == 64 and all(c in "0123456789abcdef" for c in r)]
