"""Usage from UniFi controllers: poll the guests, book what they used. Omada entries
with an Open API application are polled in the same round (``portal/aaa/omada_usage.py``).

A UniFi guest is authorised through the controller's API (``portal/phone/gateway_login.py``) and no
accounting comes back by itself, so the maintenance process asks: every ``interval`` one process
of the fleet (a Redis lock decides which) lists, per enabled ``unifi`` gateway record, the
site's guests (``stat/guest``, ``ac_adapters/gateways/unifi_api.py``: the same client, cookie,
CSRF token and re-login as the authorisation) and, for each of our sessions on that site:

==============================================  ==========================================
the controller's guest record for the MAC        our session
==============================================  ==========================================
authorised, not expired, ``end`` in the future   counters and seconds updated (NOC, status)
``expired`` or ``end`` passed                    closed with the final counters, ``unifi:expired``
absent, or older than our session (unauthorised  closed with the last counters polled,
elsewhere, forgotten by the controller)          ``unifi:unauthorized``
(any: a later session of ours has the MAC, its   closed with its own record's counters (never
authorize-guest replaced this authorisation)     the newer login's), ``unifi:replaced``
==============================================  ==========================================

Closing goes through :meth:`portal.aaa.gateway_sessions.GatewaySessions.finish`, as openNDS stop
events do: the real-name logout record with its cause, and the usage booked once in the daily
and total book — so the next login's grant (``plan_limits``) carries only what is left.

A controller that cannot be reached or refuses is counted (:attr:`PollReport.failed`), logged
at most once per :data:`LOG_EVERY` per gateway, and asked again next round; its sessions stay
as they were (a session is only ever closed on the controller's word, or by the reaper after
its authorisation's length).
"""

from __future__ import annotations

import dataclasses
import logging
import time
from collections.abc import Callable, Mapping, Sequence
from typing import Any

from ac_adapters.gateways.controller import ControllerError
from ac_adapters.gateways.omada_openapi import openapi_for
from ac_adapters.gateways.unifi_api import UnifiController, controller_for
from portal.aaa.acs import AcRecord, AcRegistry
from portal.aaa.gateway_sessions import GatewaySessions
from portal.aaa.omada_usage import poll_site
from portal.aaa.sessions import OnlineSession
from portal.state import keys_gateway

__all__ = ["LOG_EVERY", "POLL_INTERVAL", "PollReport", "UnifiUsagePoller", "close_unauthorised",
           "guest_octets", "pick_guest"]

log = logging.getLogger("citywifi.gateway.usage")

POLL_INTERVAL = 60.0     # seconds between rounds: the controller's counters move every few seconds
LOG_EVERY = 300.0        # a controller that stays down is logged this often, not every round
START_SLACK = 300        # our session's start vs the controller's: clocks and the login's duration


@dataclasses.dataclass
class PollReport:
    gateways: int = 0
    updated: int = 0
    closed: int = 0
    failed: int = 0


def pick_guest(guests: Sequence[Mapping[str, Any]], mac: str, started: int) -> Mapping[str, Any] | None:
    """The controller's record of the authorisation behind a session started at ``started``:
    the newest for the MAC, unless it began before the session (an older authorisation)."""
    mine = [g for g in guests if str(g.get("mac", "")).lower() == mac]
    if not mine:
        return None
    newest = max(mine, key=lambda g: _int(g.get("start")))
    return newest if _int(newest.get("start")) >= started - START_SLACK else None


def guest_octets(guest: Mapping[str, Any]) -> tuple[int, int]:
    """(upload, download) of a UniFi guest record: ``rx_bytes`` is what the client sent, ``tx_bytes``
    what it received. UniFi counts a client's bytes from the access point's side: ``rx_bytes``
    received by the AP from the client, ``tx_bytes`` transmitted by the AP to it. Source: the
    field descriptions of mdlayher/unifi_exporter's station collector ("received by the AP for
    stations (client upload)", "transmitted by the AP to stations (client download)"), settled by
    a download test in its pull request #13 (github.com/mdlayher/unifi_exporter/pull/13); the
    guest record (``stat/guest``) carries the same counters for the authorisation. Upload is our
    ``input_octets`` (RADIUS Acct-Input-Octets: from the client), download ``output_octets``."""
    return _int(guest.get("rx_bytes")), _int(guest.get("tx_bytes"))


def close_unauthorised(gateway: GatewaySessions, client: UnifiController, site: str,
                       sessions: Sequence[OnlineSession], cause: str) -> list[OnlineSession]:
    """After ``unauthorize-guest`` (NOC kick, status-page logout): close these sessions with the
    ended authorisation's final counters, read back from the controller, and book them; when
    they cannot be read, the last ones polled are booked."""
    if not sessions:
        return []
    try:
        guests = client.guests(site)
    except ControllerError as exc:
        log.warning("final usage on UniFi gateway %s not read (last poll's booked): %s", site, exc)
        guests = []
    now = gateway.clock()
    closed = []
    for session in sessions:
        upload, download = guest_octets(pick_guest(guests, session.mac or "", session.started) or {})
        done = gateway.finish(session, seconds=max(session.session_time, int(now) - session.started),
                              upload=upload or session.input_octets,
                              download=download or session.output_octets, cause=cause, now=now)
        if done is not None:
            closed.append(done)
    return closed


def _int(value: Any) -> int:
    try:
        return max(0, int(value))
    except (TypeError, ValueError):
        return 0


class UnifiUsagePoller:
    """One round per :meth:`poll` over every enabled UniFi gateway record."""

    def __init__(self, redis: Any, *, timezone: str = "Asia/Shanghai", grace: float = 60.0,
                 tombstone_ttl: int = 21600, timeout: float = 5.0,
                 clock: Callable[[], float] = time.time) -> None:
        self.redis = redis
        self.clock = clock
        self.timeout = timeout
        self.acs = AcRegistry(redis)
        self.gateway = GatewaySessions(redis, grace=grace, timezone=timezone,
                                       tombstone_ttl=tombstone_ttl, clock=clock)
        self.failures: dict[str, int] = {}            # gateway → failed rounds in this process
        self._logged: dict[str, float] = {}

    def poll_if_due(self, interval: float = POLL_INTERVAL) -> PollReport | None:
        """A round unless another process of the fleet ran one within ``interval``."""
        if not self.redis.set(keys_gateway.controller_poll_lock(), "1", nx=True, ex=max(1, int(interval))):
            return None
        return self.poll()

    def poll(self) -> PollReport:
        report = PollReport()
        for record in self.acs.all():
            if record.kind == "omada" and record.enabled and record.openapi_client:
                self._poll_omada(record, report)
                continue
            if record.kind != "unifi" or not record.enabled:
                continue
            sessions = self.gateway.registry.by_ac(record.name)
            if not sessions:
                continue
            report.gateways += 1
            try:
                client = controller_for(record.controller_url, record.secret, timeout=self.timeout)
                guests = client.guests(record.name, within_hours=24)
            except ControllerError as exc:
                report.failed += 1
                self._failed(record.name, exc)
                continue
            self.failures.pop(record.name, None)
            now = self.clock()
            by_mac: dict[str, list[Mapping[str, Any]]] = {}     # one pass: sites have thousands
            for guest in guests:
                by_mac.setdefault(str(guest.get("mac", "")).lower(), []).append(guest)
            latest: dict[str, int] = {}
            for session in sessions:
                if session.mac is not None:
                    latest[session.mac] = max(latest.get(session.mac, 0), session.started)
            for session in sessions:
                if session.mac is None:
                    continue
                if session.started < latest[session.mac]:
                    # A later login of the same MAC: authorize-guest replaced this authorisation.
                    self._replaced(session, by_mac.get(session.mac, []), now)
                    report.closed += 1
                    continue
                closed = self._apply(session, pick_guest(by_mac.get(session.mac, []), session.mac,
                                                         session.started), now)
                report.closed += closed
                report.updated += not closed
        return report

    def _poll_omada(self, record: AcRecord, report: PollReport) -> None:
        """An Omada entry with an Open API application (``portal/aaa/omada_usage.py``)."""
        sessions = self.gateway.registry.by_ac(record.name)
        if not sessions:
            return
        report.gateways += 1
        try:
            client = openapi_for(record.controller_url, record.openapi_client, timeout=self.timeout)
            updated, closed = poll_site(self.gateway, client, record.name, sessions, self.clock())
        except ControllerError as exc:
            report.failed += 1
            self._failed(record.name, exc, "Omada")
            return
        self.failures.pop(record.name, None)
        report.updated += updated
        report.closed += closed

    def _replaced(self, session: OnlineSession, guests: Sequence[Mapping[str, Any]], now: float) -> None:
        """Close a session whose MAC logged in again: its own (older) record's counters if the
        controller still lists it, else the last ones polled; never the newer login's."""
        mac = session.mac or ""
        mine = [g for g in guests if str(g.get("mac", "")).lower() == mac]
        newest = max((_int(g.get("start")) for g in mine), default=0)
        own = pick_guest([g for g in mine if _int(g.get("start")) < newest], mac, session.started) or {}
        end = _int(own.get("end")) or int(now)
        upload, download = guest_octets(own)
        self.gateway.finish(session, seconds=max(session.session_time, min(end, int(now)) - session.started),
                            upload=upload or session.input_octets, download=download or session.output_octets,
                            cause="unifi:replaced", now=now)

    def _apply(self, session: OnlineSession, guest: Mapping[str, Any] | None, now: float) -> bool:
        """Update or close one session from its guest record; True when it was closed."""
        if guest is None:
            self.gateway.finish(session, seconds=max(session.session_time, int(now) - session.started),
                                upload=session.input_octets, download=session.output_octets,
                                cause="unifi:unauthorized", now=now)
            return True
        # Plans count both directions together, so only the NOC's split (and the rate
        # plans' up/down) depends on this reading (guest_octets says where it comes from).
        upload, download = guest_octets(guest)
        end = _int(guest.get("end"))
        start = _int(guest.get("start")) or session.started
        if guest.get("expired") is True or (end and end <= now):
            seconds = max(0, min(end or int(now), int(now)) - start)
            self.gateway.finish(session, seconds=seconds, upload=upload, download=download,
                                cause="unifi:expired", now=now)
            return True
        self.gateway.registry.update(session.ac, session.session_id, session.phone, now=now,
                                     session_time=max(0, int(now) - start), input_octets=upload,
                                     output_octets=download)
        return False

    def _failed(self, gateway: str, exc: ControllerError, kind: str = "UniFi") -> None:
        self.failures[gateway] = self.failures.get(gateway, 0) + 1
        now = time.monotonic()
        if now - self._logged.get(gateway, -LOG_EVERY) >= LOG_EVERY:
            self._logged[gateway] = now
            log.warning("usage of %s gateway %s not polled (%d round(s) failed, retrying): %s",
                        kind, gateway, self.failures[gateway], exc)
