"""The accounting stream's entries (``keys.acct_log``): what a record, a refusal or a session we
closed ourselves leaves in the durable log. Short field names, only present fields, all
strings; text the AC sent has its control characters escaped (portal/legal/logtext.py)."""

from __future__ import annotations

import logging
from typing import Any

from portal.aaa.sessions import OnlineSession, SessionRegistry
from portal.legal.logtext import escape_fields
from portal.legal.reallog import session_logout_fields
from portal.state import STATE_ERRORS, keys
from portal.state.scripts import queue_script
from radius.acct_record import AcctRecord

__all__ = ["clear_pending", "close_ac_sessions", "log_close", "log_fields"]


def log_fields(kind: str, ac: str, received_at: float, record: AcctRecord | None = None,
               phone: str | None = None, extra: dict[str, Any] | None = None) -> dict[str, str]:
    """Stream entry: short names, only present fields, all strings; text the AC sent with its
    control characters escaped (portal/legal/logtext.py)."""
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

log = logging.getLogger(__name__)


def clear_pending(pipe: Any, markers: list[str]) -> None:
    """Delete logout-pending markers (``keys_outbox.session_logout_pending``) once their Stops'
    records are stored: a round trip of its own, as a Cluster pipeline does not keep the order of
    commands across nodes. The records are stored, so a failure here does not stop the answer
    (a lingering marker only matters to a later copy of the Stop, which then logs it again)."""
    for marker in markers:
        pipe.execute_command("DEL", marker)
    try:
        pipe.execute()
    except STATE_ERRORS as exc:
        log.warning("%d logout-pending marker(s) not cleared: %s", len(markers), exc)


def log_close(pipe: Any, how: str, session: OnlineSession, at: float) -> None:
    """Queue a durable-log entry for a session we closed ourselves (reaper, NAS reboot)."""
    pipe.xadd(keys.acct_log(), log_fields(how, session.ac, at, phone=session.phone, extra={
        "sid": session.session_id, "mac": session.mac, "ip": session.ip,
        "t": session.session_time, "in": session.input_octets, "out": session.output_octets,
    }))


def close_ac_sessions(redis: Any, registry: SessionRegistry, close_script: Any, ac: str,
                      before: float, at: float, how: str, tombstone_ttl: int, grace: float) -> int:
    """Close every session of ``ac`` that started no later than ``before`` (the NAS rebooted: its
    sessions are gone), with their log entries and real-name logouts. A late retransmitted
    Accounting-On must not close sessions that started after the reboot, hence ``before``.
    ``close_script``: ``portal.aaa.sessions.CLOSE_SESSION_LUA`` registered. Returns the number closed."""
    closed = 0
    sessions = [s for s in registry.by_ac(ac) if s.started <= before]
    for start in range(0, len(sessions), 200):
        chunk = sessions[start:start + 200]
        pipe = redis.pipeline(transaction=False)
        for s in chunk:
            queue_script(
                pipe, close_script,
                [keys.phone_sessions(s.phone), keys.session_tombstone(s.phone, s.ac, s.session_id)],
                [s.field, tombstone_ttl, 0, grace],
            )
        results = pipe.execute()
        pipe = redis.pipeline(transaction=False)
        for s, res in zip(chunk, results, strict=True):
            registry.unindex_in(pipe, s.phone, s.ac, s.session_id, s)
            if res:
                closed += 1
                log_close(pipe, how, s, at)
                pipe.xadd(keys.real_name_log(), session_logout_fields(s, s.updated, how))
        pipe.execute()
    return closed
