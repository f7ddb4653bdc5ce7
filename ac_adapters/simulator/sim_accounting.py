"""Online sessions of the simulated AC and the RADIUS accounting records they produce.

Counters grow with the time a user is "active" at ``traffic_rate`` bytes/s down and a fifth of
it up, so Interim-Updates are cumulative and plausible (RFC 2869 §2.1), and wrap into
Gigawords above 2**32 (``docs/protocols/radius.md`` §2.1, §5). Pure: the clock value is passed in.
"""

from __future__ import annotations

import ipaddress
import itertools
import os
from dataclasses import dataclass, field
from enum import IntEnum
from typing import Any

__all__ = [
    "AcctStatus",
    "OnlineUser",
    "Session",
    "TerminateCause",
    "accounting_attrs",
    "new_session_id",
    "radius_mac",
]


class AcctStatus(IntEnum):
    """Acct-Status-Type (RFC 2866 §5.1)."""

    START = 1
    STOP = 2
    INTERIM_UPDATE = 3


class TerminateCause(IntEnum):
    """Acct-Terminate-Cause (RFC 2866 §5.10)."""

    USER_REQUEST = 1
    LOST_SERVICE = 3
    IDLE_TIMEOUT = 4
    SESSION_TIMEOUT = 5
    ADMIN_RESET = 6
    NAS_REQUEST = 10
    NAS_REBOOT = 11


_GIGA = 1 << 32
_prefix = os.urandom(3).hex().upper()
_counter = itertools.count(int.from_bytes(os.urandom(2), "big"))


def new_session_id() -> str:
    """A process-unique Acct-Session-Id (random prefix so restarts do not reuse ids)."""
    return f"{_prefix}{next(_counter):08X}"


def radius_mac(mac: str) -> str:
    """``AA-BB-CC-DD-EE-FF``: the Calling-Station-Id form of RFC 3580 §3.21."""
    digits = "".join(ch for ch in mac if ch not in ":-. ").upper()
    return "-".join(digits[i : i + 2] for i in range(0, 12, 2))


@dataclass(frozen=True, slots=True)
class OnlineUser:
    """Snapshot of one online user, as ``SimulatedAc.online()`` returns it."""

    ip: str
    mac: str
    username: str
    session_id: str
    auth: str                       # "chap" | "pap"
    started: float                  # simulator clock
    session_timeout: float | None
    idle_timeout: float | None
    interim_interval: float | None
    affirmed: bool                  # AFF_ACK_AUTH received
    input_octets: int               # user → AC (upload), incl. gigawords
    output_octets: int
    rates: dict[str, int]
    class_: bytes | None
    filter_id: str | None


@dataclass(slots=True)
class Session:
    ip: str
    mac: str
    username: str
    session_id: str
    auth: str
    started: float
    rate: float
    start_octets: int = 0
    class_: bytes | None = None
    filter_id: str | None = None
    session_timeout: float | None = None
    idle_timeout: float | None = None
    interim_interval: float | None = None
    session_deadline: float | None = None   # absolute; a CoA may move it
    next_interim: float | None = None
    rates: dict[str, int] = field(default_factory=dict)
    active: bool = True
    active_seconds: float = 0.0
    last_change: float = 0.0
    last_activity: float = 0.0
    affirmed: bool = False

    def __post_init__(self) -> None:
        self.last_change = self.started
        self.last_activity = self.started

    def set_active(self, active: bool, now: float) -> None:
        self._accumulate(now)
        self.active = active
        self.last_activity = now

    def _accumulate(self, now: float) -> None:
        if self.active:
            self.active_seconds += max(0.0, now - self.last_change)
            self.last_activity = now
        self.last_change = now

    def usage(self, now: float) -> tuple[int, int]:
        """(input octets, output octets) so far; input = upload (RFC 2866 §5.3)."""
        seconds = self.active_seconds + (max(0.0, now - self.last_change) if self.active else 0.0)
        down = self.start_octets + int(self.rate * seconds)
        up = self.start_octets // 5 + int(self.rate * seconds / 5)
        return up, down

    def idle_since(self, now: float) -> float:
        return now if self.active else self.last_activity

    def snapshot(self, now: float) -> OnlineUser:
        up, down = self.usage(now)
        return OnlineUser(
            ip=self.ip, mac=self.mac, username=self.username, session_id=self.session_id,
            auth=self.auth, started=self.started, session_timeout=self.session_timeout,
            idle_timeout=self.idle_timeout, interim_interval=self.interim_interval,
            affirmed=self.affirmed, input_octets=up, output_octets=down, rates=dict(self.rates),
            class_=self.class_, filter_id=self.filter_id,
        )


def accounting_attrs(
    session: Session,
    status: AcctStatus,
    now: float,
    *,
    nas_ip: str,
    nas_identifier: str,
    called_station_id: str,
    cause: TerminateCause | None = None,
) -> dict[str, Any]:
    """Attributes of one Accounting-Request (RFC 2866), by pyrad dictionary name."""
    attrs: dict[str, Any] = {
        "Acct-Status-Type": int(status),
        "Acct-Session-Id": session.session_id,
        "User-Name": session.username,
        "NAS-IP-Address": nas_ip,
        "NAS-Identifier": nas_identifier,
        "NAS-Port-Type": 19,                     # Wireless-802.11
        "Framed-IP-Address": str(ipaddress.IPv4Address(session.ip)),
        "Calling-Station-Id": radius_mac(session.mac),
        "Called-Station-Id": called_station_id,
        "Acct-Authentic": 1,                     # RADIUS
        "Acct-Delay-Time": 0,
    }
    if session.class_ is not None:
        attrs["Class"] = session.class_          # echoed from Access-Accept (RFC 2865 §5.25)
    if status is not AcctStatus.START:
        up, down = session.usage(now)
        attrs.update({
            "Acct-Session-Time": int(max(0.0, now - session.started)),
            "Acct-Input-Octets": up % _GIGA,
            "Acct-Output-Octets": down % _GIGA,
            "Acct-Input-Gigawords": up // _GIGA,
            "Acct-Output-Gigawords": down // _GIGA,
            "Acct-Input-Packets": up // 600,
            "Acct-Output-Packets": down // 1200,
        })
    if status is AcctStatus.STOP and cause is not None:
        attrs["Acct-Terminate-Cause"] = int(cause)
    return attrs
