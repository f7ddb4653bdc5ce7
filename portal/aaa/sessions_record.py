"""One online session as a value: ``OnlineSession`` and its compact JSON record in
``keys.phone_sessions(phone)`` (one-letter keys, ``RECORD_FIELDS``), the NAS identifiers a
Disconnect/CoA must repeat byte for byte, and the member format of the deadline index.

Pure (no Redis); the registry that stores these is :mod:`portal.aaa.sessions`, which re-exports them.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from typing import Any

from portal.aaa.blocklist import normalise_mac_or_none

__all__ = [
    "NAS_ID_KEYS",
    "RECORD_FIELDS",
    "OnlineSession",
    "deadline_member",
    "decode_record",
    "decode_records",
    "encode_nas_ids",
    "encode_record",
    "normalise_mac_or_none",
    "split_member",
]

# One-letter keys of the JSON record. Lua scripts in radius/accounting.py use the same names.
RECORD_FIELDS = {
    "m": "mac", "ip": "ip", "s": "started", "u": "updated", "ii": "interim", "pl": "plan",
    "t": "session_time", "i": "input_octets", "o": "output_octets", "un": "user_name",
    "id": "nas_ids",
}

# Identifiers exactly as the NAS sent them in accounting, which a Disconnect/CoA must repeat
# byte for byte (a NAS compares strings: "AA-BB-CC-00-00-41" is not "aa:bb:cc:00:00:41" to it,
# RFC 5176 §3). Record key "id" → {short key: value}; absent when nothing differs from the
# normalised fields (the common case costs no memory).
NAS_ID_KEYS = {"cs": "Calling-Station-Id", "na": "NAS-IP-Address", "ni": "NAS-Identifier"}


def encode_nas_ids(*, calling_station_id: str | None, nas_ip: str | None,
                   nas_identifier: str | None, mac: str | None) -> str:
    """The record's "id" object as JSON ("" when empty), from one accounting record. The raw
    Calling-Station-Id is kept only when it differs from the normalised ``mac``."""
    ids: dict[str, str] = {}
    if calling_station_id and calling_station_id != mac:
        ids["cs"] = calling_station_id[:253]
    if nas_ip:
        ids["na"] = nas_ip
    if nas_identifier:
        ids["ni"] = nas_identifier[:253]
    return json.dumps(ids, separators=(",", ":"), ensure_ascii=False) if ids else ""


@dataclass(frozen=True, slots=True)
class OnlineSession:
    """One online session as accounting knows it. Counters are cumulative for the session
    (octets with gigawords folded in)."""

    ac: str
    session_id: str
    phone: str
    mac: str | None = None
    ip: str | None = None
    started: int = 0          # epoch seconds
    updated: int = 0          # last accounting record, epoch seconds
    interim: int = 300        # Acct-Interim-Interval the session runs with
    plan: str = ""
    session_time: int = 0
    input_octets: int = 0
    output_octets: int = 0
    user_name: str = ""       # User-Name the NAS uses (DM/CoA must repeat it); "" = phone
    ssid: str = ""            # from Called-Station-Id at the start; "" = unknown
    venue: str = ""           # venue the session started in (portal.venues.venue_store); "" = not recorded
    # Identifiers as the NAS sent them (NAS_ID_KEYS short key, value), for DM/CoA.
    nas_ids: tuple[tuple[str, str], ...] = ()

    @property
    def field(self) -> str:
        return f"{self.ac}|{self.session_id}"

    @property
    def nas_user_name(self) -> str:
        """User-Name to repeat in DM/CoA: what the NAS used, else the phone."""
        return self.user_name or self.phone

    def nas_id(self, key: str) -> str | None:
        """A raw identifier (NAS_ID_KEYS key) as the NAS sent it, or None."""
        return next((v for k, v in self.nas_ids if k == key), None)

    @property
    def calling_station_id(self) -> str | None:
        """Calling-Station-Id to repeat in DM/CoA: the NAS's own spelling, else the MAC."""
        return self.nas_id("cs") or self.mac

    @property
    def octets(self) -> int:
        return self.input_octets + self.output_octets

    def deadline(self, grace: float) -> float:
        """After this epoch the session counts as silent (2 × interim + grace without update)."""
        return self.updated + 2 * self.interim + grace


def encode_record(session: OnlineSession) -> str:
    rec: dict[str, Any] = {
        "s": int(session.started), "u": int(session.updated), "ii": int(session.interim),
        "t": int(session.session_time), "i": int(session.input_octets),
        "o": int(session.output_octets),
    }
    if session.mac:
        rec["m"] = session.mac
    if session.ip:
        rec["ip"] = session.ip
    if session.plan:
        rec["pl"] = session.plan
    if session.user_name:
        rec["un"] = session.user_name
    if session.ssid:
        rec["ss"] = session.ssid
    if session.venue:
        rec["v"] = session.venue
    if session.nas_ids:
        rec["id"] = dict(session.nas_ids)
    return json.dumps(rec, separators=(",", ":"))


def decode_record(phone: str, field: str | bytes, raw: str | bytes) -> OnlineSession | None:
    """Decode one record; None for garbage (a broken record must not break readers)."""
    if isinstance(field, bytes):
        field = field.decode()
    ac, sep, sid = field.partition("|")
    if not sep:
        return None
    try:
        rec = json.loads(raw)
        return OnlineSession(
            ac=ac, session_id=sid, phone=phone, mac=rec.get("m"), ip=rec.get("ip"),
            started=int(rec.get("s", 0)), updated=int(rec.get("u", 0)),
            interim=int(rec.get("ii", 300)), plan=rec.get("pl", ""),
            session_time=int(rec.get("t", 0)), input_octets=int(rec.get("i", 0)),
            output_octets=int(rec.get("o", 0)), user_name=rec.get("un", ""),
            ssid=str(rec.get("ss", "")), venue=str(rec.get("v", "")),
            nas_ids=_nas_ids(rec.get("id")),
        )
    except (ValueError, TypeError, AttributeError):
        return None


def _nas_ids(raw: Any) -> tuple[tuple[str, str], ...]:
    if not isinstance(raw, dict):       # absent, or an empty Lua table encoded as []
        return ()
    return tuple(sorted((k, v) for k, v in raw.items() if k in NAS_ID_KEYS and isinstance(v, str)))


def decode_records(phone: str, raw: dict[bytes, bytes]) -> list[OnlineSession]:
    """Decode an HGETALL of ``keys.phone_sessions(phone)``."""
    out = []
    for field, value in raw.items():
        session = decode_record(phone, field, value)
        if session is not None:
            out.append(session)
    out.sort(key=lambda s: (s.started, s.field))
    return out


def deadline_member(phone: str, ac: str, session_id: str) -> str:
    return f"{phone}|{ac}|{session_id}"


def split_member(member: bytes | str) -> tuple[str, str, str] | None:
    text = member.decode() if isinstance(member, bytes) else member
    parts = text.split("|", 2)
    return (parts[0], parts[1], parts[2]) if len(parts) == 3 else None
