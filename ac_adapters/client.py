"""UDP transport driving the portal-side exchanges (``ac_adapters.exchange``) against ACs.

Thin on purpose: the protocol rules live in the state tables; this module encodes what the
machines say to send, routes replies back to them, and turns silence into ``TIMEOUT`` events.

* One unconnected UDP socket per ``PortalClient``: an AC may answer from another port than the
  one we sent to (TXP's simulator does, §1.9), so we must not ``connect()``.
* A receiver thread reads every datagram, peeks at the fixed header (type, SerialNo, UserIP —
  the same bytes in both header forms) and hands the raw datagram to the pending exchange keyed
  (AC IP, SerialNo, expected reply type, UserIP) (§1.6). Datagrams that match nothing are counted
  and dropped.
* The calling thread decodes the datagram with the AC's header form and secret and verifies the
  response authenticator against the request it sent (§1.2); failures are counted and dropped,
  and the wait goes on until the deadline — a forged or mis-signed reply never ends a login.
* Retransmissions resend identical bytes with the same SerialNo (the machines decide when).
* Thread-safe: one client serves many threads; SerialNos are unique among in-flight requests of
  the socket (``ac_adapters.serials``). Each process must build its own client (a client is
  refused after ``fork``): separate sockets mean separate reply ports, which is all the
  matching needs.
"""

from __future__ import annotations

import contextlib
import os
import queue
import select
import socket
import threading
import time
from collections import Counter
from collections.abc import Callable
from dataclasses import dataclass, replace

from ac_adapters.codec import PortalPacket, decode, encode, header_length
from ac_adapters.errors import BadAuthenticator, DecodeError, PortalError
from ac_adapters.exchange import (
    AcEndpoint,
    Exchange,
    Finish,
    InfoExchange,
    InfoResult,
    LoginExchange,
    LoginResult,
    LogoutExchange,
    LogoutResult,
    Send,
    Wait,
)
from ac_adapters.serials import SerialAllocator

__all__ = [
    "AcEndpoint",
    "ClientClosed",
    "InfoResult",
    "LoginResult",
    "LogoutResult",
    "PortalClient",
    "TraceHook",
]

# trace(direction "send"|"recv", (ip, port), raw datagram, decoded packet or None, note)
TraceHook = Callable[[str, tuple[str, int], bytes, PortalPacket | None, str], None]

_Result = LoginResult | LogoutResult | InfoResult
_Key = tuple[str, int, int, str]      # (AC IP, SerialNo, expected reply type, UserIP)
_RECV_POLL = 0.2                      # how often the receiver notices close()


class ClientClosed(PortalError):
    code = "client_closed"


@dataclass(slots=True)
class _Pending:
    mailbox: queue.SimpleQueue[tuple[bytes, tuple[str, int]]]   # (datagram, source)


class PortalClient:
    """Portal-side client for REQ_CHALLENGE / REQ_AUTH / REQ_LOGOUT / REQ_INFO exchanges."""

    def __init__(self, *, source_host: str = "0.0.0.0", source_port: int = 0,
                 clock: Callable[[], float] = time.monotonic, trace: TraceHook | None = None) -> None:
        self._clock = clock
        self._trace = trace
        self._pid = os.getpid()
        self._sock = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
        # Many concurrent logins: a bigger receive buffer keeps bursts of replies (kernel may cap it).
        with contextlib.suppress(OSError):
            self._sock.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 1 << 20)
        self._sock.bind((source_host, source_port))
        self._serials = SerialAllocator()
        self._pending: dict[_Key, _Pending] = {}
        self._lock = threading.Lock()
        self._stats: Counter[str] = Counter()
        self._closed = threading.Event()
        self._thread = threading.Thread(target=self._receive_loop, name="portal-client-rx", daemon=True)
        self._thread.start()

    # public API ---------------------------------------------------------------------------------
    @property
    def address(self) -> tuple[str, int]:
        """Local (host, port) the client sends from; ACs answer to it."""
        host, port = self._sock.getsockname()[:2]
        return str(host), int(port)

    @property
    def stats(self) -> Counter[str]:
        """A snapshot of the counters (missing ones read 0): sent, retransmitted, received,
        unmatched, malformed, bad_authenticator, wrong_header_form, stale, send_errors,
        logins_ok, logins_failed, timeouts."""
        with self._lock:
            return Counter(self._stats)

    def login(self, ac: AcEndpoint, user_ip: str, username: str, password: str | bytes, *,
              mac: str | None = None, pap: bool | None = None) -> LoginResult:
        """CHAP (or PAP: ``pap=True``; ``None`` = the profile's method) login of ``user_ip``."""
        def make(serial: int) -> LoginExchange:
            return LoginExchange(ac, serial, user_ip, username, password, mac=mac, pap=pap)
        result = self._run(ac, make)
        assert isinstance(result, LoginResult)
        self._count("logins_ok" if result.ok else "logins_failed")
        return result

    def logout(self, ac: AcEndpoint, user_ip: str, *, mac: str | None = None,
               pap: bool = False) -> LogoutResult:
        """REQ_LOGOUT ErrCode 0 with a new SerialNo and the login's Chap/Pap flag (§1.10.4)."""
        result = self._run(ac, lambda serial: LogoutExchange(ac, serial, user_ip, mac=mac, pap=pap))
        assert isinstance(result, LogoutResult)
        return result

    def info(self, ac: AcEndpoint, user_ip: str) -> InfoResult:
        """REQ_INFO: the AC's port string and flux counters for ``user_ip`` (§1.10.6)."""
        result = self._run(ac, lambda serial: InfoExchange(ac, serial, user_ip))
        assert isinstance(result, InfoResult)
        return result

    def close(self) -> None:
        """Stop the receiver thread and close the socket. Idempotent."""
        if self._closed.is_set():
            return
        self._closed.set()
        host, port = self.address
        with contextlib.suppress(OSError):   # wake the receiver's select() now instead of at its next poll
            self._sock.sendto(b"", ("127.0.0.1" if host == "0.0.0.0" else host, port))
        if threading.current_thread() is not self._thread:
            self._thread.join(timeout=5)
        self._sock.close()

    def __enter__(self) -> PortalClient:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    # the driver ---------------------------------------------------------------------------------
    def _run(self, ac: AcEndpoint, make: Callable[[int], Exchange]) -> _Result:
        if self._closed.is_set():
            raise ClientClosed("PortalClient is closed")
        if os.getpid() != self._pid:
            raise PortalError("PortalClient used after fork; build one client per process")
        addr = _resolve(ac)
        serial = self._serials.allocate()
        pending = _Pending(queue.SimpleQueue())
        key: _Key | None = None
        request_auth: bytes | None = None
        seen = Counter[str]()
        try:
            exchange = make(serial)
            actions = exchange.start(self._clock())
            while True:
                wait: Wait | None = None
                for action in actions:
                    if isinstance(action, Wait):
                        # Register before sending (below) so a fast reply cannot slip past.
                        new_key = (addr[0], action.serial_no, int(action.reply_type), action.user_ip)
                        with self._lock:
                            if key is not None:
                                self._pending.pop(key, None)
                            self._pending[new_key] = pending
                        key, wait = new_key, action
                for action in actions:
                    if isinstance(action, Send):
                        data = self._send(ac, addr, action, seen)
                        if ac.profile.has_authenticator:
                            request_auth = data[16:32]
                    elif isinstance(action, Finish):
                        if action.result.timed_out:
                            self._count("timeouts")
                        return _explain(action.result, seen)
                if wait is None:   # pragma: no cover - every machine ends with Finish or Wait
                    raise PortalError("exchange neither waits nor finishes")
                packet = self._await(ac, pending, wait, request_auth, seen)
                actions = exchange.timeout(self._clock()) if packet is None else exchange.receive(
                    packet, self._clock())
        finally:
            with self._lock:
                if key is not None:
                    self._pending.pop(key, None)
            self._serials.release(serial)

    def _send(self, ac: AcEndpoint, addr: tuple[str, int], action: Send, seen: Counter[str]) -> bytes:
        data = encode(action.packet, header=ac.profile.header, secret=ac.secret)
        try:
            self._sock.sendto(data, addr)
        except OSError as exc:
            # Treated like a lost datagram: the machine retransmits, then times out.
            self._count("send_errors")
            seen["send_errors"] += 1
            seen_error = f"sendto {addr[0]}:{addr[1]} failed: {exc}"
            seen[seen_error] = 1
        else:
            self._count("retransmitted" if action.retransmission else "sent")
        if self._trace is not None:
            self._trace("send", addr, data, action.packet, "retransmission" if action.retransmission else "")
        return data

    def _await(self, ac: AcEndpoint, pending: _Pending, wait: Wait,
               request_auth: bytes | None, seen: Counter[str]) -> PortalPacket | None:
        """The verified reply for ``wait``, or None when its deadline passes."""
        while True:
            remaining = wait.deadline - self._clock()
            if remaining <= 0:
                return None
            try:
                data, source = pending.mailbox.get(timeout=remaining)
            except queue.Empty:
                return None
            note = ""
            packet: PortalPacket | None = None
            try:
                packet = decode(data, header=ac.profile.header,
                                secret=ac.secret if ac.profile.has_authenticator else None,
                                request_authenticator=request_auth)
            except BadAuthenticator:
                note = "bad_authenticator"
            except DecodeError as exc:
                # The 16 fixed bytes matched, the rest did not parse: usually the other header form.
                other = 16 if header_length(ac.profile.header) == 32 else 32
                try:
                    decode(data, header=other)
                    note = "wrong_header_form"
                except DecodeError:
                    note = f"malformed ({exc.code})"
            if packet is not None and packet.type != wait.reply_type:
                note, packet = "stale", None   # a late duplicate of an earlier stage's reply
            if self._trace is not None:
                self._trace("recv", source, data, packet, note)
            if packet is not None:
                return packet
            counter = note.split(" ")[0]
            self._count(counter)
            seen[counter] += 1

    def _receive_loop(self) -> None:
        sock = self._sock
        while not self._closed.is_set():
            try:
                ready, _, _ = select.select([sock], [], [], _RECV_POLL)
                if not ready:
                    continue
                data, (src_ip, src_port) = sock.recvfrom(65535)[:2]
            except (OSError, ValueError):
                if self._closed.is_set():
                    return
                continue
            self._count("received")
            if len(data) < 16:
                self._count("malformed")
                continue
            user_ip = socket.inet_ntoa(data[8:12])
            key = (src_ip, int.from_bytes(data[4:6], "big"), data[1], user_ip)
            with self._lock:
                pending = self._pending.get(key)
            if pending is None:
                self._count("unmatched")
                if self._trace is not None:
                    self._trace("recv", (src_ip, src_port), data, None, "unmatched")
                continue
            pending.mailbox.put((data, (src_ip, src_port)))

    def _count(self, name: str, n: int = 1) -> None:
        with self._lock:
            self._stats[name] += n


def _resolve(ac: AcEndpoint) -> tuple[str, int]:
    try:
        infos = socket.getaddrinfo(ac.host, ac.port, socket.AF_INET, socket.SOCK_DGRAM)
    except socket.gaierror as exc:
        raise PortalError(f"cannot resolve AC host {ac.host!r}: {exc}") from exc
    ip, port = infos[0][4][:2]
    return str(ip), int(port)


def _explain(result: _Result, seen: Counter[str]) -> _Result:
    """Add what the transport saw during this exchange to the machine's diagnostic."""
    notes = []
    if seen["bad_authenticator"]:
        notes.append(f"{seen['bad_authenticator']} reply(ies) from the AC were dropped because their "
                     "authenticator did not verify against our request: the shared secret configured "
                     "for this AC differs from the AC's")
    if seen["wrong_header_form"]:
        notes.append(f"{seen['wrong_header_form']} reply(ies) only parse in the other header form: "
                     "the AC speaks a different flavour (v1 16-byte vs v2 32-byte header)")
    malformed = sum(n for k, n in seen.items() if k.startswith("malformed"))
    if malformed:
        notes.append(f"{malformed} undecodable reply(ies) dropped")
    if seen["stale"]:
        notes.append(f"{seen['stale']} late duplicate reply(ies) ignored")
    notes.extend(k for k in seen if k.startswith("sendto "))
    if not notes:
        return result
    return replace(result, diagnostic=result.diagnostic + "; " + "; ".join(notes))
