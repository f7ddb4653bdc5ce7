"""SMS one-time codes: issue, limit, verify (docs/protocols/sms.md §4).

``OtpService.request_code`` checks the number policy and the NOC blocklist, reserves every abuse
limit, and returns the clear code **to the caller only** (the web layer enqueues the SMS through
the sms-worker queue; this module never sends or logs a code). Redis keeps only
``HMAC-SHA256(server key, phone | device | nonce | code)``, compared with ``hmac.compare_digest``.

A code is bound to the phone and the device that asked: its MAC, or its IP when the AC gave no
MAC. Verification from that device works within the lifetime across page reloads and a closed and
reopened login window: nothing is tied to a browser session. ``pending`` tells a
reloaded page that a code is outstanding.

A code verifies exactly once: the comparison's result is committed by one script that marks the
code used only if it is still the same, unused code with that HMAC (so of any number of parallel
verifications one wins). When the login that followed fails (AC timeout, portal busy, real-name
write), the caller may grant a **retry ticket** (``grant_retry``): one server-side, single-use
record bound to that device and that login page (a hash of its context token) and to the same
code. A later ``verify`` of the used code from that device and page with that code redeems it
(deleted atomically); nothing else about a used code is ever accepted again.

Every code request also counts against the observed source address of the request (``source``:
the peer after trusted proxies), whatever IP and MAC the AC's redirect claims, so inventing
devices in the redirect does not multiply a client's SMS budget.

Limits and Redis Cluster. A cluster refuses a script whose keys live in different slots, so the
limit families (phone, MAC, IP, AC, global budget) cannot be checked and incremented in one
script. Each family is one atomic check-and-increment script in its own slot, run in this order:

  phone (cooldown, hour, day) → MAC (hour, day) → IP (hour, day) → AC (minute) → global (minute)

and when a family refuses, the families already reserved are released (decremented, and deleted
when back at 0; the cooldown stamp restored if still ours), so a refused request stores nothing.
Cheapest and most specific first means a request refused for its own number or device never
touches shared budgets, and the scarce global SMS budget, reserved last, is consumed only by
requests that pass everything else. Between a reservation and its
release a concurrent request may see a counter one too high and be refused — the error is always
towards refusing, never towards sending more SMS than a limit allows.
"""

from __future__ import annotations

import hashlib
import hmac
import ipaddress
import os
import secrets
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from portal.aaa.blocklist import Blocklist, normalise_mac
from portal.errors import ValidationError
from portal.phone.otp_errors import OtpError, OtpRefused, OtpRejected
from portal.phone.otp_retry import RetryTickets
from portal.phone.texts import SMS_CODE
from portal.runtime.settings import OtpSettings
from portal.state import keys
from portal.state.scripts import execute_scripted, queue_evalsha, queue_script
from sms_gateway.errors import InvalidNumber, NumberRefused
from sms_gateway.numbers import normalise
from sms_gateway.policy import NumberPolicy

__all__ = [
    "IssuedCode",
    "OtpError",
    "OtpRefused",
    "OtpRejected",
    "OtpService",
    "PendingCode",
    "VerifiedCode",
    "load_hmac_key",
]

@dataclass(frozen=True, slots=True)
class IssuedCode:
    phone: str             # 11-digit national number the SMS goes to
    code: str              # the clear code: put it in the SMS, never in a log
    expires_at: float
    resend_after: float    # epoch when the phone may ask again (UI countdown)
    valid_for: int = 300   # seconds

    def sms_text(self, signature: str, lang: str = "zh") -> str:
        """The SMS body (signature first, as Chinese gateways require)."""
        minutes = max(1, self.valid_for // 60)
        template = SMS_CODE[1] if lang.startswith("en") else SMS_CODE[0]
        return template.format(signature=signature, code=self.code, minutes=minutes)

    def __repr__(self) -> str:   # keep the code out of logs and tracebacks
        return f"IssuedCode(phone={self.phone!r}, code='******', expires_at={self.expires_at})"


@dataclass(frozen=True, slots=True)
class PendingCode:
    phone: str
    expires_at: float
    resend_after: float
    attempts_left: int


@dataclass(frozen=True, slots=True)
class VerifiedCode:
    phone: str
    mac: str               # "" when the AC gave none
    ip: str
    ac_name: str
    # What a retry ticket needs (``grant_retry``): the code's device, nonce and HMAC, and until
    # when a retry may still come (the code's verification time + its lifetime).
    device: str = field(default="", repr=False)
    nonce: str = field(default="", repr=False)
    digest: str = field(default="", repr=False)
    retry_until: float = field(default=0.0, repr=False)


# KEYS: [cooldown key if ARGV[2] > 0] + counters; ARGV: now, cooldown, cooldown ttl,
# then (limit, ttl) per counter. Returns {0, prev} ok, {-1, prev} cooldown, {i, prev} counter i full.
_RESERVE = """
local now, cd, first, prev = tonumber(ARGV[1]), tonumber(ARGV[2]), 1, false
if cd > 0 then
  first = 2
  prev = redis.call('GET', KEYS[1])
  if prev and now < tonumber(prev) + cd then return {-1, prev} end
end
for i = first, #KEYS do
  local j = 4 + 2 * (i - first)
  if tonumber(redis.call('GET', KEYS[i]) or '0') >= tonumber(ARGV[j]) then
    return {i - first + 1, prev or ''}
  end
end
for i = first, #KEYS do
  redis.call('INCR', KEYS[i])
  redis.call('EXPIRE', KEYS[i], ARGV[5 + 2 * (i - first)])
end
if cd > 0 then redis.call('SET', KEYS[1], ARGV[1], 'EX', ARGV[3]) end
return {0, prev or ''}
"""

# Undo a reservation. ARGV: our stamp, cooldown flag, previous stamp ('' = none), cooldown ttl.
# A counter back at 0 is deleted, not kept: the reservation may be what created it (a new phone,
# MAC or IP), and a refused request must leave no key behind (a 0 with a day's TTL per refused
# request let one address grow Redis by ~6 keys a request). GET of a missing counter reads 0.
_RELEASE = """
local first = 1
if tonumber(ARGV[2]) > 0 then
  first = 2
  if redis.call('GET', KEYS[1]) == ARGV[1] then
    if ARGV[3] == '' then redis.call('DEL', KEYS[1])
    else redis.call('SET', KEYS[1], ARGV[3], 'EX', ARGV[4]) end
  end
end
for i = first, #KEYS do
  local n = tonumber(redis.call('GET', KEYS[i]) or '0')
  if n > 1 then redis.call('DECR', KEYS[i]) elseif n == 1 then redis.call('DEL', KEYS[i]) end
end
return 0
"""

# Count one verification attempt. ARGV: now, max attempts, device as mac:…, device as ip:….
# No record (never sent, or gone record_grace after its lifetime): 'no_code'. A used or expired
# code says so only to the device that asked for it; to any other it is 'no_code' as well, so an
# attempt tells nobody whether someone else asked for a code for that number (or used one).
_ATTEMPT = """
local r = redis.call('HMGET', KEYS[1], 'h', 'n', 'dev', 'exp', 'tries', 'used')
if not r[1] then return {'no_code'} end
local mine = r[3] == ARGV[3] or r[3] == ARGV[4]
if r[6] == '1' then return {mine and 'used' or 'no_code'} end
if tonumber(ARGV[1]) >= tonumber(r[4]) then return {mine and 'expired' or 'no_code'} end
if not mine then return {'wrong_device'} end
if tonumber(r[5]) >= tonumber(ARGV[2]) then return {'too_many_attempts'} end
local tries = redis.call('HINCRBY', KEYS[1], 'tries', 1)
return {'ok', r[1], r[2], r[3], tostring(tries)}
"""

# The one step that accepts a code: still the same code (nonce), still unused, and the HMAC of
# what was typed equals the stored one — then it is used, in the same atomic step. ARGV: nonce,
# candidate HMAC. {1, mac, ip, ac} = this call won the code (the record's device, read in the
# same step: one round trip less per login), {0} = it did not.
_CONSUME = """
local r = redis.call('HMGET', KEYS[1], 'n', 'h', 'used', 'mac', 'ip', 'ac')
if r[1] ~= ARGV[1] or r[3] == '1' or r[2] ~= ARGV[2] then return {0} end
redis.call('HSET', KEYS[1], 'used', '1')
return {1, r[4] or '', r[5] or '', r[6] or ''}
"""

# Replace the phone's code record (a new code invalidates the previous one and any retry
# ticket of it). KEYS: code record, retry ticket. ARGV: ttl, field, value…
_STORE = """
redis.call('DEL', KEYS[1], KEYS[2])
redis.call('HSET', KEYS[1], unpack(ARGV, 2))
redis.call('EXPIRE', KEYS[1], ARGV[1])
return 1
"""

_HOUR, _DAY, _MINUTE = 3600, 86400, 60


_Counter = tuple[str, int, int, str, float]    # key, limit, ttl, refusal code, window end


@dataclass(frozen=True, slots=True)
class _Family:
    """One slot's worth of limits: an optional cooldown plus counters, each with its refusal code."""

    cooldown_key: str | None
    counters: tuple[_Counter, ...]

    @property
    def keys(self) -> list[str]:
        return ([self.cooldown_key] if self.cooldown_key else []) + [c[0] for c in self.counters]


def _counters(*items: _Counter) -> tuple[_Counter, ...]:
    return tuple(item for item in items if item[1] > 0)      # limit 0 = unlimited


class OtpService:
    """Issues and verifies codes. Build once per process; thread-safe (state lives in Redis)."""

    def __init__(
        self,
        redis: Any,
        cfg: OtpSettings,
        key: bytes,
        *,
        policy: NumberPolicy | None = None,
        blocklist: Blocklist | None = None,
        clock: Callable[[], float] = time.time,
    ) -> None:
        if len(key) < 16:
            raise ValueError("the OTP HMAC key must be at least 16 bytes")
        self.redis = redis
        self.cfg = cfg
        self.key = key
        self.policy = policy
        self.blocklist = blocklist
        self.clock = clock
        self._reserve = redis.register_script(_RESERVE)
        self._release = redis.register_script(_RELEASE)
        self._attempt = redis.register_script(_ATTEMPT)
        self._consume = redis.register_script(_CONSUME)
        self._store = redis.register_script(_STORE)
        self.retries = RetryTickets(redis, self._digest, max_attempts=cfg.max_attempts, clock=clock)

    # --- issuing --------------------------------------------------------------------------

    def request_code(self, phone: str, mac: str = "", ip: str = "", ac_name: str = "",
                     lang: str = "zh", source: str = "") -> IssuedCode:
        """Issue a code for ``phone`` asked by device (mac, ip) through ``ac_name``, in a request
        whose observed peer address is ``source`` (counted whatever the device claims).

        Raises ``OtpRefused`` (code, zh/en message, retry_after) and then nothing was reserved.
        """
        national = self._number(phone)
        mac, ip = self._device(mac, ip)
        self._check_blocklist(national, mac)
        now = self.clock()
        self._reserve_families(self._families(national, mac, ip, ac_name, now, source.strip()[:64]), now)
        digits = self.cfg.digits
        code = f"{secrets.randbelow(10**digits):0{digits}d}"
        nonce = secrets.token_hex(8)
        device = f"mac:{mac}" if mac else f"ip:{ip}"
        expires_at = now + self.cfg.lifetime
        record = {
            "h": self._digest(national, device, nonce, code), "n": nonce, "dev": device,
            "exp": repr(expires_at), "tries": 0, "used": 0, "lang": lang, "mac": mac, "ip": ip,
            "ac": ac_name,
        }
        flat: list[Any] = [self.cfg.lifetime + self.cfg.record_grace]
        for name, value in record.items():
            flat += [name, value]
        self._store(keys=[keys.otp_code(national), keys.otp_retry(national)], args=flat)
        return IssuedCode(national, code, expires_at, now + self.cfg.resend_cooldown, self.cfg.lifetime)

    def _number(self, phone: str) -> str:
        try:
            if self.policy is not None:
                return self.policy.check(phone).number.national
            return normalise(phone)
        except (InvalidNumber, NumberRefused) as exc:
            raise OtpRefused(exc.code, exc.message_zh, exc.message_en) from exc

    @staticmethod
    def _device(mac: str, ip: str) -> tuple[str, str]:
        try:
            mac = normalise_mac(mac) if mac else ""
            ip = str(ipaddress.ip_address(ip.strip())) if ip else ""
        except (ValidationError, ValueError) as exc:
            raise OtpRefused.of("no_device") from exc
        if not mac and not ip:
            raise OtpRefused.of("no_device")
        return mac, ip

    def _check_blocklist(self, phone: str, mac: str) -> None:
        if self.blocklist is None:
            return
        entries = self.blocklist.get_many(("phone", phone), *([("mac", mac)] if mac else []))
        active = [e for e in entries if e is not None]
        if active:
            # A timed block tells the user when; a permanent one says nothing about waiting.
            expiries = [e.expires for e in active]
            retry = 0 if 0 in expiries else max(1, int(max(expiries) - self.clock()))
            raise OtpRefused.of("blocked", retry)

    def _families(self, phone: str, mac: str, ip: str, ac: str, now: float,
                  source: str = "") -> list[_Family]:
        c = self.cfg
        offset = c.day_utc_offset * 3600
        hour, day, minute = int(now // _HOUR), int((now + offset) // _DAY), int(now // _MINUTE)
        h_end, d_end, m_end = (hour + 1) * _HOUR, (day + 1) * _DAY - offset, (minute + 1) * _MINUTE
        h_ttl, d_ttl, m_ttl = _HOUR + 60, _DAY + 60, _MINUTE + 60     # GC only; buckets decide
        pc = keys.otp_phone_counter
        families = [_Family(
            keys.otp_last_sent(phone) if c.resend_cooldown > 0 else None,
            _counters(
                (pc(phone, "h", hour), c.per_phone_hour, h_ttl, "phone_hourly_cap", h_end),
                (pc(phone, "d", day), c.per_phone_day, d_ttl, "phone_daily_cap", d_end),
            ),
        )]
        if mac:
            # A redirect's MAC is only a claim: counted per claimed MAC *and* observed address, so
            # a guest naming a neighbour's MAC cannot use up that neighbour's device limits.
            device = f"{mac}@{source}" if source else mac
            families.append(_Family(None, _counters(
                (keys.otp_mac_counter(device, "h", hour), c.per_mac_hour, h_ttl, "device_hourly_cap", h_end),
                (keys.otp_mac_counter(device, "d", day), c.per_mac_day, d_ttl, "device_daily_cap", d_end),
            )))
        if ip:
            families.append(_Family(None, _counters(
                (keys.otp_ip_counter(ip, "h", hour), c.per_ip_hour, h_ttl, "ip_hourly_cap", h_end),
                (keys.otp_ip_counter(ip, "d", day), c.per_ip_day, d_ttl, "ip_daily_cap", d_end),
            )))
        if source:
            sc = keys.otp_source_counter
            families.append(_Family(None, _counters(
                (sc(source, "h", hour), c.per_source_hour, h_ttl, "ip_hourly_cap", h_end),
                (sc(source, "d", day), c.per_source_day, d_ttl, "ip_daily_cap", d_end),
            )))
        if ac:
            families.append(_Family(None, _counters(
                (keys.otp_ac_counter(ac, "m", minute), c.per_ac_minute, m_ttl, "ac_rate", m_end),
            )))
        families.append(_Family(None, _counters(
            (keys.otp_global_counter("m", minute), c.global_per_minute, m_ttl, "global_budget", m_end),
        )))
        return [f for f in families if f.cooldown_key or f.counters]

    def _reserve_families(self, families: list[_Family], now: float) -> None:
        """Reserve a slot in every family, or in none (``OtpRefused`` for the first family, in
        order, that refuses). Each family is one atomic script in its own hash slot (so Redis
        Cluster can run it); the scripts go out in ONE pipelined round trip rather than one
        each, and on a refusal the families that did reserve are released again — as when they
        ran one by one, where the earlier families had reserved before a later one refused."""
        stamp = repr(now)
        pipe = self.redis.pipeline(transaction=False)
        queued: dict[int, tuple[Any, list[str], list[Any]]] = {}
        for i, family in enumerate(families):
            cooldown = self.cfg.resend_cooldown if family.cooldown_key else 0
            args: list[Any] = [stamp, cooldown, max(1, cooldown)]
            for _key, limit, ttl, _code, _end in family.counters:
                args += [limit, ttl]
            queue_evalsha(pipe, self._reserve, family.keys, args)
            queued[i] = (self._reserve, family.keys, args)
        replies = execute_scripted(pipe, queued)
        refusal: OtpRefused | None = None
        reserved: list[tuple[_Family, str]] = []
        for family, (status, prev) in zip(families, replies, strict=True):
            status = int(status)
            prev_text = prev.decode() if isinstance(prev, bytes) else str(prev)
            if status == 0:
                reserved.append((family, prev_text))
            elif refusal is None and status == -1:
                cooldown = self.cfg.resend_cooldown
                refusal = OtpRefused.of("resend_too_soon",
                                        max(1, int(float(prev_text) + cooldown - now + 0.999)))
            elif refusal is None:
                _key, _limit, _ttl, code, end = family.counters[status - 1]
                refusal = OtpRefused.of(code, max(1, int(end - now + 0.999)))
        if refusal is None:
            return
        if reserved:
            undo = self.redis.pipeline(transaction=False)
            for family, prev_text in reversed(reserved):
                cooldown = self.cfg.resend_cooldown if family.cooldown_key else 0
                queue_script(undo, self._release, family.keys, [stamp, cooldown, prev_text, max(1, cooldown)])
            undo.execute()
        raise refusal

    # --- verifying ------------------------------------------------------------------------

    def verify(self, phone: str, code: str, mac: str = "", ip: str = "", *,
               page: str = "") -> VerifiedCode:
        """Accept ``code`` once, from the device that asked; raise ``OtpRejected`` otherwise.

        ``page`` is the login page's context token: a used code is accepted again only through
        the retry ticket granted (``grant_retry``) to this device and this page, once."""
        try:
            national = normalise(phone)
            mac, ip = self._device(mac, ip)
        except (InvalidNumber, OtpRefused):
            raise OtpRejected("no_code") from None   # no code can exist for that number/device
        rkey = keys.otp_code(national)
        dev_args = [f"mac:{mac}" if mac else "-", f"ip:{ip}" if ip else "-"]
        result = self._attempt(keys=[rkey], args=[repr(self.clock()), self.cfg.max_attempts, *dev_args])
        status = result[0].decode() if isinstance(result[0], bytes) else str(result[0])
        if status == "used":
            return self._redeem(national, code.strip(), dev_args, page)
        if status != "ok":
            raise OtpRejected(status)
        stored, nonce, device, tries = (x.decode() if isinstance(x, bytes) else str(x) for x in result[1:5])
        left = self.cfg.max_attempts - int(tries)
        code = code.strip()
        # The attempt is counted before comparing, so concurrent guesses cannot exceed the cap.
        candidate = self._digest(national, device, nonce, code) if code.isascii() else ""
        if not candidate or not hmac.compare_digest(candidate, stored):
            raise OtpRejected("too_many_attempts" if left <= 0 else "wrong_code", max(0, left))
        won = self._consume(keys=[rkey], args=[nonce, candidate])
        if not int(won[0]):
            raise OtpRejected("used")       # a concurrent verify of the same code won
        rmac, rip, rac = (f.decode() if isinstance(f, bytes) else str(f) for f in won[1:4])
        return VerifiedCode(national, rmac, rip, rac, device, nonce, stored,
                            self.clock() + self.cfg.lifetime)

    def grant_retry(self, verified: VerifiedCode, page: str) -> bool:
        """After ``verified``'s login failed: let this device retry once from this ``page`` with
        the same code, until ``verified.retry_until`` (``portal.phone.otp_retry``)."""
        return self.retries.grant(verified.phone, page, device=verified.device, nonce=verified.nonce,
                                  digest=verified.digest, until=verified.retry_until,
                                  details={"mac": verified.mac, "ip": verified.ip, "ac": verified.ac_name})

    def _redeem(self, phone: str, code: str, devices: list[str], page: str) -> VerifiedCode:
        """A USED code: accepted once more only through this device's and page's retry ticket."""
        status, tries, t = self.retries.redeem(phone, code, devices, page)
        if status == "wrong_code":
            left = max(0, self.cfg.max_attempts - tries)
            raise OtpRejected("too_many_attempts" if left <= 0 else "wrong_code", left)
        if status != "ok":
            raise OtpRejected(status)
        return VerifiedCode(phone, t["mac"], t["ip"], t["ac"], t["dev"], t["n"], t["h"], float(t["exp"] or 0))

    def pending(self, phone: str, mac: str = "", ip: str = "") -> PendingCode | None:
        """The outstanding code for this phone and device, if any (to restore a reloaded page)."""
        try:
            national = normalise(phone)
            mac, ip = self._device(mac, ip)
        except (InvalidNumber, OtpRefused):
            return None
        raw = self.redis.hmget(keys.otp_code(national), "dev", "exp", "tries", "used")
        dev, exp, tries, used = (x.decode() if isinstance(x, bytes) else x for x in raw)
        now = self.clock()
        if dev is None or used == "1" or now >= float(exp) or dev not in (f"mac:{mac}", f"ip:{ip}"):
            return None
        left = self.cfg.max_attempts - int(tries)
        if left <= 0:
            return None
        last = self.redis.get(keys.otp_last_sent(national))
        resend_after = float(last) + self.cfg.resend_cooldown if last is not None else now
        return PendingCode(national, float(exp), resend_after, left)

    def _digest(self, phone: str, device: str, nonce: str, code: str) -> str:
        msg = f"{phone}|{device}|{nonce}|{code}".encode()
        return hmac.new(self.key, msg, hashlib.sha256).hexdigest()


def load_hmac_key(cfg: OtpSettings, data_dir: Path) -> bytes:
    """The server key for code hashes: ``otp.hmac_key`` if set, else ``data_dir/otp-hmac.key``,
    created once (0600) with 32 random bytes. Several hosts must share one key: set it in settings.
    """
    if cfg.hmac_key:
        return cfg.hmac_key.encode()
    path = Path(data_dir) / "otp-hmac.key"
    path.parent.mkdir(parents=True, exist_ok=True)
    try:
        fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    except FileExistsError:
        for _ in range(50):                        # another worker may be writing it right now
            text = path.read_text().strip()
            if text:
                return bytes.fromhex(text)
            time.sleep(0.02)
        raise ValueError(f"{path} is empty") from None
    with os.fdopen(fd, "w") as fh:
        fh.write(secrets.token_hex(32) + "\n")
    return bytes.fromhex(path.read_text().strip())
