"""Enforcement: take users offline or change what they get, mid-session (RFC 5176).

Used when an Interim-Update shows a quota ran out (radius.accounting), and by the NOC (kick a
phone, change its plan). To an AC with RFC 5176 support we send Disconnect-Request / CoA-Request
to ``AcRecord.coa_port`` with its RADIUS secret, Event-Timestamp and Message-Authenticator,
retransmitting identical bytes (same Identifier and Event-Timestamp, docs/protocols/radius.md §5) every
``timeout`` seconds, ``retries`` sends in total. The session is named by the identifiers the
AC's dialect lists (``ac_adapters.radius_dialects``), each exactly as the NAS sent it in
accounting (``OnlineSession.nas_ids``): a NAS compares strings.

A kick is done only when the NAS acknowledged it, or the Portal REQ_LOGOUT fallback confirmed
it. A Disconnect-NAK with Error-Cause 503 (Session Context Not Found) is success only if the
session is really gone (its Accounting Stop closed it meanwhile); otherwise the NAS did not
recognise our identifiers, the user may well be online, and the Portal fallback is tried.

An AC without RFC 5176 (``rfc5176`` False), or one that does not answer the Disconnect, gets the
carrier Portal protocol's REQ_LOGOUT through the injectable ``portal_logout`` callable.
"""

from __future__ import annotations

import logging
import os
import socket
import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from ac_adapters.radius_dialects import DIALECTS
from portal.aaa.acs import AcRecord, AcRegistry
from portal.aaa.grants import Grant
from portal.aaa.sessions import OnlineSession, SessionRegistry
from radius.drops import DropReporter
from radius.errors import MalformedPacket
from radius.metrics import Metrics
from radius.rfc5176 import DynCode, ErrorCause, Reply, decode_reply, encode_request, request_attrs

__all__ = ["DynAuthClient", "DynResult", "EnforcementResult", "Enforcer", "default_portal_logout"]

log = logging.getLogger(__name__)

PortalLogout = Callable[[AcRecord, str, "str | None"], bool]


@dataclass(frozen=True, slots=True)
class DynResult:
    """Outcome of one DM/CoA exchange."""

    reply: Reply | None          # None = no valid answer after every try
    attempts: int

    @property
    def acked(self) -> bool:
        return self.reply is not None and self.reply.acked

    @property
    def error_cause(self) -> int | None:
        return None if self.reply is None else self.reply.error_cause


class DynAuthClient:
    """Sends one request and waits for its verified reply, retransmitting on silence. One
    ephemeral socket per exchange, so concurrent exchanges never share an Identifier space."""

    def __init__(self, *, timeout: float = 2.0, retries: int = 3) -> None:
        self.timeout = timeout
        self.retries = max(1, retries)

    def exchange(self, host: str, port: int, secret: bytes, request: bytes,
                 on_drop: Callable[[MalformedPacket], None] | None = None, *,
                 zero_vector_ma: bool = False) -> DynResult:
        """``on_drop`` hears of every reply that was no valid answer (else each is logged).
        ``zero_vector_ma``: see ``radius.rfc5176.decode_reply`` (replies relayed by a proxy)."""
        family = socket.AF_INET6 if ":" in host else socket.AF_INET
        with socket.socket(family, socket.SOCK_DGRAM) as sock:
            sock.connect((host, port))
            for attempt in range(1, self.retries + 1):
                try:
                    sock.send(request)
                except OSError as exc:
                    log.warning("DM/CoA to %s:%d: send failed: %s", host, port, exc)
                deadline = time.monotonic() + self.timeout
                while (left := deadline - time.monotonic()) > 0:
                    sock.settimeout(left)
                    try:
                        data = sock.recv(4096)
                    except TimeoutError:
                        break
                    except OSError:  # ICMP port unreachable surfaces here on Linux
                        time.sleep(min(left, 0.05))
                        continue
                    try:
                        return DynResult(decode_reply(data, request, secret,
                                                      zero_vector_ma=zero_vector_ma), attempt)
                    except MalformedPacket as exc:
                        if on_drop is None:
                            log.warning("DM/CoA reply from %s:%d dropped: %s", host, port, exc)
                        else:
                            on_drop(exc)
            return DynResult(None, self.retries)


@dataclass(frozen=True, slots=True)
class EnforcementResult:
    ok: bool
    method: str                  # "dm" | "coa" | "portal" | "none"
    reason: str
    attempts: int = 0
    error_cause: int | None = None
    detail: str = ""


def default_portal_logout(ac: AcRecord, user_ip: str, mac: str | None) -> bool:
    """REQ_LOGOUT through ``ac_adapters.client`` (imported lazily: the radius process needs it
    only for ACs without RFC 5176)."""
    if ac.kind == "unifi":        # a controller kind: unauthorise the guest there
        from ac_adapters.gateways.unifi_api import UnifiError, controller_for

        try:
            controller_for(ac.controller_url, ac.secret).unauthorize(ac.name, mac or "")
        except UnifiError as exc:
            log.warning("unauthorize-guest %s on %s: %s", mac, ac.name, exc)
            return False
        return True
    from ac_adapters.client import PortalClient
    from ac_adapters.exchange import AcEndpoint
    from ac_adapters.profiles import PROFILES

    endpoint = AcEndpoint(
        host=ac.addresses[0], port=ac.port, profile=PROFILES[ac.vendor], secret=ac.secret.encode(),
        bas_ip=ac.effective_bas_ip, timeout=ac.timeout or 3.0, retries=ac.retries or 3,
    )
    with PortalClient() as client:
        return bool(client.logout(endpoint, user_ip, mac=mac).ok)


class Enforcer:
    """Disconnect / CoA sessions, with the Portal-protocol fallback."""

    def __init__(
        self,
        redis: Any,
        *,
        timeout: float = 2.0,
        retries: int = 3,
        portal_logout: PortalLogout | None = None,
        clock: Callable[[], float] = time.time,
        grace: float = 60.0,
        render: Callable[[Grant, AcRecord], tuple[tuple[int, bytes], ...]] | None = None,
        drops: DropReporter | None = None,
        timezone: str = "Asia/Shanghai",
    ) -> None:
        self.redis = redis
        self.timezone = timezone            # the usage book's day, for controller kicks
        # Replies that are no valid answer: counted by reason and AC, logged rate-limited (the
        # RADIUS process passes its server's reporter, so they reach its /metrics).
        self.drops = drops or DropReporter(Metrics())
        self.client = DynAuthClient(timeout=timeout, retries=retries)
        self.portal_logout: PortalLogout = portal_logout or default_portal_logout
        self.clock = clock
        self.registry = SessionRegistry(redis, grace=grace)
        self.acs = AcRegistry(redis)
        self._render = render
        self._old_proxies: set[str] = set()     # proxies already logged as pre-3.2.4 FreeRADIUS

    @classmethod
    def from_settings(cls, redis: Any, settings: Any, **kw: Any) -> Enforcer:
        """Build from ``portal.runtime.settings.Settings`` (radius.coa_timeout / coa_retries)."""
        return cls(redis, timeout=settings.radius.coa_timeout, retries=settings.radius.coa_retries,
                   grace=settings.radius.reaper_grace, timezone=settings.quota.timezone, **kw)

    # --- packets ------------------------------------------------------------------------------

    def _ident_attrs(self, session: OnlineSession, ac: AcRecord) -> list[tuple[int, bytes]]:
        """The identifiers the AC's dialect matches sessions on, as the NAS sent them."""
        wanted = DIALECTS[ac.effective_radius_dialect].disconnect_ids

        def pick(name: str, value: str | None) -> str | None:
            return value if name in wanted else None

        return request_attrs(
            user_name=pick("User-Name", session.nas_user_name),
            session_id=pick("Acct-Session-Id", session.session_id),
            framed_ip=pick("Framed-IP-Address", session.ip),
            calling_station_id=pick("Calling-Station-Id", session.calling_station_id),
            nas_ip=pick("NAS-IP-Address", session.nas_id("na") or ac.effective_bas_ip),
            nas_identifier=pick("NAS-Identifier", session.nas_id("ni")),
            event_timestamp=int(self.clock()),
        )

    def _dm_target(self, ac: AcRecord) -> AcRecord:
        """Where a Disconnect/CoA for ``ac``'s sessions goes: the AC itself, or the RADIUS proxy
        it sits behind when ``dm_via_proxy`` (the proxy relays it to the NAS: FreeRADIUS with
        Home-Server-Pool set in recv-coa)."""
        if ac.dm_via_proxy and ac.radius_via:
            proxy = self.acs.get_or_none(ac.radius_via)
            if proxy is not None and proxy.radius_proxy:
                return proxy
        return ac

    def _send(self, code: DynCode, ac: AcRecord, attrs: list[tuple[int, bytes]]) -> DynResult:
        target = self._dm_target(ac)
        secret = target.effective_radius_secret.encode()
        request = encode_request(code, int.from_bytes(os.urandom(1), "big"), secret, attrs)
        host = target.addresses[0]

        def dropped(exc: MalformedPacket) -> None:
            reason = exc.code if exc.code.startswith("dm_reply_") else "dm_reply_malformed"
            self.drops.drop(reason, "Disconnect/CoA reply", ac.name, host, exc)

        # A relaying proxy may be a FreeRADIUS older than 3.2.4, which signs the
        # Message-Authenticator of the ACK/NAK it passes back over a zero vector.
        result = self.client.exchange(host, target.coa_port, secret, request, on_drop=dropped,
                                      zero_vector_ma=target.radius_proxy)
        if result.reply is not None and result.reply.zero_vector_ma and target.name not in self._old_proxies:
            self._old_proxies.add(target.name)
            log.info("RADIUS proxy %s signs the Message-Authenticator of relayed Disconnect/CoA "
                     "answers over a zero vector (FreeRADIUS before 3.2.4); accepted from a proxy",
                     target.name)
        return result

    def _ac(self, session: OnlineSession, ac: AcRecord | None) -> AcRecord | None:
        return ac if ac is not None else self.acs.get_or_none(session.ac)

    # --- operations ---------------------------------------------------------------------------

    def disconnect(self, session: OnlineSession, reason: str = "admin", *,
                   ac: AcRecord | None = None) -> EnforcementResult:
        """Take one session offline. On success the session is closed in the registry at once
        (its concurrency slot frees up; the AC's Stop still books the last usage)."""
        record = self._ac(session, ac)
        if record is None:
            return EnforcementResult(False, "none", reason, detail=f"unknown AC {session.ac}")
        result = self._disconnect(session, record, reason)
        log.info("disconnect %s on %s (%s): %s via %s", session.phone, record.name, reason,
                 "ok" if result.ok else "FAILED", result.method)
        if result.ok and record.kind == "unifi":
            self._book_unifi(session, record)
        elif result.ok:
            self.registry.close(session.ac, session.session_id, session.phone)
        return result

    def _book_unifi(self, session: OnlineSession, ac: AcRecord) -> None:
        """A UniFi guest sends no accounting Stop: close with the controller's final counters
        and book them (portal/aaa/controller_usage.py), as its usage poller would."""
        from ac_adapters.gateways.unifi_api import controller_for
        from portal.aaa.controller_usage import close_unauthorised
        from portal.aaa.gateway_sessions import GatewaySessions

        gateway = GatewaySessions(self.redis, grace=self.registry.grace, timezone=self.timezone,
                                  clock=self.clock)
        close_unauthorised(gateway, controller_for(ac.controller_url, ac.secret), ac.name, [session],
                           "disconnect")

    def _disconnect(self, session: OnlineSession, ac: AcRecord, reason: str) -> EnforcementResult:
        attempts, cause, detail = 0, None, ""
        not_found = False
        if ac.rfc5176:
            res = self._send(DynCode.DISCONNECT_REQUEST, ac, self._ident_attrs(session, ac))
            attempts, cause = res.attempts, res.error_cause
            if res.acked:
                return EnforcementResult(True, "dm", reason, attempts, cause)
            if cause == ErrorCause.SESSION_CONTEXT_NOT_FOUND:
                if self._gone(session):
                    return EnforcementResult(True, "dm", reason, attempts, cause,
                                             "session context not found: accounting closed it too")
                # The NAS knows no session by these identifiers, yet accounting says it is up:
                # not a success. The Portal REQ_LOGOUT names the user by IP instead.
                not_found = True
                detail = ("Disconnect-NAK 503 (session context not found) while accounting still "
                          "shows the session; ")
            elif res.reply is not None:  # a NAK is an answer: the portal path will not do better
                return EnforcementResult(False, "dm", reason, attempts, cause,
                                         f"Disconnect-NAK, Error-Cause {cause}")
            else:
                detail = "no answer to Disconnect-Request; "
        # After a 503 the result keeps method "dm" unless the Portal fallback confirms.
        failed_method = "dm" if not_found else "portal"
        if ac.kind == "unifi":        # the controller unauthorises the guest (portal_logout)
            failed_method = "controller"
        elif ac.kind == "omada":      # its external-portal API cannot end an authorisation
            return EnforcementResult(False, "none", reason, attempts, cause, detail + "an Omada gateway "
                                     "cannot be told to end a session: it ends at its authorised time")
        elif ac.kind != "portal":     # CoovaChilli, openNDS …: no Portal protocol to fall back on
            return EnforcementResult(False, "dm" if not_found else "none", reason, attempts, cause,
                                     detail + f"a {ac.kind} gateway has no Portal REQ_LOGOUT")
        if not session.ip:
            return EnforcementResult(False, "dm" if not_found else "none", reason, attempts, cause,
                                     detail + "no user IP for a portal REQ_LOGOUT")
        try:
            ok = self.portal_logout(ac, session.ip, session.mac)
        except Exception as exc:
            return EnforcementResult(False, failed_method, reason, attempts, cause,
                                     detail + f"REQ_LOGOUT failed: {exc}")
        done, what = ("controller", "unauthorize-guest") if ac.kind == "unifi" else ("portal", "REQ_LOGOUT")
        return EnforcementResult(ok, done if ok else failed_method, reason, attempts, cause,
                                 detail + ("" if ok else f"{what} not acknowledged"))

    def _gone(self, session: OnlineSession) -> bool:
        """Whether the session is no longer online in accounting (its Stop arrived)."""
        return self.registry.get(session.ac, session.session_id, session.phone) is None

    def render(self, grant: Grant, ac: AcRecord) -> tuple[tuple[int, bytes], ...]:
        if self._render is not None:
            return self._render(grant, ac)
        from radius.dialects import render

        return render(grant, ac.effective_radius_dialect)

    def coa(self, session: OnlineSession, grant: Grant, *,
            ac: AcRecord | None = None) -> EnforcementResult:
        """Send the session new limits (e.g. a shorter Session-Timeout). False when the AC has
        no RFC 5176, NAKs or does not answer."""
        record = self._ac(session, ac)
        if record is None or not record.rfc5176:
            return EnforcementResult(False, "none", "coa", detail="AC cannot take a CoA")
        attrs = self._ident_attrs(session, record)
        # Class stays what the login issued (accounting ties back with it): do not resend it.
        attrs += [a for a in self.render(grant, record) if a[0] != 25]
        res = self._send(DynCode.COA_REQUEST, record, attrs)
        return EnforcementResult(res.acked, "coa", "coa", res.attempts, res.error_cause,
                                 "" if res.acked else "CoA not acknowledged")

    def change_plan(self, session: OnlineSession, grant: Grant, *,
                    ac: AcRecord | None = None) -> EnforcementResult:
        """Apply a new plan: CoA, and record the plan on the session; if the AC cannot take
        the CoA, disconnect so that the next login gets the new plan."""
        result = self.coa(session, grant, ac=ac)
        if result.ok:
            self.registry.with_plan(session, grant.plan_name)
            return result
        return self.disconnect(session, "plan_changed", ac=ac)

    def kick_phone(self, phone: str, reason: str = "admin") -> list[EnforcementResult]:
        """Disconnect every online session of a phone (NOC)."""
        return [self.disconnect(s, reason) for s in self.registry.by_phone(phone)]
