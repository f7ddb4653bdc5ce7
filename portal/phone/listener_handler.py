"""The portal's policy behind ``ac_adapters.listener.PortalListener``.

* Which ACs may send from a datagram's source address: ``AcRegistry.by_source`` (their
  ``portal_sources``, by default their ``addresses``), through a small in-process TTL cache; the
  listener lets the BAS-IP choose among several. A disabled AC is treated as unknown. When Redis
  is down, cached (even expired) answers keep being used so NTF_LOGOUT is still answered.
* Live per-AC state in Redis (``keys.ac_stats``): ``last_packet_at``, ``last_ntf_logout_at``,
  counters (``ntf_logout``, ``mac_query``, ``mac_bound``, ``user_logon``, ``user_logout``,
  ``user_sync_reply``, ``bad_auth``, ``dropped``); unknown sources in ``keys.listener_stats``.
  Counters are buffered and written at most once per ``stats_flush_interval`` so a flood of
  garbage cannot turn into a flood of Redis writes.
* NTF_LOGOUT / NTF_USER_LOGOUT close the portal's view of the session through the injectable
  ``on_session_closed(ac_name, user_ip, mac, cause)`` hook (``SessionRegistry`` has no close by
  (AC, user IP); RADIUS accounting closes the session record when the AC's Stop arrives).
* MAC-trigger 0x30: bound when the AC allows silent login (``AcRecord.mac_auth``), the MAC has a
  live binding (``CredentialStore.binding_for_mac``), it is not on the NOC blocklist and the
  ``on_mac_bound`` hook accepted the silent login (returning False means "not started": the
  bounded queue of ``portal.phone.silent_logins`` is full, say).
* Session marker (retransmission vs. new event, ``ac_adapters.retransmits``): the phone and
  login time of the portal login at (AC, user IP).
* User-sync lists come from ``SessionRegistry.by_ac``.
"""

from __future__ import annotations

import contextlib
import logging
import threading
import time
from collections import Counter
from collections.abc import Callable
from typing import Any

import redis

from ac_adapters.codec import PortalPacket, mac_from_attr
from ac_adapters.constants import AttrType
from ac_adapters.listener import AcPeer, BaseListenerHandler
from ac_adapters.profiles import PROFILES
from portal.aaa import ntf_replay
from portal.aaa.acs import AcRecord, AcRegistry
from portal.state import STATE_ERRORS, keys
from portal.state.connection import StateUnavailable

__all__ = ["PortalListenerHandler", "SessionClosedHook", "peer_from_record"]

log = logging.getLogger(__name__)

_MAX_CACHED_SOURCES = 4096

SessionClosedHook = Callable[[str, str, "str | None", str], None]
"""``(ac_name, user_ip, mac or None, cause)``; cause is ``ntf_logout`` (0x08), ``user_logout``
(0x34) or ``user_sync`` (the AC's 0x11 says the user is not online there)."""


def peer_from_record(record: AcRecord) -> AcPeer:
    """What the listener needs from an AC record."""
    profile = PROFILES[record.vendor]
    return AcPeer(
        name=record.name, profile=profile, secret=record.secret.encode(),
        host=record.addresses[0], port=record.port, bas_ip=record.effective_bas_ip,
        heartbeat=record.heartbeat or profile.heartbeat,
        user_sync=record.user_sync or profile.user_sync,
        sources=record.effective_portal_sources,
    )


def _packet_mac(packet: PortalPacket) -> str | None:
    for attr in packet.attrs:
        if attr.type in (AttrType.USER_MAC, AttrType.HANMING_MAC) and len(attr.value) == 6:
            return mac_from_attr(attr.value)
    return None


class PortalListenerHandler(BaseListenerHandler):
    """Registry lookups, AC statistics and session hooks for the listener."""

    def __init__(
        self,
        redis_client: Any,
        *,
        cache_ttl: float = 5.0,
        stats_flush_interval: float = 1.0,
        on_session_closed: SessionClosedHook | None = None,
        mac_binding: Callable[[str], object | None] | None = None,
        mac_blocked: Callable[[str], bool] | None = None,
        on_mac_bound: Callable[[str, str, str, object], bool | None] | None = None,
        silent_login_allowed: Callable[[str, str], bool] | None = None,
        online_ips: Callable[[str], list[str] | None] | None = None,
        clock: Callable[[], float] = time.monotonic,
        wall: Callable[[], float] = time.time,
    ) -> None:
        self.redis = redis_client
        self.registry = AcRegistry(redis_client)
        self.cache_ttl = cache_ttl
        self.stats_flush_interval = stats_flush_interval
        self.on_session_closed = on_session_closed
        self.on_mac_bound = on_mac_bound
        # (ac_name, ssid) → may this venue log a bound MAC in silently? Asked BEFORE answering
        # "bound": after 0x31 ErrCode 0 the AC waits ~5 s for our login (spec §2), so saying
        # "bound" where the venue forbids silent login would only stall the phone.
        self.silent_login_allowed = silent_login_allowed
        if mac_binding is None:
            from portal.aaa.credentials import CredentialStore
            mac_binding = CredentialStore(redis_client).binding_for_mac
        self.mac_binding = mac_binding
        if mac_blocked is None:
            from portal.aaa.blocklist import Blocklist
            mac_blocked = Blocklist(redis_client).is_blocked_mac
        self.mac_blocked = mac_blocked
        if online_ips is None:
            from portal.aaa.sessions import SessionRegistry
            sessions = SessionRegistry(redis_client)

            def online_ips(ac_name: str) -> list[str] | None:
                return sorted({s.ip for s in sessions.by_ac(ac_name) if s.ip})
        self.online_ips = online_ips
        self.clock = clock
        self.wall = wall
        self.counters: Counter[str] = Counter()      # in-process: state_unavailable, …
        self._lock = threading.Lock()
        self._by_source: dict[str, tuple[float, tuple[AcRecord, ...]]] = {}
        self._by_name: dict[str, AcRecord] = {}
        self._pending_incr: Counter[tuple[str, str]] = Counter()
        self._pending_set: dict[tuple[str, str], str] = {}
        self._last_flush = clock()
        self._last_loud_log = 0.0

    # --- AC resolution ------------------------------------------------------------------------

    def acs_at(self, source_ip: str) -> list[AcPeer]:
        return [peer_from_record(r) for r in self._lookup(source_ip) if r.enabled]

    def _lookup(self, source_ip: str) -> tuple[AcRecord, ...]:
        now = self.clock()
        with self._lock:
            cached = self._by_source.get(source_ip)
        if cached is not None and cached[0] > now:
            return cached[1]
        try:
            records = tuple(self.registry.by_source(source_ip))
        except redis.RedisError as exc:
            self._state_unavailable(f"looking up the ACs at {source_ip}", exc)
            if cached is not None:
                return cached[1]        # stale beats nothing: keep answering known ACs
            raise StateUnavailable(f"Redis unavailable and AC address {source_ip} not cached") from exc
        with self._lock:
            if len(self._by_source) >= _MAX_CACHED_SOURCES:
                # Anyone may send from anywhere: keep this bounded, forgetting strangers first.
                self._by_source = {k: v for k, v in self._by_source.items() if v[1]}
                if len(self._by_source) >= _MAX_CACHED_SOURCES:
                    self._by_source.clear()
            self._by_source[source_ip] = (now + self.cache_ttl, records)
            self._by_name.update((r.name, r) for r in records)
        return records

    def _record(self, name: str) -> AcRecord | None:
        with self._lock:
            return self._by_name.get(name)

    def _state_unavailable(self, doing: str, exc: Exception) -> None:
        self.counters["state_unavailable"] += 1
        now = self.clock()
        level = logging.ERROR if now - self._last_loud_log > 10.0 else logging.DEBUG
        if level == logging.ERROR:
            self._last_loud_log = now
        log.log(level, "ac-listener: Redis unavailable while %s (%s); answering ACs from the "
                "in-process cache (%d so far)", doing, exc, self.counters["state_unavailable"])

    # --- events -------------------------------------------------------------------------------

    def session_marker(self, ac: AcPeer, packet: PortalPacket) -> str | None:
        phone, at = self.redis.hmget(keys.portal_login(ac.name, packet.user_ip), "phone", "at")
        if at is None:
            return None
        return f"{(phone or b'').decode()}@{at.decode()}"

    def logout_corroborated(self, ac: AcPeer, packet: PortalPacket) -> bool:
        return ntf_replay.logout_corroborated(self.redis, ac.name, packet.user_ip)

    def on_unconfirmed_logout(self, ac: AcPeer, packet: PortalPacket) -> None:
        self._note(ac.name, "ntf_suspected_replay", last_packet_at=f"{self.wall():.3f}")
        ntf_replay.note_unconfirmed(self.redis, ac.name, packet.user_ip, self.session_marker(ac, packet))
        self._maybe_flush()

    def on_ntf_logout(self, ac: AcPeer, packet: PortalPacket) -> None:
        now = f"{self.wall():.3f}"
        self._note(ac.name, "ntf_logout", last_packet_at=now, last_ntf_logout_at=now)
        mac = _packet_mac(packet)
        log.info("AC %s logged off %s (MAC %s, SerialNo %d)", ac.name, packet.user_ip, mac or "-",
                 packet.serial_no)
        if self.on_session_closed is not None:
            self.on_session_closed(ac.name, packet.user_ip, mac, "ntf_logout")
        # Acted on: nothing is held any more. Best effort: with the store down the hold expires
        # by itself, and the login it names is gone already.
        with contextlib.suppress(*STATE_ERRORS):
            self.redis.delete(ntf_replay.held_key(ac.name, packet.user_ip))
        self._maybe_flush()

    def on_user_logout(self, ac: AcPeer, packet: PortalPacket) -> None:
        self._note(ac.name, "user_logout", last_packet_at=f"{self.wall():.3f}")
        if self.on_session_closed is not None:
            self.on_session_closed(ac.name, packet.user_ip, _packet_mac(packet), "user_logout")
        self._maybe_flush()

    def on_user_logon(self, ac: AcPeer, packet: PortalPacket) -> None:
        self._note(ac.name, "user_logon", last_packet_at=f"{self.wall():.3f}")
        log.info("AC %s reports %s online (MAC %s)", ac.name, packet.user_ip,
                 _packet_mac(packet) or "-")
        self._maybe_flush()

    def on_mac_query(self, ac: AcPeer, mac: str, packet: PortalPacket) -> bool:
        self._note(ac.name, "mac_query", last_packet_at=f"{self.wall():.3f}")
        record = self._record(ac.name)
        bound = False
        ssid = (packet.get(AttrType.SSID) or b"").decode("utf-8", "replace")
        allowed = self.silent_login_allowed is None or self.silent_login_allowed(ac.name, ssid)
        if record is not None and record.mac_auth and allowed and not self.mac_blocked(mac):
            binding = self.mac_binding(mac)
            bound = binding is not None
            if bound and self.on_mac_bound is not None:
                # False: the silent login could not be started; the AC must not wait for it.
                bound = self.on_mac_bound(ac.name, mac, packet.user_ip, binding) is not False
            self._note(ac.name, "mac_bound" if bound else "mac_not_bound")
        self._maybe_flush()
        return bound

    def on_user_sync_reply(self, ac: AcPeer, offline_ips: list[str]) -> None:
        self._note(ac.name, "user_sync_reply", last_packet_at=f"{self.wall():.3f}")
        if offline_ips:
            log.info("AC %s: %d user(s) of our sync list are not online there: %s", ac.name,
                     len(offline_ips), ", ".join(offline_ips[:20]))
            if self.on_session_closed is not None:
                for ip in offline_ips:
                    self.on_session_closed(ac.name, ip, None, "user_sync")
        self._maybe_flush()

    def online_user_ips(self, ac: AcPeer) -> list[str] | None:
        return self.online_ips(ac.name)

    def peers_wanting_heartbeat(self) -> list[AcPeer]:
        self._maybe_flush()
        records = self.registry.all()
        with self._lock:
            self._by_name.update((r.name, r) for r in records)
        peers = [peer_from_record(r) for r in records if r.enabled]
        return [p for p in peers if p.heartbeat or p.user_sync]

    def on_drop(self, ac: AcPeer | None, source_ip: str, reason: str) -> None:
        if ac is None:
            if reason in ("unknown_ac", "ambiguous_ac"):
                self._note("", reason, last_unknown_source=source_ip,
                           last_unknown_at=f"{self.wall():.3f}")
        else:
            self._note(ac.name, "bad_auth" if reason == "bad_authenticator" else "dropped")
        self._maybe_flush()

    # --- statistics buffer --------------------------------------------------------------------

    def _note(self, ac_name: str, counter: str, **fields: str) -> None:
        """Buffer a counter increment and field values; ``ac_name`` "" = listener-wide."""
        with self._lock:
            self._pending_incr[(ac_name, counter)] += 1
            for name, value in fields.items():
                self._pending_set[(ac_name, name)] = value

    def _maybe_flush(self) -> None:
        if self.clock() - self._last_flush >= self.stats_flush_interval:
            self.flush()

    def flush(self) -> bool:
        """Write buffered statistics to Redis; on failure keep them for the next try."""
        with self._lock:
            incr, self._pending_incr = self._pending_incr, Counter()
            sets, self._pending_set = self._pending_set, {}
            self._last_flush = self.clock()
        if not incr and not sets:
            return True
        try:
            pipe = self.redis.pipeline(transaction=False)
            for (name, counter), n in incr.items():
                pipe.hincrby(keys.ac_stats(name) if name else keys.listener_stats(), counter, n)
            for (name, field), value in sets.items():
                pipe.hset(keys.ac_stats(name) if name else keys.listener_stats(), field, value)
            pipe.execute()
        except redis.RedisError as exc:
            self._state_unavailable("writing AC statistics", exc)
            with self._lock:
                self._pending_incr.update(incr)
                for key, value in sets.items():
                    self._pending_set.setdefault(key, value)
            return False
        return True

    @property
    def stats(self) -> dict[str, int]:
        return dict(self.counters)
