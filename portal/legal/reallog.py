"""Real-name login records (the access log the law requires): who was online, from which device,
where, when.

Chinese law requires public Wi-Fi to keep, per login, the verified phone number, the device
MAC, the IP it got, the AC/AP/SSID and the time. The MAC and IP are what the AC's redirect
claimed; ``observed_ip`` is the address the login request really came from, so a record made
from a forged redirect still shows who made it. Every successful
login appends one record to a Redis stream before the success page is returned — if the write
fails the login is reported as failed to the caller (``RealNameLog.append`` raises), so no
user is online without a record. The daily archive job (``portal.legal.log_archive``) and the NOC's
log export (``portal.legal.logexport``) read the stream.

Logouts land in the same stream as ``kind="logout"`` records (``logout_fields``): phone, MAC,
IP, AC, acct session id, start, stop, duration, bytes in/out, the cause and (when the session
knows them) the venue and SSID it started in, which the reports use (portal/reports/). They are written by
whoever removes the accounting session record, in the same round trip: the accounting Stop
(radius/accounting.py — so portal logout, NTF_LOGOUT and user-requested logouts arrive through
the AC's Stop), ``SessionRegistry.close`` (DM kick, reaper) and Accounting-On/Off. A logout joins
its login by (AC, IP or MAC, phone) with login ``at`` <= logout ``start`` + a few seconds. Counters
are cumulative, so when one session has two logout records (a kick, then the AC's final Stop with
a few more bytes, or a retransmitted Stop) the one with the largest counters is the final one.
"""

from __future__ import annotations

from dataclasses import dataclass, fields
from typing import TYPE_CHECKING, Any

from portal.legal.logtext import escape_fields
from portal.state import keys

if TYPE_CHECKING:
    from portal.aaa.sessions import OnlineSession

__all__ = ["LOGOUT", "LoginRecord", "RealNameLog", "logout_fields", "session_logout_fields",
           "stop_cause"]

LOGOUT = "logout"  # ``kind`` of a logout record

# Acct-Terminate-Cause values (RFC 2866 §5.10) → the cause written into logout records.
_TERMINATE_CAUSES = {
    1: "user-request", 2: "lost-carrier", 3: "lost-service", 4: "idle-timeout",
    5: "session-timeout", 6: "admin-reset", 7: "admin-reboot", 8: "port-error", 9: "nas-error",
    10: "nas-request", 11: "nas-reboot", 12: "port-unneeded", 13: "port-preempted",
    14: "port-suspended", 15: "service-unavailable", 16: "callback", 17: "user-error",
    18: "host-request",
}


def stop_cause(terminate_cause: int | None) -> str:
    """``stop:<RFC 2866 cause name>`` for an accounting Stop (``stop`` when absent)."""
    if terminate_cause is None:
        return "stop"
    return "stop:" + _TERMINATE_CAUSES.get(terminate_cause, str(terminate_cause))


def logout_fields(
    *, phone: str, ac: str, session_id: str, start: float, stop: float, session_time: int,
    bytes_in: int, bytes_out: int, cause: str, mac: str | None = None, ip: str | None = None,
    plan: str = "", venue: str = "", ssid: str = "",
) -> dict[str, str]:
    """Stream fields of one logout record (``at`` is the stop time); text from the AC (session
    id, …) with control characters escaped (portal/legal/logtext.py)."""
    return escape_fields({
        "kind": LOGOUT, "phone": phone, "mac": mac or "", "ip": ip or "", "ac": ac,
        "sid": session_id, "start": f"{start:.0f}", "stop": f"{stop:.3f}", "t": str(int(session_time)),
        "in": str(int(bytes_in)), "out": str(int(bytes_out)), "cause": cause, "plan": plan,
        "at": f"{stop:.3f}", **({"venue": venue} if venue else {}), **({"ssid": ssid} if ssid else {}),
    })


def session_logout_fields(session: OnlineSession, stop: float, cause: str) -> dict[str, str]:
    """``logout_fields`` of a session record we closed ourselves (kick, reaper, NAS reboot)."""
    return logout_fields(
        phone=session.phone, ac=session.ac, session_id=session.session_id, start=session.started,
        stop=stop, session_time=session.session_time, bytes_in=session.input_octets,
        bytes_out=session.output_octets, cause=cause, mac=session.mac, ip=session.ip,
        plan=session.plan, venue=session.venue, ssid=session.ssid,
    )


@dataclass(frozen=True, slots=True)
class LoginRecord:
    phone: str
    mac: str
    ip: str
    ac: str
    ap: str
    ssid: str
    venue: str
    kind: str            # "sms" (code), "returning" (ad page), "silent" (MAC-trigger)
    plan: str
    at: float            # epoch seconds
    # mac/ip above are what the AC's redirect CLAIMED; this is the address the login request
    # really came from (after trusted proxies). "" for silent logins (started by the AC itself).
    observed_ip: str = ""

    def fields(self) -> dict[str, str]:
        """Stream fields; SSID, AP and the rest with control characters escaped (the AC and the
        phone supply them: portal/legal/logtext.py)."""
        values = ((k, getattr(self, k)) for k in _RECORD_FIELDS)   # asdict() deep-copied each
        return escape_fields({k: (f"{v:.3f}" if isinstance(v, float) else str(v)) for k, v in values})


_RECORD_FIELDS = tuple(f.name for f in fields(LoginRecord))


class RealNameLog:
    """Append and read the real-name stream."""

    def __init__(self, redis: Any, *, wait_replicas: int = 0, wait_timeout_ms: int = 200) -> None:
        self.redis = redis
        self.wait_replicas = wait_replicas
        self.wait_timeout_ms = wait_timeout_ms

    def append(self, record: LoginRecord) -> str:
        """Write one record (raises on Redis errors: the caller must not grant access then)."""
        entry_id = self.redis.xadd(keys.real_name_log(), record.fields())
        if self.wait_replicas > 0:
            # With replicas, also wait until the record reached them (survives a failover).
            self.redis.wait(self.wait_replicas, self.wait_timeout_ms)
        return entry_id.decode() if isinstance(entry_id, bytes) else str(entry_id)

    def recent(self, count: int = 100) -> list[LoginRecord]:
        """The newest ``count`` login records, newest first (logout records are skipped)."""
        out: list[LoginRecord] = []
        upper: Any = "+"
        while len(out) < count:
            size = max(count - len(out), 100)
            page = self.redis.xrevrange(keys.real_name_log(), max=upper, min="-", count=size)
            for _entry_id, raw in page:
                data = {k.decode(): v.decode() for k, v in raw.items()}
                if data.get("kind") == LOGOUT:
                    continue
                try:
                    out.append(LoginRecord(
                        phone=data["phone"], mac=data["mac"], ip=data["ip"], ac=data["ac"],
                        ap=data["ap"], ssid=data["ssid"], venue=data["venue"], kind=data["kind"],
                        plan=data["plan"], at=float(data["at"]),
                        observed_ip=data.get("observed_ip", ""),
                    ))
                except (KeyError, ValueError):
                    continue
                if len(out) >= count:
                    break
            if len(page) < size:
                break
            last = page[-1][0]
            upper = "(" + (last.decode() if isinstance(last, bytes) else str(last))
        return out

    def count(self) -> int:
        """Entries in the Redis part of the stream (logins and logouts; archived ones excluded)."""
        return int(self.redis.xlen(keys.real_name_log()))
