"""One Accounting-Request's fields, as the accounting processor reads them (pure codec).

Built from a ``radius.wire.Request``; every field may be missing or malformed
(NAS input) and decoding never raises.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from enum import IntEnum

from portal.aaa.sessions import encode_nas_ids, normalise_mac_or_none
from radius.wire import Request

__all__ = ["AcctRecord", "AcctStatus", "mac_of", "nas_ids_of"]

_MACS: dict[str, str | None] = {}   # Calling-Station-Id → normalised MAC (bounded memo)


def mac_of(calling_station_id: str | None) -> str | None:
    """``portal.aaa.sessions.normalise_mac_or_none``, remembered per worker: a session's records
    repeat the same Calling-Station-Id, and normalising it was a measurable share per record."""
    if calling_station_id is None:
        return None
    try:
        return _MACS[calling_station_id]
    except KeyError:
        pass
    if len(_MACS) >= 65536:
        _MACS.clear()
    mac = _MACS[calling_station_id] = normalise_mac_or_none(calling_station_id)
    return mac


_NAS_IDS: dict[tuple[str | None, str | None, str | None, str | None], str] = {}


def nas_ids_of(calling_station_id: str | None, nas_ip: str | None, nas_identifier: str | None,
               mac: str | None) -> str:
    """``portal.aaa.sessions.encode_nas_ids`` (a JSON dump per record), remembered per worker: the
    same NAS and device repeat them in every record of a session."""
    key = (calling_station_id, nas_ip, nas_identifier, mac)
    try:
        return _NAS_IDS[key]
    except KeyError:
        pass
    if len(_NAS_IDS) >= 65536:
        _NAS_IDS.clear()
    ids = _NAS_IDS[key] = encode_nas_ids(calling_station_id=calling_station_id, nas_ip=nas_ip,
                                         nas_identifier=nas_identifier, mac=mac)
    return ids


class AcctStatus(IntEnum):
    """Acct-Status-Type values (RFC 2866 §5.1)."""

    START = 1
    STOP = 2
    INTERIM_UPDATE = 3
    ACCOUNTING_ON = 7
    ACCOUNTING_OFF = 8


def _int(v: bytes | None) -> int | None:
    return int.from_bytes(v, "big") if v is not None and len(v) == 4 else None


def _text(v: bytes | None) -> str | None:
    return None if v is None else v.decode("utf-8", "replace")


def _ip(v: bytes | None) -> str | None:
    # str(ipaddress.IPv4Address(v)), without building the object (two per record)
    return f"{v[0]}.{v[1]}.{v[2]}.{v[3]}" if v is not None and len(v) == 4 else None


@dataclass(frozen=True, slots=True)
class AcctRecord:
    """The fields of one Accounting-Request we use. Every field may be missing (NAS input)."""

    status: int | None
    session_id: str | None = None
    user_name: str | None = None
    calling_station_id: str | None = None
    called_station_id: str | None = None
    framed_ip: str | None = None
    nas_ip: str | None = None
    nas_identifier: str | None = None
    session_time: int | None = None
    input_octets: int | None = None
    output_octets: int | None = None
    input_gigawords: int | None = None
    output_gigawords: int | None = None
    input_packets: int | None = None
    output_packets: int | None = None
    terminate_cause: int | None = None
    class_: bytes | None = None
    event_timestamp: int | None = None
    delay_time: int | None = None

    @property
    def input_total(self) -> int:
        """Input octets with Acct-Input-Gigawords folded in (RFC 2869 §5.1)."""
        return ((self.input_gigawords or 0) << 32) + (self.input_octets or 0)

    @property
    def output_total(self) -> int:
        return ((self.output_gigawords or 0) << 32) + (self.output_octets or 0)

    def event_time(self, received_at: float) -> float:
        """When the event happened: receipt time minus Acct-Delay-Time (RFC 2866 §5.2)."""
        return received_at - (self.delay_time or 0)

    @classmethod
    def from_first(cls, first: Callable[[int], bytes | None]) -> AcctRecord:
        """Build from a "first value of attribute type N" accessor. The types (RFC 2865 §5, RFC 2866
        §5, RFC 2869 §5): 1 User-Name, 4 NAS-IP-Address, 8 Framed-IP-Address, 25 Class,
        30 Called-Station-Id, 31 Calling-Station-Id, 32 NAS-Identifier, 40 Acct-Status-Type,
        41 Acct-Delay-Time, 42/43 Acct-Input/Output-Octets, 44 Acct-Session-Id, 46 Acct-Session-Time,
        47/48 Acct-Input/Output-Packets, 49 Acct-Terminate-Cause, 52/53 Acct-Input/Output-Gigawords,
        55 Event-Timestamp."""
        g = first
        return cls(
            status=_int(g(40)), session_id=_text(g(44)), user_name=_text(g(1)),
            calling_station_id=_text(g(31)), called_station_id=_text(g(30)),
            framed_ip=_ip(g(8)), nas_ip=_ip(g(4)), nas_identifier=_text(g(32)),
            session_time=_int(g(46)), input_octets=_int(g(42)), output_octets=_int(g(43)),
            input_gigawords=_int(g(52)), output_gigawords=_int(g(53)),
            input_packets=_int(g(47)), output_packets=_int(g(48)),
            terminate_cause=_int(g(49)), class_=g(25), event_timestamp=_int(g(55)),
            delay_time=_int(g(41)),
        )

    @classmethod
    def from_packet(cls, req: Request) -> AcctRecord:
        """From a decoded Accounting-Request (what the server hands its accounting handler)."""
        return cls.from_first(req.first.get)
