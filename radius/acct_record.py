"""One Accounting-Request's fields, as the accounting processor reads them (pure codec).

Built from a ``radius.wire.Request``; every field may be missing or malformed
(NAS input) and decoding never raises.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from enum import IntEnum

from portal.aaa.sessions import encode_nas_ids, normalise_mac_or_none
from radius.called_station import split_called_station_id
from radius.memo import memo
from radius.wire import Request

__all__ = ["AcctRecord", "AcctStatus", "called_station_of", "mac_of", "nas_ids_of"]

# Per-worker memos (bounded: ``radius.memo.memo`` clears one when full). A session's
# records repeat the same Calling-Station-Id, Called-Station-Id and NAS, and normalising,
# splitting and JSON-encoding them per record was a measurable share of an Interim-Update.
_MACS: dict[str, str | None] = {}
_CALLED: dict[str, tuple[str | None, str | None]] = {}
_NAS_IDS: dict[tuple[str | None, str | None, str | None, str | None], str] = {}


def mac_of(calling_station_id: str | None) -> str | None:
    """``portal.aaa.sessions.normalise_mac_or_none``, remembered per worker."""
    if calling_station_id is None:
        return None
    return memo(_MACS, normalise_mac_or_none, calling_station_id)


def called_station_of(called_station_id: str | None) -> tuple[str | None, str | None]:
    """``radius.called_station.split_called_station_id`` (AP MAC, SSID), remembered per worker
    (splitting tries up to three MAC spellings)."""
    if not called_station_id:
        return None, None
    return memo(_CALLED, split_called_station_id, called_station_id)


def _nas_ids(key: tuple[str | None, str | None, str | None, str | None]) -> str:
    calling_station_id, nas_ip, nas_identifier, mac = key
    return encode_nas_ids(calling_station_id=calling_station_id, nas_ip=nas_ip,
                          nas_identifier=nas_identifier, mac=mac)


def nas_ids_of(calling_station_id: str | None, nas_ip: str | None, nas_identifier: str | None,
               mac: str | None) -> str:
    """``portal.aaa.sessions.encode_nas_ids`` (a JSON dump per record), remembered per worker."""
    return memo(_NAS_IDS, _nas_ids, (calling_station_id, nas_ip, nas_identifier, mac))


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


@dataclass(slots=True)
class AcctRecord:
    """The fields of one Accounting-Request we use. Every field may be missing (NAS input).

    Not changed once built (``dataclasses.replace`` makes a new one), but not ``frozen``: a frozen
    dataclass's ``__init__`` sets each of these 19 fields through ``object.__setattr__``, which
    was about a tenth of the worker's instructions per Interim-Update."""

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
        # Positional, in the fields' order (status, session_id, user_name, calling_station_id,
        # called_station_id, framed_ip, nas_ip, nas_identifier, session_time, input/output
        # octets, input/output gigawords, input/output packets, terminate_cause, class_,
        # event_timestamp, delay_time): keywords cost a quarter more per record.
        return cls(
            _int(g(40)), _text(g(44)), _text(g(1)), _text(g(31)), _text(g(30)), _ip(g(8)),
            _ip(g(4)), _text(g(32)), _int(g(46)), _int(g(42)), _int(g(43)), _int(g(52)),
            _int(g(53)), _int(g(47)), _int(g(48)), _int(g(49)), g(25), _int(g(55)), _int(g(41)),
        )

    @classmethod
    def from_packet(cls, req: Request) -> AcctRecord:
        """From a decoded Accounting-Request (what the server hands its accounting handler)."""
        return cls.from_first(req.first.get)
