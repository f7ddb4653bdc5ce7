"""AC redirect query → one normalised login context (``docs/protocols/portal-protocol.md`` §3).

An AC sends the phone to the portal with a query such as
``wlanuserip=10.0.0.5&wlanacname=ac1&ssid=CityWiFi&wlanusermac=AA-BB-…&wlanuserfirsturl=…``.
Every vendor spells it differently (§3), so:

* the AC is found first, by AC IP (``wlanacip``/``nasip``/``ac-ip``/…) or by AC name
  (``wlanacname``/``nasid``/…), through an injected ``resolve_ac`` — this module knows nothing
  about the portal's AC registry;
* then the AC's profile (or a per-AC override) says which names to prefer; the names of every
  other profile are still tried, because a mis-set profile should not lock phones out;
* MACs are accepted in any separator/case, or as EAG's DES-ECB hex when the AC has a DES key;
* when the caller says the AC vouches for its redirects (``AcHint.vouched_only``: a key is
  configured), the MAC must come from a parameter encrypted with that key, and every other MAC
  parameter must agree with it — a phone can edit a plain ``usermac``, not a ciphertext.

Pure functions apart from the injected lookup. Errors are ``RedirectError`` subclasses with a
stable ``code`` and a bilingual message meant for the phone user.
"""

from __future__ import annotations

import functools
import ipaddress
import string
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from urllib.parse import parse_qs, unquote, urlencode, urlsplit

from cryptography.hazmat.decrepit.ciphers.algorithms import TripleDES
from cryptography.hazmat.primitives import padding
from cryptography.hazmat.primitives.ciphers import Cipher, modes

from ac_adapters.errors import RedirectError
from ac_adapters.profiles import (
    DEFAULT_PROFILE,
    PROFILES,
    MacEncoding,
    RedirectParams,
    VendorProfile,
)
from ac_adapters.texts import REDIRECT_ERRORS

__all__ = [
    "AcHint",
    "BadMac",
    "BadUserIp",
    "MissingUserIp",
    "RedirectContext",
    "UnknownAc",
    "UnvouchedRedirect",
    "build_redirect_query",
    "build_redirect_url",
    "decode_des_mac",
    "encode_des_mac",
    "format_mac",
    "normalise_mac",
    "parse_redirect",
]


# --- errors ------------------------------------------------------------------------------

class _UserFacingRedirectError(RedirectError):
    """A redirect problem the phone user sees. ``str()`` is "<zh> / <en>" + detail for logs
    (the messages: ac_adapters/texts.py)."""

    message_zh = ""
    message_en = ""

    def __init__(self, detail: str = "") -> None:
        self.detail = detail
        super().__init__(f"{self.user_message}" + (f" ({detail})" if detail else ""))

    @property
    def user_message(self) -> str:
        return f"{self.message_zh} / {self.message_en}"


class UnknownAc(_UserFacingRedirectError):
    code = "unknown_ac"
    message_zh, message_en = REDIRECT_ERRORS["unknown_ac"]


class MissingUserIp(_UserFacingRedirectError):
    code = "missing_user_ip"
    message_zh, message_en = REDIRECT_ERRORS["missing_user_ip"]


class BadUserIp(_UserFacingRedirectError):
    code = "bad_user_ip"
    message_zh, message_en = REDIRECT_ERRORS["bad_user_ip"]


class BadMac(_UserFacingRedirectError):
    code = "bad_mac"
    message_zh, message_en = REDIRECT_ERRORS["bad_mac"]


class UnvouchedRedirect(_UserFacingRedirectError):
    """The AC encrypts the user MAC with a key we hold, but this redirect carries no such MAC:
    it was typed or edited by someone, not sent by the AC."""

    code = "unvouched_redirect"
    message_zh, message_en = REDIRECT_ERRORS["unvouched_redirect"]


# --- records -----------------------------------------------------------------------------

@dataclass(frozen=True, slots=True)
class AcHint:
    """What the caller knows about the AC that sent the redirect (from its AC registry)."""

    name: str
    profile: VendorProfile = PROFILES[DEFAULT_PROFILE]
    des_key: str | bytes | None = None      # 8-char DES key for EAG-style encrypted MACs
    params: RedirectParams | None = None    # per-AC parameter names (Huawei/H3C are admin-chosen)
    # The AC encrypts the user MAC with ``des_key``: accept the MAC only from such a parameter.
    vouched_only: bool = False

    @property
    def redirect_params(self) -> RedirectParams:
        return self.params if self.params is not None else self.profile.redirect


@dataclass(frozen=True, slots=True)
class RedirectContext:
    """One phone's redirect, normalised. MACs are ``aa:bb:cc:dd:ee:ff``."""

    ac: AcHint
    user_ip: str
    user_mac: str | None = None
    ssid: str | None = None
    ap_mac: str | None = None
    original_url: str | None = None        # http(s) only; anything else is dropped
    ac_ip: str | None = None                # as sent by the AC
    ac_name: str | None = None
    vlan: str | None = None
    ap_group: str | None = None             # the AC's AP group (Huawei ap-group-name)
    ap_location: str | None = None          # free text the AC keeps for the AP (Huawei ap-location)
    ap_name: str | None = None              # the AP's name on the AC (Huawei ap-name)
    raw: tuple[tuple[str, str], ...] = field(default=())   # every (name, value), for logs
    mac_vouched: bool = False               # the MAC came from a parameter encrypted with the AC's key


ResolveAc = Callable[[str | None, str | None], AcHint | None]


# --- MAC encodings -----------------------------------------------------------------------

_HEX = frozenset(string.hexdigits)
_SEPARATORS = ":-. "


def normalise_mac(text: str) -> str | None:
    """``aa:bb:cc:dd:ee:ff`` from any plain spelling (``AA-BB…``, ``aabb.ccdd.eeff``,
    ``AABBCCDDEEFF``, ``aa:bb…``); None when it is not a MAC."""
    digits = "".join(ch for ch in text.strip() if ch not in _SEPARATORS)
    if len(digits) != 12 or not set(digits) <= _HEX:
        return None
    digits = digits.lower()
    return ":".join(digits[i : i + 2] for i in range(0, 12, 2))


def _des_cipher(key: str | bytes) -> Cipher[modes.ECB]:
    raw = key.encode("utf-8") if isinstance(key, str) else bytes(key)
    if len(raw) != 8:
        raise ValueError(f"a DES key is 8 bytes, this one is {len(raw)}")
    # TripleDES keyed K1=K2=K3 is single DES (EDE collapses to E); spelling the key out three
    # times avoids cryptography's deprecation of bare 8-byte TripleDES keys.
    return Cipher(TripleDES(raw * 3), modes.ECB())


def encode_des_mac(mac: str, key: str | bytes) -> str:
    """EAG form (§3): lower-hex DES-ECB(key, PKCS#5) of ``AA-BB-CC-DD-EE-FF`` — 48 hex chars."""
    norm = normalise_mac(mac)
    if norm is None:
        raise ValueError(f"{mac!r} is not a MAC address")
    padder = padding.PKCS7(64).padder()
    plain = padder.update(norm.upper().replace(":", "-").encode("ascii")) + padder.finalize()
    encryptor = _des_cipher(key).encryptor()
    return (encryptor.update(plain) + encryptor.finalize()).hex()


def decode_des_mac(value: str, key: str | bytes) -> str | None:
    """Inverse of ``encode_des_mac``; None when the value is not a DES-encrypted MAC."""
    text = value.strip()
    if not text or len(text) % 16 or not set(text) <= _HEX:
        return None
    decryptor = _des_cipher(key).decryptor()
    plain = decryptor.update(bytes.fromhex(text)) + decryptor.finalize()
    unpadder = padding.PKCS7(64).unpadder()
    try:
        clear = unpadder.update(plain) + unpadder.finalize()
        return normalise_mac(clear.decode("ascii"))
    except (ValueError, UnicodeDecodeError):
        return None


def format_mac(mac: str, encoding: MacEncoding, des_key: str | bytes | None = None) -> str:
    """Write ``mac`` the way an AC does (for the simulator and tests)."""
    norm = normalise_mac(mac)
    if norm is None:
        raise ValueError(f"{mac!r} is not a MAC address")
    bare = norm.replace(":", "")
    if encoding is MacEncoding.DES_ECB_HEX:
        if des_key is None:
            raise ValueError("the DES-ECB MAC encoding needs the AC's DES key")
        return encode_des_mac(norm, des_key)
    if encoding in (MacEncoding.DASH4_LOWER, MacEncoding.DOT4_LOWER):
        sep = "-" if encoding is MacEncoding.DASH4_LOWER else "."
        return sep.join(bare[i : i + 4] for i in range(0, 12, 4))
    sep = {"COLON": ":", "DASH": "-", "BARE": ""}[encoding.name.split("_")[0]]
    pairs = sep.join(bare[i : i + 2] for i in range(0, 12, 2))
    return pairs.upper() if encoding.name.endswith("UPPER") else pairs


# --- parsing -----------------------------------------------------------------------------

# Both lists are pure functions of static data (the built-in profiles, an AC's frozen
# parameter names): kept per process. A landing page asked for them about 14 times per redirect,
# rebuilding the union of every profile each time (≈ 40 % of parse_redirect's CPU).
@functools.cache
def _union(attr: str) -> tuple[str, ...]:
    """Every profile's names for one field, default profile first — the fallback list."""
    names: list[str] = list(getattr(RedirectParams(), attr))
    for profile in PROFILES.values():
        names.extend(getattr(profile.redirect, attr))
    return tuple(dict.fromkeys(n.lower() for n in names))


def _names(params: RedirectParams, attr: str) -> tuple[str, ...]:
    try:
        return _names_of(params, attr)
    except TypeError:   # names given as lists (unhashable): not remembered
        return _names_of.__wrapped__(params, attr)


@functools.lru_cache(maxsize=4096)   # one entry per distinct AC parameter-name set and field
def _names_of(params: RedirectParams, attr: str) -> tuple[str, ...]:
    preferred = [n.lower() for n in getattr(params, attr)]
    return tuple(dict.fromkeys([*preferred, *_union(attr)]))


def _normalise_query(query: str | Mapping[str, Sequence[str]]) -> dict[str, list[str]]:
    if isinstance(query, str):
        text = query.strip()
        if "://" in text.split("?", 1)[0] or text.startswith("/"):
            text = urlsplit(text).query
        text = text.lstrip("?")
        parsed: Mapping[str, Sequence[str]]
        try:
            parsed = parse_qs(text, keep_blank_values=True, errors="strict")
        except UnicodeDecodeError:
            # Many Chinese ACs percent-encode the SSID in GBK rather than UTF-8.
            parsed = parse_qs(text, keep_blank_values=True, encoding="gb18030", errors="replace")
    else:
        parsed = query
    out: dict[str, list[str]] = {}
    for key, values in parsed.items():
        vals = [values] if isinstance(values, str) else list(values)
        out.setdefault(key.strip().lower(), []).extend(v.strip() for v in vals)
    return out


def _first(params: dict[str, list[str]], names: Iterable[str]) -> str | None:
    """First non-empty value under the first name that has one (duplicates: first wins)."""
    for name in names:
        for value in params.get(name, ()):
            if value:
                return value
    return None


def _mac(
    params: dict[str, list[str]], names: Sequence[str], des_names: frozenset[str],
    des_key: str | bytes | None,
) -> tuple[str | None, bool]:
    """(MAC, whether some candidate was present but unreadable)."""
    seen_bad = False
    for name in names:
        for value in params.get(name, ()):
            if not value:
                continue
            if name in des_names and des_key is None:
                continue    # e.g. ``wlanparameter`` from an AC we hold no key for: not a MAC to us
            mac = None if name in des_names else normalise_mac(value)
            if mac is None and des_key is not None:
                mac = decode_des_mac(value, des_key)
            if mac is not None:
                return mac, False
            seen_bad = True
    return None, seen_bad


def _vouched_mac(
    params: dict[str, list[str]], names: Sequence[str], des_key: str | bytes,
) -> str:
    """The MAC an AC vouches for: every MAC parameter present either decrypts with the AC's
    key or is a plain MAC, at least one decrypts, and all of them name the same device."""
    vouched: set[str] = set()
    plain: set[str] = set()
    for name in names:
        for value in params.get(name, ()):
            if not value:
                continue
            mac = decode_des_mac(value, des_key)
            if mac is not None:
                vouched.add(mac)
            elif (mac := normalise_mac(value)) is not None:
                plain.add(mac)
            else:
                raise BadMac(f"{name} is neither a MAC nor encrypted with the AC's key")
    if not vouched:
        raise UnvouchedRedirect("no MAC parameter encrypted with the AC's key")
    if len(vouched | plain) > 1:
        raise BadMac("the MAC parameters disagree")
    return vouched.pop()


_LABEL_MAX = 64     # Huawei: AP group names up to 35 characters, AP names and locations up to 64


def _label(value: str | None) -> str | None:
    """An AP group / name / location as sent, or None when it cannot be one (too long, control
    characters): informational, so an odd value is dropped, not an error."""
    if not value or len(value) > _LABEL_MAX or any(ord(ch) < 32 or ord(ch) == 127 for ch in value):
        return None
    return value


def _original_url(value: str | None) -> str | None:
    if not value:
        return None
    # Some ACs encode the first URL twice (http%3A%2F%2F… after one decoding).
    if value.lower().startswith(("http%3a", "https%3a")):
        value = unquote(value)
    # Only http(s): the portal later redirects the phone there, so javascript:/data: are dropped.
    return value if urlsplit(value).scheme.lower() in ("http", "https") else None


def parse_redirect(
    query: str | Mapping[str, Sequence[str]],
    *,
    resolve_ac: ResolveAc,
) -> RedirectContext:
    """Normalise an AC's redirect query (a query string, a full URL, or a ``parse_qs``-style
    mapping such as Flask's ``request.args.lists()`` turned into a dict).

    ``resolve_ac(ac_ip, ac_name)`` returns the AC's ``AcHint`` (profile, DES key, parameter
    names) or None. Raises ``UnknownAc``, ``MissingUserIp``, ``BadUserIp`` or ``BadMac``.
    """
    params = _normalise_query(query)
    ac_ip = _first(params, _union("ac_ip"))
    ac_name = _first(params, _union("ac_name"))
    hint = resolve_ac(ac_ip, ac_name) if (ac_ip or ac_name) else None
    if hint is None:
        raise UnknownAc(f"ac_ip={ac_ip!r} ac_name={ac_name!r}")
    names = hint.redirect_params
    # Re-read AC IP/name with the AC's own preference so the record shows what it really sent.
    ac_ip = _first(params, _names(names, "ac_ip"))
    ac_name = _first(params, _names(names, "ac_name"))

    raw_ip = _first(params, _names(names, "user_ip"))
    if raw_ip is None:
        raise MissingUserIp(f"none of {', '.join(_names(names, 'user_ip')[:4])} in the query")
    try:
        user_ip = str(ipaddress.ip_address(raw_ip))
    except ValueError:
        raise BadUserIp(f"user IP {raw_ip[:64]!r}") from None

    des_names = frozenset(n.lower() for n in names.des_mac)
    mac_names = tuple(dict.fromkeys([*_names(names, "user_mac"), *des_names]))
    vouched = hint.vouched_only and hint.des_key is not None
    if vouched:
        assert hint.des_key is not None
        user_mac: str | None = _vouched_mac(params, mac_names, hint.des_key)
    else:
        user_mac, bad = _mac(params, mac_names, des_names, hint.des_key)
        if user_mac is None and bad:
            raise BadMac("unreadable user MAC (or wrong DES key)")
    # The AP MAC is informational: an unreadable one is dropped, not an error.
    ap_mac, _ = _mac(params, _names(names, "ap_mac"), frozenset(), None)

    return RedirectContext(
        ac=hint,
        user_ip=user_ip,
        user_mac=user_mac,
        ssid=_first(params, _names(names, "ssid")),
        ap_mac=ap_mac,
        original_url=_original_url(_first(params, _names(names, "original_url"))),
        ac_ip=ac_ip,
        ac_name=ac_name,
        vlan=_first(params, _names(names, "vlan")),
        ap_group=_label(_first(params, _names(names, "ap_group"))),
        ap_location=_label(_first(params, _names(names, "ap_location"))),
        ap_name=_label(_first(params, _names(names, "ap_name"))),
        raw=tuple((k, v) for k, vals in params.items() for v in vals),
        mac_vouched=vouched,
    )


# --- building (what an AC sends) ---------------------------------------------------------

def build_redirect_query(
    params: RedirectParams,
    values: Mapping[str, str | None],
    *,
    des_key: str | bytes | None = None,
) -> str:
    """The query string an AC of this family sends, from ``values`` keyed by field kind
    (user_ip, ac_name, ac_ip, user_mac, ap_mac, ssid, original_url, vlan, ap_group,
    ap_location, ap_name). Fields whose value is None are left out; MACs are written in each
    parameter's encoding."""
    pairs: list[tuple[str, str]] = []
    for spec in params.emit:
        value = values.get(spec.kind)
        if value is None:
            continue
        if spec.mac_encoding is not None:
            if spec.mac_encoding is MacEncoding.DES_ECB_HEX and des_key is None:
                continue        # an AC without a DES key sends only its plain MAC parameters
            value = format_mac(value, spec.mac_encoding, des_key)
        pairs.append((spec.name, value))
    return urlencode(pairs)


def build_redirect_url(
    portal_url: str,
    params: RedirectParams,
    values: Mapping[str, str | None],
    *,
    des_key: str | bytes | None = None,
) -> str:
    """``portal_url`` with the AC's redirect query appended."""
    query = build_redirect_query(params, values, des_key=des_key)
    return f"{portal_url}{'&' if '?' in portal_url else '?'}{query}"
