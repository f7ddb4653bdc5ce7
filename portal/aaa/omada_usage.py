"""Usage from Omada controllers' Open API, polled with the UniFi guests
(``portal/aaa/controller_usage.py``: the same round, lock and failure handling).

An Omada client is authorised through the external-portal API (``portal/phone/gateway_login.py``),
which reports nothing back. An entry with an Open API application (``openapi_client``,
``ac_adapters/gateways/omada_openapi.py``) is asked for the site's online clients each round;
for each of our sessions on that site:

===============================================  ==========================================
the controller's client list                     our session
===============================================  ==========================================
the session's MAC is online                      counters advanced and seconds updated
offline (left, roaming, asleep)                  kept with the last counters: the
                                                 authorisation may still be running
the authorisation's length has passed            closed with the last counters,
                                                 ``omada:expired``, usage booked once
a later session of ours has the MAC (the phone   closed with its own counters,
logged in again: a new authorisation)            ``omada:replaced``
===============================================  ==========================================

Omada's ``trafficUp`` / ``trafficDown`` count the client's current connection and restart when
it reconnects, so usage is kept incrementally: the raw counters seen at the last poll are
remembered per session (``keys_gateway.controller_counters``), and each poll adds what they
grew by (after a restart, the new counters whole). Traffic between the last poll and a
disconnect is counted; traffic of a connection that starts and ends between two polls is not.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

from ac_adapters.gateways.omada_openapi import OmadaOpenApi
from portal.aaa.gateway_sessions import GatewaySessions
from portal.aaa.sessions import OnlineSession
from portal.state import keys_gateway

__all__ = ["COUNTERS_TTL", "granted_seconds", "poll_site"]

COUNTERS_TTL = 2 * 86400


def granted_seconds(session: OnlineSession) -> int:
    """The authorisation's length: ``gateway_login._exchange`` records an Omada session with
    ``interim = seconds // 2 + 1`` (its silence deadline lands just after the authorisation ends)."""
    return max(0, (session.interim - 1) * 2)


def _int(value: Any) -> int:
    try:
        return max(0, int(value))
    except (TypeError, ValueError):
        return 0


def _raw(value: bytes | None) -> tuple[int, int] | None:
    if value is None:
        return None
    parts = value.split()
    return (int(parts[0]), int(parts[1])) if len(parts) == 2 and all(p.isdigit() for p in parts) else None


def _grown(now_raw: int, last_raw: int) -> int:
    """Bytes since the last poll: the growth, or the whole counter after it restarted."""
    return now_raw - last_raw if now_raw >= last_raw else now_raw


def poll_site(gateway: GatewaySessions, client: OmadaOpenApi, site: str,
              sessions: Sequence[OnlineSession], now: float) -> tuple[int, int]:
    """One round for one Omada entry: (sessions updated, sessions closed). Raises
    :class:`~ac_adapters.gateways.omada_api.OmadaError` when the controller cannot be asked."""
    online: Mapping[str, Mapping[str, Any]] = client.clients(site)
    redis = gateway.redis
    key = keys_gateway.controller_counters(site)
    stored: dict[str, Any] = dict(zip((s.session_id for s in sessions),
                      redis.hmget(key, [s.session_id for s in sessions]) if sessions else [], strict=True))
    latest: dict[str, OnlineSession] = {}
    for session in sessions:
        if session.mac and (session.mac not in latest or session.started > latest[session.mac].started):
            latest[session.mac] = session
    updated = closed = 0
    pipe = redis.pipeline(transaction=False)
    # Replaced sessions first: they hand their raw counters on to the newer login of their MAC.
    for session in sorted(sessions, key=lambda s: latest.get(s.mac or "") is s):
        newest = latest.get(session.mac or "")
        last = _raw(stored.get(session.session_id))
        if newest is not None and newest is not session:
            # Logged in again: this authorisation was replaced. Its counters stay its own; the
            # new session goes on from the raw counters it reached (one connection, two logins).
            if last is not None and stored.get(newest.session_id) is None:
                pipe.hset(key, newest.session_id, f"{last[0]} {last[1]}")
                stored[newest.session_id] = f"{last[0]} {last[1]}".encode()
            closed += _close(gateway, session, session.input_octets, session.output_octets, "omada:replaced",
                             now)
            pipe.hdel(key, session.session_id)
            continue
        upload, download = session.input_octets, session.output_octets
        row = online.get(session.mac or "")
        if row is not None:
            raw_up, raw_down = _int(row.get("trafficUp")), _int(row.get("trafficDown"))
            last_up, last_down = last or (0, 0)
            upload += _grown(raw_up, last_up)
            download += _grown(raw_down, last_down)
            pipe.hset(key, session.session_id, f"{raw_up} {raw_down}")
        granted = granted_seconds(session)
        if granted and now >= session.started + granted:
            closed += _close(gateway, session, upload, download, "omada:expired", now, seconds=granted)
            pipe.hdel(key, session.session_id)
            continue
        gateway.registry.update(session.ac, session.session_id, session.phone, now=now,
                                session_time=max(0, int(now) - session.started), input_octets=upload,
                                output_octets=download)
        updated += 1
    pipe.expire(key, COUNTERS_TTL)
    pipe.execute()
    return updated, closed


def _close(gateway: GatewaySessions, session: OnlineSession, upload: int, download: int, cause: str,
           now: float, *, seconds: int = 0) -> int:
    done = gateway.finish(session, seconds=seconds or max(session.session_time, int(now) - session.started),
                          upload=upload, download=download, cause=cause, now=now)
    return int(done is not None)
