"""The portal-side UDP listener (default port 50100): what ACs send us unsolicited.

* NTF_LOGOUT (0x08) → ACK_NTF_LOGOUT (0x0E, Huawei/H3C) or ACK_LOGOUT (0x06, CMCC flavour),
  echoing SerialNo, ReqID, UserIP and the Pap/Chap byte, signed as a response with the NTF's
  authenticator; always answered, even for users we do not know (spec §1.10 item 5).
* MAC-trigger (§2 H3C/EAG rows): REQ_MACBINDING_INFO (0x30) → ACK_MACBINDING_INFO (0x31, ErrCode
  0 bound / 1 not bound); NTF_USER_LOGON/LOGOUT (0x32/0x34) handed to the handler.
* ACK_NTF_USER_HEARTBEAT (0x11) to our user-sync lists, handed to the handler.
* Outbound: NTF_HEARTBEAT (0x0F) and NTF_USER_HEARTBEAT (0x10) to ACs that want them (§1.9),
  from this socket so the 0x11 replies come back here.

A datagram is accepted only from an address its AC sends from; the BAS-IP inside merely
chooses among ACs sharing that address (``listener_peers``). Wherever the flavour carries an
authenticator it must verify, MAC-trigger messages included unless the vendor is known to leave
them unsigned (§1.2, EAG). Replies go to the datagram's source, i.e. to the AC.

The socket loop is thin and forgiving: decode → handler → send reply; any bad datagram is logged
(rate-limited), counted by reason and AC, and dropped; nothing a peer sends stops the loop.
Policy (which AC is which, what a logout means) lives in a handler object; this module knows no
Redis.
"""

from __future__ import annotations

import hashlib
import ipaddress
import logging
import random
import socket
import threading
import time
from collections import Counter
from collections.abc import Callable

from ac_adapters.codec import (
    Attribute,
    PortalPacket,
    decode,
    encode,
    mac_from_attr,
    verify_authenticator,
)
from ac_adapters.constants import AttrType, MacBindingErr, PacketType
from ac_adapters.errors import DecodeError
from ac_adapters.listener_peers import AcPeer, BaseListenerHandler, ListenerHandler, choose_peer
from ac_adapters.log_limit import LogLimiter
from ac_adapters.profiles import HeaderForm, MacAttr, VendorProfile
from ac_adapters.retransmits import RetransmitCache, same_event
from ac_adapters.user_sync import IPS_PER_USER_LIST, bas_ip_attrs, user_sync_packets

__all__ = [
    "IPS_PER_USER_LIST",
    "AcPeer",
    "BaseListenerHandler",
    "ListenerHandler",
    "PortalListener",
    "user_sync_packets",
]

log = logging.getLogger(__name__)

# Types an AC may send us unsolicited (§1.4); anything else is "unexpected_type".
_MAC_TRIGGER_TYPES = frozenset({
    PacketType.REQ_MACBINDING_INFO, PacketType.NTF_USER_LOGON, PacketType.NTF_USER_LOGOUT,
})
_ACCEPTED_TYPES = frozenset({
    PacketType.NTF_LOGOUT, PacketType.ACK_NTF_USER_HEARTBEAT, *_MAC_TRIGGER_TYPES,
})
# Messages that end a login: a byte-identical repeat may be a new event (``retransmits``).
_SESSION_ENDING = frozenset({PacketType.NTF_LOGOUT, PacketType.NTF_USER_LOGOUT})
# Drop reasons that suggest forgery or misconfiguration (WARNING); the rest are logged at INFO.
_SUSPICIOUS = frozenset({"unknown_ac", "ambiguous_ac", "bad_authenticator", "unsolicited_reply"})


class _Drop(Exception):
    """Internal: this datagram is dropped for ``reason``."""

    def __init__(self, reason: str, detail: str, ac: AcPeer | None = None) -> None:
        super().__init__(detail)
        self.reason = reason
        self.ac = ac


def _find_mac(packet: PortalPacket, profile: VendorProfile) -> Attribute | None:
    """The first 6-byte MAC attribute, the profile's own MAC attribute type first (§1.7:
    0x0B Session-ID/UserMac, 0xFF on Hanming ACs)."""
    order = (AttrType.HANMING_MAC, AttrType.USER_MAC)
    if profile.mac_attr is not MacAttr.HANMING:
        order = order[::-1]
    for attr_type in order:
        for attr in packet.attrs:
            if attr.type == attr_type and len(attr.value) == 6:
                return attr
    return None


def _ips_from_lists(packet: PortalPacket) -> list[str]:
    out = []
    for value in packet.get_all(AttrType.USER_LIST):
        out += [str(ipaddress.IPv4Address(value[i:i + 4])) for i in range(0, len(value) - 3, 4)]
    return out


class PortalListener:
    """One UDP socket serving ACs; ``start()`` runs a receive thread and a sender thread."""

    def __init__(
        self,
        host: str,
        port: int,
        handler: ListenerHandler,
        *,
        heartbeat_interval: float = 20.0,
        user_sync_interval: float = 60.0,
        peer_refresh_interval: float = 10.0,
        dedup_ttl: float = 8.0,         # the ACs' retransmission window (every 2 s × retry_times)
        replay_memory: float = 86_400.0,    # how long a handled NTF_LOGOUT's bytes are remembered
        pending_sync_ttl: float = 30.0,
        user_sync_max_packet: int = 1024,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self.host = host
        self.handler = handler
        self.heartbeat_interval = heartbeat_interval
        self.user_sync_interval = user_sync_interval
        self.peer_refresh_interval = peer_refresh_interval
        self.dedup_ttl = dedup_ttl
        self.pending_sync_ttl = pending_sync_ttl
        self.user_sync_max_packet = user_sync_max_packet
        self.clock = clock
        # No SO_REUSEADDR: on Linux it would let a second listener share the port silently.
        self._sock = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
        self._sock.bind((host, port))
        self._sock.settimeout(0.2)
        self.port: int = self._sock.getsockname()[1]
        self._lock = threading.Lock()
        self._counts: Counter[str] = Counter()
        self._drops: Counter[str] = Counter()
        self._drops_by_ac: Counter[tuple[str, str]] = Counter()
        self._seen = RetransmitCache(dedup_ttl, clock=clock)
        self._handled = RetransmitCache(replay_memory, max_entries=50_000, clock=clock)
        self._pending_sync: dict[tuple[str, int], tuple[float, bytes | None]] = {}
        self._serial = random.randrange(0x10000)
        self._peers: list[AcPeer] = []
        self._due: dict[tuple[str, str], float] = {}
        self._log_limit = LogLimiter(log, clock=clock)
        self._stop = threading.Event()
        self._threads: list[threading.Thread] = []

    # --- lifecycle ----------------------------------------------------------------------------

    def start(self) -> PortalListener:
        for target, name in ((self._serve, "receive"), (self._send_loop, "heartbeat")):
            thread = threading.Thread(target=target, name=f"ac-listener-{name}", daemon=True)
            thread.start()
            self._threads.append(thread)
        log.info("ac-listener on %s:%d", self.host, self.port)
        return self

    def stop(self) -> None:
        self._stop.set()
        for thread in self._threads:
            thread.join(timeout=5)
        self._threads.clear()
        self._sock.close()

    def __enter__(self) -> PortalListener:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()

    # --- statistics ---------------------------------------------------------------------------

    @property
    def stats(self) -> dict[str, int]:
        """Counters: received, answered, duplicates, repeated_events, handled.<kind>,
        sent.<kind>, dropped.<reason> and, for datagrams tied to a known AC,
        dropped_ac.<reason>.<AC name>."""
        with self._lock:
            out = dict(self._counts)
            out.update({f"dropped.{k}": v for k, v in self._drops.items()})
            out.update({f"dropped_ac.{reason}.{ac}": v
                        for (reason, ac), v in self._drops_by_ac.items()})
        return out

    @property
    def drops(self) -> dict[str, int]:
        """Dropped datagrams by reason (unknown_ac, bad_authenticator, a DecodeError code, …)."""
        with self._lock:
            return dict(self._drops)

    @property
    def dropped_total(self) -> int:
        with self._lock:
            return sum(self._drops.values())

    def _count(self, key: str, n: int = 1) -> None:
        with self._lock:
            self._counts[key] += n

    # --- receive path -------------------------------------------------------------------------

    def _serve(self) -> None:
        while not self._stop.is_set():
            try:
                data, addr = self._sock.recvfrom(65535)
            except TimeoutError:
                continue
            except OSError:
                if self._stop.is_set():
                    return
                log.exception("ac-listener: recvfrom failed")
                time.sleep(0.05)
                continue
            try:
                reply = self.process(data, addr[0])
                if reply is not None:
                    self._sock.sendto(reply, addr)
                    self._count("answered")
            except Exception:   # the loop must survive anything, our own bugs included
                log.exception("ac-listener: unexpected error on a datagram from %s", addr[0])
                self._count("internal_error")

    def process(self, data: bytes, source_ip: str) -> bytes | None:
        """Handle one datagram; return the reply bytes (or None). Never raises for bad input."""
        self._count("received")
        try:
            return self._process(data, source_ip)
        except _Drop as drop:
            self._drop(drop.reason, str(drop), source_ip, drop.ac)
            return None

    def _drop(self, reason: str, detail: str, source_ip: str, ac: AcPeer | None) -> None:
        with self._lock:
            self._drops[reason] += 1
            if ac is not None:
                self._drops_by_ac[(reason, ac.name)] += 1
        # Keyed by reason and AC (bounded), never by the source address (anyone's to choose).
        level = logging.WARNING if reason in _SUSPICIOUS else logging.INFO
        self._log_limit.log(f"ac-listener drop {reason} ({ac.name if ac else 'no AC'})", level,
                            "ac-listener: dropped datagram from %s%s (%s): %s", source_ip,
                            f" (AC {ac.name})" if ac else "", reason, detail)
        try:
            self.handler.on_drop(ac, source_ip, reason)
        except Exception:
            log.exception("ac-listener: handler.on_drop failed")

    def _resolve(self, data: bytes, source_ip: str) -> AcPeer:
        choice = choose_peer(self.handler.acs_at(source_ip), data, source_ip)
        if choice.peer is None:
            raise _Drop(choice.reason, choice.detail)
        return choice.peer

    def _process(self, data: bytes, source_ip: str) -> bytes | None:
        try:
            peer = self._resolve(data, source_ip)
        except _Drop:
            raise
        except Exception as exc:
            log.exception("ac-listener: finding the AC of %s failed", source_ip)
            raise _Drop("handler_error", f"acs_at failed: {exc}") from exc
        try:
            packet = decode(data, header=peer.header)
        except DecodeError as exc:
            raise _Drop(exc.code, str(exc), peer) from exc
        if packet.type not in _ACCEPTED_TYPES:
            raise _Drop("unexpected_type", f"{packet.type_name} is not sent to a portal", peer)
        self._verify(data, packet, peer)
        key = (peer.name, hashlib.sha256(data).digest())
        seen = self._seen.get(key)
        ends_session = packet.type in _SESSION_ENDING
        marker_now = self._marker(peer, packet, seen.marker) if seen is not None and ends_session else None
        if seen is not None and (not ends_session or same_event(seen, marker_now)):
            # An AC retransmission (it resends NTF_LOGOUT every 2 s until answered, §1.9):
            # answer again, but the handler has already seen it.
            self._count("duplicates")
            return seen.reply
        if ends_session and (seen is not None or self._handled.get(key) is not None):
            # Byte-identical to one we handled for an earlier login: a new event (EAG's zero
            # SerialNo, kick → re-login → kick) or a replay of a captured datagram. Acted upon
            # only when the handler corroborates it (the user's accounting session has ended).
            self._count("repeated_events")
            if not self._corroborated(peer, packet):
                # Hold first, then look again: an Accounting-Stop landing after the hold confirms
                # it; one that landed between the two looks makes the second look corroborate.
                # (Looking once and holding after lost the login when the Stop came in between.)
                self._call(peer, "unconfirmed_logout", self.handler.on_unconfirmed_logout, peer, packet)
                if not self._corroborated(peer, packet):
                    return self._suspected_replay(key, peer, packet)
        marker = self._marker(peer, packet, None) if ends_session else None
        reply = self._dispatch(peer, packet)
        self._seen.put(key, reply, marker)
        if ends_session:
            self._handled.put(key, None, None)
        return reply

    def _corroborated(self, peer: AcPeer, packet: PortalPacket) -> bool:
        try:
            return bool(self.handler.logout_corroborated(peer, packet))
        except Exception as exc:        # cannot tell: never end a login on a guess
            self._log_limit.log("ac-listener corroboration", logging.WARNING,
                                "ac-listener: checking %s on AC %s failed: %r", packet.user_ip, peer.name,
                                exc)
            return False

    def _suspected_replay(self, key: tuple[str, bytes], peer: AcPeer, packet: PortalPacket) -> bytes | None:
        """Answer as for the real thing (an AC that did send it stops retransmitting), end nothing
        now; the handler (which has held it) may end the login later, when accounting confirms."""
        self._count("suspected_replays")
        self._log_limit.log(f"ac-listener replay {peer.name}", logging.WARNING,
                            "ac-listener: %s for %s from AC %s repeats one already handled while the "
                            "user's accounting session is open: ignored as a suspected replay",
                            packet.type_name, packet.user_ip, peer.name)
        if packet.type == PacketType.NTF_LOGOUT:
            reply: bytes | None = self._reply(peer, packet, peer.profile.ntf_logout_reply, 0)
        else:
            acked = peer.profile.ack_mac_trigger_notices
            reply = self._reply(peer, packet, packet.type + 1, 0) if acked else None
        self._seen.put(key, reply, self._marker(peer, packet, None))
        return reply

    def _marker(self, peer: AcPeer, packet: PortalPacket, fallback: str | None) -> str | None:
        """The handler's session marker; ``fallback`` when it cannot tell (state store down),
        which makes a repeat count as a retransmission: never end a login on a guess."""
        try:
            return self.handler.session_marker(peer, packet)
        except Exception as exc:
            self._log_limit.log("ac-listener session marker", logging.WARNING,
                                "ac-listener: session marker for %s on AC %s failed: %r",
                                packet.user_ip, peer.name, exc)
            return fallback

    def _verify(self, data: bytes, packet: PortalPacket, peer: AcPeer) -> None:
        if packet.type == PacketType.ACK_NTF_USER_HEARTBEAT:
            pending = self._pending_sync_get(peer.name, packet.serial_no)
            if pending is None:
                raise _Drop("unsolicited_reply", f"0x11 with SerialNo {packet.serial_no} "
                            "answers no user-sync packet of ours", peer)
            if peer.header is not HeaderForm.LONG:
                return
            ok = verify_authenticator(data, peer.secret, pending)
        elif peer.header is not HeaderForm.LONG:
            return
        elif packet.type in _MAC_TRIGGER_TYPES and not peer.verifies_mac_trigger:
            return      # §1.2: EAG leaves these unsigned; only the source address vouches
        else:
            ok = verify_authenticator(data, peer.secret)
        if not ok:
            raise _Drop("bad_authenticator", f"{packet.type_name} authenticator does not verify "
                        f"with AC {peer.name}'s secret", peer)

    def _dispatch(self, peer: AcPeer, packet: PortalPacket) -> bytes | None:
        ptype = packet.type
        if ptype == PacketType.NTF_LOGOUT:
            # Reply first: the AC only needs the acknowledgement (§1.10 item 5), and it must get
            # it even when our state store is down.
            reply = self._reply(peer, packet, peer.profile.ntf_logout_reply, 0)
            self._call(peer, "ntf_logout", self.handler.on_ntf_logout, peer, packet)
            return reply
        if ptype == PacketType.REQ_MACBINDING_INFO:
            mac_attr_found = _find_mac(packet, peer.profile)
            if mac_attr_found is None:
                raise _Drop("missing_attribute", "REQ_MACBINDING_INFO without a 6-byte MAC", peer)
            mac = mac_from_attr(mac_attr_found.value) or ""
            bound = self._call(peer, "mac_query", self.handler.on_mac_query, peer, mac, packet)
            err = MacBindingErr.BOUND if bound is True else MacBindingErr.NOT_BOUND
            return self._reply(peer, packet, PacketType.ACK_MACBINDING_INFO, err,
                               (mac_attr_found,))
        if ptype in (PacketType.NTF_USER_LOGON, PacketType.NTF_USER_LOGOUT):
            if ptype == PacketType.NTF_USER_LOGON:
                self._call(peer, "user_logon", self.handler.on_user_logon, peer, packet)
            else:
                self._call(peer, "user_logout", self.handler.on_user_logout, peer, packet)
            if not peer.profile.ack_mac_trigger_notices:
                return None
            return self._reply(peer, packet, ptype + 1, 0)
        # ACK_NTF_USER_HEARTBEAT (accepted types are exhaustive)
        self._call(peer, "user_sync_reply", self.handler.on_user_sync_reply, peer,
                   _ips_from_lists(packet))
        return None

    def _call(self, peer: AcPeer, kind: str, fn: Callable[..., object], *args: object) -> object:
        try:
            result = fn(*args)
        except Exception as exc:
            self._drop("handler_error", f"{kind}: {exc!r}", "", peer)
            log.exception("ac-listener: handler failed on %s from AC %s", kind, peer.name)
            return None
        self._count(f"handled.{kind}")
        return result

    def _reply(
        self, peer: AcPeer, packet: PortalPacket, ptype: int, err: int,
        attrs: tuple[Attribute, ...] = (),
    ) -> bytes:
        ipv6 = packet.get(AttrType.USER_IPV6)   # IPv6 users: UserIP 0 + 0xF1 (§1.1), echo it
        if ipv6 is not None:
            attrs = (*attrs, Attribute(AttrType.USER_IPV6, ipv6))
        reply = PortalPacket(
            type=ptype, version=packet.version, pap_chap=packet.pap_chap,
            serial_no=packet.serial_no, req_id=packet.req_id, user_ip=packet.user_ip,
            err_code=err, attrs=attrs,
        )
        return encode(reply, header=peer.header, secret=peer.secret,
                      request_authenticator=packet.authenticator or bytes(16))

    # --- pending user-sync replies -----------------------------------------------------------

    def _pending_sync_get(self, peer_name: str, serial: int) -> bytes | None:
        with self._lock:
            entry = self._pending_sync.get((peer_name, serial))
        if entry is None or entry[0] < self.clock() or entry[1] is None:
            return None
        return entry[1]

    # --- send path: heartbeats and user-sync (§1.9) ---------------------------------------------

    def _next_serial(self) -> int:
        with self._lock:
            self._serial = (self._serial + 1) & 0xFFFF
            return self._serial

    def _send_loop(self) -> None:
        tick = max(0.02, min(0.5, self.heartbeat_interval / 4, self.user_sync_interval / 4))
        next_refresh = 0.0
        while True:
            now = self.clock()
            if now >= next_refresh:
                next_refresh = now + self.peer_refresh_interval
                self._refresh_peers()
            for peer in self._peers:
                try:
                    self._send_due(peer, now)
                except Exception:
                    log.exception("ac-listener: sending to AC %s failed", peer.name)
                    self._count("send_error")
            self._expire_pending()
            self._log_limit.flush()
            if self._stop.wait(tick):
                return

    def _refresh_peers(self) -> None:
        try:
            peers = list(self.handler.peers_wanting_heartbeat())
        except Exception as exc:
            # Usually the store restarting: one line, not a traceback per tick (DEBUG keeps it).
            log.warning("ac-listener: reading the AC list failed (%s: %s); keeping the last one",
                        type(exc).__name__, exc)
            log.debug("AC list refresh failure", exc_info=True)
            return
        names = {p.name for p in peers}
        self._due = {k: v for k, v in self._due.items() if k[0] in names}
        self._peers = peers

    def _send_due(self, peer: AcPeer, now: float) -> None:
        if peer.heartbeat and now >= self._due.get((peer.name, "hb"), 0.0):
            self._due[(peer.name, "hb")] = now + self.heartbeat_interval
            self.send_heartbeat(peer)
        if peer.user_sync and now >= self._due.get((peer.name, "sync"), 0.0):
            self._due[(peer.name, "sync")] = now + self.user_sync_interval
            self.send_user_sync(peer)

    def _send(self, peer: AcPeer, packet: PortalPacket) -> bytes:
        data = encode(packet, header=peer.header, secret=peer.secret)
        self._sock.sendto(data, (peer.host, peer.port))
        return data

    def send_heartbeat(self, peer: AcPeer) -> None:
        """One NTF_HEARTBEAT (0x0F) to ``peer`` (no reply expected)."""
        packet = PortalPacket(type=PacketType.NTF_HEARTBEAT, version=peer.profile.version,
                              serial_no=self._next_serial(), attrs=bas_ip_attrs(peer))
        self._send(peer, packet)
        self._count("sent.heartbeat")

    def send_user_sync(self, peer: AcPeer) -> int:
        """NTF_USER_HEARTBEAT packets listing every online user of ``peer``; returns how many
        packets were sent (0 when the handler does not know who is online)."""
        ips = self.handler.online_user_ips(peer)
        if ips is None:
            self._count("sync_skipped")
            return 0
        packets = user_sync_packets(peer, ips, self._next_serial,
                                    max_packet=self.user_sync_max_packet)
        for packet in packets:
            data = self._send(peer, packet)
            auth = data[16:32] if peer.header is HeaderForm.LONG else None
            with self._lock:
                self._pending_sync[(peer.name, packet.serial_no)] = (
                    self.clock() + self.pending_sync_ttl, auth or bytes(16))
        self._count("sent.user_sync", len(packets))
        return len(packets)

    def _expire_pending(self) -> None:
        now = self.clock()
        with self._lock:
            for key in [k for k, v in self._pending_sync.items() if v[0] < now]:
                del self._pending_sync[key]

