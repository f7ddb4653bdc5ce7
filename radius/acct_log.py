"""The accounting stream's entries (``keys.acct_log``): what a record, a refusal or a session we
closed ourselves leaves in the durable log. Short field names, only present fields, all
strings; text the AC sent has its control characters escaped (portal/logtext.py)."""

from __future__ import annotations

from typing import Any

from portal.logtext import escape_fields
from portal.sessions import OnlineSession
from portal.state import keys
from radius.acct_record import AcctRecord

__all__ = ["log_close", "log_fields"]


def log_fields(kind: str, ac: str, received_at: float, record: AcctRecord | None = None,
               phone: str | None = None, extra: dict[str, Any] | None = None) -> dict[str, str]:
    """Stream entry: short names, only present fields, all strings; text the AC sent with its
    control characters escaped (portal/logtext.py)."""
    fields: dict[str, Any] = {"k": kind, "ac": ac, "at": f"{received_at:.3f}"}
    if phone:
        fields["ph"] = phone
    if record is not None:
        fields.update({
            "st": record.status, "sid": record.session_id, "un": record.user_name,
            "mac": record.calling_station_id, "called": record.called_station_id,
            "ip": record.framed_ip, "nas": record.nas_ip, "nasid": record.nas_identifier,
            "t": record.session_time, "ipk": record.input_packets, "opk": record.output_packets,
            "tc": record.terminate_cause, "ets": record.event_timestamp, "dly": record.delay_time,
            "cls": record.class_.hex() if record.class_ else None,
        })
        if record.input_octets is not None or record.input_gigawords is not None:
            fields["in"] = record.input_total
        if record.output_octets is not None or record.output_gigawords is not None:
            fields["out"] = record.output_total
    fields.update(extra or {})
    return escape_fields({k: str(v) for k, v in fields.items() if v is not None and v != ""})


def log_close(pipe: Any, how: str, session: OnlineSession, at: float) -> None:
    """Queue a durable-log entry for a session we closed ourselves (reaper, NAS reboot)."""
    pipe.xadd(keys.acct_log(), log_fields(how, session.ac, at, phone=session.phone, extra={
        "sid": session.session_id, "mac": session.mac, "ip": session.ip,
        "t": session.session_time, "in": session.input_octets, "out": session.output_octets,
    }))
