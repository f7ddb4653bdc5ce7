"""Secondary indexes of online sessions by venue, SSID, MAC and IP (the NOC's searches).

Every index entry maps to the phone whose hash holds the record (``portal/aaa/sessions.py``):

* venue — ``keys.venue_sessions(venue)``: ``<ac>|<sid>`` → phone (per-venue online counts);
* SSID — ``keys.ssid_sessions(ssid)``: ``<ac>|<sid>`` → phone; a record that names no SSID goes
  to ``keys.ssid_unknown_sessions()`` (an SSID search matches those by their login record);
* MAC, IP — ``keys.mac_session_bucket(n)`` / ``keys.ip_session_bucket(n)``: ``<value>|<ac>|<sid>``
  → phone, in one of :data:`BUCKETS` hashes chosen by CRC-32 of the value. A hash per value
  would cost ≈ 100 bytes of key overhead per session and value; a few dozen entries per bucket
  at 100,000 sessions keep each bucket a listpack (≈ 50 bytes per entry), and a lookup reads
  one small hash.

Cluster: each key has its own hash tag, so these cannot be written by the accounting script
(the record lives in the phone's slot; a script touches one slot). They are written in the
pipeline that follows the script, from the record the script returned, and removed with the
record by every path that closes a session (Stop, Accounting-On/Off, reaper, kick). A crash
between the two, or a Stop racing its own Start on another worker, can leave an entry missing
or stale: readers re-check every entry against its record (and drop the stale ones), and the
maintenance process repairs both (``portal/aaa/session_repair.py``).
"""

from __future__ import annotations

import zlib
from typing import Any

from portal.state import keys

__all__ = ["BUCKETS", "Ref", "SessionIndex", "index_entries", "ip_bucket", "mac_bucket"]

BUCKETS = 4096      # per MAC / IP index; ≈ 25 entries per bucket at 100,000 sessions

Ref = tuple[str, str, str]      # (phone, ac, acct-session-id)


def _bucket(value: str) -> int:
    return zlib.crc32(value.encode()) % BUCKETS


def mac_bucket(mac: str) -> str:
    return keys.mac_session_bucket(_bucket(mac))


def ip_bucket(ip: str) -> str:
    return keys.ip_session_bucket(_bucket(ip))


def index_entries(session: Any) -> list[tuple[str, str]]:
    """Every (key, field) an online session has in the venue, plan, SSID, MAC and IP indexes
    (the value of each is its phone). ``session`` is a ``portal.aaa.sessions.OnlineSession``."""
    field = f"{session.ac}|{session.session_id}"
    out = [(keys.ssid_sessions(session.ssid) if session.ssid else keys.ssid_unknown_sessions(),
            field),
           (keys.plan_sessions(session.plan or ""), field)]
    if session.venue:
        out.append((keys.venue_sessions(session.venue), field))
    if session.mac:
        out.append((mac_bucket(session.mac), f"{session.mac}|{field}"))
    if session.ip:
        out.append((ip_bucket(session.ip), f"{session.ip}|{field}"))
    return out


def _ref(phone: bytes | str, field: bytes | str) -> Ref | None:
    """(phone, ac, sid) of a ``<ac>|<sid>`` field; None for garbage."""
    text = field.decode() if isinstance(field, bytes) else field
    ac, sep, sid = text.partition("|")
    if not sep:
        return None
    return (phone.decode() if isinstance(phone, bytes) else phone), ac, sid


class SessionIndex:
    """Writes (queued on a caller's pipeline) and raw reads of the indexes; the registry
    re-checks what it reads against the records."""

    def __init__(self, redis: Any) -> None:
        self.redis = redis

    # --- writes -------------------------------------------------------------------------------

    @staticmethod
    def add_in(pipe: Any, session: Any) -> None:
        """Queue the entries of a session whose record was just written."""
        for key, field in index_entries(session):
            pipe.hset(key, field, session.phone)
        if session.ssid:
            pipe.sadd(keys.ssid_index_names(), session.ssid)

    @staticmethod
    def remove_in(pipe: Any, session: Any) -> None:
        """Queue the removal of a closed session's entries."""
        for key, field in index_entries(session):
            pipe.hdel(key, field)

    @staticmethod
    def moved_ip_in(pipe: Any, session: Any, old_ip: str) -> None:
        """Queue the IP index change of a session whose record now has ``session.ip`` instead of
        ``old_ip`` (an Interim-Update with a new Framed-IP-Address)."""
        field = f"{session.ac}|{session.session_id}"
        if old_ip:
            pipe.hdel(ip_bucket(old_ip), f"{old_ip}|{field}")
        if session.ip:
            pipe.hset(ip_bucket(session.ip), f"{session.ip}|{field}", session.phone)

    # --- reads --------------------------------------------------------------------------------

    def refs(self, key: str) -> dict[str, Ref]:
        """Field → (phone, ac, sid) of a venue / SSID index hash."""
        out = {}
        for field, phone in self.redis.hgetall(key).items():
            ref = _ref(phone, field)
            if ref is not None:
                out[field.decode()] = ref
        return out

    def value_refs(self, key: str, value: str) -> dict[str, Ref]:
        """Field → (phone, ac, sid) of the entries for ``value`` in a MAC / IP bucket."""
        prefix = value + "|"
        out = {}
        for field, phone in self.redis.hgetall(key).items():
            text = field.decode()
            if text.startswith(prefix):
                ref = _ref(phone, text[len(prefix):])
                if ref is not None:
                    out[text] = ref
        return out
