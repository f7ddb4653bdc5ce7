"""The reads one batch of Access-Requests needs, as one pre-encoded Redis pipeline.

Measured (``INFO commandstats`` under tests/bench/radius_auth.py): run inside one Lua script, the
same reads cost Redis about 10 µs per request, 85 % of it Lua overhead (``redis.call`` argument
and reply conversion, cjson); sent as plain pipelined commands they cost a fraction of that, and
hiredis hands the replies to Python as bytes with no JSON in between. Nothing here writes: a
PAP password that is a live token, or a CHAP response that matches one, is consumed afterwards
by ``portal.aaa.credentials.CONSUME_LUA`` (atomic), so reads need no transaction.

Per batch: ``HMGET`` of the blocked phones and of the blocked MACs (one each for all requests).
Per request, five commands in this order (``READS_PER_REQUEST``):

    HGETALL  MAC binding (of "-" when the caller has no MAC)
    PAP:  HGET login-tokens <password>   HEXISTS used-login-tokens <password>
    CHAP: HKEYS login-tokens             HKEYS used-login-tokens
    GET      plan override
    HGETALL  usage

The phone's sessions are not read: a plan's ``max_sessions`` is decided by the device-slot
reservation in Lua, atomically (portal/aaa/device_slots.py), not from a read that may be stale.
An Accept that spent no token (a bound device) reserves its slot with ``RESERVE_LUA`` in one
more trip; that EVALSHA is encoded here too, from per-(phone, MAC) parts (``PhoneReads.reserve``):
building it as a tuple per request (``portal.aaa.device_slots.reserve_command``, then RESP-encoding
twelve arguments) was ~15 % of the Python instructions per Access-Request.

Pure encoding: no sockets here (``radius.resp.RespClient.send_encoded`` sends the payload).
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from portal.state import keys
from radius.resp import bulk

__all__ = ["READS_PER_REQUEST", "BatchReads", "PhoneReads", "flat_pairs", "reserve_command_head"]

READS_PER_REQUEST = 5
_MEMO_MAX = 50_000


def flat_pairs(flat: list[bytes] | None) -> dict[bytes, bytes]:
    """A flat [field, value, …] HGETALL reply as redis-py's dict."""
    if not flat:
        return {}
    it = iter(flat)
    return dict(zip(it, it, strict=True))


def reserve_command_head(sha: bytes) -> bytes:
    """The start of a reservation's EVALSHA (``PhoneReads.reserve``), per script."""
    return b"*12\r\n" + bulk(("EVALSHA", sha))


def _command(*args: Any) -> bytes:
    return b"*%d\r\n" % len(args) + bulk(args)


class PhoneReads:
    """The encoded commands of one (phone, MAC): everything but a PAP password repeats, so it is
    encoded once and remembered (encoding per request was a measurable CPU share)."""

    __slots__ = ("_reserve_keys", "_reserve_own", "binding", "chap", "expect", "hexists", "hget", "mac",
                 "mac_arg", "phone", "phone_arg", "policy")

    def __init__(self, phone: str, mac: str | None) -> None:
        self.phone = phone
        self.mac = mac
        # This request's argument of the batch's blocklist HMGETs (of "-" without a MAC).
        self.phone_arg, self.mac_arg = bulk((phone,)), bulk((mac or "-",))
        # max_sessions of this device's last Accept that took a device slot, 0 if none: its
        # next reservation is sent with the reads (radius.auth_slots).
        self.expect = 0
        self._reserve_keys = b""   # built on first use (most phones' plans have no device limit)
        # RESERVE_LUA's field and own-MAC arguments: static for a device with a MAC.
        self._reserve_own = bulk((mac, mac)) if mac else b""
        tokens, used = keys.login_tokens(phone), keys.login_tokens_used(phone)
        self.binding = _command("HGETALL", keys.mac_binding(mac or "-"))
        # PAP: the password is appended per request (a bulk string completes each command).
        self.hget = b"*3\r\n" + bulk(("HGET", tokens))
        self.hexists = b"*3\r\n" + bulk(("HEXISTS", used))
        self.chap = _command("HKEYS", tokens) + _command("HKEYS", used)
        self.policy = (_command("GET", keys.plan_override(phone))
                       + _command("HGETALL", keys.usage(phone)))

    def pap(self, password: bytes) -> bytes:
        pw = b"$%d\r\n%s\r\n" % (len(password), password)
        return self.binding + self.hget + pw + self.hexists + pw + self.policy

    def chap_reads(self) -> bytes:
        return self.binding + self.chap + self.policy

    def reserve(self, command: bytes, max_sessions: int, now: bytes, tail: bytes, login: bytes) -> bytes:
        """EVALSHA of ``portal.aaa.device_slots.RESERVE_LUA`` (or of a script with its arguments) for
        this device: the same arguments as ``reserve_command`` builds. ``command``: the array
        header, EVALSHA and the SHA, encoded (``reserve_command_head``); ``now``: the batch's
        clock, already a bulk string; ``tail``: hold and grace as bulk strings (per process);
        ``login``: the nonce in hex."""
        keys_part = self._reserve_keys
        if not keys_part:
            keys_part = self._reserve_keys = bulk(
                (2, keys.phone_sessions(self.phone), keys.device_slots(self.phone)))
        count = b"%d" % max_sessions
        own = self._reserve_own or bulk((b"lg:" + login, b""))   # no MAC: the login is the field
        return b"%s%s$%d\r\n%s\r\n%s%s%s$%d\r\n%s\r\n" % (
            command, keys_part, len(count), count, own, now, tail, len(login), login)


class BatchReads:
    """Builds batch payloads; holds the per-(phone, MAC) memo (one instance per worker)."""

    def __init__(self) -> None:
        self._phones: dict[tuple[str, str | None], PhoneReads] = {}
        self._blocked_phones = bulk(("HMGET", keys.blocked_phones()))
        self._blocked_macs = bulk(("HMGET", keys.blocked_macs()))

    def reads_of(self, phone: str, mac: str | None) -> PhoneReads:
        found = self._phones.get((phone, mac))
        if found is None:
            if len(self._phones) >= _MEMO_MAX:
                self._phones.clear()
            found = self._phones[(phone, mac)] = PhoneReads(phone, mac)
        return found

    def payload(self, requests: Sequence[tuple[str, str | None, bytes | None]]
                ) -> tuple[bytes, int, list[PhoneReads]]:
        """The pipeline for ``(phone, MAC, PAP password or None for CHAP)`` per request, the
        number of replies it produces (two blocklist replies, then ``READS_PER_REQUEST`` each),
        and each request's ``PhoneReads``."""
        n = len(requests)
        of = []
        parts = [b""] * 6   # the two blocklist HMGETs, filled in below
        for phone, mac, password in requests:
            reads = self.reads_of(phone, mac)
            of.append(reads)
            parts.append(reads.chap_reads() if password is None else reads.pap(password))
        parts[:6] = (b"*%d\r\n" % (2 + n), self._blocked_phones, b"".join([r.phone_arg for r in of]),
                     b"*%d\r\n" % (2 + n), self._blocked_macs, b"".join([r.mac_arg for r in of]))
        return b"".join(parts), 2 + READS_PER_REQUEST * n, of
