"""Authorization against plans and quotas: what an Access-Accept grants, or why it is refused.

Authorising (``portal/aaa/authorizer.py``: ``Authorizer``, ``authorize``) is on the RADIUS hot path
(the target is ~15k auth/s across workers), so it costs ONE Redis round trip: a pipeline of reads
that all live in the phone's ``{p:<phone>}`` slot (plan override, usage counters, online
sessions), with plan definitions and rules cached in-process. It writes nothing except, once per
phone ever, the first-login time that starts a validity period counted "from first login".

The radius package renders a ``Grant`` into vendor attributes; the portal shows a refusal's
``message_zh`` / ``message_en`` and the RADIUS reply carries ``reply_message``.
"""

from __future__ import annotations

import hashlib
import hmac
import random
from dataclasses import dataclass
from typing import Any, NamedTuple
from zoneinfo import ZoneInfo

from portal.aaa.plans import Plan
from portal.aaa.sessions import OnlineSession, normalise_mac_or_none
from portal.aaa.texts import REFUSAL_MESSAGES
from portal.aaa.usage import Usage, next_midnight
from portal.errors import CitywifiError

__all__ = [
    "REFUSAL_MESSAGES",
    "ClassInfo",
    "ClassSigner",
    "Grant",
    "QuotaRefusal",
    "check_quota",
    "grant_of",
    "is_signed_class",
    "make_class",
    "parse_class",
    "remaining_time",
    "terminate_at",
    "too_many_online",
]

CLASS_MAGIC = b"cw1"          # unsigned (older releases; tests of the codec)
SIGNED_CLASS_MAGIC = b"cw2"   # signed for one AC and login: see ClassSigner


class Grant(NamedTuple):
    """What an Access-Accept grants. ``None`` = attribute not sent (no limit). A NamedTuple,
    not a frozen dataclass: one is built per Access-Accept, and a frozen dataclass sets each
    field through ``object.__setattr__`` (three times the instructions; docs/benchmarks.md)."""

    plan_name: str
    session_timeout: int | None      # Session-Timeout: the smallest remaining limit, seconds
    idle_timeout: int | None         # Idle-Timeout
    interim_interval: int            # Acct-Interim-Interval
    up_kbps: int | None
    down_kbps: int | None
    terminate_at: float | None       # epoch when validity ends (WISPr-Session-Terminate-Time)
    class_: bytes                    # opaque, goes into Class (≤ 253 bytes); see make_class


class QuotaRefusal(CitywifiError):
    """The phone may not go online now; ``code`` is one of REFUSAL_MESSAGES."""

    code = "quota"

    def __init__(self, code: str, detail: str = "") -> None:
        if code not in REFUSAL_MESSAGES:
            raise ValueError(f"unknown refusal code {code!r}")
        self.code = code
        self.message_zh, self.message_en = REFUSAL_MESSAGES[code]
        self.detail = detail
        super().__init__(f"{code}: {detail}" if detail else code)

    @property
    def reply_message(self) -> str:
        """Both languages in one Reply-Message (≤ 253 bytes UTF-8, checked by tests)."""
        return f"{self.message_zh} / {self.message_en}"


# --- Class -----------------------------------------------------------------------------------

@dataclass(frozen=True, slots=True)
class ClassInfo:
    phone: str
    plan: str
    issued: int
    login: str = ""          # the login's nonce (hex); signed Classes only
    signed: bool = False     # verified against the AC it came from (ClassSigner.verify)


def _nonce(nonce: bytes | None) -> bytes:
    # The nonce keeps two logins of one phone in one second apart and names the login; it is no
    # secret (the AC echoes Class in clear). random's global generator, not os.urandom: no
    # syscall per Access-Request, and it is reseeded in every forked worker.
    return b"%08x" % random.getrandbits(32) if nonce is None else nonce.hex().encode()


def make_class(phone: str, plan: str, issued: float, nonce: bytes | None = None) -> bytes:
    """``cw1|<phone>|<plan>|<issued epoch>|<nonce hex>``, unsigned. Accounting does NOT trust it
    (anyone can write it); the server issues ClassSigner's signed form."""
    value = b"|".join((CLASS_MAGIC, phone.encode(), plan.encode(), b"%d" % int(issued), _nonce(nonce)))
    return value[:253]


def parse_class(value: bytes | None) -> ClassInfo | None:
    """The fields of a Class in our format (signed or not), unverified; None for anything else."""
    if not value or not (value.startswith(CLASS_MAGIC + b"|")
                         or value.startswith(SIGNED_CLASS_MAGIC + b"|")):
        return None
    parts = value.split(b"|")
    signed = parts[0] == SIGNED_CLASS_MAGIC
    if len(parts) != (6 if signed else 5) or not parts[1].isdigit() or not parts[3].isdigit():
        return None
    try:
        return ClassInfo(parts[1].decode(), parts[2].decode(), int(parts[3]), parts[4].decode("ascii"))
    except (UnicodeDecodeError, ValueError):
        return None


def is_signed_class(value: bytes | None) -> bool:
    """True when ``value`` claims to be a signed Class of ours (whether or not it verifies)."""
    return bool(value) and value.startswith(SIGNED_CLASS_MAGIC + b"|")  # type: ignore[union-attr]


class ClassSigner:
    """Signs the Class of an Access-Accept for the AC it goes to, and checks it in accounting.

    ``cw2|<phone>|<plan>|<issued>|<nonce>|<tag>``, tag = the first 128 bits of
    HMAC-SHA256(key, ``<ac>|cw2|…|<nonce>``). The AC echoes Class unchanged in every accounting
    record of the session (RFC 2865 §5.25, RFC 2866 §5.5), so a record is booked to the phone only
    when its Class verifies for the AC that sent it: another registered AC can neither forge one
    nor replay one it saw (its name is in the MAC). The nonce names the login; the accounting
    script lets one login back one session (radius/accounting.py)."""

    _CACHE_MAX = 65536

    def __init__(self, key: bytes) -> None:
        if len(key) < 16:
            raise ValueError("the Class key must be at least 16 bytes")
        self._key = key
        # A session repeats its Class in every Interim-Update: remember what verified (exact
        # bytes and AC), so the HMAC runs about once per session and worker.
        self._verified: dict[tuple[bytes, str], ClassInfo] = {}
        self._states: dict[str, tuple[Any, Any]] = {}   # AC → HMAC states (see _tag)

    def _tag(self, ac: str, body: bytes) -> bytes:
        """hmac.digest(key, ``<ac>|`` + body, "sha256"), first 128 bits in hex. The SHA-256
        states after the padded key's inner block plus ``<ac>|`` and after its outer block are
        kept per AC and copied per Class (RFC 2104's construction, as ``radius.wire.hmac_md5``):
        ``hmac.digest`` rebuilds both for every Access-Accept."""
        states = self._states.get(ac)
        if states is None:
            key = hashlib.sha256(self._key).digest() if len(self._key) > 64 else self._key
            block = key.ljust(64, b"\0")
            inner = hashlib.sha256(bytes(b ^ 0x36 for b in block))
            inner.update(ac.encode() + b"|")
            states = (inner, hashlib.sha256(bytes(b ^ 0x5C for b in block)))
            if len(self._states) >= 4096:   # bounded: one entry per AC in practice
                self._states.clear()
            self._states[ac] = states
        inner = states[0].copy()
        inner.update(body)
        outer = states[1].copy()
        outer.update(inner.digest())
        return outer.digest()[:16].hex().encode()

    def make(self, phone: str, plan: str, issued: float, ac: str, nonce: bytes | None = None) -> bytes:
        body = b"|".join((SIGNED_CLASS_MAGIC, phone.encode(), plan.encode(), b"%d" % int(issued),
                          _nonce(nonce)))
        return body + b"|" + self._tag(ac, body)    # ≤ 3+21+64+11+9+33 bytes: fits in 253

    def verify(self, value: bytes | None, ac: str) -> ClassInfo | None:
        """The ClassInfo of a Class we signed for ``ac``; None for anything else."""
        if not is_signed_class(value):
            return None
        assert value is not None
        known = self._verified.get((value, ac))
        if known is not None:
            return known
        body, sep, tag = value.rpartition(b"|")
        if not sep or not hmac.compare_digest(tag, self._tag(ac, body)):
            return None
        info = parse_class(value)
        if info is None:
            return None
        verified = ClassInfo(info.phone, info.plan, info.issued, info.login, signed=True)
        if len(self._verified) >= self._CACHE_MAX:
            self._verified.clear()
        self._verified[(value, ac)] = verified
        return verified


# --- the pure parts of a decision (portal.aaa.decision.decide puts them in order) -----------------

def terminate_at(plan: Plan, usage: Usage, now: float) -> float | None:
    """Epoch when the plan's validity ends for this phone (None = never)."""
    ends = []
    if plan.valid_until is not None:
        ends.append(float(plan.valid_until))
    if plan.validity_days is not None:
        start = usage.first_login if usage.first_login is not None else now
        ends.append(start + plan.validity_days * 86400)
    return min(ends) if ends else None


def check_quota(plan: Plan, usage: Usage, now: float) -> str | None:
    """The refusal code for validity/time/volume (not concurrency), or None if within limits.
    Shared by authorize() and the accounting processor's mid-session check."""
    end = terminate_at(plan, usage, now)
    if end is not None and end <= now:
        return "expired"
    if plan.daily_time is not None and usage.daily_time >= plan.daily_time:
        return "daily_time_used"
    if plan.total_time is not None and usage.total_time >= plan.total_time:
        return "total_time_used"
    if plan.daily_volume is not None and usage.daily_volume >= plan.daily_volume:
        return "daily_volume_used"
    if plan.total_volume is not None and usage.total_volume >= plan.total_volume:
        return "total_volume_used"
    return None


_midnights: dict[ZoneInfo, tuple[float, float]] = {}


def _next_midnight(now: float, tz: ZoneInfo) -> float:
    """next_midnight, remembered: the answer for ``now`` holds for every t in [now, answer)
    (no midnight lies between), and datetime arithmetic per Access-Request showed in profiles."""
    known = _midnights.get(tz)
    if known is not None and known[0] <= now < known[1]:
        return known[1]
    end = next_midnight(now, tz)
    _midnights[tz] = (now, end)
    return end


def remaining_time(plan: Plan, usage: Usage, now: float, tz: ZoneInfo) -> int | None:
    """Session-Timeout: the smallest of the session cap, daily and total time left, time until
    validity ends, and — when the plan has a daily time quota — time until local midnight (the
    daily allowance computed now is today's; the next login gets tomorrow's). None = no limit."""
    limits: list[float] = []
    if plan.session_timeout is not None:
        limits.append(plan.session_timeout)
    if plan.daily_time is not None:
        limits.append(plan.daily_time - usage.daily_time)
        limits.append(_next_midnight(now, tz) - now)
    if plan.total_time is not None:
        limits.append(plan.total_time - usage.total_time)
    end = terminate_at(plan, usage, now)
    if end is not None:
        limits.append(end - now)
    if not limits:
        return None
    return max(1, int(min(limits)))  # floor: never grant a second beyond a limit


def too_many_online(max_sessions: int, sessions: list[OnlineSession], mac: str | None, now: float,
                    grace: float) -> int | None:
    """How many sessions (read before) hold the plan's ``max_sessions`` places against a login
    from ``mac`` (its own device's session does not count), or None when there is room."""
    device = normalise_mac_or_none(mac)
    live = sum(1 for s in sessions
               if s.deadline(grace) > now and not (device is not None and s.mac == device))
    return live if live >= max_sessions else None


def grant_of(plan: Plan, usage: Usage, phone: str, now: float, tz: ZoneInfo, default_interim: int,
             signer: ClassSigner | None, ac: str, nonce: bytes | None) -> Grant:
    """The Grant of a login the checks let through (portal.aaa.decision.decide made them)."""
    # Positional (plan_name, session_timeout, idle_timeout, interim_interval, up_kbps,
    # down_kbps, terminate_at, class_): keywords cost twice the instructions (one per Accept).
    return Grant(
        plan.name,
        remaining_time(plan, usage, now, tz),
        plan.idle_timeout,
        plan.interim_interval or default_interim,
        plan.up_kbps,
        plan.down_kbps,
        terminate_at(plan, usage, now),
        (signer.make(phone, plan.name, now, ac, nonce) if signer is not None and ac
         else make_class(phone, plan.name, now, nonce)),
    )
