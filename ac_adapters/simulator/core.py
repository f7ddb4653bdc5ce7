"""``SimulatedAc``: a portal-protocol AC that behaves like hardware, for demos and tests.

Threads: the portal UDP loop (``portal_server``), the RADIUS receiver (``radius_client``), the
RFC 5176 loop (``dm_server``) and one timer thread (challenge expiry, Session-/Idle-Timeout,
interim updates, NTF retries). All user state sits behind one lock; the per-user state
machine is the table in ``state.py``. The clock is injectable so tests can expire challenges
and sessions without sleeping; timers compare against it and poll every ``tick`` real seconds.
"""

from __future__ import annotations

import heapq
import itertools
import logging
import os
import threading
import time
from collections import Counter, deque
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from pyrad.packet import Packet

from ac_adapters.codec import Attribute, PortalPacket, decode, encode, ip_attr, mac_attr, mac_from_attr
from ac_adapters.constants import AttrType, PacketType
from ac_adapters.errors import DecodeError
from ac_adapters.profiles import MacAttr, get_profile
from ac_adapters.simulator import sim_handlers
from ac_adapters.simulator.ntf import Notifier
from ac_adapters.simulator.portal_server import UdpServer
from ac_adapters.simulator.radius_client import RadiusClient
from ac_adapters.simulator.sim_accounting import (
    AcctStatus,
    OnlineUser,
    Session,
    TerminateCause,
    accounting_attrs,
    new_session_id,
)
from ac_adapters.simulator.sim_auth import AuthResult, called_station_id
from ac_adapters.simulator.sim_config import SimConfig
from ac_adapters.simulator.sim_redirect import build_redirect_url
from ac_adapters.simulator.state import Event, UserState

__all__ = ["SimulatedAc", "User"]

log = logging.getLogger(__name__)

Clock = Callable[[], float]


@dataclass(frozen=True, slots=True)
class RequestCtx:
    """What an answer to a portal request must echo (§1.6) and sign with (§1.2)."""

    addr: tuple[str, int]
    serial_no: int
    req_id: int
    pap_chap: int
    authenticator: bytes | None


class User:
    """One DHCP lease on the AC (mutable, guarded by ``SimulatedAc._lock``)."""

    __slots__ = (
        "ack_auth_raw", "ack_resends", "auth", "challenge", "challenge_expires", "gen", "ip",
        "mac", "pending", "req_id", "session", "session_id", "state", "username",
    )

    def __init__(self, ip: str, mac: str) -> None:
        self.ip = ip
        self.mac = mac
        self.state = UserState.IDLE
        self.gen = 0                       # bumps on every state change: stale timers/answers die
        self.req_id = 0
        self.challenge: bytes | None = None
        self.challenge_expires = 0.0
        self.pending: RequestCtx | None = None
        self.username = ""
        self.auth = "chap"
        self.session: Session | None = None
        self.session_id = ""               # chosen at REQ_AUTH, reused by accounting (RFC 2866 §5.5)
        self.ack_auth_raw: tuple[bytes, tuple[str, int]] | None = None
        self.ack_resends = 0


class SimulatedAc:
    """A simulated AC. ``start()``, then point a portal (or ``PortalClient``) at ``port``."""

    def __init__(self, config: SimConfig, clock: Clock = time.monotonic) -> None:
        self.config = config
        self.profile = get_profile(config.flavour)
        self.clock = clock
        self.stats: Counter[str] = Counter()
        self.accounting_log: deque[dict[str, Any]] = deque(maxlen=10_000)
        self._lock = threading.RLock()
        self._users: dict[str, User] = {}
        self._req_ids: set[int] = set()
        self._next_req_id = int.from_bytes(os.urandom(2), "big") % 0xFFFF + 1
        self._timers: list[tuple[float, int, str, str, int]] = []
        self._seq = itertools.count()
        self._stop = threading.Event()
        self._timer_thread: threading.Thread | None = None
        self._portal = UdpServer(config.host, config.port, self._on_datagram, name="ac-sim-portal")
        self._radius: RadiusClient | None = None
        if config.radius_host is not None:
            self._radius = RadiusClient(
                config.radius_host, secret=config.radius_secret, auth_port=config.radius_auth_port,
                acct_port=config.radius_acct_port, timeout=config.radius_timeout,
                retries=config.radius_retries, fallbacks=config.radius_fallbacks,
                balance=config.radius_balance, dead_time=config.radius_dead_time,
            )
        self._ntf = Notifier(
            self.profile, config.secret, self._send_to_portal,
            interval=config.ntf_retry_interval, retries=config.ntf_retries,
        )
        self._dm: Any = None
        self.called_station_id = called_station_id(config.ap_mac, config.ssid)

    # --- lifecycle ------------------------------------------------------------------------

    @property
    def port(self) -> int:
        return self._portal.port

    @property
    def radius(self) -> RadiusClient | None:
        """The RADIUS client (``stats``, ``replies_by_server``); None in local-users mode."""
        return self._radius

    @property
    def coa_port(self) -> int | None:
        return self._dm.port if self._dm is not None else None

    def start(self) -> SimulatedAc:
        if self._radius is not None:
            self._radius.start()
        self._portal.start()
        if self.config.coa_port is not None:
            from ac_adapters.simulator.dm_server import DmServer

            self._dm = DmServer(self, self.config.host, self.config.coa_port).start()
        self._timer_thread = threading.Thread(target=self._timer_loop, name="ac-sim-timers", daemon=True)
        self._timer_thread.start()
        return self

    def stop(self, *, send_stop: bool = True, wait: float = 2.0) -> None:
        """Stop serving. Online users get an Accounting Stop (NAS-Reboot) first."""
        if send_stop:
            with self._lock:
                for user in self._users.values():
                    if user.state is UserState.ONLINE and user.session is not None:
                        self._account(user.session, AcctStatus.STOP, TerminateCause.NAS_REBOOT)
                        user.session = None
                        self._set_state(user, UserState.IDLE)
            deadline = time.monotonic() + wait
            while self._radius is not None and self._radius.pending_count() and time.monotonic() < deadline:
                time.sleep(0.02)
        self._stop.set()
        if self._timer_thread is not None:
            self._timer_thread.join(timeout=5)
        if self._dm is not None:
            self._dm.stop()
        self._portal.stop()
        if self._radius is not None:
            self._radius.stop()

    def __enter__(self) -> SimulatedAc:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()

    # --- public API -----------------------------------------------------------------------

    def add_user(self, ip: str, mac: str) -> None:
        """A phone associates and gets a DHCP lease; in MAC-trigger mode the AC asks 0x30."""
        with self._lock:
            user = self._users.get(ip)
            if user is None:
                user = self._users[ip] = User(ip, mac)
            else:
                user.mac = mac
            if self.config.mac_trigger:
                sim_handlers.dispatch(self, user, Event.MAC_SEEN, None)

    def online(self) -> dict[str, OnlineUser]:
        now = self.clock()
        with self._lock:
            return {
                ip: u.session.snapshot(now)
                for ip, u in self._users.items()
                if u.state is UserState.ONLINE and u.session is not None
            }

    def state_of(self, ip: str) -> UserState | None:
        with self._lock:
            user = self._users.get(ip)
            return user.state if user is not None else None

    def kick(self, ip: str, cause: str = "admin") -> bool:
        """AC-initiated logout: Accounting Stop + NTF_LOGOUT to the portal. False if not online."""
        causes = {
            "admin": TerminateCause.ADMIN_RESET, "idle": TerminateCause.IDLE_TIMEOUT,
            "session": TerminateCause.SESSION_TIMEOUT, "lost": TerminateCause.LOST_SERVICE,
        }
        return self.end_session(ip, causes.get(cause, TerminateCause.NAS_REQUEST))

    def set_active(self, ip: str, active: bool) -> None:
        """Mark a user's traffic as flowing or stopped (stopped users hit Idle-Timeout)."""
        now = self.clock()
        with self._lock:
            user = self._users.get(ip)
            if user is None or user.session is None:
                return
            user.session.set_active(active, now)
            if not active and user.session.idle_timeout:
                self._schedule(now + user.session.idle_timeout, "idle", user)

    def redirect_url(self, ip: str, portal_url: str) -> str:
        with self._lock:
            user = self._users.get(ip)
            mac = user.mac if user is not None else "00:00:00:00:00:00"
        cfg = self.config
        return build_redirect_url(
            portal_url, flavour=cfg.flavour, user_ip=ip, user_mac=mac, ac_ip=cfg.nas_ip,
            ac_name=cfg.nas_identifier, ssid=cfg.ssid, ap_mac=cfg.ap_mac, first_url=cfg.first_url,
            vlan=cfg.vlan or None, des_key=cfg.redirect_key or None,
            ap_group=cfg.ap_group,
        )

    def users(self) -> list[str]:
        with self._lock:
            return list(self._users)

    def ntf_outstanding(self) -> int:
        return self._ntf.outstanding()

    # --- session control (timers, DM/CoA, kick) -------------------------------------------

    def end_session(self, ip: str, cause: TerminateCause) -> bool:
        with self._lock:
            user = self._users.get(ip)
            if user is None or user.state is not UserState.ONLINE:
                return False
            sim_handlers.dispatch(self, user, Event.SESSION_END, None, cause=cause)
            return True

    def find_session(self, criteria: dict[str, str]) -> str | None:
        """User IP of the online session matching every given identifier (RFC 5176 §3)."""
        with self._lock:
            for ip, user in self._users.items():
                s = user.session
                if user.state is not UserState.ONLINE or s is None:
                    continue
                if sim_handlers.session_matches(s, criteria):
                    return ip
        return None

    def apply_coa(self, ip: str, attrs: dict[str, Any]) -> bool:
        now = self.clock()
        with self._lock:
            user = self._users.get(ip)
            if user is None or user.session is None:
                return False
            sim_handlers.apply_authorization(self, user, AuthResult(True, attrs=attrs), now, coa=True)
            self.stats["coa_applied"] += 1
            return True

    # --- plumbing used by handlers --------------------------------------------------------

    def _send_to_portal(self, raw: bytes) -> None:
        self._portal.send(raw, (self.config.portal_host, self.config.portal_port))

    def _encode_reply(self, packet: PortalPacket, ctx: RequestCtx) -> bytes:
        return encode(
            packet, header=self.profile.header, secret=self.config.secret,
            request_authenticator=ctx.authenticator,
        )

    def _reply(self, packet: PortalPacket, ctx: RequestCtx) -> None:
        self.stats["replied"] += 1
        self._portal.send(self._encode_reply(packet, ctx), ctx.addr)

    def _set_state(self, user: User, state: UserState) -> None:
        if user.state is not state:
            user.state = state
            user.gen += 1

    def _allocate_req_id(self) -> int:
        """ReqID unique among pending users, never 0 (EAG, §1.6)."""
        for _ in range(0x10000):
            rid = self._next_req_id
            self._next_req_id = self._next_req_id % 0xFFFF + 1
            if rid not in self._req_ids:
                self._req_ids.add(rid)
                return rid
        raise RuntimeError("no free ReqID")

    def _release_req_id(self, user: User) -> None:
        self._req_ids.discard(user.req_id)

    def _schedule(self, when: float, kind: str, user: User) -> None:
        heapq.heappush(self._timers, (when, next(self._seq), kind, user.ip, user.gen))

    def _account(self, session: Session, status: AcctStatus, cause: TerminateCause | None = None) -> None:
        cfg = self.config
        attrs = accounting_attrs(
            session, status, self.clock(), nas_ip=cfg.nas_ip, nas_identifier=cfg.nas_identifier,
            called_station_id=self.called_station_id, cause=cause,
        )
        self.accounting_log.append(attrs)
        self.stats[f"acct_{status.name.lower()}"] += 1
        if self._radius is None:
            return
        pkt = self._radius.acct_packet()
        for name, value in attrs.items():
            pkt[name] = value
        self._radius.send(pkt, self._on_acct_reply, accounting=True)

    def _on_acct_reply(self, reply: Packet | None) -> None:
        with self._lock:
            self.stats["acct_responses" if reply is not None else "acct_timeouts"] += 1

    def _start_radius(self, user: User, pkt: Packet) -> None:
        assert self._radius is not None
        ip, gen = user.ip, user.gen

        def done(reply: Packet | None) -> None:
            with self._lock:
                current = self._users.get(ip)
                if current is None or current.gen != gen or current.state is not UserState.AUTHENTICATING:
                    self.stats["radius_answer_discarded"] += 1   # aborted meanwhile
                    return
                sim_handlers.auth_finished(self, current, AuthResult.from_reply(reply))

        self._radius.send(pkt, done)

    def _notify_logout(self, user: User) -> None:
        attrs: list[Attribute] = []
        if self.profile.send_bas_ip:
            attrs.append(ip_attr(AttrType.BAS_IP, self.config.nas_ip))
        attrs.extend(self._mac_attrs(user.mac))
        zero = self.config.ntf_zero_ids
        packet = PortalPacket(
            type=PacketType.NTF_LOGOUT, version=self.profile.version,
            serial_no=0 if zero else self._ntf.next_serial(), req_id=0 if zero else user.req_id,
            user_ip=user.ip, attrs=tuple(attrs),
        )
        self.stats["ntf_logout_sent"] += 1

        def done(answer: PortalPacket | None) -> None:
            with self._lock:
                self.stats["ntf_logout_acked" if answer is not None else "ntf_logout_unanswered"] += 1

        self._ntf.submit(packet, self.profile.ntf_logout_reply, self.clock(), done)

    def _mac_attrs(self, mac: str) -> list[Attribute]:
        if self.profile.mac_attr is MacAttr.NONE:
            return []
        return [mac_attr(self.profile.mac_attr.value, mac)]

    # --- the portal loop ------------------------------------------------------------------

    def _on_datagram(self, data: bytes, addr: tuple[str, int]) -> None:
        with self._lock:
            self.stats["received"] += 1
        try:
            packet = decode(data, header=self.profile.header)
        except DecodeError as exc:
            self._drop("dropped_malformed", exc)
            return
        if packet.version != self.profile.version:
            self._drop("dropped_version", None)
            return
        if self._ntf.expects(packet.type):
            if self._ntf.on_response(packet, data):
                with self._lock:
                    self.stats["handled"] += 1
            else:
                self._drop("dropped_unmatched", None)
            return
        handler = sim_handlers.REQUEST_HANDLERS.get(packet.type)
        if handler is None:
            self._drop("dropped_unexpected", None)
            return
        if self.profile.has_authenticator and not sim_handlers.request_signed(data, self.config.secret):
            # Real ACs drop these silently: a wrong secret looks like a timeout (§1.2, §6).
            self._drop("dropped_bad_auth", None)
            return
        ctx = RequestCtx(addr, packet.serial_no, packet.req_id, packet.pap_chap, packet.authenticator)
        with self._lock:
            self.stats["handled"] += 1
            handler(self, packet, ctx)

    def _drop(self, reason: str, exc: Exception | None) -> None:
        with self._lock:
            self.stats[reason] += 1
            self.stats["dropped"] += 1
        if exc is not None:
            log.debug("dropped datagram: %s", exc)

    def _lease(self, ip: str, packet: PortalPacket) -> User | None:
        """The user of ``ip``; unknown IPs get a lease unless ``require_lease``."""
        user = self._users.get(ip)
        kind = self.profile.mac_attr
        raw = packet.get(kind.value) if kind is not MacAttr.NONE else None
        claimed = mac_from_attr(raw) if raw else None
        if user is None and not self.config.require_lease and ip != "0.0.0.0":
            learned = self.config.learned_macs or not claimed
            user = self._users[ip] = User(ip, _mac_for_ip(ip) if learned else str(claimed))
        if user is not None and claimed and _norm_mac(claimed) != _norm_mac(user.mac):
            # The portal names another device than the one holding this IP: the AC goes on
            # reporting the MAC it knows (counted so tests can see the claim was ignored).
            self.stats["portal_mac_ignored"] += 1
        return user

    # --- timers ---------------------------------------------------------------------------

    def _timer_loop(self) -> None:
        while not self._stop.wait(self.config.tick):
            try:
                self._run_timers(self.clock())
                self._ntf.due(self.clock())
            except Exception:
                log.exception("timer tick failed")

    def _run_timers(self, now: float) -> None:
        with self._lock:
            while self._timers and self._timers[0][0] <= now:
                _when, _seq, kind, ip, gen = heapq.heappop(self._timers)
                user = self._users.get(ip)
                if user is not None:
                    sim_handlers.timer_fired(self, user, kind, gen, now)

    def new_session(self, user: User, now: float) -> Session:
        return Session(
            ip=user.ip, mac=user.mac, username=user.username, session_id=user.session_id or new_session_id(),
            auth=user.auth, started=now, rate=self.config.traffic_rate,
            start_octets=self.config.counters_start,
        )


def _norm_mac(mac: str) -> str:
    return "".join(c for c in mac.lower() if c in "0123456789abcdef")


def _mac_for_ip(ip: str) -> str:
    """A stable locally-administered MAC for users that only ever appear by IP."""
    octets = [int(x) for x in ip.split(".")]
    return "02:00:" + ":".join(f"{o:02x}" for o in octets)
