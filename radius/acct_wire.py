"""An accounting record's commands in RESP form, the parts that repeat encoded once per session.

Every Interim-Update of a session sends the same keys, the same session field, the same MAC, plan,
venue, NAS identifiers … and a handful of numbers that change (counters, times). Measured under
callgrind (tests/bench/radius_handle_batch.py --acct --callgrind): encoding every argument of every
command with ``hiredis.pack_command`` was ≈ 17 % of the worker's instructions per Interim-Update
(a ``sprintf`` per argument). Here the repeating part of a command is encoded once and kept
(bounded memo per worker, keyed by every value it contains, so it can never be stale), and only
the changing values are encoded per record. The bytes are exactly what ``pack_command`` would send
(tests/radius/test_acct_wire.py compares them), so Redis sees the same commands.

Only for the worker's own RESP pipeline (``radius.resp.RespPipeline``); other pipelines (redis-py,
Redis Cluster) get the same keys and arguments as lists (``script_call``).
"""

from __future__ import annotations

from typing import Any

import hiredis
import redis

from portal.aaa.sessions import deadline_member
from portal.legal.logtext import escape_fields
from portal.state import keys, keys_outbox
from radius.acct_record import AcctRecord
from radius.resp import Encoded

__all__ = ["FIXED", "VARIABLE", "AcctWire", "bulk_values", "script_call"]

# The accounting script's ARGV (radius/acct_script.py) in two runs: what a session repeats, then
# what changes per record. ``script_call`` and the script agree on this order.
FIXED = ("field", "kind", "mac", "ip", "interim", "plan", "user name", "ssid", "venue", "login",
         "rate in", "rate out", "nas ids")
VARIABLE = ("now", "today", "session time", "in", "out", "in gigawords", "out gigawords",
            "started", "event time")

# (ac, sid, phone, login, kind, mac, ip, interim, plan, user name, ssid, venue, rate in, rate out,
#  nas ids): who and what the session is, as the accounting processor computed it for a record.
# (The user name may be None, refused as a command argument like any None: as before.)
Session = tuple[str, str, str, str, str, str, str, int, str, str | None, str, str, int, int, str]

# Entries per memo. A session's three take ≈ 2.4 KB (tracemalloc, 5,000 sessions), so at most
# ≈ 40 MB per worker; a worker serving more sessions than this starts its memo again when full
# (its records then cost what they did without it, plus a dict insert).
_MAX_ENTRIES = 16384


def script_call(session: Session, variable: tuple[Any, ...]) -> tuple[list[str], list[Any]]:
    """KEYS and ARGV of the accounting script for one record."""
    ac, sid, phone, login, kind, mac, ip, interim, plan, user, ssid, venue, rin, rout, ids = session
    script_keys = [keys.phone_sessions(phone), keys.usage(phone),
                   keys.session_tombstone(phone, ac, sid), keys.login_claim(phone, login or "-")]
    if kind == "stop":
        script_keys.append(keys_outbox.session_logout_pending(phone, ac, sid))
    args: list[Any] = [f"{ac}|{sid}", kind, mac, ip, interim, plan, user, ssid, venue, login, rin,
                       rout, ids]
    args.extend(variable)
    return script_keys, args


def bulk_values(values: tuple[Any, ...]) -> bytes:
    """RESP bulk strings of ints, floats and text, as ``hiredis.pack_command`` writes them (ints in
    decimal, floats by ``repr``, text as UTF-8), without the array header."""
    # One str from f-strings, encoded once: the cheapest way measured. ``str`` of a float is its
    # repr. The lengths are in characters, right only for ASCII: anything else takes the loop.
    text = "".join([f"${len(t)}\r\n{t}\r\n" for t in map(str, values)])
    if text.isascii():
        return text.encode()
    parts = []
    for v in values:
        b = str(v).encode()
        parts.append(b"$%d\r\n%s\r\n" % (len(b), b))
    return b"".join(parts)


def _body(args: tuple[Any, ...]) -> bytes:
    """``pack_command(args)`` without its ``*<n>`` header; a None or boolean argument raises
    redis-py's DataError, as ``radius.resp.RespPipeline`` does when it queues one."""
    try:
        packed: bytes = hiredis.pack_command(args)
    except TypeError:
        raise redis.DataError(f"invalid argument in {args[:2]!r}") from None
    return packed[packed.index(b"\n") + 1:]


class AcctWire:
    """Per-worker memo of the repeating RESP of accounting commands (one per processor)."""

    def __init__(self, sha: bytes) -> None:
        self.sha = sha
        self._scripts: dict[Session, bytes] = {}
        self._indexes: dict[tuple[str, str, str], tuple[bytes, bytes, bytes]] = {}
        self._logs: dict[tuple[Any, ...], tuple[bytes, bytes, bytes, int]] = {}
        self._log_key = b"$%d\r\n%s\r\n" % (len(keys.acct_log().encode()), keys.acct_log().encode())

    def script(self, session: Session, variable: tuple[Any, ...]) -> Encoded:
        """The accounting script's EVALSHA for one record (``script_call``'s keys and arguments)."""
        head = self._scripts.get(session)
        if head is None:
            if len(self._scripts) >= _MAX_ENTRIES:
                self._scripts.clear()
            script_keys, args = script_call(session, ())
            fixed = ("EVALSHA", self.sha, len(script_keys), *script_keys, *args)
            head = self._scripts[session] = (b"*%d\r\n" % (len(fixed) + len(VARIABLE))) + _body(fixed)
        assert len(variable) == len(VARIABLE)
        return Encoded(head + bulk_values(variable), self.sha)

    def index(self, ac: str, sid: str, phone: str, deadline: float) -> tuple[bytes, bytes]:
        """``SessionRegistry.index_in``'s two commands: the per-AC index ``HSET`` and the deadline
        ``ZADD``."""
        memo = self._indexes.get((ac, sid, phone))
        if memo is None:
            if len(self._indexes) >= _MAX_ENTRIES:
                self._indexes.clear()
            hset = b"*4\r\n" + _body(("HSET", keys.ac_sessions(ac), sid, phone))
            zadd = b"*4\r\n" + _body(("ZADD", keys.session_deadlines()))
            member = _body((deadline_member(phone, ac, sid),))
            memo = self._indexes[(ac, sid, phone)] = (hset, zadd, member)
        hset, zadd, member = memo
        score = str(deadline)    # a float's str is its repr, as pack_command writes it
        return hset, b"".join((zadd, f"${len(score)}\r\n{score}\r\n".encode(), member))

    def log_entry(self, ac: str, received_at: float, record: AcctRecord, phone: str) -> bytes:
        """The accounting log's ``XADD`` of a session record: ``radius.acct_log.log_fields("acct",
        ac, received_at, record, phone)``, the same fields in the same order, with the values a
        session repeats (AC, phone, ids, MAC, Class …) encoded once."""
        r = record
        memo_key = (ac, phone, r.status, r.session_id, r.user_name, r.calling_station_id,
                    r.called_station_id, r.framed_ip, r.nas_ip, r.nas_identifier, r.class_)
        memo = self._logs.get(memo_key)
        if memo is None:
            if len(self._logs) >= _MAX_ENTRIES:
                self._logs.clear()
            memo = self._logs[memo_key] = self._log_parts(ac, phone, r)
        head, middle, tail, count = memo
        # The values that change per record: numbers only (ASCII, nothing to escape), present or
        # not as log_fields has them (None is left out; so is "", which a number never is).
        at = f"{received_at:.3f}"
        numbers = [f"$2\r\nat\r\n${len(at)}\r\n{at}\r\n"]
        for name, value in ((_T, r.session_time), (_IPK, r.input_packets), (_OPK, r.output_packets),
                            (_TC, r.terminate_cause), (_ETS, r.event_timestamp),
                            (_DLY, r.delay_time)):
            if value is not None:
                text = str(value)
                numbers.append(f"{name}${len(text)}\r\n{text}\r\n")
        totals = []
        if r.input_octets is not None or r.input_gigawords is not None:
            text = str(r.input_total)
            totals.append(f"$2\r\nin\r\n${len(text)}\r\n{text}\r\n")
        if r.output_octets is not None or r.output_gigawords is not None:
            text = str(r.output_total)
            totals.append(f"$3\r\nout\r\n${len(text)}\r\n{text}\r\n")
        count += len(numbers) + len(totals)
        return b"".join((b"*%d\r\n$4\r\nXADD\r\n%s$1\r\n*\r\n" % (3 + 2 * count, self._log_key),
                         head, numbers[0].encode(), middle, "".join(numbers[1:]).encode(), tail,
                         "".join(totals).encode()))

    @staticmethod
    def _log_parts(ac: str, phone: str, r: AcctRecord) -> tuple[bytes, bytes, bytes, int]:
        """The repeating fields of a log entry, escaped as log_fields escapes them: (k and ac),
        (ph … nasid), (cls), and how many fields they hold besides "at"."""
        def run(fields: dict[str, Any]) -> tuple[bytes, int]:
            kept = escape_fields({k: str(v) for k, v in fields.items() if v is not None and v != ""})
            return b"".join(_field(k, v) for k, v in kept.items()), len(kept)

        head, n1 = run({"k": "acct", "ac": ac})
        middle, n2 = run({"ph": phone or None, "st": r.status, "sid": r.session_id, "un": r.user_name,
                          "mac": r.calling_station_id, "called": r.called_station_id,
                          "ip": r.framed_ip, "nas": r.nas_ip, "nasid": r.nas_identifier})
        tail, n3 = run({"cls": r.class_.hex() if r.class_ else None})
        return head, middle, tail, n1 + n2 + n3


_T, _IPK, _OPK, _TC, _ETS, _DLY = (f"${len(n)}\r\n{n}\r\n" for n in ("t", "ipk", "opk", "tc", "ets", "dly"))


def _field(name: str, value: str) -> bytes:
    """One field name and value of an XADD, as RESP bulk strings."""
    b = value.encode()
    return b"$%d\r\n%s\r\n$%d\r\n%s\r\n" % (len(name), name.encode(), len(b), b)
